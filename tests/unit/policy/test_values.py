"""Scalar value parsers, checked against the standard library where one exists."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.policy.values import (
    format_cidr,
    format_hex_id,
    parse_cidr,
    parse_domain,
    parse_hex_id,
    parse_port_range,
    parse_protocol,
)


@given(st.ip_addresses(), st.data())
def test_parse_cidr_agrees_with_ipaddress(
    address: ipaddress._BaseAddress, data: st.DataObject
) -> None:
    width = 32 if address.version == 4 else 128
    length = data.draw(st.integers(0, width))
    text = f"{address}/{length}"
    expected = ipaddress.ip_network(text, strict=False)
    assert parse_cidr(text) == (address.version, int(expected.network_address), length)
    assert format_cidr(parse_cidr(text)) == str(expected)


@given(st.text(max_size=40))
def test_parse_cidr_raises_only_value_error(text: str) -> None:
    try:
        parse_cidr(text)
    except ValueError:
        return


@pytest.mark.parametrize(
    "text", ["1.2.3", "1.2.3.4.5", "1.2.3.4/", "1.2.3.4/x", "::g", "", "1.2.3.4/-1"]
)
def test_parse_cidr_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a CIDR"):
        parse_cidr(text)


def test_bare_addresses_are_host_routes() -> None:
    assert parse_cidr("198.18.0.1") == (4, 0xC6120001, 32)
    assert parse_cidr("2001:2::1")[2] == 128


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, (0, 0)), (65535, (65535, 65535)), ("80", (80, 80)), (" 1-2 ", (1, 2))],
)
def test_ports(value: object, expected: tuple[int, int]) -> None:
    assert parse_port_range(value) == expected


@pytest.mark.parametrize("value", [-1, 65536, "1-", "a", True, 1.5, "2-1", None])
def test_bad_ports(value: object) -> None:
    with pytest.raises(ValueError, match="port"):
        parse_port_range(value)


def test_protocols() -> None:
    assert [parse_protocol(v) for v in ("TCP", "udp", "icmpv6", 47, "50")] == [6, 17, 58, 47, 50]
    for bad in ("tcpx", 256, -1, False):
        with pytest.raises(ValueError, match="protocol"):
            parse_protocol(bad)


def test_hex_ids() -> None:
    assert parse_hex_id("0x0123456789ABCDEF") == 0x0123456789ABCDEF
    assert parse_hex_id(5) == 5
    assert format_hex_id(5) == "0x0000000000000005"
    for bad in ("0x", "0x1ffffffffffffffff", "123", 1 << 64, True):
        with pytest.raises(ValueError, match="id"):
            parse_hex_id(bad)


def test_domains() -> None:
    assert parse_domain("WWW.Example.com.") == "www.example.com"
    assert parse_domain("*.example.org") == "*.example.org"
    assert parse_domain("_dmarc.example.org") == "_dmarc.example.org"
    for bad in ("", "*.", "a..b", "a.*.b", "ex ample.com", "bücher.de", "a" * 64 + ".com", 5):
        with pytest.raises(ValueError, match="domain"):
            parse_domain(bad)
