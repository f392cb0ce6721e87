"""Verification of an online schema change: does the ghost table hold the original's rows, through the column mapping?

The move's checksum (verify/checksum.py) compares a table with its copy on
another server; here both tables are on one server and their schemas differ,
so the same ranges, aggregates and row digests are used with two changes:

- each side digests its own columns (the mapped ones, in the original's
  order, under each side's name), so a renamed column is compared with its
  new name and dropped or added columns are left out;
- a column whose type the change altered (COLUMN_TYPE or character set)
  is compared as it reads, not as it is stored (``column_digest(...,
  as_text=True)``): a value kept through the type change (INT to BIGINT, a
  wider DECIMAL or VARCHAR, utf8mb3 or latin1 text to utf8mb4, an ENUM with
  members appended, a DATE made a DATETIME or TIMESTAMP) digests alike,
  because text is compared in utf8mb4, ENUM and SET by label and a day as
  its midnight; a value the change altered differs. Every other
  column is compared by its stored bytes, as a move compares it: the text
  form costs about three times as much (1M rows: 14-27 s against 5-9 s a
  side, measured with osc's bench table), and a column of one definition on
  both sides stores a value kept alike.

A row in the original but not in the ghost is looked up in the ghost by
each unique key of the new schema: the copy keeps a ghost row that a copied
row collides with (osc/runner.py's INSERT ... ON DUPLICATE KEY UPDATE), so
a row that violates a new UNIQUE key is missing here, and the mismatch
names the key, its values and the ghost row in the way.

The key has any number of columns of any type the copy takes (plan.py,
engine/keys.py): ranges and lists of keys are the server's conditions over
the values it returned, and rows read back are matched to the keys asked
for by the server (checksum.rows_at_keys: a CASE over the same conditions tags each
row with the first key it is at), never by Python's equality, which a
case-insensitive or PAD SPACE collation does not share ('a' finds 'A').

compare_ranges reads while the table is written. A differing range is read
again after ``catch_up`` (the caller's: the applier has applied the
server's position), yet a row written all the time may still differ: the
caller compares the keys found with compare_keys under the cut-over lock,
where nothing moves, and only that result is final.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Callable, Iterable, Optional

from ..common.errors import DbferryError
from ..common.identifiers import display_table, for_arguments, quote_ident, quote_table
from ..engine.keys import KeyValue, in_args, key_list
from ..server.connection import fetch_all
from ..verify.checksum import (
    DEFAULT_CHUNK_ROWS,
    DIFFERS,
    EXTRA,
    LONG_TYPES,
    MAX_REPORTED_ROWS,
    MISSING,
    PRINTED_TYPES,
    KeyRange,
    Mismatch,
    chunk_ranges,
    column_digest,
    digest_of,
    key_digests,
    keys_condition,
    range_aggregate,
    range_condition,
    row_differences,
    rows_at_keys,
)
from .plan import AlterPlan, Column, read_columns, unique_keys


def _shown(value: Any) -> str:
    """A key value as a message shows it: text quoted, bytes in hex, numbers as they print."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str):
        return "'%s'" % value.replace("'", "''")
    return str(value)


def shown_key(columns: tuple[str, ...], value: KeyValue) -> str:
    """``id=5``, or ``(tenant, code)=(1, 'a')`` for a key of several columns, for messages."""
    if len(columns) == 1:
        return "%s=%s" % (columns[0], _shown(value[0]))
    return "(%s)=(%s)" % (", ".join(columns), ", ".join(_shown(v) for v in value))


class _Side:
    """One of the two tables: the session that reads it, its quoted name, key and mapped columns (name, digest expression),
    in the original's column order."""

    def __init__(self, conn: Any, database: str, table: str, key: tuple[str, ...], columns: list[tuple[str, str]]) -> None:
        self.conn = conn
        self.name = display_table(database, table)
        self.table_sql = for_arguments(quote_table(database, table))
        self.key = key
        self.key_sql = key_list(key)
        self.columns = columns
        self.digest = digest_of(digest for _name, digest in columns)

    def range_condition(self, key_range: KeyRange) -> tuple[str, list[Any]]:
        return range_condition(self.key, key_range)

    def keys_condition(self, keys: list[KeyValue]) -> tuple[str, list[Any]]:
        return keys_condition(self.key, keys)

    def aggregate(self, condition: str, args: list[Any]) -> tuple[int, int]:
        return range_aggregate(self.conn, self.table_sql, self.digest, condition, args)

    def key_digests(self, condition: str, args: list[Any]) -> list[tuple[Any, str]]:
        return key_digests(self.conn, self.table_sql, self.key, self.digest, condition, args)

    def column_digests(self, keys: list[KeyValue]) -> dict[int, tuple[str, ...]]:
        """Position in ``keys`` -> each mapped column's digest of the row at that key (rows_at_keys)."""
        return rows_at_keys(self.conn, self.table_sql, self.key, ", ".join("MD5(%s)" % digest for _name, digest in self.columns), keys)


