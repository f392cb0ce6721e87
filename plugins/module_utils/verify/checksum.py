"""Verification: does every target table of a move hold exactly the source's rows?

Method ``checksum`` (docs/design.md, "Verification"):

1. Wait until the move has copied every table and its applier has applied
   the wanted source position (default: the source's position when
   verification starts). Only the target's ``_dbferry`` schema is read for
   this, and for the move's tables, their target names and key columns.
2. Per table (``parallel`` tables at once, each worker with sessions of its
   own), split the key space into ranges at every ``chunk_rows``-th source
   key: ``(-inf, k1], (k1, k2], ..., (kn, +inf)``. The ranges cover every
   possible key, so rows only on the target are found too, before the
   source's first key and beyond its last.
3. Per range, both servers compute ``COUNT(*)`` and the BIT_XOR of a 64-bit
   row digest, server-side: no row leaves either server for a range that
   matches. XOR is order-independent, so neither side sorts.
4. A range that differs is computed again, the target side only after the
   applier has applied the source's position as of the new source read: a
   difference left by writes still arriving goes away here. One that stays
   is narrowed to rows (key and digest from both sides) and, for rows on
   both sides, to the columns whose digests differ.

The row digest is exact, i.e. two rows get the same digest (barring a
SHA-256 collision) only when they hold the same stored values:

- every text or byte column is taken as its bytes (``CAST(... AS
  BINARY)``), so no collation makes ``'a'`` equal ``'A'`` or ``'a '``, and
  no character set conversion happens; numbers and times as they print
  (digits, signs, points, colons, spaces, exponents); TIMESTAMP is read in
  the sessions' ``+00:00``;
- each column's bytes are length-prefixed, a printed number or time is
  ended by a comma (which none holds), and NULL is a marker no value can
  produce, so NULL, ``''``, ``'NULL'`` and values that only concatenate
  alike all differ;
- FLOAT is read as a DOUBLE (``+ 0e0``): MariaDB prints a FLOAT with 6
  significant digits, so ``1.1`` and ``1.1000003``, different floats, would
  print alike; a DOUBLE prints as the shortest text that reads back as the
  same double, which is exact;
- ENUM and SET add their stored number (``+ 0``): the ENUM error value and
  a ``''`` member print alike;
- TEXT, BLOB, JSON and geometry columns are digested (SHA-256) before the
  concatenation, so a row's concatenation stays within max_allowed_packet
  (a longer one would be NULL, and go unnoticed).

Method ``inline`` (the move runs with ``verify.inline``; inline.py keeps the
dirty set): after the same wait, a table whose whole copy was hashed, in a
move whose applier marked every change, is compared only at the keys of its
dirty set, by key, with the same row digest (re-read once after the applier
caught up, then narrowed to columns), and so is a table a checksum pass
made while the source was writable vouches for (window.py). Any other
table is compared with ``checksum``, and its result says why. A write to the target behind the
move's back to a row that is not dirty is not found by ``inline``: only
``checksum`` reads every row.

Equal on purpose, because they are the same stored value: CHAR values
that differ only in trailing spaces (CHAR is padded: the server never
returns them); ``-0.0`` and ``0.0`` in FLOAT and DOUBLE columns (MariaDB
stores a negative zero as 0, whichever way it is written).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from ..cutover import auto_increment
from ..binlog import gtid
from ..cutover.auto_increment import Behind
from ..server.connection import ServerSpec, close_quietly, connect, fetch_all, fetch_value
from ..common.errors import DbferryError
from ..server.flavor import Flavor, detect_flavor, refuse_unsupported_source
from ..common.identifiers import for_arguments, quote_ident
from ..common.workers import WorkerPool
from ..engine import state
from ..engine.keys import (KeyRange, at_most_condition, compare_args, display_key, in_args, in_condition, key_for_output, key_list,
                           key_points, range_condition)
from ..engine.tables import MovedTable

METHODS = ("checksum", "inline")
#: What the modules, roles and command line verify with unless told otherwise: the read-only window then grows with the
#: rows changed recently, not with the tables' size (a table inline cannot vouch for is compared by checksum).
DEFAULT_METHOD = "inline"
DEFAULT_TIMEOUT = 300.0
DEFAULT_CHUNK_ROWS = 1000
DEFAULT_PARALLEL = 2
#: What a failed verification of a move tells the operator to do.
MOVE_ADVICE = ("The target is not a copy of the source: do not cut over. Find what wrote to the target (or to the source"
               " outside the binlog), then move the affected tables again.")
#: Differing rows reported per table; a table with more is marked truncated.
MAX_REPORTED_ROWS = 100
#: How often the move's applied position is read while waiting for it.
POLL_SECONDS = 0.2

MISSING = "missing"
EXTRA = "extra"
DIFFERS = "differs"

#: Columns whose values can exceed a row's 64 KiB: digested before concatenation.
LONG_TYPES = frozenset({
    "tinytext", "text", "mediumtext", "longtext", "tinyblob", "blob", "mediumblob", "longblob", "json",
    "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection",
})
FLOAT_TYPES = frozenset({"float", "double", "real"})
NUMBERED_TYPES = frozenset({"enum", "set"})
#: Columns whose values print (CAST AS CHAR) in digits, signs, points, colons, spaces and exponents only: numbers and
#: times, digested as printed, each ended by a comma (column_digest). Not BIT, which prints its bytes.
PRINTED_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric",
                           "date", "datetime", "timestamp", "time", "year"}) | FLOAT_TYPES
#: Numbers and times whose printed fraction grows with their scale or precision (column_digest's ``as_text``).
FRACTION_TYPES = frozenset({"decimal", "numeric", "datetime", "timestamp", "time"})
#: Columns that read as text in a character set (ENUM and SET by label).
TEXT_TYPES = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext"}) | NUMBERED_TYPES


@dataclass(frozen=True)
class Mismatch:
    """One row that is not the same on both sides."""

    key: Any
    kind: str
    columns: tuple[str, ...] = ()
    #: What else is known of it, e.g. the unique key a row missing from a ghost table collides on (osc/verify.py).
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        found = {"key": key_for_output(self.key), "kind": self.kind, "columns": list(self.columns)}
        if self.detail:
            found["detail"] = self.detail
        return found

    def describe(self, table: MovedTable) -> str:
        where = "%s %s" % (table.source, display_key(table.key, self.key))
        if self.kind == DIFFERS:
            return "%s differs in %s" % (where, ", ".join(self.columns))
        found = "%s is %s on the target" % (where, "missing" if self.kind == MISSING else "extra")
        return "%s: %s" % (found, self.detail) if self.detail else found


@dataclass
class TableResult:
    """What verification found in one table."""

    table: MovedTable
    rows: int = 0
    chunks: int = 0
    seconds: float = 0.0
    mismatches: list[Mismatch] = field(default_factory=list)
    #: More rows differ than are listed (MAX_REPORTED_ROWS).
    truncated: bool = False
    #: Set by method inline only: how this table was compared (inline or checksum) and, for checksum, why.
    method: Optional[str] = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        found = {"table": self.table.source, "target_table": self.table.target, "rows": self.rows, "chunks": self.chunks,
                 "seconds": round(self.seconds, 3), "mismatches": [m.as_dict() for m in self.mismatches], "truncated": self.truncated}
        if self.method is not None:
            found.update(method=self.method, note=self.note)
        return found


@dataclass
class VerifyReport:
    """The outcome of one verification."""

    position: str
    applied_position: str
    seconds: float
    tables: list[TableResult]
    method: str = "checksum"
    #: Tables whose next AUTO_INCREMENT value is lower on the target (auto_increment.py): not a differing row, the
    #: cutover raises them, but a target that took over as it is would hand out ids the source gave out already.
    auto_increment_behind: list[Behind] = field(default_factory=list)

    @property
    def mismatched(self) -> list[TableResult]:
        return [t for t in self.tables if t.mismatches or t.truncated]

    def as_dict(self) -> dict[str, Any]:
        found = {"position": self.position, "applied_position": self.applied_position, "seconds": round(self.seconds, 3),
                 "tables": [t.as_dict() for t in self.tables], "auto_increment_behind": [b.as_dict() for b in self.auto_increment_behind]}
        if self.method == "inline":
            found.update(method=self.method, rows_compared=sum(t.rows for t in self.tables))
        return found

    def failure_message(self, shown: int = 5, advice: str = MOVE_ADVICE) -> str:
        """One line naming the first few differing rows: table, key and columns; then ``advice``."""
        found = [m.describe(t.table) for t in self.mismatched for m in t.mismatches]
        more = " and more" if any(t.truncated for t in self.tables) else ""
        text = "verify found %d differing row(s)%s in %d table(s) (%s): %s%s." % (
            len(found), more, len(self.mismatched), ", ".join(t.table.source for t in self.mismatched),
            "; ".join(found[:shown]), "; ..." if len(found) > shown else "")
        return text + " " + advice


# -- pure logic ---------------------------------------------------------------


def chunk_ranges(next_boundary: Callable[[Optional[Any]], Optional[Any]]) -> Iterator[KeyRange]:
    """Cut the whole key space into ``(low, high]`` ranges.

    ``next_boundary(low)`` returns the ``chunk_rows``-th source key above
    ``low`` (None: below the first key), or None when fewer are left. The
    first range is open below and the last open above, so together they
    cover every key either server may hold, whatever the source holds.
    """
    low = None
    while True:
        high = next_boundary(low)
        yield low, high
        if high is None:
            return
        low = high


def column_digest(column: str, data_type: str, as_text: bool = False, hashed: Optional[bool] = None,
                  printed: Optional[bool] = None, as_datetime: bool = False) -> str:
    """An expression whose value tells apart every two stored values of the column (module docstring).

    ``as_text``: tell apart values as they read, not as they are stored, so that a value kept through a change of the
    column's type digests alike on both sides (an online schema change, osc/verify.py): character columns in utf8mb4,
    ENUM and SET by label, DECIMAL and times without their fraction's trailing zeros (when both sides are printed).
    ``hashed``: the value's SHA-256 rather than the value itself (length-prefixed); by default for the long types,
    whose values can exceed a row. ``printed``: a number or time as it prints, ended by a comma, rather than
    length-prefixed; by default for those types. Both sides of a comparison must choose alike: a type change may move a
    column between a short and a long type, or between a number and text, so the caller decides from both sides' types.
    ``as_datetime``: a DATE read as the DATETIME it becomes (midnight), for a DATE changed to DATETIME or TIMESTAMP.
    """
    data_type = data_type.lower()
    quoted = for_arguments(quote_ident(column))
    if as_datetime:
        text = "CAST(%s AS DATETIME)" % quoted
    elif data_type in FLOAT_TYPES:
        text = "%s + 0e0" % quoted
    elif as_text and data_type in FRACTION_TYPES and printed is not False:
        # the fraction's trailing zeros (and then the point) dropped, as a number or time on both sides reads: 12.50 in
        # DECIMAL(10,2) reads as 12.5000 in DECIMAL(12,4), 13:14:15 in DATETIME as 13:14:15.000000 in DATETIME(6)
        text = "IF(LOCATE('.', %s) > 0, TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM %s)), CAST(%s AS CHAR))" % (quoted, quoted, quoted)
    elif as_text and data_type in TEXT_TYPES:
        text = "CONVERT(%s USING utf8mb4)" % quoted
    elif data_type in NUMBERED_TYPES:
        text = "CONCAT(%s + 0, '=', %s)" % (quoted, quoted)
    else:
        text = quoted
    long_value = data_type in LONG_TYPES if hashed is None else hashed
    if not long_value and (data_type in PRINTED_TYPES if printed is None else printed):
        # Printed in digits, signs, points, colons, spaces and exponents only: a comma ends the value, as no such text
        # holds one (cheaper than a length prefix, which would print the value twice).
        return "IFNULL(CONCAT(%s, ','), 'N')" % text
    value = "CAST(%s AS BINARY)" % text
    if long_value:
        return "IFNULL(CONCAT('H', SHA2(%s, 256)), 'N')" % value
    # LENGTH counts bytes, so the text's length is its bytes' length: the value is cast once, not twice.
    return "IFNULL(CONCAT(LENGTH(%s), ':', %s), 'N')" % (text, value)


def row_digest(columns: list[tuple[str, str]]) -> str:
    """SHA-256 of a row: its columns' digests (column_digest's defaults), concatenated (each is self-delimiting)."""
    return digest_of(column_digest(name, data_type) for name, data_type in columns)


def digest_of(column_digests: Iterable[str]) -> str:
    """SHA-256 of a row from its columns' digests, concatenated (each is self-delimiting).

    Why not MD5: MariaDB 10.11's SHA2(..., 256) costs about two thirds of its MD5 a row (1M rows of the osc bench's
    table: 1.6-1.8 s of server CPU against 2.1-2.8 s), and it is the stronger hash."""
    return "SHA2(CONCAT(%s), 256)" % ", ".join(column_digests)


def row_differences(source: list[tuple[Any, str]], target: list[tuple[Any, str]]) -> list[tuple[Any, str]]:
    """Compare (key, digest) rows of the same keys or key range, each side in the server's key order; return (key, kind)
    in key order.

    Nothing is compared or sorted in Python (keys.py): the two orders are
    interleaved at the keys both sides hold, so a row only on the target
    comes where its server put it. Keys are matched by Python's equality of
    the values each server returned, which is stricter than a collation's:
    a key stored as 'A' on one side and 'a' on the other is a difference
    (missing and extra), as it should be.
    """
    ours, theirs = dict(source), dict(target)
    found: list[tuple[Any, str]] = []
    taken = 0

    def source_through(last: Any) -> None:
        """The source's rows not yet looked at, up to and including key ``last`` (None: all)."""
        nonlocal taken
        while taken < len(source):
            key, digest = source[taken]
            taken += 1
            if key not in theirs:
                found.append((key, MISSING))
            elif digest != theirs[key]:
                found.append((key, DIFFERS))
            if key == last:
                return

    for key, _digest in target:
        if key in ours:
            source_through(key)
        else:
            found.append((key, EXTRA))
    source_through(None)
    return found


