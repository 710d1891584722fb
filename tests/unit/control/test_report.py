"""Pure formatting helpers of the status and flows reports."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.control.fake import FakeStatusProvider, sample_flow
from appliance.control.report import (
    format_bytes,
    format_count,
    format_duration,
    format_endpoint,
    format_protocol,
    render_flows,
    render_status,
    table,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0ms"),
        (0.05, "50ms"),
        (4.25, "4.2s"),
        (59.9, "59.9s"),
        (60, "1m 00s"),
        (184, "3m 04s"),
        (3600.2, "1h 00m 00s"),
        (7384, "2h 03m 04s"),
        (3 * 86400 + 4 * 3600 + 5 * 60 + 59, "3d 4h 05m"),
        (-1, "-"),
        (None, "-"),
        ("12", "-"),
        (True, "-"),
    ],
)
def test_format_duration(seconds: Any, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (999, "999"), (1234567, "1,234,567"), (12.7, "12"), (None, "-"), (False, "-")],
)
def test_format_count(value: Any, text: str) -> None:
    assert format_count(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (5 * 1024**3, "5.0 GiB"),
        (3 * 1024**5, "3072.0 TiB"),
        (-5, "-"),
        ("x", "-"),
    ],
)
def test_format_bytes(value: Any, text: str) -> None:
    assert format_bytes(value) == text


@pytest.mark.parametrize(
    ("host", "port", "text"),
    [
        ("198.18.1.10", 443, "198.18.1.10:443"),
        ("2001:2::1", 443, "[2001:2::1]:443"),
        ("198.18.1.10", 0, "198.18.1.10"),
        (None, None, "-"),
    ],
)
def test_format_endpoint(host: Any, port: Any, text: str) -> None:
    assert format_endpoint(host, port) == text


@pytest.mark.parametrize(
    ("number", "text"),
    [(6, "tcp"), (17, "udp"), (1, "icmp"), (58, "icmpv6"), (47, "47"), (None, "-")],
)
def test_format_protocol(number: Any, text: str) -> None:
    assert format_protocol(number) == text


def test_table_aligns_numbers_right_and_text_left() -> None:
    text = table(["NAME", "COUNT", "SIZE"], [["a", "5", "1.5 KiB"], ["long-name", "1,234", "-"]])
    assert text.splitlines() == [
        "NAME       COUNT     SIZE",
        "a              5  1.5 KiB",
        "long-name  1,234        -",
    ]


def test_table_without_rows_is_just_the_header() -> None:
    assert table(["A", "B"], []) == "A  B"


def test_render_status_of_an_empty_document_does_not_fail() -> None:
    text = render_status({})
    assert "state    - (-)" in text
    assert "workers: none" in text
    assert "drops: none" in text
    assert "tunnels: none yet" in text


def test_render_status_ignores_unknown_fields_and_wrong_types() -> None:
    status = FakeStatusProvider().status()
    status["future_field"] = {"x": 1}
    status["workers"].append("not a worker")
    status["counters"]["packets_in"] = "lots"
    text = render_status(status)
    assert "packets  in - (293.0 KiB)" in text


def test_render_status_shows_a_refused_policy_and_tun_interfaces() -> None:
    provider = FakeStatusProvider()
    provider.policy["last_error"] = {"at": 1.0, "version": "v8", "message": "rules[2]: bad cidr"}
    provider.tunnels[0]["interfaces"] = {
        "in": "gwi-abc", "out": "gwo-abc", "in_packets": 1, "out_packets": 2,
    }  # fmt: skip
    text = render_status(provider.status())
    assert "last refused: v8: rules[2]: bad cidr" in text
    assert "gwi-abc/gwo-abc" in text


def test_render_status_lists_drops_largest_first() -> None:
    provider = FakeStatusProvider()
    provider.drops.update({"oam": 5, "policy": 50, "too_short": 5})
    lines = render_status(provider.status()).splitlines()
    start = lines.index("DROP REASON  COUNT")
    assert [line.split()[0] for line in lines[start + 1 : start + 4]] == [
        "policy",
        "oam",
        "too_short",
    ]


def test_render_flows_shows_the_domain_column_only_when_used() -> None:
    flows = [sample_flow(0), sample_flow(1)]
    document = {"schema": "gwlbd.flows/v1", "now": 1764433601.0, "total": 2, "flows": flows}
    assert "DOMAIN" not in render_flows(document)
    flows[1]["domain"] = "example.org"
    text = render_flows(document)
    assert "DOMAIN" in text
    assert "example.org" in text


def test_render_flows_summary() -> None:
    document = {"now": 10.0, "total": 7, "flows": [sample_flow(0, last_seen=8.0)]}
    lines = render_flows(document, sort="recent").splitlines()
    assert lines[0] == "7 matching flows, top 1 by recent"
    assert "2.0s" in lines[2]
    assert render_flows({"total": 0, "flows": []}) == "0 matching flows"