class _Comparison:
    """The original and the ghost of one change, each read through its session (one session may read both)."""

    def __init__(self, conn: Any, plan: AlterPlan, ghost_conn: Optional[Any] = None) -> None:
        self.plan = plan
        self._ghost_unique_keys: Optional[dict[str, list[tuple[str, Optional[int]]]]] = None
        old_columns = {column.name: column for column in read_columns(conn, plan.database, plan.table)}
        ghost_columns = {column.name: column for column in read_columns(conn, plan.database, plan.ghost)}
        if not old_columns or not ghost_columns:
            missing = display_table(plan.database, plan.table if not old_columns else plan.ghost)
            raise DbferryError("table %s is missing, so the change cannot be verified." % missing, obj=missing,
                               fix="it was dropped behind the change's back: remove the change (state: absent) and start it again.")
        mapped = [name for name in plan.old_columns if name in plan.mapping]
        lost = [name for name in mapped if name not in old_columns or plan.mapping[name] not in ghost_columns]
        if lost:
            raise DbferryError("column(s) %s of %s are no longer in both tables of the change, so it cannot be verified." % (
                ", ".join(lost), display_table(plan.database, plan.table)), obj=display_table(plan.database, plan.table),
                fix="the table or its ghost was altered behind the change's back: remove the change (state: absent) and start it again.")
        pairs = [(old_columns[name], ghost_columns[plan.mapping[name]]) for name in mapped]
        self.old = _Side(conn, plan.database, plan.table, plan.key, [(old.name, pair_digest(old, old, ghost)) for old, ghost in pairs])
        self.ghost = _Side(conn if ghost_conn is None else ghost_conn, plan.database, plan.ghost, plan.ghost_key,
                           [(ghost.name, pair_digest(ghost, old, ghost)) for old, ghost in pairs])
        self.found: list[Mismatch] = []

    @property
    def full(self) -> bool:
        return len(self.found) >= MAX_REPORTED_ROWS

    def range_equal(self, key_range: KeyRange, alongside: Optional[ThreadPoolExecutor] = None) -> bool:
        """Whether the range's aggregates match; ``alongside``: a thread that reads the ghost's while this one reads the
        original's (each side then needs a session of its own)."""
        old_condition, args = self.old.range_condition(key_range)
        ghost_condition, _args = self.ghost.range_condition(key_range)
        if alongside is None:
            return self.old.aggregate(old_condition, args) == self.ghost.aggregate(ghost_condition, args)
        ghost = alongside.submit(self.ghost.aggregate, ghost_condition, args)
        try:
            old = self.old.aggregate(old_condition, args)
        except BaseException:
            wait([ghost])  # never left running on its session; ours is the error to tell
            raise
        return old == ghost.result()

    def next_boundary(self, chunk_rows: int) -> Callable[[Optional[KeyValue]], Optional[KeyValue]]:
        """The original's ``chunk_rows``-th key above ``low`` (chunk_ranges' argument)."""

        def boundary(low: Optional[KeyValue]) -> Optional[KeyValue]:
            condition, args = self.old.range_condition((low, None))
            rows = fetch_all(self.old.conn, "SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d" % (
                self.old.key_sql, self.old.table_sql, condition, self.old.key_sql, chunk_rows - 1), args)
            return tuple(rows[0]) if rows else None

        return boundary

    def narrow_range(self, key_range: KeyRange) -> None:
        old_condition, args = self.old.range_condition(key_range)
        ghost_condition, _args = self.ghost.range_condition(key_range)
        self._narrow(old_condition, ghost_condition, args)

    def narrow_keys(self, keys: list[KeyValue]) -> None:
        old_condition, args = self.old.keys_condition(keys)
        ghost_condition, _args = self.ghost.keys_condition(keys)
        self._narrow(old_condition, ghost_condition, args)

    def _narrow(self, old_condition: str, ghost_condition: str, args: list[Any]) -> None:
        """The differing rows of the rows that meet the conditions, in key order, each with its columns or its collision."""
        found = row_differences(self.old.key_digests(old_condition, args), self.ghost.key_digests(ghost_condition, args))
        found = found[:MAX_REPORTED_ROWS - len(self.found)]
        differing = [key for key, kind in found if kind == DIFFERS]
        old_digests, ghost_digests = self.old.column_digests(differing), self.ghost.column_digests(differing)
        at = {key: i for i, key in enumerate(differing)}  # the same values both sides returned (row_differences)
        for key, kind in found:
            if kind == DIFFERS:
                i = at[key]
                if i not in old_digests or i not in ghost_digests:
                    continue  # written in between: deleted on one side since (under the cut-over lock this cannot happen)
                columns = tuple(name for (name, _type), a, b in zip(self.old.columns, old_digests[i], ghost_digests[i]) if a != b)
                if columns:  # else a row that changed back in between
                    self.found.append(Mismatch(key, kind, columns))
            elif kind == MISSING:
                self.found.append(self._collision(key) or Mismatch(key, kind))
            else:
                self.found.append(Mismatch(key, kind))

    def _unique_keys(self) -> dict[str, list[tuple[str, Optional[int]]]]:
        """The ghost's unique keys other than the primary key (plan.unique_keys), read once per comparison."""
        if self._ghost_unique_keys is None:
            self._ghost_unique_keys = unique_keys(self.ghost.conn, self.plan.database, self.plan.ghost)
        return self._ghost_unique_keys

    def _collision(self, key: KeyValue) -> Optional[Mismatch]:
        """A row missing from the ghost, with the unique key of the new schema and the ghost row it collides on; None if none."""
        by_ghost_name = {ghost: old for old, ghost in self.plan.mapping.items()}
        for index, columns in self._unique_keys().items():
            if any(column not in by_ghost_name for column, _prefix in columns) or [c for c, _p in columns] == list(self.ghost.key):
                continue  # a key on an added column (the ghost's value is its default, not the original's), or the change's own
            olds = [by_ghost_name[column] for column, _prefix in columns]
            selected = ", ".join(for_arguments(quote_ident(c)) for c in olds)
            row = rows_at_keys(self.old.conn, self.old.table_sql, self.old.key, selected, [key]).get(0)
            if row is None or any(value is None for value in row):
                continue  # gone since, or a NULL, which a unique key lets repeat
            values = list(row)
            tests = []
            for column, prefix in columns:
                quoted = for_arguments(quote_ident(column))
                tests.append("LEFT(%s, %d) = LEFT(%%s, %d)" % (quoted, prefix, prefix) if prefix else "%s = %%s" % quoted)
            other = fetch_all(self.ghost.conn, "SELECT %s FROM %s WHERE %s LIMIT 1" % (
                self.ghost.key_sql, self.ghost.table_sql, " AND ".join(tests)), values)
            if other:
                shown = ", ".join("%s=%s" % (column, _shown(value)) for (column, _prefix), value in zip(columns, values))
                detail = "it collides on unique key %s (%s) of the new schema with the ghost's row %s" % (
                    quote_ident(index), shown, shown_key(self.ghost.key, tuple(other[0])))
                return Mismatch(key, MISSING, tuple(column for column, _prefix in columns), detail)
        return None


