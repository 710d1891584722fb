"""The events view: lifecycle events, daemon events and gwlbtop's own actions."""

from __future__ import annotations

import hashlib

from tui import format as fmt
from tui.table import Column, Row, ViewTable
from tui.views.context import RenderContext

COLUMNS = (
    Column("at", "time (UTC)", 19, 0, numeric=True),
    Column("instance", "instance", 19, 1),
    Column("origin", "origin", 9, 2),
    Column("kind", "kind", 14, 0),
    Column("message", "message", 40, 0),
)


def _row(at: float | None, instance: str, origin: str, kind: str, message: str) -> Row:
    digest = hashlib.blake2b(
        f"{at}|{instance}|{origin}|{kind}|{message}".encode(), digest_size=8
    ).hexdigest()
    record = {"at": at, "instance": instance, "origin": origin, "kind": kind, "message": message}
    cells = (fmt.stamp(at), instance, origin, kind, message)
    return Row(digest, (at or 0.0, instance, origin, kind, message), cells, record, instance)


def events_table(ctx: RenderContext) -> ViewTable:
    """Every event known: state-table history, each daemon's last events, local actions."""
    rows = [
        _row(e.at, e.instance_id, "lifecycle", e.state, e.reason)
        for e in ctx.snapshot.lifecycle_events
    ]
    for m in ctx.snapshot.members:
        for e in (m.status or {}).get("events") or []:
            rows.append(
                _row(
                    e.get("at"),
                    m.info.instance_id,
                    "daemon",
                    str(e.get("kind")),
                    str(e.get("message")),
                )
            )
    for e in ctx.local_events:
        rows.append(
            _row(
                e.get("at"),
                str(e.get("instance")),
                "gwlbtop",
                str(e.get("kind")),
                str(e.get("message")),
            )
        )
    unique = list({r.key: r for r in rows}.values())
    summary = f"{len(unique)} events"
    return ViewTable(COLUMNS, unique, summary)
