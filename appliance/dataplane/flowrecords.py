"""Turning a worker's flows into EVE flow records (Suricata's ``event_type: flow``).

A worker collects records as flows end (timeout, eviction, clearing, shutdown)
and when a flow is denied, and ships them to the supervisor with its counter
snapshot; the supervisor writes them (rotation and rate limit live there, in
:mod:`appliance.flowlog`). Allowed flows are recorded when they end (all of them,
or only those whose rule has ``log: true``); denied flows are recorded at once,
when they are denied, so a block shows up in the log without waiting for expiry.
A bounded number of records per snapshot keeps a flood from swamping the pipe;
what does not fit is counted.
"""

from __future__ import annotations

from typing import Any

from appliance.dataplane.engine import action_name
from appliance.flowlog import GwlbInfo, flow_record
from appliance.flows.table import Flow
from appliance.wire.flowkey import describe_key

_REASONS = {"timeout": "timeout", "evicted": "forced", "cleared": "forced", "shutdown": "shutdown"}


def record_of(flow: Flow, reason: str, now: float, policy_version: str | None) -> dict[str, Any]:
    """The EVE flow record of ``flow``; ``reason`` is why it is written."""
    parts = describe_key(flow.key)
    rev = flow.reverse
    state = "established" if rev is not None and rev.packets else "new"
    if reason in ("timeout", "shutdown", "evicted", "cleared"):
        state = "closed" if state == "established" else state
    return flow_record(
        flow_id=hash((flow.key, flow.first_seen)),
        src_ip=parts.src,
        src_port=parts.sport,
        dest_ip=parts.dst,
        dest_port=parts.dport,
        protocol=parts.protocol,
        pkts_toserver=flow.packets,
        pkts_toclient=rev.packets if rev else 0,
        bytes_toserver=flow.bytes,
        bytes_toclient=rev.bytes if rev else 0,
        start=flow.first_seen,
        end=flow.idle_since,
        state=state,
        reason=_REASONS.get(reason, "forced"),
        icmp_type=flow.icmp_type,
        timestamp=now,
        gwlb=GwlbInfo(
            endpoint_id=parts.endpoint_id,
            attachment_id=flow.attachment_id,
            cookie=flow.cookie,
            rule=flow.decision.rule_id,
            verdict=action_name(flow.action),
            domain=flow.domain,
            policy_version=policy_version,
        ),
    )


class FlowRecorder:
    """Collects a worker's records between two snapshots.

    Args:
        scope: ``all`` (every flow when it ends) or ``flagged`` (flows whose rule has
            ``log: true``); denied flows are recorded either way.
        limit: records kept per snapshot; the rest are counted in :attr:`overflow`.
        version: returns the version of the policy in force (for the ``gwlb`` object).
    """

    def __init__(self, scope: str, limit: int, version: Any) -> None:
        self.scope = scope
        self.limit = limit
        self._version = version
        self.pending: list[dict[str, Any]] = []
        self.overflow = 0

    def _add(self, flow: Flow, reason: str, now: float) -> None:
        if len(self.pending) >= self.limit:
            self.overflow += 1
            return
        self.pending.append(record_of(flow, reason, now, self._version()))

    def ended(self, flow: Flow, reason: str, now: float) -> None:
        """A flow left the table; record it if it is in scope and was not recorded as denied."""
        if flow.action in (1, 2):
            return  # recorded when it was denied
        if self.scope == "all" or flow.decision.log:
            self._add(flow, reason, now)

    def denied(self, flow: Flow, now: float) -> None:
        """A flow was denied (drop or reject)."""
        self._add(flow, "denied", now)

    def take(self) -> tuple[list[dict[str, Any]], int]:
        """The records collected since the last call, and how many did not fit."""
        records, overflow = self.pending, self.overflow
        self.pending, self.overflow = [], 0
        return records, overflow
