"""The policy view: rules of the selected appliance with hit counters."""

from __future__ import annotations

from tui import format as fmt
from tui.table import Column, Row, ViewTable
from tui.views.context import RenderContext

COLUMNS = (
    Column("rule", "rule", 20, 0),
    Column("action", "action", 7, 0),
    Column("flows", "flows", 8, 1, numeric=True, mark=True),
    Column("packets", "packets", 9, 1, numeric=True, mark=True),
    Column("bytes", "bytes", 10, 2, numeric=True),
    Column("pps", "hits pkts/s", 11, 1, numeric=True),
    Column("fps", "new flows/s", 11, 3, numeric=True),
)


def policy_table(ctx: RenderContext) -> ViewTable:
    """Rules with their hit counters; the summary has version, source and last reload."""
    member = ctx.member()
    if member is None or member.status is None:
        why = "no appliance" if member is None else f"unreachable: {member.error}"
        return ViewTable(COLUMNS, [], why)
    iid = member.info.instance_id
    policy = member.status.get("policy") or {}
    rows = []
    for r in policy.get("rules") or []:
        rid = str(r.get("id"))
        pps = ctx.rates.rate(("r", iid, rid, "packets"), ctx.window)
        fps = ctx.rates.rate(("r", iid, rid, "flows"), ctx.window)
        values = (rid, r.get("action"), r.get("flows"), r.get("packets"), r.get("bytes"), pps, fps)
        cells = (
            rid,
            str(r.get("action") or fmt.NONE),
            fmt.count(r.get("flows")),
            fmt.count(r.get("packets")),
            fmt.size(r.get("bytes")),
            fmt.rate(pps),
            fmt.rate(fps),
        )
        rows.append(Row(rid, values, cells, dict(r), rid))
    return ViewTable(COLUMNS, rows, policy_summary(ctx))


def policy_summary(ctx: RenderContext) -> str:
    """Version, source, load time, desired version and the last refused version."""
    member = ctx.member()
    if member is None or member.status is None:
        return "no policy"
    policy = member.status.get("policy") or {}
    desired = member.info.desired_policy
    state = ctx.snapshot.policy_state or {}
    desired = desired or state.get("desired_version")
    version = policy.get("version")
    err = policy.get("last_error")
    last = (
        f"refused {err.get('version')} at {fmt.clock(err.get('at'))}: {err.get('message')}"
        if isinstance(err, dict)
        else "ok"
    )
    want = f" | desired {desired}{' ≠ applied' if desired and desired != version else ''}"
    return (
        f"{member.info.instance_id}: version {version} from {policy.get('source')}"
        f" loaded {fmt.stamp(policy.get('loaded_at'))}"
        f" | default {policy.get('default_action', fmt.NONE)}"
        f"{want if desired else ''} | last reload: {last}"
    )