def pair_digest(column: Column, old: Column, ghost: Column) -> str:
    """The digest of ``column``, one of the pair (``old``, ``ghost``) of a mapped column: both sides choose its form alike
    from both definitions (module docstring), so that equal values digest alike whatever the side."""
    retyped = (old.column_type.lower(), old.charset) != (ghost.column_type.lower(), ghost.charset)
    # A DATE made a DATETIME or TIMESTAMP keeps its day and gains a midnight: the original's side reads it so.
    widened_date = column is old and old.data_type.lower() == "date" and ghost.data_type.lower() in ("datetime", "timestamp")
    return column_digest(column.name, column.data_type, as_text=retyped, hashed=old.data_type in LONG_TYPES or ghost.data_type in LONG_TYPES,
                         printed=old.data_type in PRINTED_TYPES and ghost.data_type in PRINTED_TYPES, as_datetime=widened_date)


def compare_ranges(conn: Any, plan: AlterPlan, chunk_rows: int = DEFAULT_CHUNK_ROWS, stop: Optional[threading.Event] = None,
                   catch_up: Optional[Callable[[], None]] = None, ghost_conn: Optional[Any] = None) -> list[Mismatch]:
    """Compare the whole table with its ghost by key range (module docstring); at most MAX_REPORTED_ROWS mismatches.

    ``catch_up()``, when given, returns once the ghost has what the original
    had when it was called: a range that differs is compared again after it.
    ``stop`` set ends the pass with a DbferryError, never with a partial
    result that would read as "no difference". ``ghost_conn``, when given,
    reads the ghost's aggregate of each range while ``conn`` reads the
    original's: the server digests both at once, on two cores, which halves
    the pass where the digests are the work (they are: a range's aggregate
    reads rows the copy just wrote, so from memory).
    """
    if chunk_rows < 1:
        raise DbferryError("chunk_rows must be at least 1, got %s." % chunk_rows, obj="chunk_rows", fix="set it to 1 or more.")
    comparison = _Comparison(conn, plan, ghost_conn)
    with contextlib.ExitStack() as stack:
        alongside = None if ghost_conn is None else stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="verify-ghost"))
        for key_range in chunk_ranges(comparison.next_boundary(chunk_rows)):
            if stop is not None and stop.is_set():
                raise DbferryError("the verification of %s was stopped." % comparison.old.name, obj=comparison.old.name,
                                   fix="nothing to do: it runs again when the change is resumed.")
            if comparison.range_equal(key_range, alongside):
                continue
            if catch_up is not None:
                catch_up()
                if comparison.range_equal(key_range, alongside):
                    continue
            comparison.narrow_range(key_range)
            if comparison.full:
                break
    return comparison.found


