"""``gwlbtop --once``: print one view for scripts (plain text or ``--json``)."""

from __future__ import annotations

import json
from typing import Any

from tui.model import FetchRequest
from tui.rates import RateTracker
from tui.source import DataSource
from tui.table import Arrangement, ViewTable, arrange
from tui.views import BUILDERS, DEFAULT_SORT, RenderContext
from tui.views.context import GroupBy, observe


def once(
    source: DataSource,
    view: str,
    *,
    instance_id: str | None = None,
    group_by: GroupBy | None = None,
) -> tuple[ViewTable, float, str]:
    """Fetch once and build ``view``; returns (table, snapshot time, source label).

    Rates need two samples, so they are null in ``--once`` output.
    """
    request = FetchRequest(flows_of=instance_id or "*") if view == "flows" else FetchRequest()
    snapshot = source.fetch(request)
    if view == "flows" and instance_id is None:
        first = snapshot.member(None)
        if first is not None and first.reachable:
            snapshot = source.fetch(FetchRequest(flows_of=first.info.instance_id))
    rates = RateTracker()
    observe(snapshot, rates)
    ctx = RenderContext(snapshot, rates, instance_id=instance_id, group_by=group_by)
    return BUILDERS[view](ctx), snapshot.taken_at, snapshot.source


def render_json(view: str, table: ViewTable, taken_at: float, source: str) -> str:
    """The ``gwlbtop.view/v1`` document: columns, then one object per row."""
    rows = arrange(table, Arrangement(sort_column=DEFAULT_SORT.get(view)))
    keys = [c.key for c in table.columns]
    doc: dict[str, Any] = {
        "schema": "gwlbtop.view/v1",
        "view": view,
        "source": source,
        "taken_at": taken_at,
        "summary": table.summary,
        "columns": [{"key": c.key, "label": c.label} for c in table.columns],
        "rows": [
            {"key": r.key, "values": dict(zip(keys, r.values, strict=True)), "record": r.record}
            for r in rows
        ],
    }
    return json.dumps(doc, indent=2, default=str)


def render_text(view: str, table: ViewTable) -> str:
    """An aligned plain-text table with the summary on top."""
    rows = arrange(table, Arrangement(sort_column=DEFAULT_SORT.get(view)))
    header = [c.label for c in table.columns]
    body = [list(r.cells) for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=True)]
    lines = [table.summary, ""]
    for cells in [header, *body]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    return "\n".join(lines)
