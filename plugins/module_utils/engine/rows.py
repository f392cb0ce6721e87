"""How rows are written to the target: the one place that builds the writes.

Copy: ``INSERT ... ON DUPLICATE KEY UPDATE <key> = <key>`` (docs/design.md step
2): a row the target has already got from the binlog is newer than or as
new as the copied one, so it is kept; a copied row that collides with
another on a secondary UNIQUE key is skipped the same way (the no-op
assignment changes nothing). That is what ``INSERT IGNORE`` did, without
its other effect: IGNORE turns every error of the strict session into a
warning and stores a converted value, so a value the target cannot hold
was changed without a word. Here it is an error, which names the table
and the row's key (execute_statement). The copied rows arrive as the source
printed them, ready-made VALUES tuples (schema.value_literal), and go out
as they are.

Both paths write ENUM and SET values by number (index, bitmask), never by
label. The ENUM error value, index 0, is refused by a strict session, so
rows holding it are written in a statement of their own in a lenient
sql_mode: every other value of such a row is one the source stored in a
column of the same definition, which the lenient mode writes as the strict
one does.

Both write the target's names of the columns (MovedTable.target_columns):
an online schema change writes a renamed column under its new name.

Apply: every image is written whole, by key (keys.py), with ``REPLACE``, so
that replaying any suffix of events converges (docs/design.md step 3). It is
REPLACE and not "UPDATE the row if present" because the target is a mix of
rows copied at different times: a copied row can collide on a secondary
UNIQUE key with a stale row whose change is still on its way, and then the
copy skips it. Its later events must bring it in, not find nothing to
update. Applying in binlog order, a REPLACE can only evict rows that were
copied "ahead" of the event being applied, and each of those has a later
event of its own that restores it.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Union

from ..binlog.changes import DELETE, INSERT, UPDATE, RowChange
from ..server.connection import LENIENT_SQL_MODE, SESSION_SQL_MODE, error_row, error_text, is_database_error
from ..common.errors import DbferryError
from ..common.identifiers import quote_ident
from ..common.retry import is_transient
from .keys import KeyValue, display_key, key_points
from .tables import MovedTable

#: Writes a value as an SQL literal (connection.literal).
Literal = Callable[[Any], str]

#: Multi-row statements are cut at about this many bytes of values, well
#: under the 16 MiB default max_allowed_packet.
STATEMENT_BYTES = 4 * 1024 * 1024


def _chunks(rows: list, size_of: Callable[[Any], int]) -> Iterable[list]:
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


@dataclass(frozen=True)
class Statement:
    """One statement of a write, with the rows it writes: what an error of the server is about (RowWriteError)."""

    sql: Union[str, bytes]
    #: None for a session setting.
    table: Optional[MovedTable] = None
    #: The keys of the rows the statement writes, in the order of its VALUES (or IN) list.
    keys: tuple = ()


def execute_statement(cursor: Any, statement: Statement, doing: str) -> None:
    """Run ``statement``; a refusal that a retry cannot cure becomes a DbferryError naming the table and the row's key.

    The server names the column and the row's number in the statement
    ("Data truncated for column 'e' at row 3"); the key is the statement's
    ``keys`` at that number. Without a number, the message lists the keys.
    """
    try:
        cursor.execute(statement.sql)
    except Exception as exc:  # noqa: BLE001 - server errors are named below, anything else goes on as it is
        if statement.table is None or not is_database_error(exc) or is_transient(exc):
            raise
        table, keys = statement.table, statement.keys
        row = error_row(exc)
        if row is not None and 0 < row <= len(keys):
            where = "the row with key %s" % display_key(table.key, keys[row - 1])
        elif len(keys) == 1:
            where = "the row with key %s" % display_key(table.key, keys[0])
        elif len(keys) > 5:
            where = "one of %d rows, from the row with key %s to the row with key %s" % (
                len(keys), display_key(table.key, keys[0]), display_key(table.key, keys[-1]))
        else:
            where = "one of the rows with keys %s" % ", ".join(display_key(table.key, k) for k in keys)
        raise DbferryError(
            "%s %s failed at %s: %s" % (doing, table.source, where, error_text(exc)),
            obj=table.source,
            fix="make the target table %s match the source's (compare SHOW CREATE TABLE on both servers: it must exist and hold every "
                "source value), then start the move again; it resumes." % table.quoted_target) from exc


def copy_rows(cursor: Any, table: MovedTable, rows: list[tuple[Any, bytes]], lenient: frozenset = frozenset()) -> None:
    """Write a copied batch: ``rows`` are (key, ``(v1,v2,...)``) in ``table.columns`` order, from MovedTable.row_literal;
    the rows whose key is in ``lenient`` hold the ENUM error value (MovedTable.error_value_test)."""
    head = ("INSERT INTO %s (%s) VALUES " % (table.quoted_target, table.target_column_list)).encode("utf-8")
    first_key = quote_ident(table.target_key[0])
    tail = (" ON DUPLICATE KEY UPDATE %s = %s" % (first_key, first_key)).encode("utf-8")

    def insert(chunk: list[tuple[Any, bytes]]) -> Statement:
        return Statement(head + b",".join(literal for _key, literal in chunk) + tail, table, tuple(key for key, _literal in chunk))

    for statement in _written(rows, insert, _printed_size, lambda row: row[0] in lenient):
        execute_statement(cursor, statement, "copying")


def _printed_size(row: tuple) -> int:
    """The printed size of a row given as (key, printed row, ...)."""
    return len(row[1])


def _written(rows: list, build: Callable[[list], Statement], size_of: Callable[[Any], int],
             holds_error_value: Callable[[Any], bool]) -> Iterable[Statement]:
    """The statements that write ``rows``, each of at most about STATEMENT_BYTES of values (max_allowed_packet).

    Only the rows holding the ENUM error value go in the lenient sql_mode
    (module docstring), in statements of their own; every other row is
    written strictly, so that a conversion in it is still an error.
    """
    strict = [row for row in rows if not holds_error_value(row)]
    lenient = [row for row in rows if holds_error_value(row)]
    for chunk in _chunks(strict, size_of):
        yield build(chunk)
    if lenient:
        yield Statement("SET SESSION sql_mode = '%s'" % LENIENT_SQL_MODE)
        for chunk in _chunks(lenient, size_of):
            yield build(chunk)
        yield Statement("SET SESSION sql_mode = '%s'" % SESSION_SQL_MODE)


@functools.lru_cache(maxsize=256)
def _values(columns: tuple[str, ...]) -> Callable[[Any], tuple]:
    """The values of ``columns`` of a row image (a dict) or a row (by position), as a tuple, picked in C: the applier
    picks every row image's values and key by it (net_statements)."""
    if len(columns) == 1:
        only = columns[0]
        return lambda row: (row[only],)
    return operator.itemgetter(*columns)


