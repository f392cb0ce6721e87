"""How rows are written to the target: the one place that builds the writes.

Copy: ``INSERT IGNORE`` (DESIGN step 2): a row the target has already got
from the binlog is newer than or as new as the copied one, so it is kept.
The copied rows arrive as the source printed them, ready-made VALUES
tuples (schema.value_literal), and go out as they are.

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

from typing import Any, Callable, Iterable, Optional

from .changes import DELETE, INSERT, UPDATE, EnumErrorValue, RowChange
from .connection import LENIENT_SQL_MODE, SESSION_SQL_MODE
from .errors import DbferryError
from .identifiers import quote_ident
from .schema import MovedTable

#: Writes a value as an SQL literal (connection.literal).
Literal = Callable[[Any], str]

#: Multi-row statements are cut at about this many bytes of values, well
#: under the 16 MiB default max_allowed_packet.
STATEMENT_BYTES = 4 * 1024 * 1024


def _size(row: Iterable[Any]) -> int:
    return sum(len(v) if isinstance(v, (bytes, str)) else 8 for v in row) + 8


def _chunks(rows: list, size_of: Callable[[Any], int] = _size) -> Iterable[list]:
    chunk: list = []
    size = 0
    for row in rows:
        row_size = size_of(row)
        if chunk and size + row_size > STATEMENT_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += row_size
    if chunk:
        yield chunk


def copy_rows(cursor: Any, table: MovedTable, literals: list[bytes]) -> None:
    """Write a copied batch: ``literals`` are rows as ``(v1,v2,...)`` in ``table.columns`` order, from MovedTable.row_literal."""
    head = ("INSERT IGNORE INTO %s (%s) VALUES " % (table.quoted_target, table.column_list)).encode("utf-8")
    for chunk in _chunks(literals, len):
        cursor.execute(head + b",".join(chunk))


def _image(table: MovedTable, image: dict[str, Any]) -> tuple:
    try:
        return tuple(image[c] for c in table.columns)
    except KeyError as exc:
        raise DbferryError("a binlog row image of %s has no column %s." % (table.source, exc), obj=table.source,
                           fix="the table changed under the move (DDL): restart the move.") from None


def _operations(table: MovedTable, change: RowChange) -> list[tuple[str, Any]]:
    """A change as writes: ("delete", key) and ("replace", row) in order.

    An update that changes the key moves the row: delete the old key, write the new row.
    """
    if change.kind == DELETE:
        return [(DELETE, change.before[table.key])]
    if change.kind not in (INSERT, UPDATE):
        raise DbferryError("unknown row change kind %r." % change.kind, obj=table.source, fix="report this.")
    row = _image(table, change.after)
    if change.kind == UPDATE and change.before[table.key] != change.after[table.key]:
        return [(DELETE, change.before[table.key]), ("replace", row)]
    return [("replace", row)]


def _statements(kind: str, table: MovedTable, items: list, literal: Literal) -> Iterable[str]:
    if kind == DELETE:
        head = "DELETE FROM %s WHERE %s IN (" % (table.quoted_target, quote_ident(table.key))
        for start in range(0, len(items), 1000):
            yield head + ", ".join(map(literal, items[start:start + 1000])) + ")"
        return
    head = "REPLACE INTO %s (%s) VALUES " % (table.quoted_target, table.column_list)
    for chunk in _chunks(items):
        statement = head + ", ".join("(" + ", ".join(map(literal, row)) + ")" for row in chunk)
        if any("" in row and any(isinstance(value, EnumErrorValue) for value in row) for row in chunk):
            # Legacy data: a strict session refuses the ENUM error value. Every other value is one the source
            # stored in a column of the same type, which the lenient mode writes as the strict one does.
            yield "SET SESSION sql_mode = '%s'" % LENIENT_SQL_MODE
            yield statement
            yield "SET SESSION sql_mode = '%s'" % SESSION_SQL_MODE
        else:
            yield statement


def net_statements(tables: dict[tuple[str, str], MovedTable], changes: Iterable[RowChange], literal: Literal) -> list[str]:
    """The statements that apply row changes as their net effect, so that replaying them again is harmless.

    ``changes`` are whole source transactions in binlog order, written in
    one target transaction. What they leave behind is, for each key they
    touch, its last image (or its absence), which is the source's row at the
    end of the last of them: a consistent state, in which no two rows share
    a UNIQUE value. So each table gets one DELETE ... IN for the keys that
    end deleted and one multi-row REPLACE of the last images, however the
    changes interleave (mixed writes would otherwise need a statement per
    switch between deleting and replacing). The argument of the module
    docstring holds for the net effect as for the changes one by one: a
    last image can only evict a row copied "ahead", which a later event
    restores; and fewer intermediate images means fewer evictions.

    The statements are complete SQL text, values written by ``literal``
    (connection.literal): the applier renders them while the target runs
    the batch before, and the session only sends them.
    """
    net: dict[MovedTable, dict[Any, Optional[tuple]]] = {}
    for change in changes:
        table = tables[(change.schema, change.table)]
        last = net.setdefault(table, {})
        for kind, item in _operations(table, change):
            if kind == DELETE:
                last[item] = None
            else:
                last[item[table.key_index]] = item
    statements: list[str] = []
    for table, last in net.items():
        statements += _statements(DELETE, table, [key for key, row in last.items() if row is None], literal)
        statements += _statements("replace", table, [row for row in last.values() if row is not None], literal)
    return statements
