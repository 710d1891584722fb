"""appliance.wire.domains: real ClientHellos from the ssl module, HTTP requests, DNS queries."""

from __future__ import annotations

import ssl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR

from appliance.wire.domains import (
    extract_domain,
    host_from_http_request,
    qname_from_dns,
    sni_from_client_hello,
)


def client_hello(server_hostname: str | None, *, tls13_only: bool = False) -> bytes:
    """The first flight of a real TLS client, produced in memory."""
    context = ssl.create_default_context()
    if tls13_only:
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    if server_hostname is None:
        context.check_hostname = False
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize("name", ["example.com", "WWW.Example.ORG", "a.b-c.d_e.test"])
@pytest.mark.parametrize("tls13_only", [False, True])
def test_sni_of_real_client_hello(name: str, tls13_only: bool) -> None:
    hello = client_hello(name, tls13_only=tls13_only)
    assert sni_from_client_hello(hello) == name.lower()
    assert extract_domain(hello, 6, 443) == name.lower()
    assert extract_domain(hello, 6) == name.lower()


def test_client_hello_without_sni() -> None:
    assert sni_from_client_hello(client_hello(None)) is None


def test_truncated_client_hello_never_raises_and_names_only_when_complete() -> None:
    hello = client_hello("example.com")
    for cut in range(len(hello)):
        result = sni_from_client_hello(hello[:cut])
        assert result in (None, "example.com")
    assert sni_from_client_hello(hello[:10]) is None


def test_ip_literal_is_not_sent_as_sni() -> None:
    # Python (like browsers) omits server_name for IP addresses
    assert sni_from_client_hello(client_hello("198.18.0.1")) is None


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (b"GET / HTTP/1.1\r\nHost: Example.com\r\n\r\n", "example.com"),
        (
            b"POST /x HTTP/1.1\r\nUser-Agent: t\r\nhOsT:  a.example.org:8080 \r\n\r\nbody",
            "a.example.org",
        ),
        (b"CONNECT proxy.example:443 HTTP/1.1\r\n\r\n", "proxy.example"),
        (b"GET / HTTP/1.1\r\nHost: [2001:2::1]:80\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\nHost: bad host\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\nHost: a.com:port\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", None),
        (b"GET /\r\n", None),
        (b"HELLO world", None),
        (b"GET / HTTP/1.1\r\nHost: partial.exa", "partial.exa"),
    ],
)
def test_http_host(request_bytes: bytes, expected: str | None) -> None:
    assert host_from_http_request(request_bytes) == expected
    assert extract_domain(request_bytes, 6, 80) == expected


def dns_query(name: str) -> bytes:
    return bytes(DNS(id=0x1234, rd=1, qd=DNSQR(qname=name, qtype="A")))


@pytest.mark.parametrize("name", ["example.com", "WWW.EXAMPLE.org.", "_sip._tcp.example.net"])
def test_dns_query_name_over_udp_and_tcp(name: str) -> None:
    expected = name.lower().rstrip(".")
    query = dns_query(name)
    assert qname_from_dns(query) == expected
    assert extract_domain(query, 17, 53) == expected
    assert extract_domain(query, 17) == expected
    framed = len(query).to_bytes(2, "big") + query
    assert qname_from_dns(framed, tcp=True) == expected
    assert extract_domain(framed, 6, 53) == expected


def test_dns_responses_and_other_ports_are_ignored() -> None:
    response = bytes(
        DNS(
            id=1,
            qr=1,
            qd=DNSQR(qname="example.com"),
            an=DNSRR(rrname="example.com", rdata="198.18.0.1"),
        )
    )
    assert qname_from_dns(response) is None
    assert extract_domain(dns_query("example.com"), 17, 443) is None
    assert qname_from_dns(bytes(DNS(id=1, opcode=2, qd=DNSQR(qname="a.com")))) is None
    assert qname_from_dns(dns_query("example.com")[:-3]) is None  # QTYPE/QCLASS cut off


def test_other_protocols_have_no_domain() -> None:
    assert extract_domain(dns_query("example.com"), 1) is None
    assert extract_domain(b"", 6) is None


@settings(max_examples=500)
@given(
    st.binary(max_size=600),
    st.sampled_from([6, 17, 1, 58]),
    st.one_of(st.none(), st.integers(0, 65535)),
)
def test_random_bytes_never_raise(payload: bytes, protocol: int, dport: int | None) -> None:
    for result in (
        extract_domain(payload, protocol, dport),
        sni_from_client_hello(payload),
        host_from_http_request(payload),
        qname_from_dns(payload),
        qname_from_dns(payload, tcp=True),
    ):
        assert result is None or (result == result.lower() and len(result) <= 253)


@settings(max_examples=200)
@given(st.data())
def test_mutated_client_hello_never_raises(data: st.DataObject) -> None:
    hello = bytearray(HELLO)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(hello) - 1))
        hello[position] = data.draw(st.integers(0, 255))
    result = sni_from_client_hello(bytes(hello))
    assert result is None or len(result) <= 253


HELLO = client_hello("mutate.example.com")
