"""Pure table model shared by every view: columns, rows, filter, sort, freeze, change markers.

A view turns a snapshot into a :class:`ViewTable`; :func:`arrange` applies the
operator's filter, sort and frozen order; :class:`ChangeMarks` flags cells whose
value changed with a visible character (never colour alone). No I/O, no Textual.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from tui.model import Json

MARK_UP: Final = "▲"
MARK_DOWN: Final = "▼"
MARK_CHANGED: Final = "*"
MARKS: Final = (MARK_UP, MARK_DOWN, MARK_CHANGED)
MARK_TICKS: Final = 3
"""Refreshes during which a changed cell keeps its marker."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a view."""

    key: str
    label: str
    width: int
    priority: int = 1
    """0 is never dropped; higher numbers are dropped first on narrow terminals."""
    numeric: bool = False
    """Right-aligned; sorts largest first by default."""
    mark: bool = False
    """Show a change marker when the value changes."""


@dataclass(frozen=True, slots=True)
class Row:
    """One row: sortable values, display cells, the record behind it."""

    key: str
    """Stable identity (the table updates by this key)."""
    values: tuple[Any, ...]
    """Raw values, one per column, used for sorting and change detection."""
    cells: tuple[str, ...]
    """Display text, one per column."""
    record: Json
    """The JSON behind the row (``y`` shows it, ``d`` describes it)."""
    copy_id: str
    """What ``c`` copies: the row's id."""


@dataclass(frozen=True, slots=True)
class ViewTable:
    """A view rendered as a table, before filtering."""

    columns: tuple[Column, ...]
    rows: list[Row]
    summary: str = ""
    """Totals over every row (a filter never changes them)."""


@dataclass(frozen=True, slots=True)
class Arrangement:
    """How the operator wants rows shown."""

    filter_text: str = ""
    """Regex searched in the row's cells; a leading ``!`` inverts it."""
    sort_column: str | None = None
    sort_reverse: bool = False
    """Reverse of the column's natural order (numbers: largest first)."""
    frozen_order: tuple[str, ...] | None = None
    """Row keys in their frozen order; new rows go after them."""


class FilterError(ValueError):
    """The filter is not a valid regular expression."""


def compile_filter(text: str) -> tuple[re.Pattern[str] | None, bool]:
    """Compile a filter: ``(pattern or None for no filter, inverted)``.

    Raises:
        FilterError: not a valid regular expression.
    """
    inverted = text.startswith("!")
    body = text[1:] if inverted else text
    if not body:
        return None, False
    try:
        return re.compile(body, re.IGNORECASE), inverted
    except re.error as exc:
        raise FilterError(f"bad regex {body!r}: {exc}") from exc


def _sort_key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def arrange(table: ViewTable, arrangement: Arrangement) -> list[Row]:
    """Filter, then sort (or keep the frozen order) the rows of ``table``.

    Raises:
        FilterError: the filter is not a valid regular expression.
    """
    pattern, inverted = compile_filter(arrangement.filter_text)
    rows: Iterable[Row] = table.rows
    if pattern is not None:
        search = pattern.search
        rows = [r for r in table.rows if (search("\t".join(r.cells)) is None) == inverted]
    rows = list(rows)
    if arrangement.frozen_order is not None:
        position = {k: i for i, k in enumerate(arrangement.frozen_order)}
        end = len(position)
        return sorted(rows, key=lambda r: position.get(r.key, end))
    index = next((i for i, c in enumerate(table.columns) if c.key == arrangement.sort_column), None)
    if index is None:
        return rows
    numeric = table.columns[index].numeric
    descending = numeric != arrangement.sort_reverse
    present = [r for r in rows if r.values[index] is not None]
    missing = [r for r in rows if r.values[index] is None]
    present.sort(key=lambda r: _sort_key(r.values[index]), reverse=descending)
    return present + missing


def visible_columns(columns: Sequence[Column], width: int, padding: int = 2) -> list[int]:
    """Indexes of the columns that fit in ``width`` cells, dropping low-value ones first."""
    keep = set(range(len(columns)))
    total = sum(c.width + padding for c in columns)
    for i in sorted(range(len(columns)), key=lambda i: (-columns[i].priority, -i)):
        if total <= width or columns[i].priority == 0:
            break
        keep.discard(i)
        total -= columns[i].width + padding
    return sorted(keep)


@dataclass
class ChangeMarks:
    """Remembers values between refreshes and marks the cells that changed."""

    tick: int = 0
    _values: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    _marks: dict[str, dict[int, tuple[int, str]]] = field(default_factory=dict)

    def apply(self, table: ViewTable) -> ViewTable:
        """Return ``table`` with a marker appended to recently changed marked cells."""
        self.tick += 1
        marked = [i for i, c in enumerate(table.columns) if c.mark]
        if not marked:
            return table
        values, marks, tick = self._values, self._marks, self.tick
        new_values: dict[str, tuple[Any, ...]] = {}
        out: list[Row] = []
        for row in table.rows:
            key = row.key
            now = tuple([row.values[i] for i in marked])
            new_values[key] = now
            old = values.get(key)
            row_marks = marks.get(key)
            if old is not None and old != now:
                if row_marks is None:
                    row_marks = marks[key] = {}
                for j, i in enumerate(marked):
                    if old[j] != now[j]:
                        row_marks[i] = (tick, _sign(old[j], now[j]))
            if not row_marks:
                out.append(row)
                continue
            cells = list(row.cells)
            for i, (at, sign) in list(row_marks.items()):
                if tick - at >= MARK_TICKS:
                    del row_marks[i]
                else:
                    cells[i] = f"{cells[i]} {sign}"
            out.append(_with_cells(row, tuple(cells)))
        self._values = new_values
        for key in [k for k, m in marks.items() if not m or k not in new_values]:
            del marks[key]
        return ViewTable(table.columns, out, table.summary)


def _sign(old: Any, new: Any) -> str:
    if isinstance(old, int | float) and isinstance(new, int | float):
        return MARK_UP if new > old else MARK_DOWN
    return MARK_CHANGED


def _with_cells(row: Row, cells: tuple[str, ...]) -> Row:
    return Row(row.key, row.values, cells, row.record, row.copy_id)
