"""The application's own record of the migrations that ran (Rails' ``schema_migrations(version)`` by default).

dbferry writes a migration's version there once its last statement succeeded, in the same table and column the
application's migration tool reads, so that tool sees the migration as run and never runs it a second time; dbferry
reads it to skip what ran, whichever of the two ran it.
"""

from __future__ import annotations

from typing import Any

from ..common.errors import DbferryError
from ..common.identifiers import for_arguments, quote_ident, quote_table
from ..server.connection import execute, fetch_all, fetch_value, placeholders


def _table_exists(conn: Any, database: str, table: str, column: str) -> None:
    """DbferryError naming the table and the fix when it, or its column, is missing."""
    found = fetch_value(conn, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                              "AND COLUMN_NAME = %s", (database, table, column))
    if not found:
        where = "%s.%s" % (database, table)
        raise DbferryError("the migration table %s with a column %s was not found." % (where, column), obj=where,
                           fix="create it as your application's migration tool does (Rails: CREATE TABLE schema_migrations "
                               "(version VARCHAR(255) PRIMARY KEY)), or name yours with dbferry_migrations_table and "
                               "dbferry_migrations_column.")


def recorded(conn: Any, database: str, table: str, column: str, versions: list[str]) -> list[str]:
    """Those of ``versions`` the table records, in the order given."""
    _table_exists(conn, database, table, column)
    if not versions:
        return []
    name, table_name = for_arguments(quote_ident(column)), for_arguments(quote_table(database, table))
    rows = fetch_all(conn, "SELECT %s FROM %s WHERE %s IN (%s)" % (name, table_name, name, placeholders(len(versions))), tuple(versions))
    found = {str(row[0]) for row in rows}
    return [version for version in versions if version in found]


def record(conn: Any, database: str, table: str, column: str, version: str) -> bool:
    """Record ``version`` as run; False when it was recorded already."""
    if recorded(conn, database, table, column, [version]):
        return False
    execute(conn, "INSERT INTO %s (%s) VALUES (%%s)" % (for_arguments(quote_table(database, table)), for_arguments(quote_ident(column))),
            (version,))
    return True
