"""Checkpoints in the target, in the same transaction as the data they describe.

The ``_dbferry`` schema on the target holds, per move, the position the
binlog applier has applied up to and, per table, where it goes (target
name, key columns: what verification reads) and a copy cursor per range of
its key space (the last key copied, as keys.encode_key records it; a big
table is copied in ranges at once, key_ranges.py). Range ``n`` holds the
keys after range ``n - 1``'s end up to its own ``range_end`` (None: no
end), and its cursor starts at that start: the bounds are chosen once,
before the move is recorded, so that a restart copies the same ranges. The applier writes the position in the transaction
that applies the events; the copier writes a cursor in the transaction that
writes the batch. So after a crash, what the target holds and what the
checkpoints say agree, and a restart resumes from exactly there. The
applier also records there, with the position, the cascaded child keys it
still has to re-copy (``recopy_pending``, cascades.py): made on every start
and resume, so an earlier version's moves get it too.

With ``verify.inline`` three more tables (made only then) hold what inline
verification relies on, written in the same transactions as the rows they
describe: ``dirty`` (keys changed since they were last found equal),
``inline_tables`` (how far each table's copy was hashed, and whether from
its first batch on, or from which source position a checksum pass found it
equal) and ``inline_moves`` (from which applied position on, and up to which,
every applied change was recorded in ``dirty``). See inline.py. The inline
tables have no migration: a move started by an older version keeps its
``_dbferry`` until cleanup, and is verified by that version. Two exceptions, made by upgrade_schema: the
tables of a version before ranges get ``range_no`` (every row range 0, with
no end: the whole table); and
keys were DECIMAL(20,0) numbers before keys of any type (keys.py); a
cursor recorded so reads back as a one-column key (keys.decode_key), and
an old ``dirty`` table, which cannot hold other keys, is dropped and its
move's tables are no longer counted as covered (verified by checksum
instead: slower, never wrong).

This module owns the schema: its tables, and every statement that reads or
writes them (the engine's, verification's, the cutover's). The others call
these functions, so that the tables, their names and the locking of their
rows are declared once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ..binlog import gtid
from ..server.connection import execute, fetch_all, fetch_value
from ..common.errors import DbferryError
from ..common.identifiers import quote_ident
from .keys import KeyValue, decode_key, encode_key
from .tables import MovedTable
from .selection import STATE_SCHEMA

_S = quote_ident(STATE_SCHEMA)

#: The phase a move is in once cutover has completed it.
COMPLETE = "complete"

#: Keys are JSON text (keys.encode_key), key columns a JSON list of names. The schema is utf8mb4 with a binary collation, whatever
#: the target's default: every table name fits, and names that differ only by case or accent (``T`` and ``t``,
#: ``cafe`` and ``café``) are different keys.
_DDL = (
    "CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" % _S,
    "CREATE TABLE IF NOT EXISTS %s.moves (name VARCHAR(64) NOT NULL PRIMARY KEY, config_digest CHAR(64) NOT NULL, "
    "start_position TEXT NOT NULL, applied_position TEXT NOT NULL, phase VARCHAR(32) NOT NULL, "
    "created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), "
    "updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)) ENGINE=InnoDB" % _S,
    "CREATE TABLE IF NOT EXISTS %s.cursors (move VARCHAR(64) NOT NULL, source_schema VARCHAR(64) NOT NULL, "
    "source_table VARCHAR(64) NOT NULL, target_schema VARCHAR(64) NOT NULL, target_table VARCHAR(64) NOT NULL, "
    "key_column TEXT NOT NULL, last_key TEXT NULL, done BOOLEAN NOT NULL DEFAULT FALSE, "
    "rows_copied BIGINT NOT NULL DEFAULT 0, range_no INT NOT NULL DEFAULT 0, range_end TEXT NULL, "
    "PRIMARY KEY (move, source_schema, source_table, range_no)) ENGINE=InnoDB" % _S,
)

#: Child keys of cascades still to re-copy (cascades.Recopied), found by the MD5 of their recorded text like dirty keys.
_RECOPY_DDL = (
    "CREATE TABLE IF NOT EXISTS %s.recopy_pending (move VARCHAR(64) NOT NULL, source_schema VARCHAR(64) NOT NULL, "
    "source_table VARCHAR(64) NOT NULL, mark BINARY(16) NOT NULL, key_value TEXT NOT NULL, "
    "PRIMARY KEY (move, source_schema, source_table, mark)) ENGINE=InnoDB" % _S
)


#: ``seq`` counts the times a key was marked: the re-verifier removes a key only if it was not marked again meanwhile.
#: A dirty key is found by the MD5 of its recorded text (``mark``): a key may be longer than an index can hold.
_INLINE_DDL = (
    "CREATE TABLE IF NOT EXISTS %s.inline_moves (move VARCHAR(64) NOT NULL PRIMARY KEY, applied_position TEXT NOT NULL, "
    "tracked_since TEXT NOT NULL) ENGINE=InnoDB" % _S,
    "CREATE TABLE IF NOT EXISTS %s.inline_tables (move VARCHAR(64) NOT NULL, source_schema VARCHAR(64) NOT NULL, "
    "source_table VARCHAR(64) NOT NULL, hashed_to TEXT NULL, hashed_done BOOLEAN NOT NULL DEFAULT FALSE, "
    "covered BOOLEAN NOT NULL, checked_from TEXT NULL, range_no INT NOT NULL DEFAULT 0, "
    "PRIMARY KEY (move, source_schema, source_table, range_no)) ENGINE=InnoDB" % _S,
    "CREATE TABLE IF NOT EXISTS %s.dirty (move VARCHAR(64) NOT NULL, source_schema VARCHAR(64) NOT NULL, "
    "source_table VARCHAR(64) NOT NULL, mark BINARY(16) NOT NULL, key_value TEXT NOT NULL, seq BIGINT UNSIGNED NOT NULL DEFAULT 0, "
    "PRIMARY KEY (move, source_schema, source_table, mark)) ENGINE=InnoDB" % _S,
)
_INLINE_TABLES = ("dirty", "inline_tables", "inline_moves")

#: Keys marked dirty per statement.
MARK_ROWS = 1000

#: A key marked dirty: (source schema, source table, key).
DirtyKey = tuple[str, str, KeyValue]


@dataclass(frozen=True)
class DirtyRow:
    """A dirty key as recorded: its table, its value, its ``seq`` and its ``mark`` (where it is in the table)."""

    schema: str
    table: str
    key: KeyValue
    seq: int
    mark: bytes


@dataclass
class Cursor:
    """How far the copy of one range of a table got (or, in ``MoveState.cursors``, of the whole table)."""

    last_key: Optional[KeyValue]
    done: bool
    rows_copied: int
    range_no: int = 0
    #: The range's keys are after ``range_start`` (None: from the first) up to ``range_end`` (None: to the last).
    range_start: Optional[KeyValue] = None
    range_end: Optional[KeyValue] = None

    @property
    def begun(self) -> bool:
        """Whether any batch of the range was committed (its cursor left the range's start, or the range is done)."""
        return self.done or encode_key(self.last_key) != encode_key(self.range_start)


@dataclass
class MoveState:
    """A move as the target records it."""

    name: str
    config_digest: str
    start_position: str
    applied_position: str
    phase: str
    #: (source schema, source table) -> its ranges' cursors, in range order.
    ranges: dict[tuple[str, str], list[Cursor]]
    #: Cascaded child rows still to re-copy (save_pending): until there are none, the target is not the source's at
    #: its applied position.
    pending_recopies: int = 0

    @property
    def cursors(self) -> dict[tuple[str, str], Cursor]:
        """(source schema, source table) -> the whole table's copy: done when every range is, the rows of all; its
        ``last_key`` is the cursor of a table copied in one range (an online schema change's), None with several."""
        return {name: ranges[0] if len(ranges) == 1 else Cursor(None, all(r.done for r in ranges), sum(r.rows_copied for r in ranges))
                for name, ranges in self.ranges.items()}


def ensure_schema(conn: Any) -> None:
    for statement in _DDL:
        execute(conn, statement)
    upgrade_schema(conn)


def upgrade_schema(conn: Any) -> None:
    """Bring an earlier version's ``_dbferry`` tables to this version's layout (module docstring), so that its moves
    resume: numeric keys become text, and tables without ranges get ``range_no`` (each table one range, 0, the whole
    key space). Run on every resume; a no-op on tables already in this layout."""
    _widen_numeric_keys(conn, "cursors", "key_column TEXT NOT NULL, MODIFY last_key TEXT NULL", "last_key")
    _add_ranges(conn, "cursors", ", ADD COLUMN range_end TEXT NULL")
    _add_ranges(conn, "inline_tables", "")
    execute(conn, _RECOPY_DDL)


def _has_ranges(conn: Any, table: str) -> bool:
    """Whether ``table`` has this version's ``range_no`` column."""
    return bool(fetch_all(conn, "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                                "AND COLUMN_NAME = 'range_no'", (STATE_SCHEMA, table)))


def _add_ranges(conn: Any, table: str, more: str) -> None:
    """Give an earlier version's ``table`` (if there is one) a ``range_no`` column in its primary key: range 0."""
    if _has_table(conn, table) and not _has_ranges(conn, table):
        execute(conn, "ALTER TABLE %s.%s ADD COLUMN range_no INT NOT NULL DEFAULT 0%s, DROP PRIMARY KEY, "
                      "ADD PRIMARY KEY (move, source_schema, source_table, range_no)" % (_S, quote_ident(table), more))


def _is_numeric(conn: Any, table: str, column: str) -> bool:
    """Whether ``table``'s ``column`` holds keys as an earlier version did: DECIMAL(20,0) numbers (module docstring)."""
    return bool(fetch_all(conn, "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                                "AND COLUMN_NAME = %s AND DATA_TYPE = 'decimal'", (STATE_SCHEMA, table, column)))


def _widen_numeric_keys(conn: Any, table: str, columns: str, numeric: str) -> None:
    """Give an earlier version's ``table`` text keys (module docstring): its numbers read back as one-column keys."""
    if _is_numeric(conn, table, numeric):
        execute(conn, "ALTER TABLE %s.%s MODIFY %s" % (_S, quote_ident(table), columns))


def _has_table(conn: Any, table: str) -> bool:
    """Whether the state schema has ``table``: readers look before they read, since looking must not create it."""
    return bool(fetch_all(conn, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (STATE_SCHEMA, table)))


def load(conn: Any, name: str) -> Optional[MoveState]:
    """The recorded state of move ``name``, or None for a new move (also when the target has no state schema yet:
    looking must not create it, so that a move refused at start has written nothing to the target)."""
    if not _has_table(conn, "moves"):
        return None
    rows = fetch_all(conn, "SELECT config_digest, start_position, applied_position, phase FROM %s.moves WHERE name = %%s" % _S, (name,))
    if not rows:
        return None
    ranges: dict[tuple[str, str], list[Cursor]] = {}
    # An earlier version's cursors (not upgraded yet: reading must not write) are one range each.
    columns, order = ("range_no, range_end", ", range_no") if _has_ranges(conn, "cursors") else ("0, NULL", "")
    for schema, table, last, done, copied, number, end in fetch_all(
            conn, "SELECT source_schema, source_table, last_key, done, rows_copied, %s FROM %s.cursors "
                  "WHERE move = %%s ORDER BY source_schema, source_table%s" % (columns, _S, order), (name,)):
        before = ranges.setdefault((schema, table), [])
        start = before[-1].range_end if before else None  # a range starts where the one before it ends
        before.append(Cursor(decode_key(last), bool(done), int(copied), int(number), start, decode_key(end)))
    digest, start, applied, phase = rows[0]
    return MoveState(name, digest, start, applied, phase, ranges, pending_count(conn, name))


def read_move_tables(conn: Any, name: str) -> list[MovedTable]:
    """The move's tables as its cursors record them (names and key, no columns), in source name order; no move is an error."""
    if _has_table(conn, "moves") and fetch_all(conn, "SELECT 1 FROM %s.moves WHERE name = %%s" % _S, (name,)):
        return [MovedTable(schema, table, target_schema, target_table, (), _key_columns(key))
                for schema, table, target_schema, target_table, key in fetch_all(
            conn, "SELECT DISTINCT source_schema, source_table, target_schema, target_table, key_column FROM %s.cursors "
                  "WHERE move = %%s ORDER BY source_schema, source_table" % _S, (name,))]
    raise DbferryError("no move named %s is recorded on the target." % name, obj=name,
                       fix="check the name and the target server, and that the move was started (its agent records it in _dbferry).")


def _key_columns(recorded: str) -> tuple[str, ...]:
    """The key columns as ``cursors.key_column`` records them: a JSON list, or one bare name (an earlier version's)."""
    return tuple(json.loads(recorded)) if recorded.startswith("[") else (recorded,)


def create(conn: Any, name: str, digest: str, tables: list[MovedTable],
           bounds: Optional[dict[tuple[str, str], list[KeyValue]]] = None) -> None:
    """Record a new move (phase ``preparing``) and a cursor per range of each table (caller commits).

    ``bounds``: (source schema, source table) -> the keys between its ranges, in key order (key_ranges.py); a table
    not in it is one range. Range ``n`` ends at bound ``n`` (the last has no end), and its cursor starts at the end of
    range ``n - 1``: as if every key up to it were copied, which is range ``n - 1``'s work.
    """
    execute(conn, "INSERT INTO %s.moves (name, config_digest, start_position, applied_position, phase) VALUES (%%s, %%s, '', '', 'preparing')" % _S,
            (name, digest))
    for table in tables:
        _insert_cursors(conn, name, table, (bounds or {}).get((table.schema, table.name), []))


def _insert_cursors(conn: Any, name: str, table: MovedTable, bounds: list[KeyValue]) -> None:
    """A cursor per range of ``table`` (create's docstring)."""
    ends: list[Optional[KeyValue]] = list(bounds) + [None]
    for number, end in enumerate(ends):
        execute(conn, "INSERT INTO %s.cursors (move, source_schema, source_table, target_schema, target_table, key_column, "
                      "range_no, last_key, range_end) VALUES (%%s, %%s, %%s, %%s, %%s, %%s, %%s, %%s, %%s)" % _S,
                (name, table.schema, table.name, table.target_schema, table.target_name, json.dumps(list(table.key), ensure_ascii=False),
                 number, encode_key(ends[number - 1]) if number else None, encode_key(end)))


def recut_ranges(conn: Any, name: str, table: MovedTable, bounds: list[KeyValue]) -> None:
    """Record ``table``'s ranges (and key) anew, for a move still ``preparing`` (nothing copied): an online change learns
    the key its copy walks only once its ghost exists, after the change was recorded (caller commits)."""
    execute(conn, "DELETE FROM %s.cursors WHERE move = %%s AND source_schema = %%s AND source_table = %%s" % _S, (name, table.schema, table.name))
    _insert_cursors(conn, name, table, bounds)


def start(conn: Any, name: str, position: str) -> None:
    """Record the start position P0, read after the target tables exist (caller commits)."""
    execute(conn, "UPDATE %s.moves SET start_position = %%s, applied_position = %%s, phase = 'copying' WHERE name = %%s" % _S,
            (position, position, name))


def save_cursor(conn: Any, name: str, table: MovedTable, last_key: Optional[KeyValue], done: bool, rows: int,
                range_no: int = 0) -> None:
    """Advance the cursor of a table's range, inside the transaction that wrote the batch; refused once the move is complete.

    The move's row is read with a shared lock, so a cutover recording the move complete waits for this
    transaction, and this one sees a completion committed before it (see refuse_if_complete).
    """
    refuse_if_complete(conn, name)
    execute(conn, "UPDATE %s.cursors SET last_key = %%s, done = %%s, rows_copied = rows_copied + %%s "
                  "WHERE move = %%s AND source_schema = %%s AND source_table = %%s AND range_no = %%s" % _S,
            (encode_key(last_key), done, rows, name, table.schema, table.name, range_no))


def save_position(conn: Any, name: str, position: str) -> None:
    """Record the applied binlog position, inside the transaction that applied the events; refused once the move is complete."""
    if execute(conn, "UPDATE %s.moves SET applied_position = %%s WHERE name = %%s AND phase <> %%s" % _S, (position, name, COMPLETE)) == 0:
        refuse_if_complete(conn, name)  # 0 rows: complete, or the same position again (an unchanged row is not counted)


def refuse_if_complete(conn: Any, name: str) -> None:
    """Roll back the caller's transaction and raise when the move is complete: a cut-over target is the application's now.

    A locking read: it sees the latest committed phase, not the transaction's snapshot, and a cutover's
    ``record_complete`` waits until this transaction ends. So no checkpoint (and none of the rows written in its
    transaction) commits after the move was recorded complete, whichever agent writes it.
    """
    rows = fetch_all(conn, "SELECT phase FROM %s.moves WHERE name = %%s LOCK IN SHARE MODE" % _S, (name,))
    if rows and rows[0][0] == COMPLETE:
        conn.rollback()
        raise DbferryError("move %s is complete (cut over): its target is not written by the move any more; nothing of this "
                           "transaction was written." % name, obj=name,
                           fix="stop this agent: the move is over (dbferry.mysql.agent state: absent removes it).")


def record_complete(conn: Any, name: str, final: str) -> None:
    """Record the move complete, in the caller's transaction, if the target holds everything up to ``final``.

    The applied position is read with an exclusive lock and checked again here, not only by the cutover's wait
    before it: for the half second after an agent loses the move's target lock (target_lock.py) a second, lagging
    agent of the move may still commit an older position. Under the lock none can commit between this check and
    the caller's commit, and after it every checkpoint write is refused (refuse_if_complete).
    """
    rows = fetch_all(conn, "SELECT applied_position FROM %s.moves WHERE name = %%s FOR UPDATE" % _S, (name,))
    applied = rows[0][0] if rows else ""
    if not gtid.reached(applied, final):
        conn.rollback()
        raise DbferryError("move %s was not recorded complete: the target's applied position went back to %s, before the final position %s "
                           "(another agent of the move wrote an older checkpoint)." % (name, applied or "nothing", final), obj=name,
                           fix="make sure no other agent of the move runs (dbferry status on every ferry host), start the agent again "
                               "(it applies up to the final position), then run the cutover again.")
    pending = pending_count(conn, name)  # read under the lock above: save_pending's transactions read the phase first
    if pending:
        conn.rollback()
        raise DbferryError("move %s was not recorded complete: %d cascaded child row(s) are still to be copied again from the source "
                           "(an application transaction holds them locked)." % (name, pending), obj=name,
                           fix="end the application's transactions on the source that hold rows of the moved child tables, then run "
                               "the cutover again.")
    execute(conn, "UPDATE %s.moves SET phase = %%s WHERE name = %%s" % _S, (COMPLETE, name))


def begin_inline(conn: Any, recorded: MoveState) -> None:
    """Start inline bookkeeping for a run with ``verify.inline`` (caller commits).

    Tracking is continuous from ``tracked_since`` to the applied position.
    A run whose applier went on without inline (the applied position moved
    past the one inline recorded, or inline was never on although events were
    applied: a rehearsal without it) leaves a gap: tracking starts again from
    the applied position, and the hash of every table whose copy had begun no
    longer vouches for it (changes in the gap were not marked). A table whose
    copy went on without hashing (its cursor moved past the hashed key) is
    not covered either. What is not covered is vouched for by a checksum pass
    while the source is still writable (window.py, ``record_checked``), or
    compared by checksum in the read-only window.
    """
    if _has_numeric_dirty(conn):  # uncovered first: DROP commits the UPDATE before it runs, so no stop leaves them covered
        execute(conn, "UPDATE %s.inline_tables SET covered = FALSE, checked_from = NULL" % _S)
        execute(conn, "DROP TABLE %s.dirty" % _S)
    for statement in _INLINE_DDL:
        execute(conn, statement)
    _widen_numeric_keys(conn, "inline_tables", "hashed_to TEXT NULL", "hashed_to")
    _add_ranges(conn, "inline_tables", "")
    execute(conn, _RECOPY_DDL)
    name = recorded.name
    rows = fetch_all(conn, "SELECT applied_position FROM %s.inline_moves WHERE move = %%s FOR UPDATE" % _S, (name,))
    if rows:
        gap = rows[0][0] != recorded.applied_position
        if gap:
            execute(conn, "UPDATE %s.inline_moves SET applied_position = %%s, tracked_since = %%s WHERE move = %%s" % _S,
                    (recorded.applied_position, recorded.applied_position, name))
    else:
        gap = recorded.applied_position != recorded.start_position
        execute(conn, "INSERT INTO %s.inline_moves (move, applied_position, tracked_since) VALUES (%%s, %%s, %%s)" % _S,
                (name, recorded.applied_position, recorded.applied_position))
    hashed = {(s, t, int(n)): (encode_key(decode_key(to)), bool(done), bool(covered)) for s, t, n, to, done, covered in fetch_all(
        conn, "SELECT source_schema, source_table, range_no, hashed_to, hashed_done, covered FROM %s.inline_tables WHERE move = %%s "
              "FOR UPDATE" % _S, (name,))}
    for (schema, table), ranges in sorted(recorded.ranges.items()):
        for cursor in ranges:
            at = encode_key(cursor.last_key)  # as recorded (an earlier version's number too): the same text is the same key
            if (schema, table, cursor.range_no) in hashed:
                to, done, covered = hashed[(schema, table, cursor.range_no)]
                execute(conn, "UPDATE %s.inline_tables SET covered = %%s WHERE move = %%s AND source_schema = %%s AND source_table = %%s "
                              "AND range_no = %%s" % _S,
                        (covered and (to, done) == (at, cursor.done) and not (gap and cursor.begun), name, schema, table, cursor.range_no))
            else:
                execute(conn, "INSERT INTO %s.inline_tables (move, source_schema, source_table, range_no, hashed_to, hashed_done, covered) "
                              "VALUES (%%s, %%s, %%s, %%s, %%s, %%s, %%s)" % _S,
                        (name, schema, table, cursor.range_no, at, cursor.done, not cursor.begun))


def _has_numeric_dirty(conn: Any) -> bool:
    """Whether ``dirty`` is an earlier version's, with numeric keys and no ``mark`` (module docstring)."""
    return _is_numeric(conn, "dirty", "key_value")


def save_hashed(conn: Any, name: str, table: MovedTable, last_key: Optional[KeyValue], done: bool, range_no: int = 0) -> None:
    """Record that a table range's copy is hashed up to ``last_key``, inside the transaction that wrote and hashed the batch."""
    execute(conn, "UPDATE %s.inline_tables SET hashed_to = %%s, hashed_done = %%s WHERE move = %%s AND source_schema = %%s "
                  "AND source_table = %%s AND range_no = %%s" % _S, (encode_key(last_key), done, name, table.schema, table.name, range_no))


def save_inline_position(conn: Any, name: str, position: str) -> None:
    """Record that every change up to ``position`` was marked dirty, inside the transaction that applied (and marked) them."""
    execute(conn, "UPDATE %s.inline_moves SET applied_position = %%s WHERE move = %%s" % _S, (position, name))


def _mark(text: str) -> bytes:
    return hashlib.md5(text.encode("utf-8")).digest()


def mark_dirty(conn: Any, name: str, keys: Iterable[DirtyKey]) -> None:
    """Mark keys dirty (or again: ``seq`` goes up), in the caller's transaction (the one that wrote the rows).

    Sorted by where they go in ``dirty``, so two writers marking overlapping keys take their locks in one order.
    """
    recorded = {(schema, table, encode_key(key)) for schema, table, key in keys}
    ordered = sorted((schema, table, _mark(text), text) for schema, table, text in recorded)
    for start in range(0, len(ordered), MARK_ROWS):
        chunk = ordered[start:start + MARK_ROWS]
        execute(conn, "INSERT INTO %s.dirty (move, source_schema, source_table, mark, key_value) VALUES %s "
                      "ON DUPLICATE KEY UPDATE seq = seq + 1" % (_S, ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk))),
                [v for schema, table, mark, text in chunk for v in (name, schema, table, mark, text)])


def save_pending(conn: Any, name: str, keys: Iterable[DirtyKey]) -> None:
    """Record the cascaded child keys still to re-copy, all of them (they replace the ones recorded), in the transaction
    that applied the batch and saves its position: a restart resumes with exactly the keys its position leaves pending.
    Refused once the move is complete, as every checkpoint is (refuse_if_complete)."""
    refuse_if_complete(conn, name)
    execute(conn, "DELETE FROM %s.recopy_pending WHERE move = %%s" % _S, (name,))
    recorded = sorted({(schema, table, encode_key(key)) for schema, table, key in keys})
    for start in range(0, len(recorded), MARK_ROWS):
        chunk = recorded[start:start + MARK_ROWS]
        values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk))
        execute(conn, "INSERT INTO %s.recopy_pending (move, source_schema, source_table, mark, key_value) VALUES %s" % (_S, values),
                [v for schema, table, text in chunk for v in (name, schema, table, _mark(text), text)])


def load_pending(conn: Any, name: str) -> set[DirtyKey]:
    """The cascaded child keys the move still has to re-copy (save_pending)."""
    if not _has_table(conn, "recopy_pending"):
        return set()
    return {(schema, table, decode_key(text)) for schema, table, text in fetch_all(
        conn, "SELECT source_schema, source_table, key_value FROM %s.recopy_pending WHERE move = %%s" % _S, (name,))}


def pending_count(conn: Any, name: str) -> int:
    """How many cascaded child keys the move still has to re-copy."""
    if not _has_table(conn, "recopy_pending"):
        return 0
    return int(fetch_value(conn, "SELECT COUNT(*) FROM %s.recopy_pending WHERE move = %%s" % _S, (name,)) or 0)


def _dirty_rows(rows: Iterable[tuple]) -> list[DirtyRow]:
    return [DirtyRow(schema, table, decode_key(text), int(seq), bytes(mark)) for schema, table, text, seq, mark in rows]


def dirty_after(conn: Any, name: str, after: Optional[DirtyRow], limit: int) -> list[DirtyRow]:
    """Up to ``limit`` dirty keys of the move after ``after`` (None: from the first), in ``dirty``'s order."""
    select = "SELECT source_schema, source_table, key_value, seq, mark FROM %s.dirty WHERE move = %%s%s " \
             "ORDER BY source_schema, source_table, mark LIMIT %d"
    if after is None:
        return _dirty_rows(fetch_all(conn, select % (_S, "", limit), (name,)))
    return _dirty_rows(fetch_all(conn, select % (_S, " AND (source_schema, source_table, mark) > (%s, %s, %s)", limit),
                                 (name, after.schema, after.table, after.mark)))


def dirty_table_keys(conn: Any, name: str, schema: str, table: str, after: Optional[DirtyRow], limit: int) -> list[DirtyRow]:
    """Up to ``limit`` dirty keys of one table after ``after`` (None: from the first), in ``dirty``'s order."""
    return _dirty_rows(fetch_all(
        conn, "SELECT source_schema, source_table, key_value, seq, mark FROM %s.dirty WHERE move = %%s AND source_schema = %%s "
              "AND source_table = %%s%s ORDER BY mark LIMIT %d" % (_S, "" if after is None else " AND mark > %s", limit),
        (name, schema, table) + (() if after is None else (after.mark,))))


def clear_dirty(conn: Any, name: str, schema: str, table: str, found_equal: list[DirtyRow]) -> int:
    """Remove the dirty keys found equal on both sides, unless marked again since (their ``seq`` went up); return
    how many were removed."""
    return execute(conn, "DELETE FROM %s.dirty WHERE move = %%s AND source_schema = %%s AND source_table = %%s "
                         "AND (mark, seq) IN (%s)" % (_S, ", ".join(["(%s, %s)"] * len(found_equal))),
                   [name, schema, table] + [v for row in found_equal for v in (row.mark, row.seq)])


def dirty_count(conn: Any, name: str) -> int:
    """How many keys of the move are dirty."""
    return int(fetch_value(conn, "SELECT COUNT(*) FROM %s.dirty WHERE move = %%s" % _S, (name,)) or 0)


@dataclass(frozen=True)
class InlineState:
    """What the target records of a move's inline verification (module docstring)."""

    #: Every change applied from this position on was marked dirty.
    tracked_since: str
    #: Tracking goes on up to the move's applied position: no run since applied changes without marking them.
    current: bool
    #: (source schema, source table) of the tables whose whole copy was hashed: copy done, hashed to its end, from its
    #: first batch on, with no gap in tracking since.
    covered: frozenset
    #: (source schema, source table) -> the source position read before a checksum pass found the table equal (its
    #: differing rows marked dirty); it vouches for the table when it is not before ``tracked_since``.
    checked_from: dict


def inline_state(conn: Any, name: str) -> Optional[InlineState]:
    """The move's inline bookkeeping; None when the move never ran with ``verify.inline``, or when its ``dirty`` table
    is an earlier version's (module docstring: its tables are then verified by checksum)."""
    if not _has_table(conn, "inline_moves") or _has_numeric_dirty(conn):
        return None
    rows = fetch_all(conn, "SELECT i.tracked_since, i.applied_position = m.applied_position FROM %s.inline_moves i JOIN %s.moves m "
                           "ON m.name = i.move WHERE i.move = %%s" % (_S, _S), (name,))
    if not rows:
        return None
    # A table is covered when each of its ranges is (a range without its inline row is not).
    covered = frozenset((schema, table) for schema, table in fetch_all(
        conn, "SELECT c.source_schema, c.source_table FROM %s.cursors c LEFT JOIN %s.inline_tables i ON i.move = c.move "
              "AND i.source_schema = c.source_schema AND i.source_table = c.source_table AND i.range_no = c.range_no "
              "WHERE c.move = %%s GROUP BY c.source_schema, c.source_table "
              "HAVING MIN(COALESCE(i.covered AND i.hashed_done AND c.done AND i.hashed_to <=> c.last_key, FALSE)) = 1" % (_S, _S), (name,)))
    checked = {(schema, table): position for schema, table, position in fetch_all(
        conn, "SELECT DISTINCT source_schema, source_table, checked_from FROM %s.inline_tables WHERE move = %%s "
              "AND checked_from IS NOT NULL" % _S, (name,))}
    return InlineState(rows[0][0], bool(rows[0][1]), covered, checked)


def record_checked(conn: Any, name: str, table: MovedTable, position: str, differing: Iterable[KeyValue]) -> None:
    """Record that a checksum pass that began at source ``position`` found ``table`` equal but for the ``differing``
    keys, which are marked dirty (caller commits: one transaction, refused once the move is complete)."""
    refuse_if_complete(conn, name)
    mark_dirty(conn, name, ((table.schema, table.name, key) for key in differing))
    execute(conn, "UPDATE %s.inline_tables SET checked_from = %%s WHERE move = %%s AND source_schema = %%s AND source_table = %%s" % _S,
            (position, name, table.schema, table.name))


def dirty_counts(conn: Any, name: str) -> dict[tuple[str, str], int]:
    """(source schema, source table) -> how many of its keys are dirty."""
    if not _has_table(conn, "dirty"):
        return {}
    return {(schema, table): int(count) for schema, table, count in fetch_all(
        conn, "SELECT source_schema, source_table, COUNT(*) FROM %s.dirty WHERE move = %%s GROUP BY source_schema, source_table" % _S, (name,))}


def drop(conn: Any, name: str) -> None:
    """Forget a move; drops the schema when no other move is recorded."""
    for table in _INLINE_TABLES:
        if _has_table(conn, table):
            execute(conn, "DELETE FROM %s.%s WHERE move = %%s" % (_S, quote_ident(table)), (name,))
    if _has_table(conn, "recopy_pending"):
        execute(conn, "DELETE FROM %s.recopy_pending WHERE move = %%s" % _S, (name,))
    execute(conn, "DELETE FROM %s.cursors WHERE move = %%s" % _S, (name,))
    execute(conn, "DELETE FROM %s.moves WHERE name = %%s" % _S, (name,))
    # A session outside the binlog (a rehearsal on a replica, osc/replica.py) leaves the schema: the replica's copy of it
    # is replication's, and a primary that records a move or change later writes into it (its SQL thread would stop).
    if fetch_value(conn, "SELECT @@SESSION.sql_log_bin") and not fetch_all(conn, "SELECT 1 FROM %s.moves LIMIT 1" % _S):
        execute(conn, "DROP DATABASE %s" % _S)
