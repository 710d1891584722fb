"""Answers for rejected flows: a TCP RST or an ICMP/ICMPv6 unreachable, as raw IP packets.

Given the inner packet the sender sent (as carried by GENEVE), :func:`build_reject`
returns the packet the *destination* would send back, addressed to the sender,
with every checksum filled in; the data plane puts it in the flow's GENEVE header
and returns it through the tunnel.

Sources: RFC 9293 section 3.10.7.1 (how a reset answers a segment: ``SEQ=SEG.ACK``
when the segment carries ACK, else ``SEQ=0, ACK=SEG.SEQ+SEG.LEN`` with ACK set);
RFC 792 and RFC 1812 section 4.3.2.3 (ICMP errors quote the IP header and as much
of the datagram as fits in 576 bytes); RFC 4443 sections 2.4 and 3.1 (ICMPv6
errors quote as much as fits in the minimum MTU of 1280 bytes; never answer an
ICMPv6 error); RFC 1122 section 3.2.2 (no ICMP error about an ICMP error, a
non-first fragment, or a broadcast/multicast source).
"""

from __future__ import annotations

import struct

Buffer = bytes | bytearray | memoryview

ICMP_UNREACHABLE = 3
ICMP_ADMIN_PROHIBITED = 13
"""ICMP unreachable code: communication administratively prohibited (RFC 1812)."""
ICMP_PORT_UNREACHABLE = 3
ICMPV6_UNREACHABLE = 1
ICMPV6_ADMIN_PROHIBITED = 1
"""ICMPv6 unreachable code: communication administratively prohibited (RFC 4443)."""
ICMPV6_PORT_UNREACHABLE = 4
TTL = 64

_TCP, _UDP, _ICMP, _ICMPV6 = 6, 17, 1, 58
_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_ICMP_ERRORS = frozenset((3, 4, 5, 11, 12))
_IPV6_EXTENSIONS = frozenset((0, 43, 60))  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44
_V4_QUOTE = 576 - 20 - 8
_V6_QUOTE = 1280 - 40 - 8
_RST_LENGTH = 20


def checksum(data: Buffer) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    raw = bytes(data)
    if len(raw) % 2:
        raw += b"\0"
    total: int = sum(struct.unpack(f"!{len(raw) // 2}H", raw))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_reject(packet: Buffer, *, icmp_code: int | None = None) -> bytes | None:
    """The answer rejecting ``packet``, or None when none is due.

    TCP segments get a RST; everything else an ICMP (code 13) or ICMPv6 (code 1)
    "administratively prohibited" unreachable, unless ``icmp_code`` says otherwise.
    No answer for: a TCP RST, an ICMP/ICMPv6 error, a non-first fragment, a
    multicast/broadcast/unspecified source, or a malformed packet.
    """
    data = bytes(packet)
    if not data:
        return None
    version = data[0] >> 4
    if version == 4:
        return _reject_v4(data, icmp_code)
    if version == 6:
        return _reject_v6(data, icmp_code)
    return None


def _reject_v4(data: bytes, icmp_code: int | None) -> bytes | None:
    if len(data) < 20:
        return None
    header_length = (data[0] & 0x0F) * 4
    total = int.from_bytes(data[2:4], "big")
    if header_length < 20 or total < header_length or len(data) < header_length:
        return None
    data = data[: min(total, len(data))]
    if int.from_bytes(data[6:8], "big") & 0x1FFF:  # fragment offset: not the first
        return None
    protocol = data[9]
    src, dst = data[12:16], data[16:20]
    if src[0] >= 224 or src in (b"\0\0\0\0", b"\xff\xff\xff\xff"):
        return None
    l4 = data[header_length:]
    if protocol == _TCP:
        segment = _rst(l4, dst + src + struct.pack("!BBH", 0, _TCP, _RST_LENGTH))
        return None if segment is None else _ipv4(dst, src, _TCP, segment)
    if protocol == _ICMP and (len(l4) < 1 or l4[0] in _ICMP_ERRORS):
        return None
    code = ICMP_ADMIN_PROHIBITED if icmp_code is None else icmp_code
    body = struct.pack("!BBHI", ICMP_UNREACHABLE, code, 0, 0) + data[:_V4_QUOTE]
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    return _ipv4(dst, src, _ICMP, body)


def _ipv4(src: bytes, dst: bytes, protocol: int, payload: bytes) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, TTL, protocol, 0, src, dst
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def _reject_v6(data: bytes, icmp_code: int | None) -> bytes | None:
    if len(data) < 40:
        return None
    data = data[: 40 + int.from_bytes(data[4:6], "big")]
    src, dst = data[8:24], data[24:40]
    if src[0] == 0xFF or src == bytes(16):
        return None
    next_header, pos = data[6], 40
    while next_header in _IPV6_EXTENSIONS or next_header == _IPV6_FRAGMENT:
        if pos + 8 > len(data):
            return None
        if next_header == _IPV6_FRAGMENT:
            if int.from_bytes(data[pos + 2 : pos + 4], "big") >> 3:  # not the first fragment
                return None
            size = 8
        else:
            size = (data[pos + 1] + 1) * 8
        next_header = data[pos]
        pos += size
    if pos > len(data):
        return None
    l4 = data[pos:]
    if next_header == _TCP:
        segment = _rst(l4, dst + src + struct.pack("!IxxxB", _RST_LENGTH, _TCP))
        return None if segment is None else _ipv6(dst, src, _TCP, segment)
    if next_header == _ICMPV6 and (len(l4) < 1 or l4[0] < 128):
        return None
    code = ICMPV6_ADMIN_PROHIBITED if icmp_code is None else icmp_code
    body = struct.pack("!BBHI", ICMPV6_UNREACHABLE, code, 0, 0) + data[:_V6_QUOTE]
    pseudo = dst + src + struct.pack("!IxxxB", len(body), _ICMPV6)
    body = body[:2] + struct.pack("!H", checksum(pseudo + body)) + body[4:]
    return _ipv6(dst, src, _ICMPV6, body)


def _ipv6(src: bytes, dst: bytes, next_header: int, payload: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), next_header, TTL, src, dst) + payload


def _rst(segment: bytes, pseudo_header: bytes) -> bytes | None:
    """The RST answering TCP ``segment``; ``pseudo_header`` is the answer's checksum prefix."""
    if len(segment) < 20:
        return None
    sport, dport, seq, ack, offset, flags = struct.unpack("!HHIIBB", segment[:14])
    header_length = (offset >> 4) * 4
    if flags & _RST or header_length < 20 or header_length > len(segment):
        return None
    if flags & _ACK:
        rst_seq, rst_ack, rst_flags = ack, 0, _RST
    else:
        length = (
            len(segment) - header_length + (1 if flags & _SYN else 0) + (1 if flags & _FIN else 0)
        )
        rst_seq, rst_ack, rst_flags = 0, (seq + length) & 0xFFFFFFFF, _RST | _ACK
    rst = struct.pack("!HHIIBBHHH", dport, sport, rst_seq, rst_ack, 5 << 4, rst_flags, 0, 0, 0)
    total = checksum(pseudo_header + rst)
    return rst[:16] + struct.pack("!H", total) + rst[18:]