def _image(table: MovedTable, image: dict[str, Any]) -> tuple:
    try:
        return _values(table.columns)(image)
    except KeyError as exc:
        raise DbferryError("a binlog row image of %s has no column %s." % (table.source, exc), obj=table.source,
                           fix="the table changed under the move (DDL): restart the move.") from None


def _key(table: MovedTable, image: dict[str, Any]) -> KeyValue:
    return _values(table.key)(image)


def _operations(table: MovedTable, change: RowChange) -> list[tuple[str, Any]]:
    """A change as writes: ("delete", key) and ("replace", row) in order.

    An update that changes the key moves the row: delete the old key, write the new row. (Keys that only a
    collation takes for equal, 'a' and 'A', go the same way: the delete and the write meet the same row, in order.)
    """
    if change.kind == DELETE:
        return [(DELETE, _key(table, change.before))]
    if change.kind not in (INSERT, UPDATE):
        raise DbferryError("unknown row change kind %r." % change.kind, obj=table.source, fix="report this.")
    row = _image(table, change.after)
    if change.kind == UPDATE and _key(table, change.before) != _key(table, change.after):
        return [(DELETE, _key(table, change.before)), ("replace", row)]
    return [("replace", row)]


def delete_statements(table: MovedTable, keys: list, literal: Literal) -> Iterable[Statement]:
    """Deletes of the target rows at ``keys`` (key values), a thousand keys a statement."""
    head = "DELETE FROM %s WHERE " % table.quoted_target
    for start in range(0, len(keys), 1000):
        chunk = keys[start:start + 1000]
        yield Statement(head + key_points(table.target_key, [tuple(map(literal, key)) for key in chunk]), table, tuple(chunk))


