"""What the lab checks and how it shows it: pure functions over status documents.

Inputs are the three JSON documents the lab collects: the simulator's status
(``gwlbd.labsim/v1``), the traffic client's (``gwlbd.labtraffic/v1``) and the daemon's
``/status`` (``gwlbd.status/v1``, absent when the appliance is the reflector).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Document = Mapping[str, Any]

TRAFFIC_CHECKS = (
    ("tcp", "TCP echo"),
    ("udp", "UDP echo"),
    ("icmp", "ICMP echo"),
    ("tcp6", "TCP echo over IPv6"),
    ("udp6", "UDP echo over IPv6"),
    ("icmp6", "ICMPv6 echo"),
)
DENIED_CHECKS = (
    ("denied_tcp", "denied TCP blocked"),
    ("denied_udp", "denied UDP blocked"),
    ("denied_icmp", "denied ICMP blocked"),
    ("denied_tcp6", "denied TCP over IPv6 blocked"),
    ("denied_udp6", "denied UDP over IPv6 blocked"),
    ("denied_icmp6", "denied ICMPv6 blocked"),
)


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the lab summary."""

    name: str
    passed: bool | None
    """True, False, or None when the check does not apply (skipped)."""
    detail: str

    @property
    def label(self) -> str:
        """``PASS``, ``FAIL`` or ``SKIP``."""
        return {True: "PASS", False: "FAIL", None: "SKIP"}[self.passed]


def _outcomes(traffic: Document | None, key: str) -> dict[str, int]:
    if traffic is None:
        return {}
    counts: dict[str, int] = traffic.get("checks", {}).get(key, {})
    return counts


def _last_error(traffic: Document | None, key: str) -> str:
    error = (traffic or {}).get("last_error", {}).get(key)
    return f" (last: {error})" if error else ""


def merge_statuses(statuses: Sequence[Document | None]) -> dict[str, Any] | None:
    """One ``/status``-like document for a fleet: counters and drops summed, tunnels and
    workers listed together, the state of the first appliance that is not serving.

    Returns:
        None if any appliance gave no status (the fleet's counters would be incomplete).
    """
    if not statuses or any(status is None for status in statuses):
        return None
    present = [status for status in statuses if status is not None]
    if len(present) == 1:
        return dict(present[0])
    counters: dict[str, int] = {}
    drops: dict[str, int] = {}
    for status in present:
        for key, value in status.get("counters", {}).items():
            counters[key] = counters.get(key, 0) + int(value or 0)
        for key, value in status.get("drops", {}).items():
            drops[key] = drops.get(key, 0) + int(value or 0)
    states = [str(status.get("state")) for status in present]
    return {
        "state": next((s for s in states if s != "serving"), "serving"),
        "counters": counters,
        "drops": drops,
        "tunnels": [t for status in present for t in status.get("tunnels", [])],
        "workers": [w for status in present for w in status.get("workers", [])],
    }


def drops_total(daemon: Document | None) -> int:
    """Sum of the daemon's drops over every reason."""
    if daemon is None:
        return 0
    return sum(int(v) for v in daemon.get("drops", {}).values())


def evaluate(
    *,
    sim: Document | None,
    traffic: Document | None,
    daemon: Document | None,
    with_policy: bool,
    ready: bool,
    ready_detail: str,
) -> list[Check]:
    """Every check of a lab run.

    Args:
        sim: last simulator status.
        traffic: last traffic client status.
        daemon: last daemon ``/status``; None when the appliance has no status API.
        with_policy: the appliance applies the lab's deny list (gwlbd does, the reflector
            does not), so denied traffic must be blocked and counted.
        ready: the appliance became ready (healthy, for gwlbd) before traffic started.
        ready_detail: how readiness went, for the summary.
    """
    checks = [Check("appliance ready", ready, ready_detail)]
    for key, name in TRAFFIC_CHECKS:
        counts = _outcomes(traffic, key)
        ok, failed = counts.get("ok", 0), counts.get("fail", 0)
        checks.append(
            Check(
                name,
                ok > 0 and failed == 0,
                f"{ok} ok, {failed} failed{_last_error(traffic, key) if failed else ''}",
            )
        )
    for key, name in DENIED_CHECKS:
        if not with_policy:
            checks.append(Check(name, None, "the appliance applies no policy"))
            continue
        counts = _outcomes(traffic, key)
        blocked, leaked = counts.get("blocked", 0), counts.get("leaked", 0)
        checks.append(
            Check(name, blocked > 0 and leaked == 0, f"{blocked} blocked, {leaked} got through")
        )
    checks.append(_verified_check(sim))
    checks.append(_accounting_check(sim, daemon, with_policy))
    if with_policy:
        checks.append(_daemon_counters_check(sim, daemon))
        checks.append(_daemon_drops_check(daemon))
    return checks


def settled(sim: Document | None, daemon: Document | None, with_policy: bool) -> bool:
    """True once nothing is in flight and the daemon's counters caught up with the GWLB."""
    if not _accounting_check(sim, daemon, with_policy).passed:
        return False
    return not with_policy or bool(_daemon_counters_check(sim, daemon).passed)


def _verified_check(sim: Document | None) -> Check:
    name = "returns match what GWLB sent"
    if sim is None:
        return Check(name, False, "no simulator status")
    bad = {k: v for k, v in sim.get("violations", {}).items() if v}
    verified = int(sim.get("verified", 0))
    if bad:
        sample = "; ".join(sim.get("recent_violations", [])[-2:])
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
        return Check(name, False, f"{verified} verified, violations: {kinds} (e.g. {sample})")
    return Check(name, verified > 0, f"{verified} verified, no violations")


