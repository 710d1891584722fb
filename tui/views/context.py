"""What every view builder reads: the snapshot, rates and the operator's choices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from tui.model import Json, Member, Snapshot
from tui.rates import RateTracker

GroupBy = Literal["src", "dst", "rule"]
GROUPINGS: Final[tuple[GroupBy | None, ...]] = (None, "src", "dst", "rule")


@dataclass(frozen=True, slots=True)
class RenderContext:
    """Inputs of a view builder."""

    snapshot: Snapshot
    rates: RateTracker
    window: float = 10.0
    """Rate window in seconds."""
    instance_id: str | None = None
    """The appliance the per-appliance views show (None: first reachable)."""
    group_by: GroupBy | None = None
    local_events: tuple[Json, ...] = ()
    """gwlbtop's own events (actions taken), shown in the events view."""

    def member(self) -> Member | None:
        """The appliance the per-appliance views show."""
        return self.snapshot.member(self.instance_id)


def flow_key(instance_id: str, flow: Json) -> str:
    """A flow's stable row key."""
    return (
        f"{instance_id}/{flow.get('worker')}/{flow.get('endpoint_id')}/{flow.get('protocol')}/"
        f"{flow.get('src')}/{flow.get('sport')}/{flow.get('dst')}/{flow.get('dport')}"
    )


def num(doc: Json | None, *path: str) -> float | None:
    """A number at ``path`` in ``doc``, None if missing or not a number."""
    value: Any = doc
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def observe(snapshot: Snapshot, rates: RateTracker) -> None:
    """Feed every counter of ``snapshot`` to ``rates`` (keyed as the views read them)."""
    for m in snapshot.members:
        status = m.status
        if status is None:
            continue
        iid = m.info.instance_id
        at = float(status.get("now") or snapshot.taken_at)
        counters = status.get("counters") or {}
        for name in ("packets_in", "packets_out", "bytes_in", "bytes_out"):
            if isinstance(counters.get(name), int):
                rates.observe(("m", iid, name), at, counters[name])
        drops = status.get("drops") or {}
        rates.observe(("m", iid, "drops"), at, sum(v for v in drops.values() if isinstance(v, int)))
        for reason, value in drops.items():
            if isinstance(value, int):
                rates.observe(("d", iid, reason), at, value)
        for t in status.get("tunnels") or []:
            eid = t.get("endpoint_id")
            for name in ("packets_in", "packets_out", "bytes_in", "bytes_out", "drops"):
                if isinstance(t.get(name), int):
                    rates.observe(("t", iid, eid, name), at, t[name])
        for r in (status.get("policy") or {}).get("rules") or []:
            for name in ("packets", "flows", "bytes"):
                if isinstance(r.get(name), int):
                    rates.observe(("r", iid, r.get("id"), name), at, r[name])
        if m.flows is not None:
            fat = float(m.flows.get("now") or at)
            for f in m.flows.get("flows") or []:
                rates.observe(("f", flow_key(iid, f)), fat, f.get("bytes") or 0)
    rates.sweep()