def pick_tables(tables: list[MovedTable], wanted: Optional[list[str]], move: str) -> list[MovedTable]:
    """The move's tables, restricted to ``wanted`` source ``db.table`` names; an unknown name is an error."""
    if not wanted:
        return tables
    known = {t.source: t for t in tables}
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise DbferryError("table(s) %s are not part of move %s." % (", ".join(unknown), move), obj=", ".join(unknown),
                           fix="name source tables as db.table, out of: %s." % ", ".join(sorted(known)))
    return [t for t in tables if t.source in set(wanted)]


def check_options(method: str, timeout: float, chunk_rows: int, parallel: int) -> None:
    if method not in METHODS:
        raise DbferryError("unknown verification method %r." % method, obj="method", fix="use method: checksum or inline.")
    for option, value, least in (("timeout", timeout, 0), ("chunk_rows", chunk_rows, 1), ("parallel", parallel, 1)):
        if value < least:
            raise DbferryError("%s must be at least %s, got %s." % (option, least, value), obj=option, fix="set %s to %s or more." % (option, least))


# -- statements shared with the inline hashing of the copier and the re-verifier (inline.py) ----


def table_columns(conn: Any, schema: str, table: str) -> list[tuple[str, str]]:
    """(name, data type) of every column, generated and invisible ones too, in table order."""
    return fetch_all(conn, "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                           "ORDER BY ORDINAL_POSITION", (schema, table))


def range_aggregate(conn: Any, table_sql: str, digest: str, condition: str, args: list[Any], lock: str = "") -> tuple[int, int]:
    """(rows, BIT_XOR of the first 64 bits of each row's digest) of one key range; ``lock``: a locking clause or nothing."""
    count, xor = fetch_all(conn, "SELECT COUNT(*), BIT_XOR(CAST(CONV(LEFT(%s, 16), 16, 10) AS UNSIGNED)) FROM %s WHERE %s%s" % (
        digest, table_sql, condition, " " + lock if lock else ""), args)[0]
    return int(count), int(xor)


def keyed_rows(rows: Iterable[tuple], width: int) -> list[tuple]:
    """Rows whose first ``width`` values are a key, as (key values, the rest...)."""
    return [(tuple(row[:width]),) + tuple(row[width:]) for row in rows]


def key_digests(conn: Any, table_sql: str, key: Sequence[str], digest: str, condition: str, args: list[Any], lock: str = "",
                limit: Optional[int] = None) -> list[tuple[Any, str]]:
    """(key values, row digest) of the rows that meet ``condition``, in key order; the first ``limit`` of them if given."""
    key_sql = key_list(key)
    return keyed_rows(fetch_all(conn, "SELECT %s, %s FROM %s WHERE %s ORDER BY %s%s%s" % (
        key_sql, digest, table_sql, condition, key_sql, "" if limit is None else " LIMIT %d" % limit, " " + lock if lock else ""),
        args), len(key))


def keys_condition(key: Sequence[str], keys: list[Any]) -> tuple[str, list[Any]]:
    """WHERE condition and arguments for a list of key values (at least one)."""
    return in_condition(key, len(keys)), in_args(keys)


def rows_at_keys(conn: Any, table_sql: str, key: Sequence[str], select: str, keys: Sequence[Any], lock: str = "",
                 bounded: Callable[[str], str] = lambda statement: statement, select_args: Sequence[Any] = ()) -> dict[int, tuple]:
    """Position in ``keys`` -> the values of ``select`` in the row at that key, for the rows the table has.

    The server tags each row with the first of ``keys`` it is at (a CASE
    over the same comparisons as the WHERE): a text key asked as 'a' finds
    the row 'A' in a case-insensitive collation, which Python could not
    match back to it (keys.py). A row that two keys both find counts for
    the first. ``lock``: a locking clause or nothing; ``bounded`` wraps the
    statement (an online change's time limit under its cut-over lock);
    ``select_args``: the arguments of ``select``'s placeholders.
    """
    if not keys:
        return {}
    point = key_points(key, [("%s",) * len(key)], with_arguments=True)
    tag = "CASE %s END" % " ".join("WHEN %s THEN %d" % (point, i) for i in range(len(keys)))
    condition, args = keys_condition(key, list(keys))
    return {int(row[0]): tuple(row[1:]) for row in fetch_all(conn, bounded("SELECT %s, %s FROM %s WHERE %s%s" % (
        tag, select, table_sql, condition, " " + lock if lock else "")), in_args(keys) + list(select_args) + args)}


# -- the move as the target records it -------------------------------------------


def inline_coverage(target: Any, move: str, tables: list[MovedTable]) -> dict[str, Optional[str]]:
    """Per table (source name), why method inline cannot vouch for it, or None when it can (module docstring)."""
    return coverage_of(state.inline_state(target, move), tables)


def coverage_of(recorded: Optional[state.InlineState], tables: list[MovedTable]) -> dict[str, Optional[str]]:
    """inline_coverage from what the target records: a table is vouched for when tracking goes on up to now and either
    its whole copy was hashed or a checksum pass that began after tracking began found it equal (window.py)."""
    if recorded is None:
        return {t.source: "the move does not run with verify.inline" for t in tables}
    if not recorded.current:
        return {t.source: "binlog events were applied while verify.inline was off" for t in tables}

    def why(table: MovedTable) -> Optional[str]:
        name = (table.schema, table.name)
        checked = recorded.checked_from.get(name)
        if name in recorded.covered or (checked is not None and gtid.reached(checked, recorded.tracked_since)):
            return None
        return "part of its copy was not hashed, or binlog events were applied while verify.inline was off, and no checksum pass " \
               "vouched for it since"

    return {t.source: why(t) for t in tables}


def _progress(target: Any, move: str, tables: list[MovedTable]) -> tuple[str, list[str]]:
    """(applied position, what keeps the target from the source's rows at it: tables of ``tables`` still being copied,
    and cascaded child rows the applier still has to re-copy)."""
    recorded = state.load(target, move)
    if recorded is None:
        raise DbferryError("move %s is no longer recorded on the target." % move, obj=move, fix="it was removed while verifying; nothing to verify.")
    copying = {name for name, cursor in recorded.cursors.items() if not cursor.done}
    still = [t.source for t in tables if (t.schema, t.name) in copying]
    if recorded.pending_recopies:  # rows the applier still has to re-copy: not the source's yet, whatever the position says
        still.append("%d cascaded child row(s) to re-copy" % recorded.pending_recopies)
    return recorded.applied_position, still


def wait_applied(target: Any, move: str, tables: list[MovedTable], wanted: str, timeout: float) -> str:
    """Wait until ``tables`` are copied and the move has applied ``wanted``; return the applied position."""
    deadline = time.monotonic() + timeout
    while True:
        applied, copying = _progress(target, move, tables)
        if not copying and gtid.reached(applied, wanted):
            return applied
        if time.monotonic() >= deadline:
            still = "; still to copy: %s" % ", ".join(copying) if copying else ""
            raise DbferryError(
                "move %s has not reached position %s within %g s: it has applied %s%s. The move keeps running." % (
                    move, wanted, timeout, applied or "nothing yet", still),
                obj=move, fix="verify again later or with a longer timeout; if its applied position does not advance, check the move's status.")
        time.sleep(POLL_SECONDS)


# -- comparison ----------------------------------------------------------------------


def _up_to(table: MovedTable, condition: str, args: list[Any], last: Any) -> tuple[str, list[Any]]:
    """``condition`` narrowed to keys up to ``last``."""
    return "%s AND %s" % (condition, at_most_condition(table.key)), args + compare_args(last)


class _Worker:
    """Verifies tables one after the other, with a source and a target session of its own."""

    def __init__(self, source: ServerSpec, target: ServerSpec, move: Optional[str], position_sql: str, chunk_rows: int, timeout: float,
                 watch: Optional[Callable[[MovedTable], None]] = None) -> None:
        self.move = move
        #: Called with the table before each range or batch of keys: raises to stop (the read-only budget, budget.py).
        self.watch = watch or (lambda _table: None)
        self.position_sql = position_sql
        self.chunk_rows = chunk_rows
        self.timeout = timeout
        self.source = connect(source)
        try:
            self.target = connect(target)
        except BaseException:
            close_quietly(self.source)
            raise

    def close(self) -> None:
        close_quietly(self.source, self.target)

    def verify(self, table: MovedTable) -> TableResult:
        started = time.monotonic()
        result = TableResult(table)
        columns = self._columns(table)
        digest = row_digest(columns)

        def next_boundary(low: Optional[Any]) -> Optional[Any]:
            condition, args = range_condition(table.key, (low, None))
            rows = fetch_all(self.source, "SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d" % (
                table.key_sql, table.source_sql, condition, table.key_sql, self.chunk_rows - 1), args)
            return tuple(rows[0]) if rows else None

        for key_range in chunk_ranges(next_boundary):
            self.watch(table)
            condition, args = range_condition(table.key, key_range)
            ours = self._aggregate(self.source, table.source_sql, digest, condition, args)
            theirs = self._aggregate(self.target, table.target_sql, digest, condition, args)
            result.rows += ours[0]
            result.chunks += 1
            if ours == theirs:
                continue
            # Again, the target only once it has what the source had: writes still arriving pass.
            ours = self._aggregate(self.source, table.source_sql, digest, condition, args)
            self._catch_up(table)
            if ours != self._aggregate(self.target, table.target_sql, digest, condition, args):
                self._narrow(table, columns, digest, condition, args, result)
        result.seconds = time.monotonic() - started
        return result

    @staticmethod
    def _aggregate(conn: Any, table_sql: str, digest: str, condition: str, args: list[Any]) -> tuple[int, int]:
        return range_aggregate(conn, table_sql, digest, condition, args)

    def _catch_up(self, table: MovedTable) -> None:
        """Wait until the move applied the source's position of now; without a move (servers.py) both servers stand still."""
        if self.move is None:
            return
        wait_applied(self.target, self.move, [table], fetch_value(self.source, self.position_sql) or "", self.timeout)

    def _columns(self, table: MovedTable) -> list[tuple[str, str]]:
        """(name, data type) of every column, generated and invisible ones too, in source order; both sides must have the same."""
        ours = table_columns(self.source, table.schema, table.name)
        theirs = {name for name, _type in table_columns(self.target, table.target_schema, table.target_name)}
        if not ours or not theirs:
            side, name = ("source", table.source) if not ours else ("target", table.target)
            if self.move is None:
                raise DbferryError("table %s is missing on the %s." % (name, side), obj=name,
                                   fix="check the databases and rename options: both servers must have every compared table.")
            raise DbferryError("table %s of move %s is missing on the %s." % (name, self.move, side), obj=name,
                               fix="check that the move is still running against these servers.")
        names = {name for name, _type in ours}
        if names != theirs:
            raise DbferryError(
                "%s and %s have different columns (only on the source: %s; only on the target: %s), so rows cannot be compared." % (
                    table.source, table.target, ", ".join(sorted(names - theirs)) or "-", ", ".join(sorted(theirs - names)) or "-"),
                obj=table.source, fix="the table was altered on one side: move it again.")
        return ours

    def _narrow(self, table: MovedTable, columns: list[tuple[str, str]], digest: str, condition: str, args: list[Any],
                result: TableResult) -> None:
        """Find the differing rows of a range (in key order) and, for rows on both sides, their differing columns."""
        room = MAX_REPORTED_ROWS - len(result.mismatches)
        if room <= 0:
            result.truncated = True
            return
        limit = self.chunk_rows + room + 1
        ours = key_digests(self.source, table.source_sql, table.key, digest, condition, args, limit=limit)
        if len(ours) == limit:  # cut: ours is exactly the rows up to its last key, and so is the range from here on
            condition, args = _up_to(table, condition, args, ours[-1][0])
        self._catch_up(table)
        theirs = key_digests(self.target, table.target_sql, table.key, digest, condition, args, limit=limit)
        if len(theirs) == limit:  # cut: the source's rows again, up to the target's last key (the server compares)
            condition, args = _up_to(table, condition, args, theirs[-1][0])
            ours = key_digests(self.source, table.source_sql, table.key, digest, condition, args)
        found = row_differences(ours, theirs)
        result.truncated = result.truncated or len(found) > room
        found = found[:room]
        differing = self._differing_columns(table, columns, [k for k, kind in found if kind == DIFFERS])
        for row_key, kind in found:
            if kind != DIFFERS:
                result.mismatches.append(Mismatch(row_key, kind))
            elif differing.get(row_key):  # a row that changed back in between is not reported
                result.mismatches.append(Mismatch(row_key, kind, differing[row_key]))

    def verify_dirty(self, table: MovedTable) -> TableResult:
        """Method inline for a covered table: compare the rows at the keys of its dirty set, ``chunk_rows`` keys at a time."""
        started = time.monotonic()
        result = TableResult(table, method="inline")
        columns = self._columns(table)
        digest = row_digest(columns)
        after: Optional[state.DirtyRow] = None
        while True:
            self.watch(table)
            dirty = state.dirty_table_keys(self.target, self.move, table.schema, table.name, after, self.chunk_rows)
            if not dirty:
                break
            after = dirty[-1]
            result.rows += len(dirty)
            result.chunks += 1
            condition, args = keys_condition(table.key, [row.key for row in dirty])
            ours = key_digests(self.source, table.source_sql, table.key, digest, condition, args)
            if ours == key_digests(self.target, table.target_sql, table.key, digest, condition, args):
                continue
            # Again, the target only once it has what the source had: writes still arriving pass.
            ours = key_digests(self.source, table.source_sql, table.key, digest, condition, args)
            self._catch_up(table)
            found = row_differences(ours, key_digests(self.target, table.target_sql, table.key, digest, condition, args))
            room = MAX_REPORTED_ROWS - len(result.mismatches)
            result.truncated = result.truncated or len(found) > room
            found = found[:max(room, 0)]
            differing = self._differing_columns(table, columns, [k for k, kind in found if kind == DIFFERS])
            for row_key, kind in found:
                if kind != DIFFERS:
                    result.mismatches.append(Mismatch(row_key, kind))
                elif differing.get(row_key):
                    result.mismatches.append(Mismatch(row_key, kind, differing[row_key]))
        result.seconds = time.monotonic() - started
        return result

    def _differing_columns(self, table: MovedTable, columns: list[tuple[str, str]], keys: list[Any]) -> dict[Any, tuple[str, ...]]:
        if not keys:
            return {}
        digests = ", ".join("MD5(%s)" % column_digest(name, data_type) for name, data_type in columns)
        select = "SELECT %s, %s FROM %s WHERE %s"
        condition, args = keys_condition(table.key, keys)
        width = len(table.key)
        ours = {row[0]: row[1:] for row in keyed_rows(fetch_all(self.source, select % (table.key_sql, digests, table.source_sql, condition), args), width)}
        theirs = {row[0]: row[1:] for row in keyed_rows(fetch_all(self.target, select % (table.key_sql, digests, table.target_sql, condition), args), width)}
        return {k: tuple(name for (name, _type), a, b in zip(columns, ours[k], theirs[k]) if a != b) for k in keys if k in ours and k in theirs}


@contextlib.contextmanager
def sessions(source: ServerSpec, target: ServerSpec, what: str) -> Iterator[tuple[Any, Any, Flavor]]:
    """A session on each server and the source's flavor, refused when ``what`` (a verification) does not support it; both
    sessions closed when the block ends."""
    source_conn = connect(source)
    target_conn = None
    try:
        target_conn = connect(target)
        flavor = detect_flavor(source_conn)
        refuse_unsupported_source(flavor, what)
        yield source_conn, target_conn, flavor
    finally:
        close_quietly(source_conn, target_conn)


def verify(source: ServerSpec, target: ServerSpec, move: str, *, method: str = "checksum", position: Optional[str] = None,
           timeout: float = DEFAULT_TIMEOUT, chunk_rows: int = DEFAULT_CHUNK_ROWS, parallel: int = DEFAULT_PARALLEL,
           tables: Optional[list[str]] = None, watch: Optional[Callable[[MovedTable], None]] = None) -> VerifyReport:
    """Verify move ``move`` (see the module docstring); mismatches are in the report, not raised. ``watch`` is called with
    each table before each of its ranges or batches of keys, and may raise to stop the verification."""
    check_options(method, timeout, chunk_rows, parallel)
    started = time.monotonic()
    with sessions(source, target, "verifies moves") as (source_conn, target_conn, flavor):
        if position is None:
            position = fetch_value(source_conn, flavor.gtid_position_sql) or ""
        gtid.parse(position)  # a bad position fails here, not after the wait
        chosen = pick_tables(state.read_move_tables(target_conn, move), tables, move)
        applied = wait_applied(target_conn, move, chosen, position, timeout)
        counters = auto_increment.behind(source_conn, target_conn, [(t.schema, t.name, t.target_schema, t.target_name) for t in chosen])
        coverage = inline_coverage(target_conn, move, chosen) if method == "inline" else None
    results = verify_tables(source, target, move, flavor.gtid_position_sql, chosen, chunk_rows, parallel, timeout, coverage, watch)
    return VerifyReport(position, applied, time.monotonic() - started, results, method, counters)


def verify_tables(source: ServerSpec, target: ServerSpec, move: Optional[str], position_sql: str, tables: list[MovedTable],
                  chunk_rows: int, parallel: int, timeout: float, coverage: Optional[dict[str, Optional[str]]] = None,
                  watch: Optional[Callable[[MovedTable], None]] = None) -> list[TableResult]:
    """Verify ``tables`` in ``parallel`` threads; the first error stops the others and is raised.

    ``move`` None compares two servers that stand still (servers.py): a differing range is not compared again.

    ``coverage`` (method inline, see inline_coverage): covered tables are compared at their dirty keys, the others by checksum.
    """

    def one(worker: _Worker, table: MovedTable) -> TableResult:
        if coverage is None:
            return worker.verify(table)
        if coverage[table.source] is None:
            return worker.verify_dirty(table)
        found = worker.verify(table)
        found.method, found.note = "checksum", "compared by checksum: %s" % coverage[table.source]
        return found

    results: dict[str, TableResult] = {}

    def work(pending: Iterator[MovedTable]) -> None:
        worker = _Worker(source, target, move, position_sql, chunk_rows, timeout, watch)
        try:
            for table in pending:
                results[table.source] = one(worker, table)
        finally:
            worker.close()

    WorkerPool("verify", min(parallel, len(tables)), tables, work).start().join()
    return [results[t.source] for t in tables]
