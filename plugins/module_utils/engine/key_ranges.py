"""Where a big table's key space is cut into ranges that are copied at the same time (``copy.ranges``).

One table copied by one cursor is one stream of batches: however many
tables the copy may take at once (``copy.concurrency``), a move of one big
table uses one of them. Cut into ranges, each with its own cursor
(state.py), the ranges are copied side by side, each by the lock
discipline of copier.py unchanged: ranges are disjoint and together cover
every key, so each row belongs to exactly one range, and the argument for
one table holds for each range.

The bounds are chosen once, before the move is recorded, and stored with
it (keys.encode_key, exact): a restart copies the same ranges from their
own cursors. They need not split the rows evenly, only cover the key space:
the first range has no start, the last no end, so a row inserted later
outside the keys seen now is copied all the same (or applied from the
binlog). A table with fewer estimated rows than ``copy.range_min_rows`` is
one range.

A single integer key is cut by interpolating between its MIN and MAX (two
index lookups); any other key by the server's n-th key (``ORDER BY key
LIMIT 1 OFFSET n``, from the bound before), so the server orders and
compares the values, never Python (keys.py).
"""

from __future__ import annotations

from typing import Any

from ..server.connection import fetch_all
from .keys import KeyValue, range_condition
from .tables import MovedTable

#: DATA_TYPEs of a single key column whose bounds are interpolated (Python's order of their values is the server's).
_INTEGER_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "bigint"})


def choose_bounds(conn: Any, table: MovedTable, ranges: int, estimated_rows: int, min_rows: int) -> list[KeyValue]:
    """The keys between ``table``'s ranges on the source ``conn``, in key order: range ``n`` holds the keys after bound
    ``n - 1`` up to bound ``n``. Empty (one range) for fewer than ``min_rows`` estimated rows or ``ranges`` of 1; fewer
    than ``ranges - 1`` when the table has fewer distinct keys than that."""
    if ranges < 2 or estimated_rows < max(min_rows, ranges):
        return []
    if len(table.key) == 1 and _column_type(table, table.key[0]) in _INTEGER_TYPES:
        return _interpolated(conn, table, ranges)
    return _walked(conn, table, ranges, estimated_rows // ranges)


def _column_type(table: MovedTable, column: str) -> str:
    return table.types[table.columns.index(column)].lower() if table.types and column in table.columns else ""


def _interpolated(conn: Any, table: MovedTable, ranges: int) -> list[KeyValue]:
    """Evenly spaced integers from MIN to MAX, the last one below MAX (so that no range is empty by construction)."""
    low, high = fetch_all(conn, "SELECT MIN(%s), MAX(%s) FROM %s" % (table.key_sql, table.key_sql, table.source_sql), ())[0]
    if low is None:
        return []
    low, high = int(low), int(high)
    bounds = sorted({low + (high - low) * n // ranges for n in range(1, ranges)})
    return [(bound,) for bound in bounds if low <= bound < high]


def _walked(conn: Any, table: MovedTable, ranges: int, step: int) -> list[KeyValue]:
    """Every ``step``-th key, found by the server from the bound before; fewer at the table's end."""
    bounds: list[KeyValue] = []
    while len(bounds) < ranges - 1:
        condition, args = range_condition(table.key, (bounds[-1] if bounds else None, None))
        rows = fetch_all(conn, "SELECT %s FROM %s%s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d" % (
            table.key_sql, table.source_sql, table.key_index_hint, condition, table.key_sql, step - 1), args)
        if not rows:
            break
        bounds.append(tuple(rows[0]))
    return bounds
