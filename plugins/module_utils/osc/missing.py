"""Rows of the original missing from the ghost, found and put back (docs/design.md steps 2 and 3 on one server).

Two ways a row of the original leaves the ghost, or never enters it, while
the original itself is fine, both through a NEW unique key that the
original lacks, so that two of its rows may share its values for a while:

- the copy skips a row whose new unique key's values a ghost row still
  holds (its ``ON DUPLICATE KEY UPDATE`` keeps the ghost row), though the
  original's row of that ghost row has changed since: the pending event of
  that OTHER row repairs the ghost row, but nothing brings the skipped one;
- the applier's REPLACE of a row evicts every ghost row that shares its new
  unique key's values: an application that gives a row another row's value
  for a moment, then a value of its own, leaves the other row evicted.

Either way the row is missing from the ghost while the original holds it
and no other row with its values: it is put back from the original
(``restore``), under the copy's rule (the row read with a shared lock and
written in the same transaction, a key the ghost has meanwhile kept).
Before the cut-over's lock the whole table is searched (``missing_keys``,
one scan); under the lock only the rows written since, and the rows of the
original that hold a new unique key's values an applied row had
(``holders``), each statement bounded by the time the lock has left. A row
that cannot be put back because the ORIGINAL holds another row with the
same values is a real violation of the new key: the verification names it.

Keys are the change's (plan.py: any number of columns of any type): the
search joins the two tables on every key column, and the rows at a list of
keys are matched back to the keys by the server (checksum.rows_at_keys),
so a text key in a case-insensitive collation is never missed.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Optional

from ..common.identifiers import for_arguments, quote_ident, quote_table
from ..engine.keys import KeyValue, key_list
from ..server.connection import execute, fetch_all, placeholders
from ..verify.checksum import keys_condition, rows_at_keys
from .plan import AlterPlan

#: Keys (or value tuples) per statement.
KEYS_PER_STATEMENT = 1000


class Bound:
    """The time left to the work under the cut-over's lock: each statement is sent with a ``max_statement_time`` of what
    is left (the server ends it there), and none is sent once it is gone (TimeoutError: the attempt fails, undone)."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds

    def left(self) -> float:
        """The seconds left; TimeoutError when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0.001:
            raise TimeoutError("the cut-over's lock timeout (%.1f s) passed while checking the ghost table" % self.seconds)
        return left

    def sql(self, statement: str) -> str:
        return "SET STATEMENT max_statement_time = %.3f FOR %s" % (self.left(), statement)


def _bounded(bound: Optional[Bound], statement: str) -> str:
    return statement if bound is None else bound.sql(statement)


def _chunks(items: list, size: int = KEYS_PER_STATEMENT) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def missing_keys(conn: Any, plan: AlterPlan) -> list[KeyValue]:
    """Keys of the original that the ghost lacks, the whole table (a scan: before the cut-over's lock only)."""
    original, ghost = for_arguments(quote_table(plan.database, plan.table)), for_arguments(quote_table(plan.database, plan.ghost))
    olds = ["o.%s" % for_arguments(quote_ident(c)) for c in plan.key]
    news = ["g.%s" % for_arguments(quote_ident(c)) for c in plan.ghost_key]
    return [tuple(row) for row in fetch_all(conn, "SELECT %s FROM %s o LEFT JOIN %s g ON %s WHERE %s IS NULL ORDER BY %s" % (
        ", ".join(olds), original, ghost, " AND ".join("%s = %s" % pair for pair in zip(news, olds)), news[0], ", ".join(olds)))]


def missing_among(original_conn: Any, ghost_conn: Any, plan: AlterPlan, keys: Iterable[KeyValue],
                  bound: Optional[Bound] = None) -> list[KeyValue]:
    """Those of ``keys`` that the original has and the ghost lacks, by key lookups (each table read through its session:
    under the cut-over's WRITE lock only the locker reads the original), as the original holds them. Each table's rows
    are matched to the keys asked for by the server (rows_at_keys), not by Python's equality ('a' finds 'A')."""
    original, ghost = for_arguments(quote_table(plan.database, plan.table)), for_arguments(quote_table(plan.database, plan.ghost))
    bounded = (lambda statement: statement) if bound is None else bound.sql
    found: list[KeyValue] = []
    for chunk in _chunks(sorted(set(keys), key=repr)):
        present = rows_at_keys(original_conn, original, plan.key, key_list(plan.key), chunk, bounded=bounded)
        copied = rows_at_keys(ghost_conn, ghost, plan.ghost_key, key_list(plan.ghost_key), chunk, bounded=bounded)
        found.extend(row for i, row in sorted(present.items()) if i not in copied)
    return found


def unique_values(plan: AlterPlan, image: dict[str, Any]) -> list[tuple[int, tuple]]:
    """The values of each new unique key (its index in ``plan.unique_keys``) in a row image of the original; none for a key
    with a NULL part (NULLs never collide)."""
    found = []
    for index, columns in enumerate(plan.unique_keys):
        values = tuple(image.get(column) for column, _prefix in columns)
        if all(value is not None for value in values):
            found.append((index, values))
    return found


def holders(conn: Any, plan: AlterPlan, values: dict[int, set], bound: Optional[Bound] = None) -> set[KeyValue]:
    """Keys of the original's rows holding one of ``values`` (per new unique key, tuples of its columns' values): the rows
    an applied row with those values may have evicted from the ghost. The original has no index on a new key: bounded."""
    original, key = for_arguments(quote_table(plan.database, plan.table)), key_list(plan.key)
    found: set[KeyValue] = set()
    for index, tuples in values.items():
        columns = plan.unique_keys[index]
        part = ", ".join(quote_ident(c) if p is None else "LEFT(%s, %d)" % (quote_ident(c), int(p)) for c, p in columns)
        one = "(%s)" % ", ".join("%s" if p is None else "LEFT(%%s, %d)" % int(p) for _c, p in columns)
        for chunk in _chunks(sorted(tuples, key=repr)):
            args = [value for row in chunk for value in row]
            found.update(tuple(row) for row in fetch_all(conn, _bounded(bound, "SELECT %s FROM %s WHERE (%s) IN (%s)" % (
                key, original, for_arguments(part), ", ".join([one] * len(chunk)))), args))
    return found


def restore(original_conn: Any, ghost_conn: Any, plan: AlterPlan, keys: Iterable[KeyValue],
            bound: Optional[Bound] = None) -> list[KeyValue]:
    """Put the rows of the original at ``keys`` back into the ghost; return the keys still missing (a ghost row holds their
    new unique key's values: the verification says whose).

    Each row is read with a shared lock and written in one transaction when one session reads both tables (before the
    lock: no write to the row commits in between, every later one is in the binlog after it and applied over it); under
    the cut-over's lock nothing writes the original. A key the ghost has meanwhile is the applier's row and is kept.
    """
    ordered = sorted(set(keys), key=repr)
    if not ordered:
        return []
    table = plan.moved_table()
    original, ghost = for_arguments(quote_table(plan.database, plan.table)), for_arguments(quote_table(plan.database, plan.ghost))
    ghost_key = for_arguments(quote_ident(plan.ghost_key[0]))
    insert = "INSERT INTO %s (%s) VALUES (%s) ON DUPLICATE KEY UPDATE %s = %s" % (
        ghost, for_arguments(table.target_column_list), placeholders(len(table.columns)), ghost_key, ghost_key)
    try:
        for chunk in _chunks(ordered):
            condition, args = keys_condition(plan.key, chunk)
            rows = fetch_all(original_conn, _bounded(bound, "SELECT %s FROM %s WHERE %s LOCK IN SHARE MODE" % (
                for_arguments(table.column_list), original, condition)), args)
            for row in rows:
                execute(ghost_conn, _bounded(bound, insert), list(row))
            ghost_conn.commit()  # before the lock, the reading session's too: its shared locks end here
    except BaseException:
        ghost_conn.rollback()
        raise
    # Whether a row went in is asked of the ghost, not of the affected-rows count (a kept row counts as one or none).
    return missing_among(original_conn, ghost_conn, plan, ordered, bound)
