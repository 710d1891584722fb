"""The five views as pure functions: snapshot (+ rates) -> :class:`tui.table.ViewTable`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from tui.table import ViewTable
from tui.views.context import RenderContext
from tui.views.events import events_table
from tui.views.fleet import fleet_table
from tui.views.flows import flows_table
from tui.views.policy import policy_table
from tui.views.tunnels import tunnels_table

VIEW_NAMES: Final = ("fleet", "tunnels", "flows", "policy", "events")
"""Every view, in the order of the number keys 1-5."""

BUILDERS: Final[dict[str, Callable[[RenderContext], ViewTable]]] = {
    "fleet": fleet_table,
    "tunnels": tunnels_table,
    "flows": flows_table,
    "policy": policy_table,
    "events": events_table,
}

DEFAULT_SORT: Final[dict[str, str | None]] = {
    "fleet": "instance",
    "tunnels": "endpoint",
    "flows": "bytes",
    "policy": None,
    "events": "at",
}
"""The column each view sorts by until the operator picks another."""

__all__ = ["BUILDERS", "DEFAULT_SORT", "VIEW_NAMES", "RenderContext"]
