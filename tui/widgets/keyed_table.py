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
from typing import Any

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey
from textual.widgets.data_table import Row as TableRow

from tui.table import MARKS, Column, Row

_MARKED = Style(bold=True)
"""Cells carrying a change marker are also bold (the marker itself is the non-colour cue)."""
SORT_UP = "▲"
SORT_DOWN = "▼"


class _CellRow(dict[ColumnKey, "str | Text"]):
    """A row's cells as DataTable reads them (``row[column_key]``), without building a dict.

    DataTable keeps ``{column key: value}`` per row; building 10,000 of those per
    refresh costs more than the rest of a refresh. This empty dict answers every
    lookup from the row's cell tuple through ``__missing__``.
    """

    __slots__ = ("_cells", "_index")

    def __init__(self, cells: tuple[str, ...], index: dict[ColumnKey, int]) -> None:
        super().__init__()
        self._cells = cells
        self._index = index

    def __missing__(self, key: ColumnKey) -> str:
        return self._cells[self._index[key]]


def _name(key: RowKey | str) -> str:
    return key if isinstance(key, str) else key.value or ""


class _RowData(dict[RowKey, dict[ColumnKey, "str | Text"]]):
    """DataTable's ``{row key: {column key: value}}`` store, answered from the table's cells.

    Never filled: every lookup goes through ``__missing__`` to the cell tuples the
    last :meth:`KeyedTable.sync` received.
    """

    __slots__ = ("_table",)

    def __init__(self, table: KeyedTable) -> None:
        super().__init__()
        self._table = table

    def __missing__(self, key: RowKey | str) -> dict[ColumnKey, str | Text]:
        cells = self._table._cells.get(_name(key))
        if cells is None:
            raise KeyError(key)
        return _CellRow(cells, self._table._column_index)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, RowKey | str) and _name(key) in self._table._cells

    def __len__(self) -> int:
        return len(self._table._cells)

    def get(self, key: RowKey | str, default: Any = None) -> Any:
        """``self[key]`` or ``default``."""
        try:
            return self.__missing__(key)
        except KeyError:
            return default


class KeyedTable(DataTable[str | Text]):
    """A row-cursor DataTable fed whole row lists by key."""

    def __init__(self, *, id: str | None = None) -> None:
        # set before DataTable.__init__: its watchers already read the row order
        self._order: list[str] = []
        self._row_keys: dict[str, RowKey] = {}
        self._offsets: tuple[int, list[tuple[RowKey, int]], list[TableRow]] | None = None
        self._line_of: dict[str, tuple[RowKey, int]] = {}
        self._meta_of: dict[str, TableRow] = {}
        self._columns: tuple[Column, ...] = ()
        self._visible: list[int] = []
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._column_keys: list[ColumnKey] = []
        self._cells: dict[str, tuple[str, ...]] = {}
        self._data = _RowData(self)
        self.retired: list[object] = []
        """Replaced row data, dropped later by a worker thread: freeing 10,000 flow
        records on the UI thread costs more than the rest of a refresh."""
        self._rows: list[Row] = []
        self._pending_cursor: str | None = None
        self._column_index: dict[ColumnKey, int] = {}
        self._fast_cells: LRUCache[tuple[object, ...], list[list[Segment]]] = LRUCache(20_000)

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
        index = self.cursor_row
        return self._rows[index] if 0 <= index < len(self._rows) else None

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
        self._column_index = dict(zip(self._column_keys, visible, strict=True))
        self._row_keys.clear()
        self._line_of.clear()
        self._meta_of.clear()
        self._cells = {}
        self._order = []
        self._pending_cursor = keep

    @staticmethod
    def _label(column: Column, sort_column: str | None, reverse: bool) -> str:
        if column.key != sort_column:
            return column.label
        descending = column.numeric != reverse
        return f"{column.label} {SORT_DOWN if descending else SORT_UP}"

    def sync(self, rows: Sequence[Row]) -> None:
        """Show exactly ``rows`` (unique keys), in this order, keeping the cursor on its key.

        Cells are not copied into DataTable's row store: :class:`_RowData` answers
        from ``rows`` directly, so a refresh costs two comprehensions and, when the
        order changed, one index rebuild, whatever the number of changed cells.
        """
        keep = self._pending_cursor or self.cursor_key
        self._pending_cursor = None
        order = [row.key for row in rows]
        cells = {row.key: row.cells for row in rows}
        if len(cells) != len(order):
            raise ValueError("duplicate row keys")
        row_keys, meta = self._row_keys, self.rows
        if cells.keys() != row_keys.keys():
            lines, metas = self._line_of, self._meta_of
            for key in row_keys.keys() - cells.keys():
                del meta[row_keys.pop(key)]
                del lines[key], metas[key]
            for key in cells.keys() - row_keys.keys():
                rk = row_keys[key] = RowKey(key)
                meta[rk] = metas[key] = TableRow(rk, 1)
                lines[key] = (rk, 0)
        self.retired.append((self._cells, self._rows))
        self._cells = cells
        self._rows = list(rows)
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

    def _render_cell(  # noqa: PLR0917 - DataTable's signature
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """Render one body cell as a single line of segments, cached by its value.

        DataTable renders every visible cell through Rich (Padding, Styled, line
        splitting) again after any update; gwlbtop's cells are one-line strings, so
        a direct padded segment is equivalent and ~20x cheaper. Header cells go the
        usual way.
        """
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None or row_key.value not in self._cells:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        value = self._cells[row_key.value][self._visible[column_index]]
        key = (
            value.plain if isinstance(value, Text) else value,
            str(value.style) if isinstance(value, Text) else "",
            row_index,
            column_index,
            width,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
        )
        cached = self._fast_cells.get(key)
        if cached is not None:
            return cached
        component, post = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        style = base_style + Style.from_meta({"row": row_index, "column": column_index})
        style = style + component
        plain = value.plain if isinstance(value, Text) else str(value)
        cell_style = style + post
        if plain and plain[-1] in MARKS:
            cell_style = cell_style + _MARKED
        column = self._columns[self._visible[column_index]] if self._columns else None
        if column is not None and column.numeric:
            plain = plain.rjust(column.width)
        pad = self.cell_padding
        padding = Segment(" " * pad, style + post)
        lines = [
            [padding, Segment(set_cell_size(plain, max(0, width - 2 * pad)), cell_style), padding]
        ]
        self._fast_cells[key] = lines
        return lines

    def _ordered(self) -> tuple[list[tuple[RowKey, int]], list[TableRow]]:
        cached = self._offsets
        if cached is None or cached[0] != self._update_count:
            order, lines, metas = self._order, self._line_of, self._meta_of
            cached = (self._update_count, [lines[k] for k in order], [metas[k] for k in order])
            self._offsets = cached
        return cached[1], cached[2]

    @property
    def _y_offsets(self) -> list[tuple[RowKey, int]]:
        """Every row is one line high: one entry per row, in display order (cached)."""
        return self._ordered()[0]

    @property
    def ordered_rows(self) -> list[TableRow]:
        """Rows in display order (cached per update)."""
        return self._ordered()[1]
