"""GENEVE header with the AWS Gateway Load Balancer options: parse and build.

Wire format (RFC 8926 section 3.4)::

    |Ver(2)|OptLen(6)|O|C|Rsvd(6)|   Protocol Type (16)   |
    |        VNI (24)                     | Reserved (8)   |
    |   Options: Class(16) | Type(8) | R(3) Len(5) | data ... |

GWLB sends three options of class ``0x0108`` (AWS GWLB documentation, "Gateway
Load Balancer" user guide, and the reference appliance ``gwlbtun``): type 1 the
GWLB endpoint id (8 bytes), type 2 the attachment id (8 bytes), type 3 the flow
cookie (4 bytes), in that order, so its header is :data:`GWLB_HEADER_LENGTH` bytes.
The parser accepts them in any order and skips unknown non-critical options,
because RFC 8926 section 3.5 does not fix an order.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from appliance.errors import WireError
from appliance.wire.drops import DropReason

GENEVE_PORT = 6081
"""UDP destination port of GENEVE (RFC 8926 section 3.3)."""
AWS_OPTION_CLASS = 0x0108
"""Option class GWLB uses for its three options."""
OPT_ENDPOINT, OPT_ATTACHMENT, OPT_COOKIE = 1, 2, 3
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
BASE_HEADER_LENGTH = 8
"""Fixed part of the GENEVE header (RFC 8926 section 3.4)."""
GWLB_HEADER_LENGTH = 40
"""Base header + the three AWS options in the order GWLB sends them."""
MAX_DATAGRAM = 8568
"""Largest outer IPv4 datagram GWLB sends: 8500 bytes of inner packet + 68 of overhead."""
MAX_OPTIONS_LENGTH = 252
"""OptLen is 6 bits of 4-byte words (RFC 8926 section 3.4)."""
MAX_OPTION_DATA = 124
"""An option's Length is 5 bits of 4-byte words (RFC 8926 section 3.5)."""
CRITICAL_TYPE_BIT = 0x80
"""High bit of an option Type: the option is critical (RFC 8926 section 3.5)."""

_AWS_DATA_LENGTH = {OPT_ENDPOINT: 8, OPT_ATTACHMENT: 8, OPT_COOKIE: 4}
_PROTOCOL_TYPES = frozenset((ETHERTYPE_IPV4, ETHERTYPE_IPV6))

_BASE = struct.Struct(">BBHI")
_OPTION_HEADER = struct.Struct(">HBB")
# The exact 40-byte header GWLB sends: base + endpoint + attachment + cookie.
_GWLB = struct.Struct(">BBHI HBBQ HBBQ HBBI")
_GWLB_FIRST_BYTE = (GWLB_HEADER_LENGTH - BASE_HEADER_LENGTH) // 4  # Ver 0, OptLen 8 words
_EXPECTED_OPTION_HEADERS = (
    (AWS_OPTION_CLASS, OPT_ENDPOINT, 2),
    (AWS_OPTION_CLASS, OPT_ATTACHMENT, 2),
    (AWS_OPTION_CLASS, OPT_COOKIE, 1),
)


@dataclass(frozen=True, slots=True)
class GeneveHeader:
    """A parsed GENEVE header carrying the three GWLB options."""

    length: int
    """Bytes of GENEVE header including options; the inner packet starts at offset+length."""
    protocol_type: int
    """EtherType of the inner packet: :data:`ETHERTYPE_IPV4` or :data:`ETHERTYPE_IPV6`."""
    vni: int
    """Virtual Network Identifier (24 bits)."""
    endpoint_id: int
    """GWLB endpoint (GWLBE ENI) id: option class 0x0108 type 1, 8 bytes big-endian."""
    attachment_id: int
    """Attachment id: type 2, 8 bytes (0 when unused)."""
    cookie: int
    """Flow cookie: type 3, 4 bytes."""
    critical: bool
    """The C bit: the sender says critical options are present."""


