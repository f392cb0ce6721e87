"""The row copy of an online schema change: server-side, chunk by chunk in key order, each chunk with its checkpoint.

One chunk is one transaction on the server:

    INSERT INTO ghost (new names) SELECT old names FROM t
        WHERE key > low AND key <= high ORDER BY key LOCK IN SHARE MODE
        ON DUPLICATE KEY UPDATE ghost.key1 = ghost.key1
    UPDATE _dbferry.cursors ... (state.save_cursor: the cursor moves to ``high``)
    COMMIT

Why server-side: the rows never leave the server, so a chunk costs one
statement rather than a read, a transfer and a write; the server converts
each value to its new type as its own INSERT ... SELECT does, in the strict
session of connection.py, so a value the new type cannot hold fails the
chunk (and the change, naming the table, the key range and the column)
instead of being truncated.

Why it is consistent with the applier (docs/design.md step 2, with source and
target one server): the shared locks hold the chunk's rows, and the gaps
between them, from the read until the commit, so no write to them commits in
between and every later write is in the binlog after the chunk, which the
applier then applies over it. A primary key already in the ghost is a row
the applier wrote, at least as new as the copied one: it is kept (the no-op
ON DUPLICATE KEY UPDATE; never IGNORE, which would also turn a conversion
error into a silent truncation). A row that collides with another on a NEW
unique key is kept out the same way, and no event need bring it back (the
pending one, if any, is the other row's): missing.py finds it once the copy
is done and the applier caught up, and puts it back from the original; only
a collision the original itself still holds at the swap stops the change.

The key may have any number of columns of any type engine/keys.py takes
(text in any collation, bytes, DECIMAL, temporal): every comparison of keys
is the server's. A chunk's end is the ``n``-th key after the cursor as the
server orders them (``SELECT key ... WHERE key > low AND key <= end ORDER BY
key LIMIT 1 OFFSET n - 1``), its rows the range conditions of keys.py over
the values the server returned, and the cursor (a tuple of them, recorded
by state.save_cursor with their types) is passed back as it came.

The cursor is saved in the chunk's transaction: after a crash the copy
resumes exactly after the last committed chunk. The copy ends at the
table's last key as read when it starts, which is after the change's
start position P0: a row inserted beyond it later is in the binlog. Python
never compares a key with that end: a chunk whose ``n``-th key the server
does not find up to the end is the last one, and reaches to the last key at
most the end.

How big a chunk is (next_chunk_rows): the first has ``chunk_size`` keys;
each later one as many as the last chunk's pace copies in CHUNK_SECONDS,
from its first statement to its commit, which is how long the application
may wait on its shared locks. Why a time and not a fixed count: a chunk's
fixed cost (its end's lookup, the checkpoint, the commit: about 1.5 ms on
the bench's machine) is a quarter of a 1,000-row chunk of 200-byte rows,
and a sixteenth of one of 25 ms; yet a chunk must stay short when the rows
are wide or the server is busy, because every application write to one of
its rows waits for its commit. The size grows at most twofold from one
chunk to the next (one fast chunk may be a fluke) and never beyond
CHUNK_GROWTH times ``chunk_size``, which so stays the user's bound on a
chunk's transaction (its binlog event, the replicas' work per
transaction); it shrinks at once when a chunk took too long (a busy
server, or a wait for an application's row lock). The boundaries do not
matter to the consistency argument above, which holds for any key range.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import replace
from typing import Any, Callable, Optional

from ..common.errors import DbferryError
from ..common.identifiers import for_arguments, quote_ident, quote_table
from ..common.retry import is_transient, run_reconnecting
from ..config.alter_config import ALTER_BY_KEY, CHUNK_GROWTH, CHUNK_SECONDS
from ..controls.throttle import Throttle
from ..config.tunables import Tunables
from ..engine import state
from ..engine.keys import KeyValue, display_key, key_list
from ..server.connection import ServerSpec, close_quietly, connect, error_row, error_text, execute, fetch_all, is_database_error
from ..verify.checksum import range_condition
from .plan import AlterPlan

#: Told of each committed chunk: (rows written, copy done).
Progress = Callable[[int, bool], None]
#: Called with (low, high), key values, before a chunk's statement: tests hold or interrupt the copy there.
ChunkHook = Callable[[Optional[KeyValue], KeyValue], None]

_COLUMN = re.compile(r"column '([^']*)'")

#: A chunk never has fewer keys, or more, than the option accepts (CHUNK_SECONDS and CHUNK_GROWTH are declared with it).
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = (int(bound) for bound in ALTER_BY_KEY["chunk_size"].limits or ())


def largest_chunk_rows(chunk_size: int) -> int:
    """The most keys a chunk may have under ``chunk_size``: CHUNK_GROWTH times it, within MIN_CHUNK_ROWS and MAX_CHUNK_ROWS.

    The verification's ranges have as many (runner.py): a range's aggregate is a read without locks, so it may be as long
    as the longest chunk, and its fixed cost (the range's end, two statements) is then a tenth of a ``chunk_size`` range's."""
    return max(MIN_CHUNK_ROWS, min(MAX_CHUNK_ROWS, CHUNK_GROWTH * chunk_size))


def next_chunk_rows(rows: int, seconds: float, chunk_size: int) -> int:
    """The keys of the chunk after one of ``rows`` keys that took ``seconds``: as many as its pace copies in
    CHUNK_SECONDS, at most twice ``rows``, within MIN_CHUNK_ROWS and largest_chunk_rows(chunk_size)."""
    ceiling = largest_chunk_rows(chunk_size)
    paced = rows * CHUNK_SECONDS / seconds if seconds > 0 else ceiling
    return int(max(MIN_CHUNK_ROWS, min(ceiling, 2 * rows, paced)))


def recorded_ranges(conn: Any, plan: AlterPlan) -> list[state.Cursor]:
    """The cursors of the change's key ranges as the server records them, in range order."""
    recorded = state.load(conn, plan.state_name)
    if recorded is None:
        raise DbferryError("the change of %s has no recorded state (its _dbferry rows were removed while it ran)." % plan.display,
                           obj=plan.display, fix="start the change again; it starts over.")
    return recorded.ranges.get((plan.database, plan.table), [])


class ChunkCopy:
    """Copies the original table into the ghost from the recorded cursor to the end, or until stopped."""

    def __init__(self, spec: ServerSpec, plan: AlterPlan, throttle: Throttle, tunables: Tunables, progress: Progress,
                 hook: Optional[ChunkHook] = None, nice_ratio: float = 0.0, range_no: int = 0) -> None:
        self.spec = spec
        #: The key range this copy works through (state.py: a cursor per range, recorded when the change started).
        self.range_no = range_no
        self.nice_ratio = nice_ratio
        self.plan = plan
        self.table = plan.moved_table()
        self.throttle = throttle
        self.tunables = tunables
        self.progress = progress
        self.hook = hook
        #: The range's end: its recorded end, or for the last range the table's last key when its copy started (None:
        #: empty); and the cursor as recorded, read when a session opens (the recorded one is the truth after a failure: a
        #: COMMIT whose answer was lost may have moved it).
        self.end: Optional[KeyValue] = None
        self.cursor = state.Cursor(None, False, 0)
        #: The next chunk's keys, and the ``chunk_size`` it was sized under (an operator's ``dbferry set chunk_size``
        #: starts the sizing over from the new value).
        self.rows = 0
        self.sized_under = 0
        original, ghost = quote_table(plan.database, plan.table), quote_table(plan.database, plan.ghost)
        ghost_key = "%s.%s" % (ghost, quote_ident(plan.ghost_key[0]))
        # Executed with arguments: names go through for_arguments (a % in a name).
        self.key_sql = key_list(plan.key)
        self.key_descending = ", ".join("%s DESC" % for_arguments(quote_ident(c)) for c in plan.key)
        self.insert_head = for_arguments("INSERT INTO %s (%s) SELECT %s FROM %s WHERE " % (
            ghost, self.table.target_column_list, self.table.column_list, original))
        self.insert_tail = " ORDER BY %s LOCK IN SHARE MODE ON DUPLICATE KEY UPDATE %s" % (
            self.key_sql, for_arguments("%s = %s" % (ghost_key, ghost_key)))
        self.original_sql = for_arguments(original)

    def run(self, stop: threading.Event) -> bool:
        """Copy until done (True) or ``stop`` is set (False); a dropped connection resumes from the recorded cursor."""
        done = threading.Event()

        def step(conn: Any) -> bool:
            if self._chunk(conn, stop):
                done.set()
                return True
            return False

        run_reconnecting("copying %s" % self.plan.display, stop, lambda: (self._open(),), step)
        return done.is_set()

    def _open(self) -> Any:
        conn = connect(self.spec, autocommit=False)
        try:
            # Locking reads take next-key (gap) locks only under REPEATABLE READ.
            execute(conn, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            self.cursor = self._recorded_cursor(conn)
            if self.end is None:
                self.end = self.cursor.range_end
            if self.end is None:
                self.end = self._key_at(conn, (None, None), 0, descending=True)
            conn.commit()
        except BaseException:
            close_quietly(conn)
            raise
        return conn

    def _recorded_cursor(self, conn: Any) -> state.Cursor:
        found = [c for c in recorded_ranges(conn, self.plan) if c.range_no == self.range_no]
        if not found:
            raise DbferryError("the change of %s has no recorded cursor for its key range %d." % (self.plan.display, self.range_no),
                               obj=self.plan.display, fix="remove the change (state: absent) and start it again.")
        return found[0]

    def _chunk(self, conn: Any, stop: threading.Event) -> bool:
        """Copy the chunk after the recorded cursor; True when the copy is done."""
        self.throttle.wait(stop)  # before the chunk: a held copy holds no locks
        if stop.is_set():
            return False
        low = self.cursor.last_key
        if self.cursor.done:
            return True
        chunk_size = self.tunables.batch_rows
        if chunk_size != self.sized_under:
            self.rows, self.sized_under = chunk_size, chunk_size
        # The chunk's last key: the server's n-th after the cursor, up to the end; else the last one there, if any.
        found = None if self.end is None else self._key_at(conn, (low, self.end), self.rows - 1)
        high = found if found is not None or self.end is None else self._key_at(conn, (low, self.end), 0, descending=True)
        if high is None:  # no key left after the cursor, up to the end
            state.save_cursor(conn, self.plan.state_name, self.table, low, True, 0, self.range_no)
            conn.commit()
            self.cursor = replace(self.cursor, done=True)
            self.progress(0, True)
            return True
        if self.hook is not None:
            self.hook(low, high)
        condition, args = range_condition(self.plan.key, (low, high))
        done = found is None
        started = time.monotonic()
        try:
            with conn.cursor() as cur:
                cur.execute(self.insert_head + condition + self.insert_tail, args)
                rows = max(0, cur.rowcount)
            state.save_cursor(conn, self.plan.state_name, self.table, high, done, rows, self.range_no)
            conn.commit()
            self.cursor = replace(self.cursor, last_key=high, done=done, rows_copied=self.cursor.rows_copied + rows)
        except Exception as exc:
            conn.rollback()
            if not is_database_error(exc) or is_transient(exc):
                raise
            raise self._chunk_error(conn, low, high, exc) from None
        took = time.monotonic() - started
        if found is not None:  # a whole chunk: its time tells the pace (the last one may have a few keys only)
            self.rows = next_chunk_rows(self.rows, took, chunk_size)
        self.progress(rows, done)
        if self.nice_ratio and not done:
            stop.wait(self.nice_ratio * took)  # the pause holds no lock: the chunk has committed
        return done

    def _key_at(self, conn: Any, key_range: tuple[Optional[KeyValue], Optional[KeyValue]], offset: int,
                descending: bool = False) -> Optional[KeyValue]:
        """The key ``offset`` keys (from 0) into ``key_range`` (``(low, high]``, None: open) of the original, in key order
        or from the last one; None when there are not that many. The server orders and compares (module docstring)."""
        condition, args = range_condition(self.plan.key, key_range)
        order = self.key_descending if descending else self.key_sql
        rows = fetch_all(conn, "SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d" % (
            self.key_sql, self.original_sql, condition, order, offset), args)
        return tuple(rows[0]) if rows else None

    def _chunk_error(self, conn: Any, low: Optional[KeyValue], high: KeyValue, exc: BaseException) -> DbferryError:
        """The server refused a chunk: name the table, the key range, the column and (when the server says which row) the key."""
        message = error_text(exc)
        where = "%s up to %s" % ("from the first key" if low is None else "after %s" % display_key(self.plan.key, low),
                                 display_key(self.plan.key, high))
        row = error_row(exc)
        if row is not None:
            found = self._key_at(conn, (low, high), row - 1)
            conn.rollback()
            if found is not None:
                where += ", at the row with %s" % display_key(self.plan.key, found)
        column = _COLUMN.search(message)
        what = " in column %s" % quote_ident(column.group(1)) if column else ""
        return DbferryError("copying %s into its new schema failed%s for the rows %s: %s. The original table is untouched." % (
            self.plan.display, what, where, message), obj=self.plan.display,
            fix="the new schema cannot hold a value the table has: widen the type in the ALTER, or correct the rows first; "
                "then remove the change (state: absent) and run it again.")
