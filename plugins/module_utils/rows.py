"""How rows are written to the target: the one place that builds the writes.

Copy: ``INSERT IGNORE`` (DESIGN step 2): a row the target has already got
from the binlog is newer than or as new as the copied one, so it is kept.

Apply: every image is written whole, by primary key, with ``REPLACE``, so
that replaying any suffix of events converges (DESIGN step 3). It is
REPLACE and not "UPDATE the row if present" because the target is a mix of
rows copied at different times: a copied row can collide on a secondary
UNIQUE key with a stale row whose change is still on its way, and then the
copy skips it. Its later events must bring it in, not find nothing to
update. Applying in binlog order, a REPLACE can only evict rows that were
copied "ahead" of the event being applied, and each of those has a later
event of its own that restores it.
"""

from __future__ import annotations

from typing import Any, Iterable

from .changes import DELETE, INSERT, UPDATE, RowChange
from .errors import DbferryError
from .identifiers import quote_ident
from .schema import MovedTable

#: Multi-row statements are cut at about this many bytes of values, well
#: under the 16 MiB default max_allowed_packet.
STATEMENT_BYTES = 4 * 1024 * 1024


def _size(row: Iterable[Any]) -> int:
    return sum(len(v) if isinstance(v, (bytes, str)) else 8 for v in row) + 8


def _chunks(rows: list[tuple]) -> Iterable[list[tuple]]:
    chunk: list[tuple] = []
    size = 0
    for row in rows:
        row_size = _size(row)
        if chunk and size + row_size > STATEMENT_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += row_size
    if chunk:
        yield chunk


def _multi_row(verb: str, table: MovedTable, rows: list[tuple]) -> tuple[str, list[Any]]:
    placeholder = "(" + ", ".join(["%s"] * len(table.columns)) + ")"
    sql = "%s INTO %s (%s) VALUES %s" % (verb, table.quoted_target, table.column_list, ", ".join([placeholder] * len(rows)))
    return sql, [value for row in rows for value in row]


def copy_rows(cursor: Any, table: MovedTable, rows: list[tuple]) -> None:
    """Write a copied batch (values in ``table.columns`` order)."""
    for chunk in _chunks(rows):
        cursor.execute(*_multi_row("INSERT IGNORE", table, chunk))


def _image(table: MovedTable, image: dict[str, Any]) -> tuple:
    try:
        return tuple(image[c] for c in table.columns)
    except KeyError as exc:
        raise DbferryError("a binlog row image of %s has no column %s." % (table.source, exc), obj=table.source,
                           fix="the table changed under the move (DDL): restart the move.") from None


def apply_change(cursor: Any, table: MovedTable, change: RowChange) -> None:
    """Apply one row change so that replaying it again is harmless."""
    delete_sql = "DELETE FROM %s WHERE %s = %%s" % (table.quoted_target, quote_ident(table.key))
    if change.kind == DELETE:
        cursor.execute(delete_sql, (change.before[table.key],))
        return
    if change.kind == UPDATE and change.before[table.key] != change.after[table.key]:
        cursor.execute(delete_sql, (change.before[table.key],))  # a key change moves the row
    if change.kind not in (INSERT, UPDATE):
        raise DbferryError("unknown row change kind %r." % change.kind, obj=table.source, fix="report this.")
    cursor.execute(*_multi_row("REPLACE", table, [_image(table, change.after)]))
