"""Directional flow keys: the bytes a flow table is indexed by.

Layout (the data plane's fast path slices packet bytes into it, so it is fixed)::

    endpoint_id (8, big-endian) | protocol (1) | src (4|16) | dst (4|16) | sport (2) | dport (2)

IPv4 keys are 21 bytes, IPv6 keys 45. For an IPv4 TCP/UDP packet with IHL 5 the
part after the endpoint is ``bytes([protocol]) + ip_packet[12:24]``. A key names
one direction; :func:`reverse_key` gives the other one.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from appliance.wire.inner import InnerPacket

IPV4_KEY_LENGTH = 21
IPV6_KEY_LENGTH = 45

_HEAD = struct.Struct(">QB")
_PORTS = struct.Struct(">HH")


@dataclass(frozen=True, slots=True)
class KeyParts:
    """A flow key taken apart, with addresses in their text forms (for status output)."""

    endpoint_id: int
    family: int
    """4 or 6."""
    protocol: int
    src: str
    dst: str
    sport: int
    dport: int


def flow_key(endpoint_id: int, inner: InnerPacket) -> bytes:
    """The directional key of ``inner`` as received from GWLB endpoint ``endpoint_id``.

    Args:
        endpoint_id: GWLB endpoint id (GENEVE option type 1), 64 bits.
        inner: the parsed inner packet.

    Returns:
        21 bytes for IPv4, 45 for IPv6.
    """
    return (
        _HEAD.pack(endpoint_id, inner.protocol)
        + inner.src
        + inner.dst
        + _PORTS.pack(inner.sport, inner.dport)
    )


def reverse_key(key: bytes) -> bytes:
    """The key of the opposite direction: addresses and ports swapped.

    Raises:
        ValueError: ``key`` is neither 21 nor 45 bytes long.
    """
    width = _address_width(key)
    dst_at = 9 + width
    ports_at = dst_at + width
    return (
        key[:9]
        + key[dst_at:ports_at]
        + key[9:dst_at]
        + key[ports_at + 2 : ports_at + 4]
        + key[ports_at : ports_at + 2]
    )


def describe_key(key: bytes) -> KeyParts:
    """Take a key apart for display.

    Raises:
        ValueError: ``key`` is neither 21 nor 45 bytes long.
    """
    width = _address_width(key)
    endpoint_id, protocol = _HEAD.unpack_from(key)
    dst_at = 9 + width
    ports_at = dst_at + width
    sport, dport = _PORTS.unpack_from(key, ports_at)
    if width == 4:
        src: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(key[9:dst_at])
        dst: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(
            key[dst_at:ports_at]
        )
    else:
        src = ipaddress.IPv6Address(key[9:dst_at])
        dst = ipaddress.IPv6Address(key[dst_at:ports_at])
    return KeyParts(
        endpoint_id=endpoint_id,
        family=4 if width == 4 else 6,
        protocol=protocol,
        src=str(src),
        dst=str(dst),
        sport=sport,
        dport=dport,
    )


def _address_width(key: bytes) -> int:
    if len(key) == IPV4_KEY_LENGTH:
        return 4
    if len(key) == IPV6_KEY_LENGTH:
        return 16
    raise ValueError(f"a flow key is {IPV4_KEY_LENGTH} or {IPV6_KEY_LENGTH} bytes, got {len(key)}")
