"""Reading the fleet lab's status documents: counters, windows and per-target views (pure).

The scenarios compare snapshots taken before and after something happens, so every
check is about a window of the run, not the run's totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from appliance.lab.report import Check

Document = Mapping[str, Any]
ALLOWED_KINDS = ("http", "tls", "dns", "tcp")
"""Application checks that must succeed whenever the fleet is serving."""
BLOCKED_KINDS = ("tls_blocked", "dns_blocked", "denied_tcp")
"""Probes the policy must stop (SNI, DNS name, denied address)."""
KIND_NAMES = {
    "http": "HTTP GET",
    "tls": "TLS ClientHello (SNI www.example.com)",
    "dns": "DNS query www.example.com",
    "tcp": "TCP echo",
    "port9999": "TCP echo to port 9999",
    "tls_blocked": "TLS to blocked.example stopped by the SNI rule",
    "dns_blocked": "DNS query for evil.example stopped",
    "denied_tcp": "TCP to the denied host stopped",
}


def counts(apps: Document) -> dict[str, dict[str, int]]:
    """Outcome counters per check of an apps document."""
    return {k: dict(v) for k, v in apps.get("checks", {}).items()}


def window(after: Document, before: Document) -> dict[str, dict[str, int]]:
    """Outcomes counted between two apps documents."""
    old = counts(before)
    out: dict[str, dict[str, int]] = {}
    for check, outcomes in counts(after).items():
        out[check] = {k: v - old.get(check, {}).get(k, 0) for k, v in outcomes.items()}
    return out


def traffic_checks(
    after: Document, before: Document, kinds: Sequence[str] = ALLOWED_KINDS, label: str = ""
) -> list[Check]:
    """One check per allowed kind: answers in the window and no failure."""
    seen = window(after, before)
    checks = []
    for kind in kinds:
        ok, fail = seen.get(kind, {}).get("ok", 0), seen.get(kind, {}).get("fail", 0)
        error = after.get("last_error", {}).get(kind, "")
        detail = f"{ok} ok, {fail} failed" + (f" (last: {error})" if fail and error else "")
        checks.append(Check(f"{KIND_NAMES[kind]}{label}", ok > 0 and fail == 0, detail))
    return checks


def blocked_checks(after: Document, before: Document) -> list[Check]:
    """Each probe the policy must stop was stopped every time in the window."""
    seen = window(after, before)
    checks = []
    for kind in BLOCKED_KINDS:
        blocked = seen.get(kind, {}).get("blocked", 0)
        leaked = seen.get(kind, {}).get("leaked", 0)
        checks.append(
            Check(
                KIND_NAMES[kind], blocked > 0 and leaked == 0, f"{blocked} stopped, {leaked} leaked"
            )
        )
    return checks


def long_by_local(apps: Document) -> dict[str, dict[str, Any]]:
    """Long-lived connections by their client end (``ip:port``)."""
    return {str(c["local"]): dict(c) for c in apps.get("long", []) if c.get("local")}


def watched_by_client(sim: Document) -> dict[str, dict[str, Any]]:
    """Watched (long-lived) flows in the simulator by their client end."""
    return {str(f["client"]): dict(f) for f in sim.get("watched", [])}


def connections_on(sim: Document, apps: Document, address: str) -> list[str]:
    """Client ends of live long-lived connections whose flow is on ``address``."""
    live = {k for k, c in long_by_local(apps).items() if not c.get("broken")}
    return sorted(
        k for k, f in watched_by_client(sim).items() if f["target"] == address and k in live
    )


def targets(sim: Document) -> dict[str, dict[str, Any]]:
    """Simulator targets by address."""
    return {str(t["address"]): dict(t) for t in sim.get("targets", [])}


def target_state(sim: Document, address: str) -> str:
    """The target group state of ``address`` (``unused`` when not in the group)."""
    return str(targets(sim).get(address, {}).get("state", "unused"))


def new_flows(sim: Document, address: str) -> int:
    """Flows the simulator has placed on ``address`` so far."""
    return int(targets(sim).get(address, {}).get("flows_new", 0))


def continued(after: Document, before: Document, clients: Sequence[str]) -> tuple[bool, str]:
    """Whether every connection in ``clients`` kept echoing between two apps documents."""
    old, new = long_by_local(before), long_by_local(after)
    bad = []
    gained = []
    for client in clients:
        was, now = old.get(client, {}), new.get(client, {})
        grew = int(now.get("ok", 0)) - int(was.get("ok", 0))
        gained.append(grew)
        if now.get("broken") or grew <= 0:
            bad.append(f"{client} {now.get('error') or 'no echo'}")
    detail = f"{len(clients)} connection(s), echoes gained {gained}"
    if bad:
        detail += "; stalled: " + ", ".join(bad)
    return bool(clients) and not bad, detail


def violations_check(sim: Document) -> Check:
    """No returned datagram broke the GWLB contract."""
    bad = {k: v for k, v in sim.get("violations", {}).items() if v}
    verified = int(sim.get("verified", 0))
    if bad:
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
        return Check("returns match what GWLB sent", False, f"{verified} verified; {kinds}")
    return Check(
        "returns match what GWLB sent", verified > 0, f"{verified} verified, no violations"
    )


def workflow_check(cloud: Document, instance_id: str, kind: str) -> Check:
    """The lifecycle workflow of ``instance_id`` ended with CONTINUE."""
    flow = cloud.get("workflows", {}).get(instance_id, {})
    completed = [
        c
        for c in cloud.get("hooks", {}).get("completed", [])
        if c["instance_id"] == instance_id
        and (c["transition"].endswith("LAUNCHING")) == (kind == "launch")
    ]
    results = [c["result"] for c in completed]
    passed = flow.get("status") == "SUCCEEDED" and results == ["CONTINUE"]
    steps = "→".join(dict.fromkeys(flow.get("visited", [])))
    detail = (
        f"{instance_id}: workflow {flow.get('status', 'absent')} ({steps}); "
        f"CompleteLifecycleAction {results or 'never'}; {flow.get('reason', '')}"
    )
    return Check(f"{kind} lifecycle action completed CONTINUE", passed, detail)
