"""The fleet view: one row per instance."""

from __future__ import annotations

from tui import format as fmt
from tui.table import Column, Row, ViewTable
from tui.views.context import RenderContext, num

COLUMNS = (
    Column("instance", "instance", 19, 0),
    Column("az", "AZ", 10, 4),
    Column("lifecycle", "ASG state", 13, 1, mark=True),
    Column("service", "lifecycle svc", 15, 2, mark=True),
    Column("health", "target", 9, 1, mark=True),
    Column("state", "daemon", 20, 0, mark=True),
    Column("srcdst", "src/dst chk", 11, 3, mark=True),
    Column("policy", "policy want/have", 16, 2, mark=True),
    Column("pps", "pkts/s", 9, 1, numeric=True),
    Column("dps", "drops/s", 9, 1, numeric=True),
    Column("flows", "flows", 7, 2, numeric=True, mark=True),
    Column("latency", "rtt", 7, 5, numeric=True),
)


def fleet_table(ctx: RenderContext) -> ViewTable:
    """Instances with AWS state, daemon state, policy versions and rates."""
    rows: list[Row] = []
    total_pps = total_dps = 0.0
    reachable = mismatched = 0
    for m in ctx.snapshot.members:
        info, status = m.info, m.status
        iid = info.instance_id
        applied = str((status or {}).get("policy", {}).get("version") or "") or None
        desired = info.desired_policy
        if status is not None:
            reachable += 1
            state = str(status.get("state") or "?")
            if not status.get("healthy", True):
                state += " (unhealthy)"
        else:
            state = f"UNREACHABLE {m.error or ''}".strip()
        pps = ctx.rates.rate(("m", iid, "packets_in"), ctx.window) if status else None
        dps = ctx.rates.rate(("m", iid, "drops"), ctx.window) if status else None
        total_pps += pps or 0.0
        total_dps += dps or 0.0
        differs = desired is not None and applied is not None and desired != applied
        mismatched += differs
        policy = f"{desired or '-'}/{applied or '-'}{' ≠' if differs else ''}"
        flows = num(status, "counters", "flows_active")
        values = (
            iid,
            info.az,
            info.lifecycle_state,
            info.managed_state,
            info.target_health,
            state,
            info.src_dst_check,
            policy,
            pps,
            dps,
            flows,
            m.latency_s if status else None,
        )
        cells = (
            iid,
            info.az or fmt.NONE,
            info.lifecycle_state or fmt.NONE,
            info.managed_state or fmt.NONE,
            info.target_health or fmt.NONE,
            state,
            fmt.NONE
            if info.src_dst_check is None
            else ("ON (bad)" if info.src_dst_check else "off"),
            policy,
            fmt.rate(pps),
            fmt.rate(dps),
            fmt.count(flows),
            fmt.NONE if not status else f"{m.latency_s * 1000:.0f}ms",
        )
        record = {"instance": _info_dict(m.info), "error": m.error, "status": status}
        rows.append(Row(iid, values, cells, record, iid))
    n = len(ctx.snapshot.members)
    summary = (
        f"{n} instances, {reachable} reachable, {n - reachable} unreachable"
        f" | {fmt.rate(total_pps)} in, {fmt.rate(total_dps)} dropped"
        f" | policy mismatch on {mismatched}"
    )
    return ViewTable(COLUMNS, rows, summary)


def _info_dict(info: object) -> dict[str, object]:
    return {name: getattr(info, name) for name in getattr(info, "__slots__", ())}
