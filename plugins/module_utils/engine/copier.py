"""The row copy: each range of a table's key space in key order, batch by batch.

A table is one range, or several (``copy.ranges``, key_ranges.py) copied at
the same time, each by a TableCopier of its own with its own cursor; the
batches of a range never read past its end. Everything below is about one
range, which for a table of one range is the whole table.

The lock discipline of one batch (docs/design.md step 2):

1. In a source transaction, read the next batch with a locking read
   (``... WHERE key > last ORDER BY key LIMIT n LOCK IN SHARE MODE``, the
   key's columns compared by the server: keys.py). Its rows, and the gaps
   between them, are now locked against writers.
2. Write the batch to the target, skipping rows whose key is there
   already and nothing else (rows.copy_rows: a value the target cannot hold
   is an error, never a silent conversion), and the table's cursor in the
   same target transaction.
3. Ask the source session a trivial question. If it answers, the session,
   and so its locks, are still alive; if the connection died the locks are
   gone and a writer may have changed the rows: roll back and retry.
4. Commit the target, then the source (releasing the locks).

So no source change to those rows can commit between the read and the
target write, and no binlog event can fall between them. Anything that goes
wrong before step 4 rolls back both sides and retries from the cursor.

Reading ahead and writing side by side (``copy.read_ahead``,
``copy.writers``): a reader thread does step 1 of the next batches, each in
a source session of its own, while writer threads do steps 2-4 of earlier
ones, each in a target session of its own. Every batch keeps its own
source session, and so its own locks, until its own step 4: the argument
above holds for each batch unchanged. A session goes back to the reader
only after its batch's source transaction has ended.

Batches may commit out of key order; the table's cursor (the checkpoint a
restart resumes from) covers only batches with every batch before them
committed, so it never claims a batch that is not on the target. A batch
committed beyond the cursor is simply copied again after a restart, which
skipping duplicate keys makes harmless. A writer never waits for another batch's
commit while it holds target locks (the cursor is written under one lock
held only around steps 3-4, which wait for nothing but their own server),
so every wait between the copy and the applier is one InnoDB can see and
break. Each batch's checkpoint also reads the move's row with a shared lock
(state.refuse_if_complete, so that no batch commits after a cutover): the
writers share it, and it waits only for the applier's position update,
which waits for nothing a writer holds.

The source prints each row as a ready VALUES tuple (schema.value_literal),
so rows pass through Python as opaque bytes.

With ``verify.inline``, step 2 also compares the batch with the target's
rows of the batch's key range, by hash, and marks the keys that differ
dirty (inline.py), in the target transaction that writes the batch; the
hashed key moves with the cursor.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Optional

from . import state
from .batch_times import BatchTimes
from ..config.move_config import MoveConfig
from ..server.connection import close_quietly, connect, execute, fetch_all, rollback_quietly
from ..common.errors import DbferryError
from ..server.flavor import Flavor
from ..common.identifiers import for_arguments
from ..verify.inline import GROUP_CONCAT_BYTES, BatchHasher, BatchPrint
from ..common.retry import run_reconnecting
from .keys import KeyValue, after_condition, at_most_condition, compare_args, display_key
from .rows import copy_rows
from .tables import MovedTable
from ..controls.throttle import Throttle
from ..config.tunables import Tunables

#: Called with (table, rows) between the read and the write, while the
#: source locks are held; rows are (key values, row literal) pairs. Tests use it
#: to run racing DML at that moment.
CopyHook = Callable[[MovedTable, list], None]
#: Called with (table, range number, rows, done) each time the range's cursor moves (over ``rows`` more rows) and once at
#: the range's end.
Progress = Callable[[MovedTable, int, int, bool], None]


def open_source_reader(config: MoveConfig) -> Any:
    conn = connect(config.source, autocommit=False)
    # Locking reads take next-key (gap) locks only under REPEATABLE READ.
    execute(conn, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    return conn


def open_target_writer(config: MoveConfig) -> Any:
    conn = connect(config.target, autocommit=False)
    # Rows arrive in key order per table, not in the order constraints need. GROUP_CONCAT holds a batch's
    # printed rows when inline verification digests them (inline.BatchHasher).
    execute(conn, "SET SESSION foreign_key_checks = 0, SESSION group_concat_max_len = %d" % GROUP_CONCAT_BYTES)
    return conn


def row_select(table: MovedTable) -> str:
    """``SELECT key, printed row[, holds the ENUM error value] FROM source table`` of ``table``, for a statement run with
    arguments (names escaped for that); its results go through printed_rows. The rows come as bytes: binary, so that
    PyMySQL hands them over undecoded."""
    flag = "" if table.error_value_test is None else ", " + for_arguments(table.error_value_test)
    return "SELECT %s, CAST(%s AS BINARY)%s FROM %s%s" % (table.key_sql, for_arguments(table.row_literal), flag, table.source_sql,
                                                          table.key_index_hint)


def printed_rows(table: MovedTable, read: list) -> tuple[list[tuple[KeyValue, bytes]], frozenset]:
    """The rows of a row_select as (key values, row literal) pairs for rows.copy_rows, and the keys of those that hold
    the ENUM error value (written leniently)."""
    width = len(table.key)
    rows = [(tuple(row[:width]), row[width]) for row in read]
    if table.error_value_test is None:
        lenient = frozenset()
    else:  # a last column says whether the row holds the ENUM error value
        lenient = frozenset(tuple(row[:width]) for row in read if row[width + 1])
    for key, literal in rows:
        if literal is None:  # CONCAT gives NULL when its result would exceed max_allowed_packet
            raise DbferryError(
                "the row with %s of %s is too large for the source's max_allowed_packet once printed." % (
                    display_key(table.key, key), table.source),
                obj=table.source, fix="raise max_allowed_packet on the source (the copy prints rows at about twice their size).")
    return rows, lenient


@dataclass
class _Batch:
    """Rows read after key ``after``, and the source session whose open transaction holds their locks."""

    session: Any
    after: Optional[KeyValue]
    rows: list
    #: Keys of the rows that hold the ENUM error value, which are written leniently (rows.copy_rows).
    lenient: frozenset
    #: With verify.inline: the rows as they arrived, and their digest (a hook or a bug may change ``rows`` later).
    printed: Optional[BatchPrint] = None
    #: time.monotonic() when its locking read started: its locks are held from then to the source commit (batch_times.py).
    read_at: float = 0.0


class _ReadAhead:
    """The reader thread of one table copy, and the source sessions it reads on.

    ``free`` holds the sessions with no open transaction; the reader takes
    one for each batch and hands it over with the batch; a writer gives it
    back once the batch's source transaction has ended. So at most as many
    batches hold locks as there are sessions: the ones being written and
    ``read_ahead`` more.
    """

    def __init__(self, copier: "TableCopier", sessions: list, stop: threading.Event) -> None:
        self.copier = copier
        self.sessions = sessions
        self.free: queue.Queue = queue.Queue()
        for session in sessions:
            self.free.put(session)
        self.ready: queue.Queue = queue.Queue()
        self.stop = stop
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._run, name="reader-%s" % copier.where, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        after = self.copier.last_key
        try:
            while True:
                session = self._take_free()
                if session is None:
                    return
                batch = self.copier.read(session, after)
                self.ready.put(batch)
                if not batch.rows:
                    return
                after = batch.rows[-1][0]
        except BaseException as exc:  # noqa: BLE001 - handed to the writer, which retries or stops  # pylint: disable=broad-exception-caught
            self.ready.put(exc)

    def _take_free(self) -> Optional[Any]:
        """A session with no open transaction, once the throttle lets the copy go on; None when closing."""
        while not self.closed.is_set():
            try:
                session = self.free.get(timeout=0.2)
            except queue.Empty:
                continue
            self.copier.throttle.wait(self.stop)  # before the read: a held reader holds no source locks
            if self.stop.is_set():
                return None
            return session
        return None

    def next_batch(self) -> Optional[_Batch]:
        """The next batch in key order; None when stopped."""
        while not self.stop.is_set():
            try:
                item = self.ready.get(timeout=0.2)
            except queue.Empty:
                # A reader that saw the stop ends without a result: only one that ended otherwise is an error.
                if not self.thread.is_alive() and self.ready.empty() and not self.stop.is_set():
                    raise DbferryError("the copy reader of %s ended without a result." % self.copier.where,
                                       obj=self.copier.table.source, fix="report this; restart the move, it resumes.") from None
                continue
            if isinstance(item, BaseException):
                raise item
            return item
        return None

    def close(self) -> None:
        """Stop reading; end every session (their open transactions roll back and release their locks)."""
        self.closed.set()
        close_quietly(*self.sessions)
        self.thread.join(timeout=10)


class _Writers:
    """The writer threads of one table copy, one per target session, each writing one batch at a time (steps 2-4).

    A session whose batch failed is not handed out again: its transaction
    may hold part of a batch that must not be committed by the next one.

    Not a common.workers.WorkerPool, on purpose: the batches arrive while
    the writers run (from the reader, in key order, each with the source
    session that holds its locks), any free writer takes the next one, and
    a failure goes to the dispatcher, which copies again from the cursor
    with new sessions (run_reconnecting) instead of stopping the copy.
    """

    def __init__(self, where: str, sessions: list, write: Callable[[Any, _Batch], None]) -> None:
        self.sessions = sessions
        self.write = write
        self.free: queue.Queue = queue.Queue()
        for session in sessions:
            self.free.put(session)
        self.pool = ThreadPoolExecutor(max_workers=len(sessions), thread_name_prefix="writer-%s" % where)
        self.running: list[Future] = []

    def submit(self, batch: _Batch) -> None:
        """Hand ``batch`` to the next free writer; raise the failure of an earlier batch instead, if one failed."""
        while True:
            self._raise_failure()
            try:
                session = self.free.get(timeout=0.1)
            except queue.Empty:
                continue
            self.running.append(self.pool.submit(self._write, session, batch))
            return

    def _write(self, session: Any, batch: _Batch) -> None:
        self.write(session, batch)  # a failed session is not put back (the class docstring)
        self.free.put(session)

    def drain(self) -> None:
        """Wait until every batch handed over is committed or failed; raise the first failure."""
        wait(self.running)
        self._raise_failure()

    def _raise_failure(self) -> None:
        finished = [future for future in self.running if future.done()]
        self.running = [future for future in self.running if not future.done()]
        for future in finished:
            error = future.exception()
            if error is not None:
                raise error

    def close(self) -> None:
        """Let the batches being written end (committed or failed), then end the sessions."""
        wait(self.running)
        self.pool.shutdown(wait=True)
        close_quietly(*self.sessions)


class TableCopier:
    """Copies one range of a table (the whole table when it is one range) from its cursor to the range's end."""

    def __init__(self, config: MoveConfig, flavor: Flavor, table: MovedTable, cursor: state.Cursor,
                 progress: Progress, throttle: Throttle, tunables: Tunables, hook: Optional[CopyHook] = None,
                 batch_times: Optional[BatchTimes] = None) -> None:
        self.config = config
        self.table = table
        self.range_no = cursor.range_no
        #: The range's last key (None: the table's end). Every read stops there, under the same shared locks.
        self.range_end = cursor.range_end
        #: The table, and the range when there are several, for messages and thread names.
        self.where = table.source if cursor.range_end is None and cursor.range_start is None else "%s range %d" % (
            table.source, cursor.range_no)
        #: The cursor: every batch up to this key is committed on the target, and the target's checkpoint says so.
        self.last_key = cursor.last_key
        #: Batches committed beyond the cursor, waiting for the ones before them: their ``after`` -> (last key, rows).
        self.ahead: dict[Optional[KeyValue], tuple[KeyValue, int]] = {}
        self.cursor_lock = threading.Lock()
        #: The last key handed to the writers (the dispatcher's own cursor; the batches after ``last_key`` are in flight).
        self.read_to = self.last_key
        self.progress = progress
        self.throttle = throttle
        self.tunables = tunables
        self.hook = hook
        self.batch_times = batch_times
        self.hasher = BatchHasher(config, table) if config.inline else None
        # The batch size may change between batches (tunables), so the statements end at LIMIT.
        key = table.key_sql
        select = row_select(table)
        bounds = [after_condition(table.key)] + ([] if self.range_end is None else [at_most_condition(table.key)])
        self.first_sql = select + "".join(" WHERE " + b for b in bounds[1:]) + " ORDER BY %s LIMIT " % key
        self.next_sql = select + " WHERE %s ORDER BY %s LIMIT " % (" AND ".join(bounds), key)
        self.end_args = [] if self.range_end is None else compare_args(self.range_end)
        self.lock_clause = " " + flavor.shared_lock_clause

    def run(self, stop: threading.Event) -> None:
        """Copy until the table is done or ``stop`` is set (at a batch boundary)."""
        run_reconnecting("copying %s" % self.where, stop, lambda: self._open(stop), self._dispatch_next)

    def _open(self, stop: threading.Event) -> tuple[_Writers, _ReadAhead]:
        targets: list = []
        sources: list = []
        try:
            while len(targets) < self.config.writers:
                targets.append(open_target_writer(self.config))
            while len(sources) < self.config.writers + self.config.read_ahead:  # one per batch being written or read ahead
                sources.append(open_source_reader(self.config))
        except BaseException:
            close_quietly(*targets, *sources)
            raise
        # After a failure the copy resumes from the cursor the target holds (a COMMIT whose answer was lost may have
        # moved it): batches committed beyond it are copied again.
        recorded = state.load(targets[0], self.config.name)
        ranges = recorded.ranges.get((self.table.schema, self.table.name), []) if recorded is not None else []
        targets[0].rollback()
        if len(ranges) > self.range_no:
            self.last_key = ranges[self.range_no].last_key
        self.ahead = {}
        self.read_to = self.last_key
        reader = _ReadAhead(self, sources, stop)
        # Closed in this order (run_reconnecting): the writers end their batches before the reader ends their sessions.
        return _Writers(self.where, targets, lambda target, batch: self._write(target, batch, reader)), reader

    def read(self, source: Any, after: Optional[KeyValue]) -> _Batch:
        """Step 1: the batch after key ``after`` up to the range's end, as (key values, row literal) pairs, locked in
        ``source``'s transaction."""
        tail = "%d%s" % (self.tunables.batch_rows, self.lock_clause)
        read_at = time.monotonic()
        if after is None:
            read = fetch_all(source, self.first_sql + tail, self.end_args)
        else:
            read = fetch_all(source, self.next_sql + tail, compare_args(after) + self.end_args)
        rows, lenient = printed_rows(self.table, read)
        return _Batch(source, after, rows, lenient, BatchPrint.of(rows) if self.hasher is not None else None, read_at)

    def _dispatch_next(self, writers: _Writers, reader: _ReadAhead) -> bool:
        """Hand the next batch to a writer; True when the table is done (every batch committed, the cursor at the end)."""
        batch = reader.next_batch()
        if batch is None:
            return False
        if batch.after != self.read_to:  # the reader hands over batches only in key order
            raise DbferryError("the copy of %s read after key %s, not after key %s." % (self.where, batch.after, self.read_to),
                               obj=self.table.source, fix="report this; restart the move, it resumes from the cursor.")
        if not batch.rows:
            writers.drain()
            self._finish(writers.sessions[0], batch, reader)
            return True
        if self.hook is not None:
            self.hook(self.table, batch.rows)
        self.read_to = batch.rows[-1][0]
        writers.submit(batch)
        return False

    def _write(self, target: Any, batch: _Batch, reader: _ReadAhead) -> None:
        """Steps 2-4 for one batch, in a writer thread. Whatever happens, the batch's source transaction ends here and
        its session goes back to the reader: a failed batch must not keep its locks (the application's writes wait for
        them) while the failure travels to the dispatcher, nor starve a reader that the dispatcher waits for."""
        last_key = batch.rows[-1][0]
        try:
            with target.cursor() as cursor:
                copy_rows(cursor, self.table, batch.rows, batch.lenient)
            if self.hasher is not None:
                self.hasher.compare(target, batch.after, last_key, batch.printed)
            self._commit(target, batch.session, batch.after, last_key, len(batch.rows))
            # The batch is on the target: from here a failure must not copy it again.
            batch.session.commit()
            if self.batch_times is not None:
                self.batch_times.add(time.monotonic() - batch.read_at)
        except BaseException:
            rollback_quietly(target)  # before the source's locks go: a half-written batch must never be committed
            rollback_quietly(batch.session)
            raise
        finally:
            reader.free.put(batch.session)

    def _commit(self, target: Any, source: Any, after: Optional[KeyValue], last_key: KeyValue, rows: int) -> None:
        """Steps 3-4 on the target for the batch of keys ``(after, last_key]``: move the cursor over it and over the
        batches committed beyond it, if every batch before it is committed; check that ``source`` still holds the
        batch's locks; commit. Under ``cursor_lock``, so that the cursor only moves forward and counts each batch once;
        nothing in here waits for another writer."""
        with self.cursor_lock:
            self.ahead[after] = (last_key, rows)
            end, added = self.last_key, 0
            while end in self.ahead:
                end, taken = self.ahead[end]
                added += taken
            try:
                if added:
                    if self.hasher is not None:
                        state.save_hashed(target, self.config.name, self.table, end, False, self.range_no)
                    state.save_cursor(target, self.config.name, self.table, end, False, added, self.range_no)
                else:  # a batch ahead of the cursor commits its rows all the same: not into a complete move's target either
                    state.refuse_if_complete(target, self.config.name)
                fetch_all(source, "SELECT 1")  # step 3: the session that holds the locks is alive
                target.commit()
            except BaseException:
                del self.ahead[after]
                raise
            while self.last_key != end:
                self.last_key = self.ahead.pop(self.last_key)[0]
            if added:
                self.progress(self.table, self.range_no, added, False)

    def _finish(self, target: Any, batch: _Batch, reader: _ReadAhead) -> None:
        """The range's end, once every batch is committed: the empty read, locked, says the source has no key beyond the
        cursor up to the range's end; with inline verification, rows only on the target there are looked for."""
        if self.hasher is not None:
            self.hasher.compare(target, self.last_key, self.range_end, batch.printed)
            state.save_hashed(target, self.config.name, self.table, self.last_key, True, self.range_no)
        state.save_cursor(target, self.config.name, self.table, self.last_key, True, 0, self.range_no)
        target.commit()
        batch.session.rollback()
        reader.free.put(batch.session)
        self.progress(self.table, self.range_no, 0, True)