def _accounting_check(sim: Document | None, daemon: Document | None, with_policy: bool) -> Check:
    name = "every packet returned or counted as a drop"
    if sim is None:
        return Check(name, False, "no simulator status")
    unreturned = int(sim.get("unreturned", 0))
    errors = int(sim.get("send_errors", 0))
    if not with_policy:
        return Check(
            name, unreturned == 0 and errors == 0, f"{unreturned} unreturned, {errors} send errors"
        )
    if daemon is None:
        return Check(name, False, "no daemon status")
    drops = drops_total(daemon)
    return Check(
        name,
        unreturned == drops and errors == 0,
        f"{unreturned} unreturned, daemon counted {drops} drops, {errors} send errors",
    )


def _daemon_counters_check(sim: Document | None, daemon: Document | None) -> Check:
    name = "daemon counted what GWLB sent"
    if sim is None or daemon is None:
        return Check(name, False, "no simulator or daemon status")
    counters = daemon.get("counters", {})
    sent, received = int(sim.get("sent", 0)), int(sim.get("received", 0))
    seen_in, seen_out = counters.get("packets_in"), counters.get("packets_out")
    endpoint = sim.get("endpoint_id")
    tunnels = [t for t in daemon.get("tunnels", []) if t.get("endpoint_id") == endpoint]
    tunnel_in = sum(int(t.get("packets_in") or 0) for t in tunnels) if tunnels else None
    detail = (
        f"GWLB sent {sent}, got back {received}; daemon in {seen_in}, out {seen_out}, "
        f"tunnel {endpoint} in {tunnel_in if tunnels else '(missing)'}"
    )
    return Check(name, seen_in == sent and seen_out == received and tunnel_in == sent, detail)


def _daemon_drops_check(daemon: Document | None) -> Check:
    name = "daemon drops only by policy"
    if daemon is None:
        return Check(name, False, "no daemon status")
    drops = {k: int(v) for k, v in daemon.get("drops", {}).items()}
    others = {k: v for k, v in drops.items() if v and k != "policy"}
    policy = drops.get("policy", 0)
    detail = f"policy={policy}" + "".join(f", {k}={v}" for k, v in sorted(others.items()))
    return Check(name, policy > 0 and not others, detail)


def failed(checks: Sequence[Check]) -> bool:
    """True if any check failed (skipped ones do not count)."""
    return any(check.passed is False for check in checks)


def render_summary(checks: Sequence[Check]) -> str:
    """The per-check summary printed at the end of a run."""
    width = max(len(check.name) for check in checks)
    lines = [f"{check.label}  {check.name.ljust(width)}  {check.detail}" for check in checks]
    verdict = "FAILED" if failed(checks) else "passed"
    n_failed = sum(check.passed is False for check in checks)
    lines.append(f"lab {verdict}: {len(checks)} checks, {n_failed} failed")
    return "\n".join(lines)


def _traffic_lines(traffic: Document | None) -> list[str]:
    parts = []
    for key, _ in TRAFFIC_CHECKS:
        counts = _outcomes(traffic, key)
        parts.append(f"{key} {counts.get('ok', 0)}/{counts.get('fail', 0)}")
    lines = ["traffic    ok/failed  " + "  ".join(parts)]
    denied = [_outcomes(traffic, key) for key, _ in DENIED_CHECKS]
    if any(denied):
        blocked = sum(c.get("blocked", 0) for c in denied)
        leaked = sum(c.get("leaked", 0) for c in denied)
        lines.append(f"denied     {blocked} blocked, {leaked} got through")
    return lines


def _sim_lines(sim: Document | None) -> list[str]:
    if sim is None:
        return ["gwlb-sim   (starting)"]
    violations = sum(int(v) for v in sim.get("violations", {}).values())
    targets = ", ".join(
        f"{t.get('address')} {_health_word(t.get('healthy'))} "
        f"{t.get('verified', 0)}/{t.get('sent', 0)} back"
        for t in sim.get("targets", [])
    )
    return [
        f"gwlb-sim   flows {sim.get('flows', 0)}  sent {sim.get('sent', 0)}  "
        f"verified {sim.get('verified', 0)}  violations {violations}  "
        f"unreturned {sim.get('unreturned', 0)}",
        f"targets    {targets}",
    ]


def _health_word(healthy: object) -> str:
    if healthy is True:
        return "healthy"
    return "unhealthy" if healthy is False else "unchecked"


def _daemon_line(daemon: Document | None, with_policy: bool) -> str:
    if not with_policy:
        return "appliance  reflector (no status API)"
    if daemon is None:
        return "gwlbd      (no status yet)"
    counters = daemon.get("counters", {})
    drops = {k: v for k, v in daemon.get("drops", {}).items() if v}
    drop_text = " ".join(f"{k}={v}" for k, v in sorted(drops.items())) or "none"
    return (
        f"gwlbd      {daemon.get('state', '?')}  in {counters.get('packets_in', 0)}  "
        f"out {counters.get('packets_out', 0)}  flows {counters.get('flows_active', 0)}  "
        f"drops {drop_text}"
    )


def render_live(
    *,
    elapsed: float,
    sim: Document | None,
    traffic: Document | None,
    daemon: Document | None,
    with_policy: bool,
) -> list[str]:
    """The live counter lines shown while the lab runs."""
    return [
        f"gwlbd lab  {elapsed:6.1f} s  (Ctrl-C ends the run)",
        *_traffic_lines(traffic),
        *_sim_lines(sim),
        _daemon_line(daemon, with_policy),
    ]