def parse_geneve(
    buf: bytes | bytearray | memoryview, offset: int = 0, end: int | None = None
) -> GeneveHeader:
    """Parse and validate the GENEVE header at ``buf[offset:end]``.

    Args:
        buf: the UDP payload (or a larger buffer holding it).
        offset: where the GENEVE header starts.
        end: end of the datagram in ``buf``; ``len(buf)`` when None.

    Returns:
        The header; the inner packet is ``buf[offset + header.length:end]``.

    Raises:
        WireError: with ``TOO_SHORT``, ``BAD_VERSION``, ``OAM``, ``BAD_OPTION_LENGTH``,
            ``UNKNOWN_CRITICAL_OPTION``, ``MISSING_GWLB_OPTION`` or ``BAD_PROTOCOL_TYPE``.
        ValueError: ``offset``/``end`` do not lie within ``buf`` (a caller bug).
    """
    if end is None:
        end = len(buf)
    if not 0 <= offset <= end <= len(buf):
        raise ValueError(f"offset {offset} / end {end} outside buffer of {len(buf)} bytes")
    if end - offset < BASE_HEADER_LENGTH:
        raise WireError(DropReason.TOO_SHORT, f"{end - offset} bytes, base header needs 8")
    first, flags, protocol_type, vni_word = _BASE.unpack_from(buf, offset)
    # RFC 8926 section 3.4: Ver is 0; a receiver MUST drop packets of an unknown version.
    if first >> 6:
        raise WireError(DropReason.BAD_VERSION, f"version {first >> 6}")
    # RFC 8926 section 3.4: O=1 marks a control packet; its payload is never forwarded.
    if flags & 0x80:
        raise WireError(DropReason.OAM, "O bit set")
    # RFC 8926 section 3.4: OptLen counts 4-byte words after the 8-byte base header.
    length = BASE_HEADER_LENGTH + 4 * (first & 0x3F)
    if end - offset < length:
        raise WireError(
            DropReason.TOO_SHORT, f"header of {length} bytes, datagram has {end - offset}"
        )
    critical = bool(flags & 0x40)
    if first == _GWLB_FIRST_BYTE:
        fast = _parse_gwlb_layout(buf, offset)
        if fast is not None:
            endpoint_id, attachment_id, cookie = fast
        else:
            endpoint_id, attachment_id, cookie = _parse_options(buf, offset, length)
    else:
        endpoint_id, attachment_id, cookie = _parse_options(buf, offset, length)
    # RFC 8926 section 3.4: Protocol Type is an EtherType; GWLB carries bare IPv4/IPv6.
    if protocol_type not in _PROTOCOL_TYPES:
        raise WireError(DropReason.BAD_PROTOCOL_TYPE, f"protocol type {protocol_type:#06x}")
    # Reserved bits (6 after C, the low byte after the VNI) are ignored on receipt.
    return GeneveHeader(
        length=length,
        protocol_type=protocol_type,
        vni=vni_word >> 8,
        endpoint_id=endpoint_id,
        attachment_id=attachment_id,
        cookie=cookie,
        critical=critical,
    )


def _parse_gwlb_layout(
    buf: bytes | bytearray | memoryview, offset: int
) -> tuple[int, int, int] | None:
    """Read the exact layout GWLB sends in one unpack; None if the options differ."""
    (_, _, _, _, c1, t1, l1, endpoint_id, c2, t2, l2, attachment_id, c3, t3, l3, cookie) = (
        _GWLB.unpack_from(buf, offset)
    )
    # The three R bits of each option's length byte are reserved: ignore them.
    if (
        (c1, t1, l1 & 0x1F),
        (c2, t2, l2 & 0x1F),
        (c3, t3, l3 & 0x1F),
    ) != _EXPECTED_OPTION_HEADERS:
        return None
    return endpoint_id, attachment_id, cookie