def compare_keys(conn: Any, plan: AlterPlan, keys: Iterable[KeyValue], ghost_conn: Optional[Any] = None) -> list[Mismatch]:
    """Compare the rows at ``keys`` (each at most once; in the server's key order per DEFAULT_CHUNK_ROWS of them) with the
    ghost's; at most MAX_REPORTED_ROWS mismatches.

    ``ghost_conn``, when given, reads the ghost: under the cut-over's ``LOCK
    TABLES t WRITE, _<t>_del WRITE`` the locking session (``conn``, the only
    one that may read ``t`` then) may read no other table, while another
    session still reads the ghost until the sentry is dropped: the pending
    RENAME asks for the sentry's lock before the ghost's (``_del`` sorts
    before ``_gho``) and waits there, holding none on the ghost.
    """
    wanted = sorted(set(keys), key=repr)  # a stable order for the statements; the server orders the rows
    if not wanted:
        return []
    comparison = _Comparison(conn, plan, ghost_conn)
    for start in range(0, len(wanted), DEFAULT_CHUNK_ROWS):
        comparison.narrow_keys(wanted[start:start + DEFAULT_CHUNK_ROWS])
        if comparison.full:
            break
    return comparison.found


def not_written(conn: Any, plan: AlterPlan, found: list[Mismatch], touched: Iterable[KeyValue]) -> list[Mismatch]:
    """Those of ``found`` whose row is still where it was found (the original's, or the ghost's for an extra row) and at
    none of the ``touched`` keys (rows written, or missing, meanwhile): real differences. The server tells whether a row
    is at a touched key, in the key's collation ('a' written, 'A' found); a row gone since was written, and is kept out.
    """
    if not found:
        return []
    touched = sorted(set(touched), key=repr)
    real: set[Mismatch] = set()
    for extra in (False, True):
        mismatches = [m for m in found if (m.kind == EXTRA) == extra]
        if not mismatches:
            continue
        table, key = (plan.ghost, plan.ghost_key) if extra else (plan.table, plan.key)
        table_sql = for_arguments(quote_table(plan.database, table))
        keys = [m.key for m in mismatches]
        clean = set(rows_at_keys(conn, table_sql, key, "1", keys))  # still there
        for start in range(0, len(touched), DEFAULT_CHUNK_ROWS):
            chunk = touched[start:start + DEFAULT_CHUNK_ROWS]
            at = rows_at_keys(conn, table_sql, key, "(%s) IS TRUE" % keys_condition(key, chunk)[0], keys, select_args=in_args(chunk))
            clean &= {i for i, (written,) in at.items() if not written}
        real.update(mismatches[i] for i in clean)
    return [m for m in found if m in real]


def describe_mismatch(plan: AlterPlan, mismatch: Mismatch) -> str:
    """One mismatch in words: the table, the key, and the columns or the unique key in the way."""
    table, ghost = display_table(plan.database, plan.table), display_table(plan.database, plan.ghost)
    where = "%s %s" % (table, shown_key(plan.key, mismatch.key))
    if mismatch.kind == DIFFERS:
        renamed = ["%s (%s in the ghost)" % (c, plan.mapping[c]) if plan.mapping.get(c, c) != c else c for c in mismatch.columns]
        return "%s differs from %s in %s" % (where, ghost, ", ".join(renamed))
    if mismatch.kind == EXTRA:
        return "%s has a row %s that %s has not" % (ghost, shown_key(plan.ghost_key, mismatch.key), table)
    return "%s is missing from %s%s" % (where, ghost, ": " + mismatch.detail if mismatch.detail else "")


def failure_message(plan: AlterPlan, mismatches: list[Mismatch], shown: int = 5) -> str:
    """Why the cut-over does not happen: the first few mismatches; the original table is untouched."""
    text = "; ".join(describe_mismatch(plan, m) for m in mismatches[:shown])
    more = "; ..." if len(mismatches) > shown else ""
    return ("verify found %d differing row(s)%s: %s%s. The original %s is untouched and no names were swapped." % (
        len(mismatches), " or more" if len(mismatches) >= MAX_REPORTED_ROWS else "", text, more,
        display_table(plan.database, plan.table)))
