"""Windows and per-target views over the fleet lab's status documents."""

from __future__ import annotations

from typing import Any

from appliance.lab import observe


def apps(checks: dict[str, dict[str, int]], long: list[dict[str, Any]] | None = None) -> Any:
    return {"checks": checks, "long": long or [], "last_error": {"tcp": "TimeoutError"}}


def test_a_window_counts_only_what_happened_in_it() -> None:
    before = apps({"tcp": {"ok": 10, "fail": 1}, "http": {"ok": 3}})
    after = apps({"tcp": {"ok": 15, "fail": 1}, "http": {"ok": 3}, "dns": {"ok": 2}})
    assert observe.window(after, before) == {
        "tcp": {"ok": 5, "fail": 0},
        "http": {"ok": 0},
        "dns": {"ok": 2},
    }
    checks = {c.name: c for c in observe.traffic_checks(after, before, ("tcp", "http", "dns"))}
    # a failure before the window does not count; no answer in the window fails the check
    assert checks["TCP echo"].passed is True
    assert checks["HTTP GET"].passed is False
    assert checks["DNS query www.example.com"].passed is True


def test_a_failure_in_the_window_fails_and_names_the_error() -> None:
    before = apps({"tcp": {"ok": 1}})
    after = apps({"tcp": {"ok": 4, "fail": 1}})
    (check,) = observe.traffic_checks(after, before, ("tcp",))
    assert check.passed is False
    assert "TimeoutError" in check.detail


def test_blocked_probes_must_all_be_stopped() -> None:
    before = apps({"denied_tcp": {"blocked": 2}})
    after = apps(
        {
            "denied_tcp": {"blocked": 5},
            "tls_blocked": {"blocked": 3, "leaked": 1},
            "dns_blocked": {"blocked": 1},
        }
    )
    result = {c.name: c.passed for c in observe.blocked_checks(after, before)}
    assert result == {
        "TCP to the denied host stopped": True,
        "TLS to blocked.example stopped by the SNI rule": False,
        "DNS query for evil.example stopped": True,
    }


def test_connections_are_matched_to_their_target_by_client_end() -> None:
    sim = {
        "watched": [
            {"client": "198.18.1.10:4000", "target": "198.18.0.4", "zone": "a", "moves": 0},
            {"client": "198.18.1.20:4001", "target": "198.18.0.132", "zone": "b", "moves": 0},
            {"client": "198.18.1.10:4002", "target": "198.18.0.4", "zone": "a", "moves": 0},
        ]
    }
    long = [
        {"local": "198.18.1.10:4000", "ok": 3, "broken": False},
        {"local": "198.18.1.20:4001", "ok": 3, "broken": False},
        {"local": "198.18.1.10:4002", "ok": 1, "broken": True},
    ]
    # the broken one is not a live connection any more
    assert observe.connections_on(sim, apps({}, long), "198.18.0.4") == ["198.18.1.10:4000"]


def test_continued_needs_every_connection_to_gain_echoes() -> None:
    before = apps({}, [{"local": "a:1", "ok": 3}, {"local": "a:2", "ok": 3}])
    grew = apps({}, [{"local": "a:1", "ok": 5}, {"local": "a:2", "ok": 4}])
    stalled = apps({}, [{"local": "a:1", "ok": 5}, {"local": "a:2", "ok": 3}])
    broke = apps({}, [{"local": "a:1", "ok": 5}, {"local": "a:2", "ok": 9, "broken": True}])
    assert observe.continued(grew, before, ["a:1", "a:2"])[0] is True
    assert observe.continued(stalled, before, ["a:1", "a:2"])[0] is False
    assert observe.continued(broke, before, ["a:1", "a:2"])[0] is False
    assert observe.continued(grew, before, [])[0] is False


def test_workflow_check_wants_one_continue_and_a_finished_workflow() -> None:
    cloud: dict[str, Any] = {
        "workflows": {"i-0123456789abcdef0": {"status": "SUCCEEDED", "visited": ["Begin"]}},
        "hooks": {
            "completed": [
                {
                    "instance_id": "i-0123456789abcdef0",
                    "transition": "autoscaling:EC2_INSTANCE_LAUNCHING",
                    "result": "CONTINUE",
                }
            ]
        },
    }
    assert observe.workflow_check(cloud, "i-0123456789abcdef0", "launch").passed is True
    assert observe.workflow_check(cloud, "i-0123456789abcdef0", "terminate").passed is False
    cloud["workflows"]["i-0123456789abcdef0"]["status"] = "RUNNING"
    assert observe.workflow_check(cloud, "i-0123456789abcdef0", "launch").passed is False


def test_violations_fail_the_contract_check() -> None:
    assert observe.violations_check({"verified": 5, "violations": {"x": 0}}).passed is True
    assert observe.violations_check({"verified": 5, "violations": {"x": 1}}).passed is False
    assert observe.violations_check({"verified": 0, "violations": {}}).passed is False
