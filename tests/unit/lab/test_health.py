"""The simulated target group's health semantics."""

from __future__ import annotations

from appliance.lab.targets import GroupSettings, Target


def test_healthy_after_two_passes_unhealthy_after_two_failures() -> None:
    settings = GroupSettings()
    target = Target("198.18.0.10")
    assert target.state == "initial"
    target.record(200, None, settings)
    assert target.state == "initial"
    target.record(399, None, settings)
    assert target.state == "healthy"
    target.record(503, None, settings)
    assert target.state == "healthy"
    target.record(None, "connection refused", settings)
    assert target.state == "unhealthy"
    assert target.as_json() == {
        "address": "198.18.0.10",
        "zone": "a",
        "state": "unhealthy",
        "healthy": False,
        "checks": 4,
        "last_code": None,
        "last_error": "connection refused",
    }


def test_a_failure_resets_the_run_of_passes() -> None:
    settings = GroupSettings(healthy_threshold=3)
    target = Target("198.18.0.10")
    for code in (200, 200, 404, 200, 200):
        target.record(code, None, settings)
    assert target.state == "initial"
    target.record(200, None, settings)
    assert target.state == "healthy"
