"""AUTO_INCREMENT counters: the target's must not be behind the source's after a cutover.

The binlog carries rows, not counters. An id the source handed out to a row
that is gone again (inserted and deleted in one transaction, a rolled-back
insert, an ``INSERT ... ON DUPLICATE KEY UPDATE`` that updated) leaves no
row on the target, so the target's counter stays lower, and after the
cutover the application would get ids again that the source gave out
already (and that may live on in caches, exports, other systems). So the
cutover, while the source is read-only and the target has applied its final
position, raises each moved table's counter on the target to the source's
(``ALTER TABLE ... AUTO_INCREMENT = n``: metadata only for InnoDB on
MariaDB), and verification reports a table whose counter is behind.

The counters are read from ``information_schema.TABLES``, one query per
server: MariaDB answers it from the table's live counter (MySQL 8 caches it
unless ``information_schema_stats_expiry`` is 0; MySQL sources are refused
for now).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..server.connection import error_code, execute, fetch_all, is_database_error
from ..common.errors import DbferryError
from ..common.identifiers import display_table, quote_table
from ..server.error_codes import ER_LOCK_WAIT_TIMEOUT

#: How long raising one counter may wait for its table's metadata lock, with the source read-only.
LOCK_WAIT_SECONDS = 10


@dataclass(frozen=True)
class Behind:
    """A moved table whose next AUTO_INCREMENT value on the target is lower than on the source."""

    source_table: str
    target_table: str
    source_value: int
    target_value: int

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.source_table, "target_table": self.target_table, "source": self.source_value, "target": self.target_value}

    def describe(self) -> str:
        return "%s: next id %d on the target, %d on the source" % (self.source_table, self.target_value, self.source_value)


def counters(conn: Any, tables: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(schema, table) -> next AUTO_INCREMENT value, for those of ``tables`` that have an AUTO_INCREMENT column."""
    if not tables:
        return {}
    condition = " OR ".join(["(TABLE_SCHEMA = %s AND TABLE_NAME = %s)"] * len(tables))
    rows = fetch_all(conn, "SELECT TABLE_SCHEMA, TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE AUTO_INCREMENT IS NOT NULL "
                           "AND (%s)" % condition, [part for table in tables for part in table])
    return {(schema, name): int(value) for schema, name, value in rows}


def behind(source: Any, target: Any, tables: list[tuple[str, str, str, str]]) -> list[Behind]:
    """The tables, given as (source schema, source table, target schema, target table), whose target counter is lower."""
    ours = counters(source, [(s, t) for s, t, _ts, _tt in tables])
    theirs = counters(target, [(ts, tt) for _s, _t, ts, tt in tables])
    found = []
    for schema, name, target_schema, target_name in tables:
        wanted: Optional[int] = ours.get((schema, name))
        has: Optional[int] = theirs.get((target_schema, target_name))
        if wanted is not None and has is not None and has < wanted:
            found.append(Behind(display_table(schema, name), display_table(target_schema, target_name), wanted, has))
    return found


def raise_counters(source: Any, target: Any, tables: list[tuple[str, str, str, str]], check_mode: bool = False) -> list[Behind]:
    """Raise the target's counter of every table that is behind to the source's; return what was (or would be) raised.

    The ALTER waits for the table's metadata lock, which any open transaction that read the table holds, and the
    source is read-only meanwhile: the wait is bounded by ``LOCK_WAIT_SECONDS`` (the server's default is a year).
    """
    found = behind(source, target, tables)
    if not check_mode and found:
        by_name = {display_table(ts, tt): (ts, tt) for _s, _t, ts, tt in tables}
        execute(target, "SET SESSION lock_wait_timeout = %d" % LOCK_WAIT_SECONDS)
        for table in found:
            try:
                execute(target, "ALTER TABLE %s AUTO_INCREMENT = %d" % (quote_table(*by_name[table.target_table]), table.source_value))
            except Exception as exc:
                if not (is_database_error(exc) and error_code(exc) == ER_LOCK_WAIT_TIMEOUT):
                    raise
                raise DbferryError("raising the AUTO_INCREMENT of %s on the target to %d waited %d s for the table's metadata lock, held by "
                                   "another session's open transaction or DDL." % (table.target_table, table.source_value, LOCK_WAIT_SECONDS),
                                   obj=table.target_table,
                                   fix="end that session (information_schema.METADATA_LOCK_INFO names it), then run the cutover again.") from None
    return found
