"""Domain names in the first payload of a flow: TLS ClientHello SNI, HTTP/1 Host, DNS query name.

Sources: RFC 8446 section 4.1.2 (ClientHello) and RFC 6066 section 3 (server_name
extension); RFC 9112 section 3.2 (Host); RFC 1035 section 4.1 (DNS messages) and
RFC 7766 section 8 (DNS over TCP: a 2-byte length prefix).

Every function is pure and defensive: it takes untrusted bytes, returns a name
(lowercase ASCII, no trailing dot, at most 253 characters, letters, digits, ``-``,
``_`` and ``.`` only) or None, and never raises. Parsing stops at the end of the
bytes given: a ClientHello split over several TCP segments is recognised only if
the caller passes the concatenated payloads (``server_name`` is often in the
first segment, but post-quantum key shares push ClientHellos past 1,500 bytes).
QUIC Initial packets (SNI inside an encrypted CRYPTO frame) are not decoded.
"""

from __future__ import annotations

import re

Buffer = bytes | bytearray | memoryview

_NAME = re.compile(rb"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\Z")
_METHODS = (
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
)
_TLS_HANDSHAKE = 0x16
_CLIENT_HELLO = 1
_EXT_SERVER_NAME = 0
_HOST_NAME = 0
_MAX_HTTP_HEAD = 8192
DNS_PORTS = frozenset((53, 5353, 5355))
"""DNS, mDNS and LLMNR: UDP payloads to or from these ports are read as DNS."""


def _clean(raw: bytes) -> str | None:
    """Normalise a candidate name; None unless it is a plausible DNS name."""
    name = raw.lower().rstrip(b".")
    if not name or len(name) > 253 or not _NAME.match(name):
        return None
    if any(len(label) > 63 for label in name.split(b".")):
        return None
    return name.decode("ascii")


def sni_from_client_hello(payload: Buffer) -> str | None:
    """The ``server_name`` (host_name type) of a TLS ClientHello, starting at the TLS record."""
    data = bytes(payload[: 16384 + 5])
    if len(data) < 5 + 4 or data[0] != _TLS_HANDSHAKE or data[1] != 3:
        return None
    record_end = min(len(data), 5 + int.from_bytes(data[3:5], "big"))
    if data[5] != _CLIENT_HELLO:
        return None
    hello_end = min(record_end, 9 + int.from_bytes(data[6:9], "big"))
    pos = 9 + 2 + 32  # legacy_version, random
    if pos >= hello_end:
        return None
    pos += 1 + data[pos]  # legacy_session_id
    if pos + 2 > hello_end:
        return None
    pos += 2 + int.from_bytes(data[pos : pos + 2], "big")  # cipher_suites
    if pos + 1 > hello_end:
        return None
    pos += 1 + data[pos]  # legacy_compression_methods
    if pos + 2 > hello_end:
        return None
    extensions_end = min(hello_end, pos + 2 + int.from_bytes(data[pos : pos + 2], "big"))
    pos += 2
    while pos + 4 <= extensions_end:
        kind = int.from_bytes(data[pos : pos + 2], "big")
        size = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 4
        if kind == _EXT_SERVER_NAME:
            return _server_name(data[pos : min(pos + size, extensions_end)])
        pos += size
    return None


def _server_name(ext: bytes) -> str | None:
    if len(ext) < 2:
        return None
    end = min(len(ext), 2 + int.from_bytes(ext[0:2], "big"))
    pos = 2
    while pos + 3 <= end:
        kind = ext[pos]
        size = int.from_bytes(ext[pos + 1 : pos + 3], "big")
        pos += 3
        if pos + size > end:
            return None
        if kind == _HOST_NAME:
            return _clean(ext[pos : pos + size])
        pos += size
    return None


def host_from_http_request(payload: Buffer) -> str | None:
    """The host of an HTTP/1.x request: its ``Host`` header, or a CONNECT target, without port."""
    head = bytes(payload[:_MAX_HTTP_HEAD])
    if not head.startswith(_METHODS):
        return None
    head = head.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    request = lines[0].split(b" ")
    if len(request) < 2 or not request[-1].startswith(b"HTTP/1."):
        return None
    for line in lines[1:]:
        field, colon, value = line.partition(b":")
        if colon and field.strip().lower() == b"host":
            return _strip_port(value.strip())
    if request[0] == b"CONNECT":
        return _strip_port(request[1])
    return None


def _strip_port(authority: bytes) -> str | None:
    if authority.startswith(b"["):
        return None  # an IPv6 literal, not a name
    host, _, port = authority.partition(b":")
    if port and not port.isdigit():
        return None
    return _clean(host)


def qname_from_dns(payload: Buffer, *, tcp: bool = False) -> str | None:
    """The name of the single question of a standard DNS query (QR=0, OPCODE=0, QDCOUNT=1).

    Args:
        payload: the UDP payload, or with ``tcp`` the TCP payload with its length prefix.
        tcp: the message is framed by a 2-byte length (DNS over TCP).
    """
    data = bytes(payload[:65537])
    if tcp:
        if len(data) < 2:
            return None
        data = data[2 : 2 + int.from_bytes(data[:2], "big")]
    if len(data) < 12 + 1 + 4:
        return None
    flags = int.from_bytes(data[2:4], "big")
    if flags & 0x8000 or (flags >> 11) & 0xF:  # a response, or not a standard query
        return None
    if int.from_bytes(data[4:6], "big") != 1 or int.from_bytes(data[6:8], "big") != 0:
        return None  # QDCOUNT must be 1 and ANCOUNT 0 in a query
    labels: list[bytes] = []
    pos, total = 12, 0
    while True:
        if pos >= len(data):
            return None
        size = data[pos]
        pos += 1
        if size == 0:
            break
        if size > 63:  # compression pointers have no place in a query's only question
            return None
        label = data[pos : pos + size]
        if len(label) != size:
            return None
        total += size + 1
        if total > 255:
            return None
        labels.append(label)
        pos += size
    if pos + 4 > len(data) or not labels:
        return None
    return _clean(b".".join(labels))


def extract_domain(payload: Buffer, protocol: int, dport: int | None = None) -> str | None:
    """The domain named by a flow's payload, whatever the application protocol.

    Args:
        payload: the L4 payload (after the TCP/UDP header).
        protocol: IP protocol number (6 TCP, 17 UDP).
        dport: destination port when known; without it DNS is recognised by its
            (strictly checked) header alone.
    """
    if not payload:
        return None
    if protocol == 17:
        if dport is not None and dport not in DNS_PORTS:
            return None
        return qname_from_dns(payload)
    if protocol != 6:
        return None
    first = payload[0]
    if first == _TLS_HANDSHAKE:
        return sni_from_client_hello(payload)
    if 0x41 <= first <= 0x5A:  # an upper-case letter: maybe an HTTP method
        return host_from_http_request(payload)
    if dport is None or dport in DNS_PORTS:
        return qname_from_dns(payload, tcp=True)
    return None
