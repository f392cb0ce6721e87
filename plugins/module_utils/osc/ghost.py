"""The ghost table: an empty copy of the original with the ALTER applied, which copy and apply fill.

It is made the way the server itself would define the new table: ``CREATE
TABLE ghost LIKE t`` (same columns, keys, options, partitioning), then
``ALTER TABLE ghost <alter>`` on the empty table, which is instant. So any
ALTER the server accepts works, and an ALTER it refuses fails here, before a
row is copied, with the server's own message.

Also here: the table definitions the change compares and reports
(``SHOW CREATE TABLE``), normalized so that two tables of the same schema
compare equal whatever their names and AUTO_INCREMENT counters.
"""

from __future__ import annotations

import re
from typing import Any

from ..common.errors import DbferryError
from ..common.identifiers import display_table, quote_ident, quote_table
from ..server.connection import error_text, execute, fetch_all, fetch_value, is_database_error

_AUTO_INCREMENT_RE = re.compile(r" AUTO_INCREMENT=\d+")
#: A foreign key line of SHOW CREATE TABLE: not part of the schema compared (CREATE TABLE ... LIKE copies none; the
#: change carries them over itself, renamed, osc/foreign_keys.py).
_FOREIGN_KEY_RE = re.compile(r",\n  CONSTRAINT `(?:[^`]|``)+` FOREIGN KEY [^\n]*")


def exists(conn: Any, database: str, table: str) -> bool:
    """Whether ``database.table`` exists (names compared byte for byte)."""
    return bool(fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                                  "AND BINARY TABLE_SCHEMA = %s AND BINARY TABLE_NAME = %s", (database, table) * 2))


def comment(conn: Any, database: str, table: str) -> str:
    """The table's comment (the cut-over marks its sentry with one)."""
    return fetch_value(conn, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                             "AND BINARY TABLE_SCHEMA = %s AND BINARY TABLE_NAME = %s", (database, table) * 2) or ""


def drop(conn: Any, database: str, table: str) -> None:
    execute(conn, "DROP TABLE IF EXISTS %s" % quote_table(database, table))


def create(conn: Any, database: str, table: str, ghost: str, alter: str) -> None:
    """Create ``ghost`` as ``table`` with ``alter`` applied; an ALTER the server refuses leaves no ghost behind."""
    execute(conn, "CREATE TABLE %s LIKE %s" % (quote_table(database, ghost), quote_table(database, table)))
    try:
        execute(conn, "ALTER TABLE %s %s" % (quote_table(database, ghost), alter))
    except Exception as exc:
        drop(conn, database, ghost)
        if not is_database_error(exc):
            raise
        raise DbferryError("the ALTER of %s fails on an empty copy of the table: %s" % (display_table(database, table), error_text(exc)),
                           obj=display_table(database, table),
                           fix="correct the ALTER (it is what follows ALTER TABLE %s)." % quote_ident(table)) from None


def show_create(conn: Any, database: str, table: str) -> str:
    """SHOW CREATE TABLE of ``database.table``, as the server prints it."""
    return fetch_all(conn, "SHOW CREATE TABLE %s" % quote_table(database, table))[0][1]


def as_named(create_statement: str, table: str, name: str) -> str:
    """``create_statement`` of ``table`` as if the table were called ``name``: the change reports the ghost's definition as
    the table's new one."""
    head = "CREATE TABLE %s" % quote_ident(table)
    if not create_statement.startswith(head):
        raise DbferryError("unexpected SHOW CREATE TABLE output for %s." % table, obj=table, fix="report this with the server version.")
    return "CREATE TABLE %s%s" % (quote_ident(name), create_statement[len(head):])


def normalized(create_statement: str, table: str) -> str:
    """``create_statement`` of ``table`` with its name, AUTO_INCREMENT counter and foreign keys taken out: the schema alone."""
    return _FOREIGN_KEY_RE.sub("", _AUTO_INCREMENT_RE.sub("", as_named(create_statement, table, "t")))
