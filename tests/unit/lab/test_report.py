"""The lab's verdict: which runs pass, which fail, and what the summary says."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.lab.report import (
    Check,
    evaluate,
    failed,
    merge_statuses,
    render_live,
    render_summary,
    settled,
)


def sim_status(**overrides: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "endpoint_id": "0x0e1d00000000000a",
        "sent": 100,
        "received": 90,
        "verified": 90,
        "unreturned": 10,
        "send_errors": 0,
        "flows": 7,
        "violations": {"source_port": 0, "header_changed": 0},
        "recent_violations": [],
        "targets": [{"address": "198.18.0.10", "healthy": True, "sent": 100, "verified": 90}],
    }
    status.update(overrides)
    return status


def traffic_status(**checks: dict[str, int]) -> dict[str, Any]:
    base: dict[str, dict[str, int]] = {}
    for suffix in ("", "6"):
        base[f"tcp{suffix}"] = {"ok": 5}
        base[f"udp{suffix}"] = {"ok": 5}
        base[f"icmp{suffix}"] = {"ok": 2}
        for kind in ("tcp", "udp", "icmp"):
            base[f"denied_{kind}{suffix}"] = {"blocked": 1}
    base.update(checks)
    return {"checks": base, "last_error": {"udp": "TimeoutError: timed out"}}


def daemon_status(**drops: int) -> dict[str, Any]:
    return {
        "state": "serving",
        "counters": {"packets_in": 100, "packets_out": 90},
        "tunnels": [{"endpoint_id": "0x0e1d00000000000a", "packets_in": 100}],
        "drops": {"policy": 10, "too_short": 0, **drops},
    }


def run(**kw: Any) -> list[Check]:
    args: dict[str, Any] = {
        "sim": sim_status(),
        "traffic": traffic_status(),
        "daemon": daemon_status(),
        "with_policy": True,
        "ready": True,
        "ready_detail": "ready after 1.0 s",
    }
    args.update(kw)
    return evaluate(**args)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def test_a_clean_run_passes() -> None:
    checks = run()
    assert not failed(checks)
    assert all(check.passed for check in checks)
    summary = render_summary(checks)
    assert summary.endswith("lab passed: 17 checks, 0 failed")
    assert "PASS  TCP echo" in summary


@pytest.mark.parametrize(
    ("overrides", "failing"),
    [
        ({"ready": False}, "appliance ready"),
        ({"traffic": traffic_status(udp={"ok": 4, "fail": 1})}, "UDP echo"),
        ({"traffic": traffic_status(tcp={})}, "TCP echo"),
        ({"traffic": traffic_status(icmp6={"ok": 1, "fail": 1})}, "ICMPv6 echo"),
        ({"traffic": traffic_status(denied_udp6={"leaked": 1})}, "denied UDP over IPv6 blocked"),
        (
            {"traffic": traffic_status(denied_icmp={"blocked": 3, "leaked": 1})},
            "denied ICMP blocked",
        ),
        ({"traffic": traffic_status(denied_tcp={})}, "denied TCP blocked"),
        ({"sim": sim_status(violations={"source_port": 3})}, "returns match what GWLB sent"),
        ({"sim": sim_status(verified=0)}, "returns match what GWLB sent"),
        ({"sim": sim_status(unreturned=11)}, "every packet returned or counted as a drop"),
        ({"sim": sim_status(send_errors=1)}, "every packet returned or counted as a drop"),
        ({"daemon": None}, "every packet returned or counted as a drop"),
        ({"daemon": daemon_status(policy=0, inner_malformed=10)}, "daemon drops only by policy"),
        ({"sim": None}, "returns match what GWLB sent"),
        ({"sim": sim_status(sent=101, unreturned=11)}, "daemon counted what GWLB sent"),
        ({"sim": sim_status(received=89, unreturned=11)}, "daemon counted what GWLB sent"),
        ({"sim": sim_status(endpoint_id="0x1")}, "daemon counted what GWLB sent"),
        ({"daemon": {**daemon_status(), "tunnels": []}}, "daemon counted what GWLB sent"),
    ],
)
def test_each_problem_fails_its_check(overrides: dict[str, Any], failing: str) -> None:
    checks = by_name(run(**overrides))
    assert checks[failing].passed is False
    assert failed(list(checks.values()))


def test_failure_details_say_what_went_wrong() -> None:
    checks = by_name(
        run(
            traffic=traffic_status(udp={"ok": 1, "fail": 2}),
            sim=sim_status(
                violations={"source_port": 2}, recent_violations=["source_port: cookie 0x1"]
            ),
        )
    )
    assert "TimeoutError" in checks["UDP echo"].detail
    assert "source_port=2" in checks["returns match what GWLB sent"].detail
    assert "cookie 0x1" in checks["returns match what GWLB sent"].detail
    summary = render_summary(list(checks.values()))
    assert "FAIL  UDP echo" in summary
    assert summary.endswith("lab FAILED: 17 checks, 2 failed")


def test_without_policy_denied_checks_are_skipped_and_nothing_may_be_lost() -> None:
    checks = by_name(run(with_policy=False, daemon=None, sim=sim_status(unreturned=0)))
    assert checks["denied UDP blocked"].passed is None
    assert checks["denied UDP blocked"].label == "SKIP"
    assert "daemon drops only by policy" not in checks
    assert not failed(list(checks.values()))
    lost = by_name(run(with_policy=False, daemon=None, sim=sim_status(unreturned=2)))
    assert lost["every packet returned or counted as a drop"].passed is False


def test_live_lines_show_every_party() -> None:
    lines = render_live(
        elapsed=3.25,
        sim=sim_status(),
        traffic=traffic_status(),
        daemon=daemon_status(),
        with_policy=True,
    )
    text = "\n".join(lines)
    assert "3.2 s" in text or "3.3 s" in text
    assert "tcp 5/0" in text
    assert "icmp6 2/0" in text
    assert "denied     6 blocked, 0 got through" in text
    assert "verified 90" in text
    assert "198.18.0.10 healthy 90/100 back" in text
    assert "gwlbd      serving  in 100  out 90" in text
    assert "policy=10" in text
    starting = "\n".join(
        render_live(elapsed=0, sim=None, traffic=None, daemon=None, with_policy=False)
    )
    assert "(starting)" in starting
    assert "reflector" in starting


def test_settled_waits_for_in_flight_packets_and_daemon_counters() -> None:
    assert settled(sim_status(), daemon_status(), True)
    assert not settled(sim_status(unreturned=12), daemon_status(), True)
    lagging = {**daemon_status(), "counters": {"packets_in": 99, "packets_out": 90}}
    assert not settled(sim_status(), lagging, True)
    assert settled(sim_status(unreturned=0), None, False)
    assert not settled(None, None, False)


def test_statuses_of_a_fleet_merge_into_one() -> None:
    one = daemon_status()
    two = {
        "state": "draining",
        "counters": {"packets_in": 5, "packets_out": 4},
        "drops": {"policy": 1},
        "tunnels": [{"endpoint_id": "0x0e1d00000000000a", "packets_in": 5}],
    }
    merged = merge_statuses([one, two])
    assert merged is not None
    assert merged["state"] == "draining"
    assert merged["counters"] == {"packets_in": 105, "packets_out": 94}
    assert merged["drops"] == {"policy": 11, "too_short": 0}
    assert len(merged["tunnels"]) == 2
    assert merge_statuses([one, None]) is None
    assert merge_statuses([]) is None
    assert merge_statuses([one]) == one
    # the tunnel check adds the endpoint's packets over every appliance
    sim = sim_status(sent=105, received=94, unreturned=11)
    assert by_name(run(sim=sim, daemon=merged))["daemon counted what GWLB sent"].passed
