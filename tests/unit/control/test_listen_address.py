"""parse_listen_address: admin channels on TCP are loopback-only."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.control.http import parse_listen_address
from appliance.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:8081", ("127.0.0.1", 8081)),
        ("127.1.2.3:0", ("127.1.2.3", 0)),
        ("localhost:9000", ("127.0.0.1", 9000)),
        ("[::1]:8081", ("::1", 8081)),
        (" 127.0.0.1:1 ", ("127.0.0.1", 1)),
    ],
)
def test_loopback_addresses_parse(text: str, address: tuple[str, int]) -> None:
    assert parse_listen_address(text) == address


def test_the_error_names_the_field() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_listen_address("198.18.0.1:80", field="control.admin_listen")
    assert caught.value.field == "control.admin_listen"
    assert "not a loopback address" in caught.value.message


@given(st.text(max_size=40))
def test_any_text_is_a_loopback_address_or_a_config_error(text: str) -> None:
    try:
        host, port = parse_listen_address(text)
    except ConfigError as exc:
        field = exc.field
        host, port = "", -1
    else:
        field = ""
    if field:
        assert field == "admin_listen"
        return
    assert ipaddress.ip_address(host).is_loopback
    assert 0 <= port <= 65535


@given(st.ip_addresses(), st.integers(0, 65535))
def test_only_loopback_ip_addresses_are_accepted(address: object, port: int) -> None:
    ip = ipaddress.ip_address(str(address))
    text = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
    if ip.is_loopback:
        assert parse_listen_address(text) == (str(ip), port)
    else:
        with pytest.raises(ConfigError, match="not a loopback address"):
            parse_listen_address(text)
