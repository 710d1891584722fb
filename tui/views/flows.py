"""The flows view: one row per flow of the selected appliance, or per group."""

from __future__ import annotations

from typing import Any

from tui import format as fmt
from tui.table import Column, Row, ViewTable
from tui.views.context import GroupBy, RenderContext, flow_key

COLUMNS = (
    Column("proto", "proto", 5, 2),
    Column("src", "source", 21, 0),
    Column("dst", "destination", 21, 0),
    Column("endpoint", "endpoint", 18, 4),
    Column("cookie", "cookie", 10, 5),
    Column("verdict", "verdict", 7, 1, mark=True),
    Column("rule", "rule", 12, 1, mark=True),
    Column("domain", "domain", 14, 3),
    Column("packets", "packets", 8, 1, numeric=True, mark=True),
    Column("bytes", "bytes", 9, 1, numeric=True),
    Column("rate", "bytes/s", 10, 2, numeric=True),
    Column("age", "age", 7, 3, numeric=True),
    Column("idle", "idle", 6, 2, numeric=True),
)

GROUP_COLUMNS = (
    Column("group", "group", 24, 0),
    Column("flows", "flows", 7, 0, numeric=True, mark=True),
    Column("packets", "packets", 9, 1, numeric=True),
    Column("bytes", "bytes", 10, 1, numeric=True),
    Column("rate", "bytes/s", 10, 1, numeric=True),
    Column("verdicts", "verdicts", 20, 2),
)


def flows_table(ctx: RenderContext) -> ViewTable:
    """Flows of one appliance (or their groups by source, destination or rule)."""
    member = ctx.member()
    columns = GROUP_COLUMNS if ctx.group_by else COLUMNS
    if member is None or member.status is None:
        why = "no appliance" if member is None else f"unreachable: {member.error}"
        return ViewTable(columns, [], why)
    if member.flows is None:
        return ViewTable(columns, [], "flows not read yet")
    iid = member.info.instance_id
    doc = member.flows
    now = float(doc.get("now") or ctx.snapshot.taken_at)
    flows: list[dict[str, Any]] = doc.get("flows") or []
    rate_of = ctx.rates.rate
    window = ctx.window
    if ctx.group_by:
        return _grouped(ctx.group_by, iid, flows, doc, ctx)
    rows: list[Row] = []
    append = rows.append
    size, count, age, ep = fmt.size, fmt.count, fmt.age, fmt.endpoint
    total_bytes = 0
    for f in flows:
        key = flow_key(iid, f)
        family = f.get("family")
        src = ep(f.get("src"), f.get("sport"), family)
        dst = ep(f.get("dst"), f.get("dport"), family)
        packets = f.get("packets") or 0
        nbytes = f.get("bytes") or 0
        total_bytes += nbytes
        rate = rate_of(("f", key), window)
        first, last = f.get("first_seen"), f.get("last_seen")
        flow_age = now - first if first is not None else None
        idle = now - last if last is not None else None
        proto = fmt.protocol(f.get("protocol"))
        verdict = str(f.get("verdict") or fmt.NONE)
        rule = str(f.get("rule") or fmt.NONE)
        domain = f.get("domain") or fmt.NONE
        endpoint_id = str(f.get("endpoint_id") or fmt.NONE)
        cookie = str(f.get("cookie") or fmt.NONE)
        append(
            Row(
                key,
                (
                    proto,
                    src,
                    dst,
                    endpoint_id,
                    cookie,
                    verdict,
                    rule,
                    domain,
                    packets,
                    nbytes,
                    rate,
                    flow_age,
                    idle,
                ),
                (
                    proto,
                    src,
                    dst,
                    endpoint_id,
                    cookie,
                    verdict,
                    rule,
                    domain,
                    count(packets),
                    size(nbytes),
                    fmt.NONE if rate is None else size(rate) + "/s",
                    age(flow_age),
                    age(idle),
                ),
                f,
                f"{proto} {src} -> {dst}",
            )
        )
    total = doc.get("total", len(flows))
    shown = f" (first {len(flows)} read)" if isinstance(total, int) and total > len(flows) else ""
    summary = f"{iid}: {total} flows{shown}, {fmt.size(total_bytes)}"
    return ViewTable(COLUMNS, rows, summary)


def group_value(group_by: GroupBy, flow: dict[str, Any]) -> str:
    """The group a flow belongs to."""
    if group_by == "src":
        return str(flow.get("src"))
    if group_by == "dst":
        return fmt.endpoint(flow.get("dst"), flow.get("dport"), flow.get("family"))
    return str(flow.get("rule"))


def _grouped(
    group_by: GroupBy,
    iid: str,
    flows: list[dict[str, Any]],
    doc: dict[str, Any],
    ctx: RenderContext,
) -> ViewTable:
    groups: dict[str, list[Any]] = {}
    for f in flows:
        g = groups.setdefault(group_value(group_by, f), [0, 0, 0, 0.0, {}])
        g[0] += 1
        g[1] += f.get("packets") or 0
        g[2] += f.get("bytes") or 0
        g[3] += ctx.rates.rate(("f", flow_key(iid, f)), ctx.window) or 0.0
        verdict = str(f.get("verdict"))
        g[4][verdict] = g[4].get(verdict, 0) + 1
    rows = []
    for name, (n, packets, nbytes, rate, verdicts) in groups.items():
        verdict_text = " ".join(f"{k}:{v}" for k, v in sorted(verdicts.items()))
        record = {
            "group_by": group_by,
            "group": name,
            "flows": n,
            "packets": packets,
            "bytes": nbytes,
            "verdicts": verdicts,
        }
        rows.append(
            Row(
                f"{group_by}:{name}",
                (name, n, packets, nbytes, rate, verdict_text),
                (
                    name,
                    fmt.count(n),
                    fmt.count(packets),
                    fmt.size(nbytes),
                    fmt.byte_rate(rate),
                    verdict_text,
                ),
                record,
                name,
            )
        )
    summary = f"{iid}: {doc.get('total', len(flows))} flows in {len(groups)} groups by {group_by}"
    return ViewTable(GROUP_COLUMNS, rows, summary)
