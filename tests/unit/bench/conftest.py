"""Fixtures for the benchmark's unit tests: generator reports as the C program prints them."""

from __future__ import annotations

import json
from typing import Any

import pytest

# Printed by gwlbgen against the C reflector (20,000 pps for 3 s), kept verbatim
# (only split into lines).
GOLDEN = (
    '{"mode":"rate","flows":64,"inner_size":100,"batch":64,"rate_pps":20000,"duration'
    '_s":3.001178,"sent":59979,"offered_pps":19985.2,"send_errors":0,"received":59979'
    ',"verified":59979,"verified_in_window":59978,"stale":0,"delivered_pps":19984.8,"'
    'lost":0,"bad_total":0,"bad":{"length":0,"src_addr":0,"src_port":0,"geneve":0,"in'
    'ner_header":0,"payload":0,"flow_mismatch":0,"unknown_seq":0,"duplicate":0},"late'
    'ncy_us":{"samples":59979,"p50":31.8,"p99":2695.2,"p999":4618.6,"max":6610.5},"dr'
    'ain_s":0.000,"generator_rcvbuf_errors":0}'
)


@pytest.fixture
def golden_doc() -> dict[str, Any]:
    """The golden report as a mutable dict."""
    doc: dict[str, Any] = json.loads(GOLDEN)
    return doc


def generator_line(**overrides: Any) -> str:
    """A generator report line with some fields replaced (``bad`` and ``latency_us`` merge)."""
    doc: dict[str, Any] = json.loads(GOLDEN)
    for key, value in overrides.items():
        if key in ("bad", "latency_us") and isinstance(value, dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return json.dumps(doc)
