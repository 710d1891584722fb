"""The simulated target group's health semantics."""

from __future__ import annotations

from appliance.lab.simulator import TargetHealth


def test_healthy_after_two_passes_unhealthy_after_two_failures() -> None:
    target = TargetHealth("198.18.0.10")
    target.record(200)
    assert not target.healthy
    target.record(399)
    assert target.healthy
    target.record(503)
    assert target.healthy
    target.record(None, "connection refused")
    assert not target.healthy
    assert target.as_json() == {
        "address": "198.18.0.10",
        "healthy": False,
        "checks": 4,
        "last_code": None,
        "last_error": "connection refused",
    }


def test_a_failure_resets_the_run_of_passes() -> None:
    target = TargetHealth("198.18.0.10", healthy_threshold=3)
    for code in (200, 200, 404, 200, 200):
        target.record(code)
    assert not target.healthy
    target.record(200)
    assert target.healthy
