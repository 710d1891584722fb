"""Fixtures for the benchmark's unit tests: generator reports as the C program prints them."""

from __future__ import annotations

import json
from typing import Any

import pytest

# Printed by gwlbgen against the C reflector (10,000 pps for 2 s), kept verbatim.
GOLDEN = (
    '{"mode":"rate","flows":64,"inner_size":100,"batch":64,"rate_pps":10000,'
    '"duration_s":2.000034,"sent":20000,"offered_pps":9999.8,"send_errors":0,'
    '"received":20000,"verified":20000,"verified_in_window":20000,"delivered_pps":9999.8,'
    '"lost":0,"bad_total":0,"bad":{"length":0,"src_addr":0,"src_port":0,"geneve":0,'
    '"inner_header":0,"payload":0,"flow_mismatch":0,"unknown_seq":0,"duplicate":0},'
    '"latency_us":{"samples":20000,"p50":9.9,"p99":87.2,"p999":1014.5,"max":1014.5},'
    '"generator_rcvbuf_errors":0}'
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
