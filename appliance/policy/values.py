"""Parsers for the scalar values of a policy document: CIDRs, ports, protocols, ids, names.

Each function takes the value as YAML/JSON produced it and returns the engine's
representation, or raises :class:`ValueError` with a message meant for the
operator (the document parser adds the field path and line). Pure, no I/O.
"""

from __future__ import annotations

import ipaddress
import re

from appliance.policy.model import Cidr, PortRange

PROTOCOL_NAMES = {
    "icmp": 1,
    "tcp": 6,
    "udp": 17,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "icmpv6": 58,
    "sctp": 132,
    "udplite": 136,
}
"""Protocol names accepted in ``match.protocol``, with their IANA numbers."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)\Z")
_HEX_ID = re.compile(r"0x[0-9a-fA-F]{1,16}\Z")
_V4_FULL = (1 << 32) - 1
_V6_FULL = (1 << 128) - 1


def parse_cidr(value: object) -> Cidr:
    """Parse ``198.18.0.0/15``, ``2001:2::/48`` or a bare address (a /32 or /128).

    Host bits are cleared (threat feeds often carry them), so ``198.18.0.1/24`` is
    ``198.18.0.0/24``.

    Raises:
        ValueError: not a string, or not an IPv4/IPv6 address or network.
    """
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a CIDR (write it as a string)")
    addr, slash, length = value.partition("/")
    if ":" in addr:
        family, bits = 6, 128
        try:
            number = int(ipaddress.IPv6Address(addr))
        except ValueError:
            raise ValueError(f"{value!r} is not a CIDR") from None
    else:
        family, bits = 4, 32
        number = _parse_ipv4(addr, value)
    if slash:
        if not length.isascii() or not length.isdigit() or len(length) > 3:
            raise ValueError(f"{value!r} is not a CIDR: bad prefix length")
        prefixlen = int(length)
        if prefixlen > bits:
            raise ValueError(f"{value!r} is not a CIDR: prefix length over {bits}")
    else:
        prefixlen = bits
    full = _V4_FULL if family == 4 else _V6_FULL
    mask = full ^ (full >> prefixlen)
    return (family, number & mask, prefixlen)


def _parse_ipv4(addr: str, original: str) -> int:
    parts = addr.split(".")
    if len(parts) != 4:
        raise ValueError(f"{original!r} is not a CIDR")
    number = 0
    for part in parts:
        if not part.isascii() or not part.isdigit() or len(part) > 3:
            raise ValueError(f"{original!r} is not a CIDR")
        if len(part) > 1 and part[0] == "0":
            raise ValueError(f"{original!r} is not a CIDR: leading zero is ambiguous")
        octet = int(part)
        if octet > 255:
            raise ValueError(f"{original!r} is not a CIDR: octet over 255")
        number = number << 8 | octet
    return number


def format_cidr(cidr: Cidr) -> str:
    """Text form of a :data:`Cidr`."""
    family, network, prefixlen = cidr
    addr = ipaddress.IPv4Address(network) if family == 4 else ipaddress.IPv6Address(network)
    return f"{addr}/{prefixlen}"


def parse_port_range(value: object) -> PortRange:
    """Parse ``443``, ``"443"`` or ``"1000-2000"`` into an inclusive range.

    Raises:
        ValueError: not a port, or a range whose low end is above its high end.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a port")
    if isinstance(value, int):
        low = high = _port(value, value)
    elif isinstance(value, str):
        text = value.strip()
        left, dash, right = text.partition("-")
        low = _port(_digits(left, value), value)
        high = _port(_digits(right, value), value) if dash else low
        if low > high:
            raise ValueError(f"{value!r} is not a port range: {low} is above {high}")
    else:
        raise ValueError(f"{value!r} is not a port")
    return (low, high)


def _digits(text: str, original: object) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        raise ValueError(f"{original!r} is not a port (0-65535)")
    return int(text)


def _port(number: int, original: object) -> int:
    if not 0 <= number <= 65535:
        raise ValueError(f"{original!r} is not a port (0-65535)")
    return number


def parse_protocol(value: object) -> int:
    """Parse a protocol name (``tcp``, ``icmpv6``...) or number (0-255)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a protocol")
    if isinstance(value, str):
        name = value.strip().lower()
        if name in PROTOCOL_NAMES:
            return PROTOCOL_NAMES[name]
        if not name.isascii() or not name.isdigit():
            known = ", ".join(sorted(PROTOCOL_NAMES))
            raise ValueError(f"{value!r} is not a protocol (one of {known} or a number)")
        value = int(name)
    if not isinstance(value, int) or not 0 <= value <= 255:
        raise ValueError(f"{value!r} is not a protocol number (0-255)")
    return value


def parse_icmp_type(value: object) -> int:
    """Parse an ICMP/ICMPv6 type (0-255)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise ValueError(f"{value!r} is not an ICMP type (0-255)")
    return value


def parse_hex_id(value: object) -> int:
    """Parse a GWLB endpoint or attachment id: ``0x`` + up to 16 hex digits, or an integer.

    YAML reads an unquoted ``0x0123...`` as an integer already; both forms are accepted.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an id")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _HEX_ID.match(value.strip()):
        number = int(value.strip(), 16)
    else:
        raise ValueError(f"{value!r} is not an id (0x followed by up to 16 hex digits)")
    if not 0 <= number < 1 << 64:
        raise ValueError(f"{value!r} is not an id: it does not fit in 8 bytes")
    return number


def format_hex_id(number: int) -> str:
    """The status API's form of an endpoint/attachment id: ``0x`` + 16 hex digits."""
    return f"0x{number:016x}"


def parse_domain(value: object) -> str:
    """Parse ``example.com`` or ``*.example.org`` into its lowercase form without trailing dot.

    Names are matched as ASCII (IDNs in their ``xn--`` form).
    """
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a domain name")
    name = value.strip().lower().rstrip(".")
    body = name[2:] if name.startswith("*.") else name
    if not body or len(body) > 253 or not body.isascii():
        raise ValueError(f"{value!r} is not a domain name (ASCII, at most 253 characters)")
    for label in body.split("."):
        if not _LABEL.match(label):
            raise ValueError(f"{value!r} is not a domain name: bad label {label!r}")
    return name


def check_name(value: object, what: str) -> str:
    """Check a rule id or address-set name: letters, digits, ``._-``; 1-64 characters."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid {what} (letters, digits, '.', '_', '-'; 1-64 characters)"
        )
    return value