def _parse_options(
    buf: bytes | bytearray | memoryview, offset: int, length: int
) -> tuple[int, int, int]:
    """Walk the option list (RFC 8926 section 3.5) and return the three AWS values."""
    found: dict[int, int] = {}
    pos = offset + BASE_HEADER_LENGTH
    options_end = offset + length
    while pos < options_end:
        # OptLen and every option are whole 4-byte words, so a 4-byte option header
        # always fits once pos < options_end.
        opt_class, opt_type, len_byte = _OPTION_HEADER.unpack_from(buf, pos)
        data_length = 4 * (len_byte & 0x1F)
        data_start = pos + 4
        pos = data_start + data_length
        # RFC 8926 section 3.5: options must add up exactly to OptLen.
        if pos > options_end:
            raise WireError(
                DropReason.BAD_OPTION_LENGTH,
                f"option {opt_class:#06x}/{opt_type:#04x} of {data_length} bytes runs past OptLen",
            )
        if opt_class == AWS_OPTION_CLASS and opt_type in _AWS_DATA_LENGTH:
            if opt_type in found:
                raise WireError(DropReason.MISSING_GWLB_OPTION, f"AWS option {opt_type} repeated")
            if data_length != _AWS_DATA_LENGTH[opt_type]:
                raise WireError(
                    DropReason.MISSING_GWLB_OPTION,
                    f"AWS option {opt_type} has {data_length} bytes, "
                    f"expected {_AWS_DATA_LENGTH[opt_type]}",
                )
            found[opt_type] = int.from_bytes(buf[data_start:pos], "big")
        elif opt_type & CRITICAL_TYPE_BIT:
            # RFC 8926 section 3.5.1: an unrecognised critical option MUST cause a drop.
            # We parse every option whatever the C bit says, so this holds even if C=0.
            raise WireError(
                DropReason.UNKNOWN_CRITICAL_OPTION,
                f"critical option {opt_class:#06x}/{opt_type:#04x}",
            )
        # Unknown non-critical options are skipped; they stay in the header bytes the
        # data plane echoes back.
    missing = [t for t in _AWS_DATA_LENGTH if t not in found]
    if missing:
        raise WireError(DropReason.MISSING_GWLB_OPTION, f"AWS option(s) {missing} absent")
    return found[OPT_ENDPOINT], found[OPT_ATTACHMENT], found[OPT_COOKIE]


def build_geneve(
    *,
    endpoint_id: int,
    attachment_id: int,
    cookie: int,
    protocol_type: int = ETHERTYPE_IPV4,
    vni: int = 0,
    extra_options: Sequence[tuple[int, int, bytes]] = (),
) -> bytes:
    """Build a GENEVE header the way GWLB does (tests, lab traffic generators).

    The three AWS options come first, in GWLB's order, then ``extra_options``.
    Reserved bits are 0 (RFC 8926 section 3.4); the C bit is set when any option
    type has its critical bit set, as RFC 8926 section 3.4 requires of senders.

    Args:
        endpoint_id: option type 1, 64 bits.
        attachment_id: option type 2, 64 bits.
        cookie: option type 3, 32 bits.
        protocol_type: EtherType of the inner packet.
        vni: 24-bit Virtual Network Identifier.
        extra_options: ``(class, type, data)`` triples; ``data`` must be a multiple of
            4 bytes, at most 124.

    Returns:
        The header bytes; append the inner packet to them.

    Raises:
        ValueError: a value is out of range or the options do not fit in OptLen.
    """
    _check_range("endpoint_id", endpoint_id, 64)
    _check_range("attachment_id", attachment_id, 64)
    _check_range("cookie", cookie, 32)
    _check_range("protocol_type", protocol_type, 16)
    _check_range("vni", vni, 24)
    parts = [
        _OPTION_HEADER.pack(AWS_OPTION_CLASS, OPT_ENDPOINT, 2),
        endpoint_id.to_bytes(8, "big"),
        _OPTION_HEADER.pack(AWS_OPTION_CLASS, OPT_ATTACHMENT, 2),
        attachment_id.to_bytes(8, "big"),
        _OPTION_HEADER.pack(AWS_OPTION_CLASS, OPT_COOKIE, 1),
        cookie.to_bytes(4, "big"),
    ]
    critical = False
    for opt_class, opt_type, data in extra_options:
        _check_range("option class", opt_class, 16)
        _check_range("option type", opt_type, 8)
        if len(data) % 4 or len(data) > MAX_OPTION_DATA:
            raise ValueError(
                f"option data must be a multiple of 4 bytes, at most {MAX_OPTION_DATA}; "
                f"got {len(data)}"
            )
        critical |= bool(opt_type & CRITICAL_TYPE_BIT)
        parts.append(_OPTION_HEADER.pack(opt_class, opt_type, len(data) // 4))
        parts.append(bytes(data))
    options = b"".join(parts)
    if len(options) > MAX_OPTIONS_LENGTH:
        raise ValueError(f"options take {len(options)} bytes, at most {MAX_OPTIONS_LENGTH} fit")
    base = _BASE.pack(len(options) // 4, 0x40 if critical else 0, protocol_type, vni << 8)
    return base + options


def _check_range(name: str, value: int, bits: int) -> None:
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{name} {value!r} does not fit in {bits} unsigned bits")
