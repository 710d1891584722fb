"""Outer IPv4/UDP headers for the lab's raw sockets: build and parse, no I/O.

GWLB's outer packets are always IPv4/UDP (see PROTOCOL.md, "What GWLB sends"). The lab
sends them on ``IPPROTO_RAW`` sockets so it can choose the UDP source port, and receives
them on raw ``IPPROTO_UDP`` sockets so it sees every outer header field.
Sources: RFC 791 (IPv4 header and checksum), RFC 768 (UDP; checksum 0 means none).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

IPV4_HEADER_LENGTH = 20
UDP_HEADER_LENGTH = 8
PROTO_UDP = 17

_IPV4 = struct.Struct(">BBHHHBBH4s4s")
_UDP = struct.Struct(">HHHH")


class PacketError(ValueError):
    """Bytes that are not the IPv4/UDP packet they should be."""


@dataclass(frozen=True, slots=True)
class OuterUdp:
    """The outer IPv4/UDP header fields of a received datagram."""

    src: bytes
    """Packed IPv4 source address."""
    dst: bytes
    """Packed IPv4 destination address."""
    sport: int
    dport: int
    payload_offset: int
    """Where the UDP payload (the GENEVE header) starts."""
    payload_end: int
    """End of the UDP payload according to the UDP length field."""


def ipv4_checksum(header: bytes | bytearray | memoryview) -> int:
    """The RFC 791 one's-complement header checksum of ``header`` (even length)."""
    total: int = sum(struct.unpack(f">{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_ipv4_udp(
    src: bytes, dst: bytes, sport: int, dport: int, payload: bytes, *, ttl: int = 64, ident: int = 0
) -> bytes:
    """An IPv4 datagram (no options, DF set) carrying ``payload`` in UDP.

    The UDP checksum is 0 (none), as GWLB may send it (RFC 768 allows it over IPv4).

    Args:
        src: packed source address (4 bytes).
        dst: packed destination address (4 bytes).
        sport: UDP source port.
        dport: UDP destination port.
        payload: the UDP payload.
        ttl: IP time to live.
        ident: IP identification.

    Returns:
        The whole datagram, IP header checksum filled in.

    Raises:
        PacketError: an address is not 4 bytes or the datagram would exceed 65535 bytes.
    """
    if len(src) != 4 or len(dst) != 4:
        raise PacketError("IPv4 addresses are 4 bytes")
    udp_length = UDP_HEADER_LENGTH + len(payload)
    total = IPV4_HEADER_LENGTH + udp_length
    if total > 0xFFFF:
        raise PacketError(f"datagram of {total} bytes does not fit IPv4")
    header = bytearray(
        _IPV4.pack(0x45, 0, total, ident & 0xFFFF, 0x4000, ttl, PROTO_UDP, 0, src, dst)
    )
    struct.pack_into(">H", header, 10, ipv4_checksum(header))
    return bytes(header) + _UDP.pack(sport, dport, udp_length, 0) + payload


def parse_ipv4_udp(buf: bytes | bytearray | memoryview, end: int | None = None) -> OuterUdp:
    """Parse the IPv4 and UDP headers at the start of ``buf[:end]``.

    Raises:
        PacketError: not IPv4, not UDP, a fragment, or lengths that do not fit.
    """
    if end is None:
        end = len(buf)
    if end < IPV4_HEADER_LENGTH:
        raise PacketError(f"{end} bytes is too short for IPv4")
    version_ihl, _, total, _, frag, _, proto, _, src, dst = _IPV4.unpack_from(buf, 0)
    if version_ihl >> 4 != 4:
        raise PacketError(f"IP version {version_ihl >> 4}")
    ihl = 4 * (version_ihl & 0x0F)
    if proto != PROTO_UDP:
        raise PacketError(f"protocol {proto} is not UDP")
    if frag & 0x3FFF:
        raise PacketError("fragmented outer datagram")
    if ihl < IPV4_HEADER_LENGTH or total > end or total < ihl + UDP_HEADER_LENGTH:
        raise PacketError(f"IPv4 lengths do not fit: ihl {ihl}, total {total}, have {end}")
    sport, dport, udp_length, _ = _UDP.unpack_from(buf, ihl)
    if udp_length < UDP_HEADER_LENGTH or ihl + udp_length > total:
        raise PacketError(f"UDP length {udp_length} does not fit the datagram")
    return OuterUdp(
        src=bytes(src),
        dst=bytes(dst),
        sport=sport,
        dport=dport,
        payload_offset=ihl + UDP_HEADER_LENGTH,
        payload_end=ihl + udp_length,
    )
