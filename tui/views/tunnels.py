"""The tunnels view: one row per GWLB endpoint of the selected appliance."""

from __future__ import annotations

from tui import format as fmt
from tui.table import Column, Row, ViewTable
from tui.views.context import RenderContext

COLUMNS = (
    Column("endpoint", "GWLB endpoint", 18, 0),
    Column("attachments", "attachments", 18, 4),
    Column("interfaces", "interfaces", 22, 3),
    Column("to_kernel", "to kernel", 10, 3, numeric=True),
    Column("from_kernel", "from kernel", 11, 3, numeric=True),
    Column("flows", "flows", 7, 2, numeric=True, mark=True),
    Column("pin", "pkts in", 9, 3, numeric=True),
    Column("pin_rate", "in/s", 9, 1, numeric=True),
    Column("pout", "pkts out", 9, 3, numeric=True),
    Column("pout_rate", "out/s", 9, 1, numeric=True),
    Column("bin_rate", "bytes in/s", 12, 2, numeric=True),
    Column("bout_rate", "bytes out/s", 12, 2, numeric=True),
    Column("drops", "drops", 8, 1, numeric=True, mark=True),
    Column("idle", "idle", 7, 1, numeric=True),
)


def tunnels_table(ctx: RenderContext) -> ViewTable:
    """GWLB endpoints of one appliance with packet and byte rates and drops."""
    member = ctx.member()
    if member is None or member.status is None:
        why = "no appliance" if member is None else f"unreachable: {member.error}"
        return ViewTable(COLUMNS, [], why)
    iid = member.info.instance_id
    status = member.status
    rows: list[Row] = []
    for t in status.get("tunnels") or []:
        eid = str(t.get("endpoint_id"))

        def r(name: str, eid: str = eid) -> float | None:
            return ctx.rates.rate(("t", iid, eid, name), ctx.window)

        itf = t.get("interfaces")
        interfaces = f"{itf.get('in')} / {itf.get('out')}" if isinstance(itf, dict) else "inline"
        # tun mode: packets written to gwi-X (handed to the kernel), read back from the devices
        to_kernel = itf.get("in_packets") if isinstance(itf, dict) else None
        from_kernel = itf.get("out_packets") if isinstance(itf, dict) else None
        attachments = ",".join(str(a) for a in t.get("attachment_ids") or [])
        values = (
            eid,
            attachments,
            interfaces,
            to_kernel,
            from_kernel,
            t.get("flows_active"),
            t.get("packets_in"),
            r("packets_in"),
            t.get("packets_out"),
            r("packets_out"),
            r("bytes_in"),
            r("bytes_out"),
            t.get("drops"),
            t.get("last_packet_age_s"),
        )
        cells = (
            eid,
            attachments or fmt.NONE,
            interfaces,
            fmt.count(to_kernel),
            fmt.count(from_kernel),
            fmt.count(t.get("flows_active")),
            fmt.count(t.get("packets_in")),
            fmt.rate(r("packets_in")),
            fmt.count(t.get("packets_out")),
            fmt.rate(r("packets_out")),
            fmt.byte_rate(r("bytes_in")),
            fmt.byte_rate(r("bytes_out")),
            fmt.count(t.get("drops")),
            fmt.age(t.get("last_packet_age_s")),
        )
        rows.append(Row(eid, values, cells, dict(t), eid))
    drops = status.get("drops") or {}
    parts = [
        f"{reason} {fmt.count(v)} ({fmt.rate(ctx.rates.rate(('d', iid, reason), ctx.window))})"
        for reason, v in sorted(drops.items(), key=lambda kv: -int(kv[1] or 0))
        if v
    ]
    summary = (
        f"{iid} {status.get('mode', '?')} {status.get('state', '?')}"
        f" | drops by reason: {', '.join(parts) if parts else 'none'}"
    )
    return ViewTable(COLUMNS, rows, summary)
