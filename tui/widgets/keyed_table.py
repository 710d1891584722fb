"""A DataTable that updates in place by row key, fast enough for 10,000 rows per refresh.

:meth:`KeyedTable.sync` replaces the table's rows with a new ordered list in one
step: only rows whose cells changed are rewritten, rows are never measured (every
column has a fixed width), the row order is set at once, and the cursor stays on
the row it was on (same key), not on the same index.

It reaches into DataTable's private row store (``_data``, ``_row_locations``,
``_update_count``): the public ``add_row``/``remove_row``/``update_cell`` are
per-cell and per-row operations (``remove_row`` is O(n)), far too slow for
10,000 flows a second. Textual is pinned exactly (``textual==8.2.8``) for this.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey
from textual.widgets.data_table import Row as TableRow

from tui.table import MARKS, Column, Row

SORT_UP = "▲"
SORT_DOWN = "▼"


class KeyedTable(DataTable[str | Text]):
    """A row-cursor DataTable fed whole row lists by key."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._columns: tuple[Column, ...] = ()
        self._visible: list[int] = []
        self._column_keys: list[ColumnKey] = []
        self._row_keys: dict[str, RowKey] = {}
        self._cells: dict[str, tuple[str, ...]] = {}
        self._order: list[str] = []
        self._records: dict[str, Row] = {}
        self._pending_cursor: str | None = None

    @property
    def order(self) -> list[str]:
        """Row keys in the order shown."""
        return list(self._order)

    @property
    def cursor_key(self) -> str | None:
        """Key of the row under the cursor."""
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    @property
    def cursor_record(self) -> Row | None:
        """The model row under the cursor."""
        key = self.cursor_key
        return None if key is None else self._records.get(key)

    def configure(
        self,
        columns: Sequence[Column],
        visible: Sequence[int],
        sort_column: str | None,
        sort_reverse: bool,
    ) -> None:
        """Set the columns (only ``visible`` ones shown) and the sort indicator.

        Does nothing when nothing changed; otherwise the rows are re-sent by the
        next :meth:`sync` (the cursor key is kept).
        """
        labels = [self._label(columns[i], sort_column, sort_reverse) for i in visible]
        current = [c.label.plain for c in self.ordered_columns]
        if tuple(columns) == self._columns and list(visible) == self._visible:
            if labels != current:
                for key, label in zip(self._column_keys, labels, strict=True):
                    self.columns[key].label = Text(label)
                self._update_count += 1
                self.refresh()
            return
        keep = self.cursor_key
        self.clear(columns=True)
        self._columns = tuple(columns)
        self._visible = list(visible)
        self._column_keys = [
            self.add_column(label, width=columns[i].width, key=columns[i].key)
            for i, label in zip(visible, labels, strict=True)
        ]
        self._row_keys.clear()
        self._cells.clear()
        self._order = []
        self._pending_cursor = keep

    @staticmethod
    def _label(column: Column, sort_column: str | None, reverse: bool) -> str:
        if column.key != sort_column:
            return column.label
        descending = column.numeric != reverse
        return f"{column.label} {SORT_DOWN if descending else SORT_UP}"

    def _render_cells(self, cells: tuple[str, ...]) -> dict[ColumnKey, str | Text]:
        out: dict[ColumnKey, str | Text] = {}
        columns = self._columns
        for key, i in zip(self._column_keys, self._visible, strict=True):
            cell = cells[i]
            column = columns[i]
            if column.numeric:
                cell = cell.rjust(column.width)
            if cell and cell[-1] in MARKS:
                out[key] = Text(cell, style="bold")
            else:
                out[key] = cell
        return out

    def sync(self, rows: Sequence[Row]) -> None:
        """Show exactly ``rows``, in this order, updating only what changed."""
        keep = self._pending_cursor or self.cursor_key
        self._pending_cursor = None
        data = self._data
        meta = self.rows
        row_keys = self._row_keys
        shown = self._cells
        records = {}
        order = []
        for row in rows:
            key = row.key
            records[key] = row
            order.append(key)
            cells = row.cells
            previous = shown.get(key)
            if previous == cells:
                continue
            shown[key] = cells
            rk = row_keys.get(key)
            if rk is None:
                rk = row_keys[key] = RowKey(key)
                meta[rk] = TableRow(rk, 1)
            data[rk] = self._render_cells(cells)
        if len(records) != len(order):
            raise ValueError("duplicate row keys")
        for key in [k for k in shown if k not in records]:
            rk = row_keys.pop(key)
            del shown[key]
            del data[rk]
            del meta[rk]
        self._records = records
        if order != self._order:
            self._row_locations = TwoWayDict({row_keys[k]: i for i, k in enumerate(order)})
            self._order = order
        self._update_count += 1
        self._clear_caches()
        self._require_update_dimensions = True
        self.check_idle()
        self.refresh()
        if keep is not None and keep in row_keys:
            index = self._row_locations.get(row_keys[keep])
            if index is not None and index != self.cursor_row:
                self.cursor_coordinate = Coordinate(index, 0)
        elif self.cursor_row >= len(order) > 0:
            self.cursor_coordinate = Coordinate(len(order) - 1, 0)
