"""The inner IPv4/IPv6 packet carried by GENEVE: addresses, protocol and ports.

Sources: RFC 791 (IPv4), RFC 8200 (IPv6 and its extension headers), RFC 4302 (AH),
RFC 792 and RFC 4443 (ICMP and ICMPv6, including what an error message quotes),
RFC 9293 (TCP), RFC 768 (UDP), RFC 9260 (SCTP). Checksums are not verified: the
appliance forwards packets and the end hosts check them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from appliance.errors import WireError
from appliance.wire.drops import DropReason
from appliance.wire.geneve import ETHERTYPE_IPV4, ETHERTYPE_IPV6

Buffer = bytes | bytearray | memoryview

PROTO_HOPOPTS = 0
PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ROUTING = 43
PROTO_FRAGMENT = 44
PROTO_ESP = 50
PROTO_AH = 51
PROTO_ICMPV6 = 58
PROTO_NONE = 59
PROTO_DSTOPTS = 60
PROTO_SCTP = 132

ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST = 0, 8
ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY = 128, 129
ICMP_ERROR_TYPES = frozenset((3, 4, 5, 11, 12))
"""Unreachable, source quench, redirect, time exceeded, parameter problem (RFC 792)."""
ICMPV6_ERROR_TYPES = frozenset((1, 2, 3, 4))
"""Unreachable, packet too big, time exceeded, parameter problem (RFC 4443 section 2.1)."""

_PORT_PROTOCOLS = frozenset((PROTO_TCP, PROTO_UDP, PROTO_SCTP))
_IPV6_OPTION_HEADERS = frozenset((PROTO_HOPOPTS, PROTO_ROUTING, PROTO_DSTOPTS))
_IPV4 = struct.Struct(">BxHxxHxB")  # version/IHL, total length, flags/fragment offset, protocol
_PORTS = struct.Struct(">HH")
_U16 = struct.Struct(">H")
_NOT_FRAGMENT, _FIRST_FRAGMENT, _NON_FIRST_FRAGMENT = 0, 1, 2


@dataclass(frozen=True, slots=True)
class InnerPacket:
    """What the data plane needs to know about an inner packet."""

    family: int
    """4 or 6."""
    src: bytes
    """Packed source address (4 or 16 bytes)."""
    dst: bytes
    """Packed destination address."""
    protocol: int
    """Upper-layer protocol after the IPv6 extension headers; for ICMP errors the quoted one."""
    sport: int
    """Source port; for ICMP echo the identifier; 0 when none."""
    dport: int
    """Destination port; for ICMP echo the identifier; 0 when none."""
    icmp_type: int | None
    """Type of an ICMP/ICMPv6 packet that is not an error, else None."""
    tcp_flags: int
    """TCP flags byte (byte 13 of the header), 0 if not TCP or an ICMP error."""
    fragment: bool
    """A non-first fragment: no L4 header, ports are 0."""
    icmp_error: bool
    """src/dst/protocol/ports are those of the packet quoted inside an ICMP error."""
    l4_payload_offset: int
    """Absolute offset in buf of the L4 payload (after the TCP/UDP/SCTP header), -1 if none."""
    length: int
    """Inner packet length according to its IP header."""


def parse_inner(buf: Buffer, offset: int, end: int, protocol_type: int) -> InnerPacket:
    """Parse the inner IP packet at ``buf[offset:end]``.

    Args:
        buf: buffer holding the packet.
        offset: where the IP header starts.
        end: end of the available bytes; bytes after the IP packet's own length are allowed.
        protocol_type: GENEVE Protocol Type; the IP version nibble must match it.

    Returns:
        The packet's facts.

    Raises:
        WireError: ``INNER_MALFORMED`` for a truncated or inconsistent packet,
            ``BAD_PROTOCOL_TYPE`` if ``protocol_type`` is neither IPv4 nor IPv6.
        ValueError: ``offset``/``end`` do not lie within ``buf`` (a caller bug).
    """
    if not 0 <= offset <= end <= len(buf):
        raise ValueError(f"offset {offset} / end {end} outside buffer of {len(buf)} bytes")
    if protocol_type == ETHERTYPE_IPV4:
        return _parse_ipv4(buf, offset, end)
    if protocol_type == ETHERTYPE_IPV6:
        return _parse_ipv6(buf, offset, end)
    raise WireError(DropReason.BAD_PROTOCOL_TYPE, f"protocol type {protocol_type:#06x}")


def _malformed(detail: str) -> WireError:
    return WireError(DropReason.INNER_MALFORMED, detail)


def _parse_ipv4(buf: Buffer, offset: int, end: int) -> InnerPacket:
    if end - offset < 20:
        raise _malformed(f"IPv4 header needs 20 bytes, have {end - offset}")
    version_ihl, total_length, frag_word, protocol = _IPV4.unpack_from(buf, offset)
    if version_ihl >> 4 != 4:
        raise _malformed(f"version {version_ihl >> 4} in an IPv4 GENEVE packet")
    header_length = 4 * (version_ihl & 0x0F)
    # RFC 791: IHL >= 5 words; the header (with options) lies within Total Length.
    if header_length < 20:
        raise _malformed(f"IHL {header_length // 4}")
    if not header_length <= total_length <= end - offset:
        raise _malformed(
            f"total length {total_length}, header {header_length}, available {end - offset}"
        )
    src = bytes(buf[offset + 12 : offset + 16])
    dst = bytes(buf[offset + 16 : offset + 20])
    l4_start = offset + header_length
    l4_end = offset + total_length
    if frag_word & 0x1FFF:
        return _fragment(4, src, dst, protocol, total_length)
    return _upper_layer(
        buf, 4, protocol, l4_start, l4_end, src=src, dst=dst, length=total_length,
        first_fragment=bool(frag_word & 0x2000),
    )  # fmt: skip


def _parse_ipv6(buf: Buffer, offset: int, end: int) -> InnerPacket:
    if end - offset < 40:
        raise _malformed(f"IPv6 header needs 40 bytes, have {end - offset}")
    if buf[offset] >> 4 != 6:
        raise _malformed(f"version {buf[offset] >> 4} in an IPv6 GENEVE packet")
    (payload_length,) = _U16.unpack_from(buf, offset + 4)
    length = 40 + payload_length
    # RFC 8200 section 3: Payload Length counts everything after the fixed header.
    # Jumbograms (length 0 + Hop-by-Hop jumbo option) never fit GWLB's 8500-byte MTU.
    if length > end - offset:
        raise _malformed(f"payload length {payload_length}, available {end - offset - 40}")
    src = bytes(buf[offset + 8 : offset + 24])
    dst = bytes(buf[offset + 24 : offset + 40])
    l3_end = offset + length
    protocol, pos, fragment = _walk_ipv6_extensions(buf, buf[offset + 6], offset + 40, l3_end)
    if fragment == _NON_FIRST_FRAGMENT:
        return _fragment(6, src, dst, protocol, length)
    return _upper_layer(
        buf, 6, protocol, pos, l3_end, src=src, dst=dst, length=length,
        first_fragment=fragment == _FIRST_FRAGMENT,
    )  # fmt: skip


def _walk_ipv6_extensions(
    buf: Buffer, next_header: int, pos: int, limit: int
) -> tuple[int, int, int]:
    """Walk IPv6 extension headers (RFC 8200 section 4) from ``pos`` up to ``limit``.

    Returns:
        ``(protocol, offset of the upper-layer header, fragment state)``, the state one
        of ``_NOT_FRAGMENT``, ``_FIRST_FRAGMENT`` (offset 0, M set) or
        ``_NON_FIRST_FRAGMENT``. ESP and No Next Header end the walk (their contents
        cannot be read).
    """
    state = _NOT_FRAGMENT
    first = True
    while True:
        if next_header in _IPV6_OPTION_HEADERS:
            # RFC 8200 section 4.1: Hop-by-Hop Options must immediately follow the IPv6 header.
            if next_header == PROTO_HOPOPTS and not first:
                raise _malformed("hop-by-hop options header not first")
            if pos + 8 > limit:
                raise _malformed(f"extension header {next_header} truncated")
            header_length = 8 * (buf[pos + 1] + 1)  # RFC 8200 sections 4.3, 4.4, 4.6
        elif next_header == PROTO_FRAGMENT:
            if pos + 8 > limit:
                raise _malformed("fragment header truncated")
            # RFC 8200 section 4.5: 13-bit offset in the top bits of bytes 2-3.
            offset_and_m = _U16.unpack_from(buf, pos + 2)[0]
            if offset_and_m >> 3:
                return buf[pos], pos + 8, _NON_FIRST_FRAGMENT
            if offset_and_m & 1:
                state = _FIRST_FRAGMENT
            header_length = 8
        elif next_header == PROTO_AH:
            if pos + 8 > limit:
                raise _malformed("authentication header truncated")
            header_length = 4 * (buf[pos + 1] + 2)  # RFC 4302 section 2.2
        else:
            return next_header, pos, state
        if pos + header_length > limit:
            raise _malformed(f"extension header {next_header} runs past the packet")
        next_header = buf[pos]
        pos += header_length
        first = False


def _fragment(family: int, src: bytes, dst: bytes, protocol: int, length: int) -> InnerPacket:
    """A non-first fragment: it carries no upper-layer header, so no ports."""
    return InnerPacket(family, src, dst, protocol, 0, 0, None, 0, True, False, -1, length)


def _upper_layer(
    buf: Buffer,
    family: int,
    protocol: int,
    pos: int,
    l4_end: int,
    *,
    src: bytes,
    dst: bytes,
    length: int,
    first_fragment: bool,
) -> InnerPacket:
    """Read the upper-layer header at ``pos`` (which must end by ``l4_end``).

    In a first fragment the UDP length counts the whole reassembled datagram, so it
    may exceed what this packet holds; the TCP header must still be complete (the
    first fragment carries the whole upper-layer header: RFC 8200 section 4.5, and
    RFC 1858 for IPv4 tiny fragments).
    """
    available = l4_end - pos
    if protocol == PROTO_TCP:
        if available < 20:
            raise _malformed(f"TCP header needs 20 bytes, have {available}")
        data_offset = 4 * (buf[pos + 12] >> 4)
        if not 20 <= data_offset <= available:
            raise _malformed(f"TCP data offset {data_offset}, available {available}")
        sport, dport = _PORTS.unpack_from(buf, pos)
        return InnerPacket(
            family, src, dst, protocol, sport, dport, None, buf[pos + 13], False, False,
            pos + data_offset, length,
        )  # fmt: skip
    if protocol == PROTO_UDP:
        if available < 8:
            raise _malformed(f"UDP header needs 8 bytes, have {available}")
        sport, dport, udp_length = struct.unpack_from(">HHH", buf, pos)
        if udp_length < 8 or (udp_length > available and not first_fragment):
            raise _malformed(f"UDP length {udp_length}, available {available}")
        return InnerPacket(
            family, src, dst, protocol, sport, dport, None, 0, False, False, pos + 8, length
        )
    if protocol == PROTO_SCTP:
        # RFC 9260 section 3.1: a 12-byte common header, then chunks.
        if available < 12:
            raise _malformed(f"SCTP common header needs 12 bytes, have {available}")
        sport, dport = _PORTS.unpack_from(buf, pos)
        return InnerPacket(
            family, src, dst, protocol, sport, dport, None, 0, False, False, pos + 12, length
        )
    if (family == 4 and protocol == PROTO_ICMP) or (family == 6 and protocol == PROTO_ICMPV6):
        return _icmp(buf, family, protocol, pos, l4_end, src=src, dst=dst, length=length)
    return InnerPacket(family, src, dst, protocol, 0, 0, None, 0, False, False, -1, length)


def _icmp(
    buf: Buffer,
    family: int,
    protocol: int,
    pos: int,
    l4_end: int,
    *,
    src: bytes,
    dst: bytes,
    length: int,
) -> InnerPacket:
    """ICMP (RFC 792) or ICMPv6 (RFC 4443): echo, other informational, or error."""
    if l4_end - pos < 8:
        raise _malformed(f"ICMP header needs 8 bytes, have {l4_end - pos}")
    icmp_type = buf[pos]
    if family == 4:
        is_echo = icmp_type in (ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY)
        is_error = icmp_type in ICMP_ERROR_TYPES
    else:
        is_echo = icmp_type in (ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY)
        is_error = icmp_type in ICMPV6_ERROR_TYPES
    if is_error:
        # RFC 792 / RFC 4443 section 2.1: the invoking packet follows the 8-byte header.
        q_src, q_dst, q_protocol, q_sport, q_dport = _parse_quote(buf, family, pos + 8, l4_end)
        return InnerPacket(
            family, q_src, q_dst, q_protocol, q_sport, q_dport, None, 0, False, True, -1, length
        )
    # Echo: the identifier stands in for both ports, so a request and its reply give
    # mirror-image flow keys (RFC 792 and RFC 4443 section 4: the reply copies it).
    ident = _U16.unpack_from(buf, pos + 4)[0] if is_echo else 0
    return InnerPacket(
        family, src, dst, protocol, ident, ident, icmp_type, 0, False, False, -1, length
    )


def _parse_quote(
    buf: Buffer, family: int, pos: int, limit: int
) -> tuple[bytes, bytes, int, int, int]:
    """Read the (possibly truncated) packet an ICMP error quotes.

    The quote's own length fields describe the original packet, not what was
    quoted, so only the headers read must lie within ``limit``: the IP header,
    then 4 bytes of ports (8 bytes for a quoted ICMP message).

    Returns:
        ``(src, dst, protocol, sport, dport)`` of the quoted packet.
    """
    available = limit - pos
    if family == 4:
        if available < 20 or buf[pos] >> 4 != 4:
            raise _malformed("ICMP error does not quote an IPv4 header")
        version_ihl, _, frag_word, protocol = _IPV4.unpack_from(buf, pos)
        header_length = 4 * (version_ihl & 0x0F)
        if not 20 <= header_length <= available:
            raise _malformed(f"quoted IHL {header_length // 4}, quote has {available} bytes")
        src = bytes(buf[pos + 12 : pos + 16])
        dst = bytes(buf[pos + 16 : pos + 20])
        l4 = pos + header_length
        non_first_fragment = bool(frag_word & 0x1FFF)
        icmp_protocol = PROTO_ICMP
    else:
        if available < 40 or buf[pos] >> 4 != 6:
            raise _malformed("ICMPv6 error does not quote an IPv6 header")
        src = bytes(buf[pos + 8 : pos + 24])
        dst = bytes(buf[pos + 24 : pos + 40])
        protocol, l4, fragment = _walk_ipv6_extensions(buf, buf[pos + 6], pos + 40, limit)
        non_first_fragment = fragment == _NON_FIRST_FRAGMENT
        icmp_protocol = PROTO_ICMPV6
    if non_first_fragment:
        return src, dst, protocol, 0, 0
    if protocol in _PORT_PROTOCOLS:
        if limit - l4 < 4:
            raise _malformed("quoted packet has no ports")
        sport, dport = _PORTS.unpack_from(buf, l4)
        return src, dst, protocol, sport, dport
    if protocol == icmp_protocol:
        if limit - l4 < 8:
            raise _malformed("quoted ICMP header truncated")
        echo = (
            (ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY)
            if family == 4
            else (ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY)
        )
        if buf[l4] in echo:
            ident = _U16.unpack_from(buf, l4 + 4)[0]
            return src, dst, protocol, ident, ident
    return src, dst, protocol, 0, 0
