"""Parsing the load generator's JSON report."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.bench.errors import GeneratorError
from appliance.bench.results import BAD_KINDS, parse_generator_output

from .conftest import GOLDEN, generator_line


def test_golden_report_parses() -> None:
    # GIVEN the line the C generator printed WHEN parsed
    result = parse_generator_output(GOLDEN + "\n")
    # THEN every field lands where it belongs
    assert result.mode == "rate"
    assert result.flows == 64
    assert result.inner_size == 100
    assert result.sent == result.verified == 59979
    assert result.verified_in_window == 59978
    assert result.stale == 0
    assert result.lost == 0
    assert result.bad_total == 0
    assert result.loss_fraction == 0.0
    assert result.delivered_pps == pytest.approx(19984.8)
    assert result.latency.p50_us == pytest.approx(31.8)
    assert result.latency.p99_us == pytest.approx(2695.2)
    assert result.latency.p999_us == pytest.approx(4618.6)
    assert result.drain_s == 0.0
    assert set(result.bad) == set(BAD_KINDS)


def test_last_line_is_the_report() -> None:
    result = parse_generator_output("warming up\n\n" + GOLDEN + "\n\n")
    assert result.sent == 59979


def test_bad_replies_and_loss_are_counted() -> None:
    line = generator_line(
        sent=20000,
        received=20100,
        stale=100,
        verified=19000,
        verified_in_window=19000,
        lost=1000,
        bad_total=1000,
        bad={"geneve": 990, "payload": 10},
    )
    result = parse_generator_output(line)
    assert result.bad_total == 1000
    assert result.bad["geneve"] == 990
    assert result.stale == 100
    assert result.loss_fraction == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "printed nothing"),
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (generator_line(mode="probe"), "unexpected mode"),
        (generator_line(sent="many"), "'sent'"),
        (generator_line(sent=1.5), "not an integer"),
        (generator_line(sent=True), "'sent'"),
        (generator_line(bad=None), "'bad'"),
        (generator_line(bad={"geneve": -1}), "negative"),
        (generator_line(latency_us=None), "latency_us"),
        (generator_line(verified=20001, lost=-1), "negative"),
        (generator_line(verified_in_window=70000), "more packets verified"),
        (generator_line(stale=1), "more packets judged"),
        (generator_line(stale=-1), "negative"),
        (generator_line(drain_s="long"), "'drain_s'"),
        (generator_line(lost=5), "lost != sent - verified"),
        (generator_line(bad={"duplicate": 1}), "more packets judged"),
        (generator_line(bad_total=3), "bad_total disagrees"),
    ],
)
def test_inconsistent_or_malformed_reports_are_refused(text: str, message: str) -> None:
    with pytest.raises(GeneratorError, match=message):
        parse_generator_output(text)


def test_missing_bad_kind_is_refused(golden_doc: dict[str, Any]) -> None:
    del golden_doc["bad"]["duplicate"]
    with pytest.raises(GeneratorError, match="'duplicate'"):
        parse_generator_output(json.dumps(golden_doc))


counts = st.integers(min_value=0, max_value=10**9)


@given(sent=counts, verified_share=st.floats(0, 1), bad=st.lists(counts, min_size=9, max_size=9))
def test_any_consistent_report_round_trips(
    sent: int, verified_share: float, bad: list[int]
) -> None:
    # GIVEN any self-consistent set of counts
    verified = int(sent * verified_share)
    bad_doc = dict(zip(BAD_KINDS, bad, strict=True))
    line = generator_line(
        sent=sent,
        verified=verified,
        verified_in_window=verified,
        received=verified + sum(bad),
        lost=sent - verified,
        bad_total=sum(bad),
        bad=bad_doc,
    )
    # WHEN parsed THEN the numbers come back unchanged
    result = parse_generator_output(line)
    assert (result.sent, result.verified, result.lost) == (sent, verified, sent - verified)
    assert result.bad == bad_doc


@given(st.text())
def test_arbitrary_text_is_parsed_or_refused_cleanly(text: str) -> None:
    # WHEN arbitrary text is parsed THEN it is a result or a GeneratorError, nothing else
    with contextlib.suppress(GeneratorError):
        parse_generator_output(text)
