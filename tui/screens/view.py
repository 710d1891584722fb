"""The screen every view shares: title, summary, the keyed table, filter/command line, status.

Subclasses (one per view) add their own keys. A screen does no fetching: the app
hands it a :class:`~tui.table.ViewTable` and the screen arranges it (filter, sort,
frozen order) and updates the table by row key.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from tui.screens.modals import TextScreen
from tui.table import Arrangement, FilterError, Row, ViewTable, arrange, visible_columns
from tui.views import DEFAULT_SORT
from tui.widgets.keyed_table import KeyedTable

if TYPE_CHECKING:
    from tui.app import GwlbtopApp


def describe(record: Any, prefix: str = "") -> list[str]:
    """Flatten a JSON record into ``dotted.key: value`` lines."""
    if isinstance(record, dict):
        lines: list[str] = []
        for key, value in record.items():
            lines.extend(describe(value, f"{prefix}{key}."))
        return lines
    if isinstance(record, list) and record and isinstance(record[0], dict):
        lines = []
        for i, value in enumerate(record):
            lines.extend(describe(value, f"{prefix}{i}."))
        return lines
    return [
        f"{prefix.rstrip('.')}: {json.dumps(record) if not isinstance(record, str) else record}"
    ]


class ViewScreen(Screen[None]):
    """One view: a live table plus the operator's arrangement of it."""

    VIEW: ClassVar[str] = ""
    DEFAULT_CSS = """
    ViewScreen #title { height: 1; background: $primary; color: $text; text-style: bold; }
    ViewScreen #summary { height: 2; color: $text-muted; }
    ViewScreen KeyedTable { height: 1fr; }
    ViewScreen #line { height: 1; border: none; padding: 0 1; display: none; }
    ViewScreen #line.-visible { display: block; }
    ViewScreen #line.-invalid { color: $error; }
    ViewScreen #status { height: 1; background: $panel; }
    ViewScreen #status.-stale { background: $error; color: $text; text-style: bold; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor(1)", "down", show=False),
        Binding("k", "cursor(-1)", "up", show=False),
        Binding("h", "side(-1)", "scroll left", show=False),
        Binding("l", "side(1)", "scroll right", show=False),
        Binding("g", "edge(False)", "top", show=False),
        Binding("G", "edge(True)", "bottom", show=False),
        Binding("ctrl+d", "page(1)", "page down", show=False),
        Binding("ctrl+u", "page(-1)", "page up", show=False),
        Binding("slash", "open_line('/')", "filter"),
        Binding("escape", "clear_filter", "clear filter", show=False),
        Binding("s", "sort(1)", "sort"),
        Binding("S", "sort(-1)", "sort prev col", show=False),
        Binding("o", "reverse", "reverse order", show=False),
        Binding("f", "freeze", "freeze order"),
        Binding("d", "describe", "describe"),
        Binding("y", "raw", "JSON"),
        Binding("c", "copy", "copy id"),
    ]

    def __init__(self) -> None:
        super().__init__(name=self.VIEW, id=f"view-{self.VIEW}")
        self.arrangement = Arrangement(sort_column=DEFAULT_SORT.get(self.VIEW))
        self.table_data: ViewTable | None = None
        self.shown = 0
        self._line_mode = "/"
        self._texts: dict[str, str] = {}

    @property
    def gwlbtop(self) -> GwlbtopApp:
        """The app, typed."""
        return cast("GwlbtopApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Static(id="summary")
        yield KeyedTable(id="table")
        yield Input(id="line")
        yield Static(id="status")
        yield Footer()

    @property
    def table(self) -> KeyedTable:
        """The view's table widget."""
        return self.query_one(KeyedTable)

    def on_screen_resume(self) -> None:
        """Coming (back) to this view: show what we have and ask for fresh rows."""
        self.table.focus()
        self.gwlbtop.view_shown(self)

    def on_resize(self) -> None:
        """Narrow terminals drop low-value columns."""
        self.redraw()

    def show(self, table: ViewTable) -> None:
        """Show a freshly built table."""
        self.table_data = table
        self.redraw()

    def redraw(self) -> None:
        """Arrange the current table and update the widgets."""
        try:
            self._redraw()
        except NoMatches:
            return

    def _redraw(self) -> None:
        data = self.table_data
        if data is None or not self.is_mounted:
            return
        line = self.query_one("#line", Input)
        try:
            rows = arrange(data, self.arrangement)
            line.remove_class("-invalid")
        except FilterError:
            line.add_class("-invalid")
            rows = arrange(
                data,
                Arrangement(
                    sort_column=self.arrangement.sort_column,
                    sort_reverse=self.arrangement.sort_reverse,
                    frozen_order=self.arrangement.frozen_order,
                ),
            )
        width = self.size.width or self.app.size.width
        visible = visible_columns(data.columns, width - 2)
        self.table.configure(
            data.columns, visible, self.arrangement.sort_column, self.arrangement.sort_reverse
        )
        self.table.sync(rows)
        self.shown = len(rows)
        if self.arrangement.frozen_order is not None:
            self.arrangement = replace(self.arrangement, frozen_order=tuple(self.table.order))
        self._set("#summary", data.summary)
        self.refresh_bars()

    def refresh_bars(self) -> None:
        """Update the title and status lines (no-op while the screen is being torn down)."""
        try:
            self._refresh_bars()
        except NoMatches:
            return

    def _refresh_bars(self) -> None:
        app = self.gwlbtop
        total = len(self.table_data.rows) if self.table_data else 0
        a = self.arrangement
        parts = [f"gwlbtop · {self.VIEW}", app.source.label]
        if app.instance_id and self.VIEW in ("tunnels", "flows", "policy"):
            parts.append(f"instance {app.instance_id}")
        if app.group_by and self.VIEW == "flows":
            parts.append(f"grouped by {app.group_by}")
        parts.append(f"rates over {app.window:g}s")
        parts.append("read-write" if app.write else "read-only")
        self._set("#title", " " + " · ".join(parts))
        rows = f"{self.shown} of {total} rows" if a.filter_text else f"{total} rows"
        flags = []
        if a.filter_text:
            flags.append(f"filter {a.filter_text!r}")
        if a.frozen_order is not None:
            flags.append("FROZEN order")
        status, stale = app.freshness()
        status_bar = self.query_one("#status", Static)
        status_bar.set_class(stale, "-stale")
        self._set("#status", " " + " · ".join([status, rows, *flags]))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Write actions exist only with ``--write`` (hidden from the footer and help otherwise)."""
        return self.gwlbtop.write or action not in ("admin", "clear_flow")

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_enter()

    def action_enter(self) -> None:
        """Enter on a row: each view says what it opens (default: describe)."""
        self.action_describe()

    def _set(self, selector: str, text: str) -> None:
        """Update a fixed-height text line only when its text changed (no layout pass)."""
        if self._texts.get(selector) != text:
            self._texts[selector] = text
            self.query_one(selector, Static).update(Text(text), layout=False)

    def current(self) -> Row | None:
        """The row under the cursor."""
        return self.table.cursor_record

    # --- navigation -----------------------------------------------------------------------

    def action_cursor(self, step: int) -> None:
        """Move the cursor down (1) or up (-1)."""
        if step > 0:
            self.table.action_cursor_down()
        else:
            self.table.action_cursor_up()

    def action_side(self, step: int) -> None:
        """Scroll the table left (-1) or right (1) by a few columns' width."""
        self.table.scroll_relative(x=8 * step, animate=False)

    def action_edge(self, bottom: bool) -> None:
        """Jump to the first or last row."""
        if bottom:
            self.table.action_scroll_bottom()
        else:
            self.table.action_scroll_top()

    def action_page(self, step: int) -> None:
        """Page down (1) or up (-1)."""
        if step > 0:
            self.table.action_page_down()
        else:
            self.table.action_page_up()

    # --- filter and command line -----------------------------------------------------------

    def action_open_line(self, mode: str) -> None:
        """Open the filter (``/``) or command (``:``) line."""
        self._line_mode = mode
        line = self.query_one("#line", Input)
        line.placeholder = (
            "regex filter (!regex inverts), Enter keeps it, Escape clears"
            if mode == "/"
            else "view name (fleet tunnels flows policy events), help, pause, quit"
        )
        line.value = self.arrangement.filter_text if mode == "/" else ""
        line.add_class("-visible")
        line.focus()

    @on(Input.Changed, "#line")
    def _line_changed(self, event: Input.Changed) -> None:
        if self._line_mode == "/":
            self.set_filter(event.value)

    @on(Input.Submitted, "#line")
    def _line_submitted(self, event: Input.Submitted) -> None:
        line = self.query_one("#line", Input)
        if self._line_mode == ":":
            line.remove_class("-visible")
            self.table.focus()
            self.gwlbtop.run_command_line(event.value)
            return
        if not event.value:
            line.remove_class("-visible")
        self.table.focus()

    def on_key(self, event: Any) -> None:
        """Escape in the line closes it (and clears a filter)."""
        line = self.query_one("#line", Input)
        if event.key == "escape" and line.has_focus:
            event.stop()
            if self._line_mode == "/":
                self.set_filter("")
            line.remove_class("-visible")
            self.table.focus()

    def set_filter(self, text: str) -> None:
        """Filter rows by regex (``!`` inverts); totals stay those of every row."""
        self.arrangement = replace(self.arrangement, filter_text=text)
        self.redraw()

    def action_clear_filter(self) -> None:
        """Drop the filter."""
        self.query_one("#line", Input).remove_class("-visible")
        self.set_filter("")

    # --- sort, freeze ----------------------------------------------------------------------

    def _columns(self) -> list[str]:
        return [c.key for c in self.table_data.columns] if self.table_data else []

    def action_sort(self, step: int) -> None:
        """Sort by the next (1) or previous (-1) column."""
        keys = self._columns()
        if not keys:
            return
        current = self.arrangement.sort_column
        index = keys.index(current) + step if current in keys else 0
        self.sort_by(keys[index % len(keys)], reverse=False)

    def sort_by(self, column: str, *, reverse: bool) -> None:
        """Sort by ``column`` (unfreezes the order)."""
        self.arrangement = replace(
            self.arrangement, sort_column=column, sort_reverse=reverse, frozen_order=None
        )
        self.redraw()

    def action_reverse(self) -> None:
        """Reverse the sort order."""
        a = self.arrangement
        self.sort_by(a.sort_column or (self._columns() or [""])[0], reverse=not a.sort_reverse)

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        a = self.arrangement
        self.sort_by(column, reverse=not a.sort_reverse if a.sort_column == column else False)

    def action_freeze(self) -> None:
        """Freeze (or unfreeze) the row order; values keep updating."""
        frozen = None if self.arrangement.frozen_order is not None else tuple(self.table.order)
        self.arrangement = replace(self.arrangement, frozen_order=frozen)
        self.redraw()

    # --- describe, raw, copy ------------------------------------------------------------

    def action_describe(self) -> None:
        """Describe the row under the cursor, one field per line."""
        row = self.current()
        if row is not None:
            self.app.push_screen(
                TextScreen(f"{self.VIEW}: {row.copy_id}", "\n".join(describe(row.record)))
            )

    def action_raw(self) -> None:
        """Show the raw JSON behind the row under the cursor."""
        row = self.current()
        if row is not None:
            body = json.dumps(row.record, indent=2, sort_keys=True, default=str)
            self.app.push_screen(TextScreen(f"{self.VIEW}: {row.copy_id} (JSON)", body))

    def action_copy(self) -> None:
        """Copy the id of the row under the cursor to the clipboard (OSC 52)."""
        row = self.current()
        if row is not None:
            self.app.copy_to_clipboard(row.copy_id)
            self.gwlbtop.copied = row.copy_id
            self.notify(f"copied {row.copy_id}", timeout=2)