def _statements(kind: str, table: MovedTable, items: list, literal: Literal) -> Iterable[Statement]:
    if kind == DELETE:
        yield from delete_statements(table, items, literal)
        return
    head = "REPLACE INTO %s (%s) VALUES " % (table.quoted_target, table.target_column_list)
    enums, key_of = table.enum_indexes, _values(table.key_indexes)
    # Each row printed once, as (key, "(v1, v2, ...)", holds the ENUM error value): a statement is cut by the size of
    # what it sends.
    printed = [(key_of(row), "(" + ", ".join(map(literal, row)) + ")", bool(enums) and any(row[i] == 0 for i in enums)) for row in items]

    def replace(chunk: list[tuple[KeyValue, str, bool]]) -> Statement:
        return Statement(head + ", ".join(text for _key, text, _error in chunk), table, tuple(key for key, _text, _error in chunk))

    yield from _written(printed, replace, _printed_size, operator.itemgetter(2))


def net_statements(tables: dict[tuple[str, str], MovedTable], changes: Iterable[RowChange], literal: Literal) -> list[Statement]:
    """The statements that apply row changes as their net effect, so that replaying them again is harmless.

    ``changes`` are whole source transactions in binlog order, written in
    one target transaction. What they leave behind is, for each key they
    touch, its last image (or its absence), which is the source's row at the
    end of the last of them: a consistent state, in which no two rows share
    a UNIQUE value. So each table gets one DELETE for the keys that end
    deleted and one multi-row REPLACE of the last images, however the
    changes interleave (mixed writes would otherwise need a statement per
    switch between deleting and replacing). The argument of the module
    docstring holds for the net effect as for the changes one by one: a
    last image can only evict a row copied "ahead", which a later event
    restores; and fewer intermediate images means fewer evictions.

    The net effect needs Python to tell which writes meet the same row,
    which it can only for keys whose values are equal exactly when the
    server's are (MovedTable.exact_key). A text key's table ('a' and 'A'
    are one row in a case-insensitive collation) gets its writes in binlog
    order instead, each run of deletes or of replaces one statement: the
    changes one by one, as the module docstring argues.

    The statements are complete SQL text, values written by ``literal``
    (connection.literal): the applier renders them while the target runs
    the batch before, and the session only sends them (execute_statement).
    """
    net: dict[MovedTable, dict[Any, Optional[tuple]]] = {}
    runs: dict[MovedTable, list[tuple[str, list]]] = {}
    for change in changes:
        table = tables[(change.schema, change.table)]
        if not table.exact_key:
            ordered = runs.setdefault(table, [])
            for kind, item in _operations(table, change):
                if not ordered or ordered[-1][0] != kind:
                    ordered.append((kind, []))
                ordered[-1][1].append(item)
            continue
        last = net.setdefault(table, {})
        for kind, item in _operations(table, change):
            if kind == DELETE:
                last[item] = None
            else:
                last[tuple(item[i] for i in table.key_indexes)] = item
    statements: list[Statement] = []
    for table, last in net.items():
        statements += _statements(DELETE, table, [key for key, row in last.items() if row is None], literal)
        statements += _statements("replace", table, [row for row in last.values() if row is not None], literal)
    for table, ordered in runs.items():
        for kind, items in ordered:
            statements += _statements(kind, table, items, literal)
    return statements
