"""The row copy: each table in primary-key order, batch by batch.

The lock discipline of one batch (DESIGN step 2):

1. In a source transaction, read the next batch with a locking read
   (``... WHERE key > last ORDER BY key LIMIT n LOCK IN SHARE MODE``). Its
   rows, and the gaps between them, are now locked against writers.
2. Write the batch to the target with INSERT IGNORE, and the table's cursor
   in the same target transaction.
3. Ask the source session a trivial question. If it answers, the session,
   and so its locks, are still alive; if the connection died the locks are
   gone and a writer may have changed the rows: roll back and retry.
4. Commit the target, then the source (releasing the locks).

So no source change to those rows can commit between the read and the
target write, and no binlog event can fall between them. Anything that goes
wrong before step 4 rolls back both sides and retries from the cursor.

Reading ahead (``copy.read_ahead``): while the writer does steps 2-4 of
one batch, a reader thread already does step 1 of the next ones, each in
a source session of its own, so the source and the target work at the same
time. Every batch keeps its own session, and so its own locks, until its
own step 4: the argument above holds for each batch unchanged. Batches
are written, and the cursor advances, in key order. A session goes back to
the reader only after its batch's source transaction has ended.

The source prints each row as a ready VALUES tuple (schema.value_literal),
so rows pass through Python as opaque bytes.

With ``verify.inline``, step 2 also compares the batch with the target's
rows of the batch's key range, by hash, and marks the keys that differ
dirty (inline.py), in the target transaction that writes the batch.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

from . import state
from .config import MoveConfig
from .connection import close_quietly, connect, execute, fetch_all
from .errors import DbferryError
from .flavor import Flavor
from .identifiers import for_arguments, quote_ident
from .inline import GROUP_CONCAT_BYTES, BatchHasher, BatchPrint
from .retry import run_reconnecting
from .rows import copy_rows
from .schema import MovedTable
from .throttle import Throttle
from .tunables import Tunables

#: Called with (table, rows) between the read and the write, while the
#: source locks are held; rows are (key, row literal) pairs. Tests use it
#: to run racing DML at that moment.
CopyHook = Callable[[MovedTable, list], None]
#: Called with (table, rows copied, done) after each committed batch.
Progress = Callable[[MovedTable, int, bool], None]


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


@dataclass
class _Batch:
    """Rows read after key ``after``, and the source session whose open transaction holds their locks."""

    session: Any
    after: Optional[int]
    rows: list
    #: With verify.inline: the rows as they arrived, and their digest (a hook or a bug may change ``rows`` later).
    printed: Optional[BatchPrint] = None


class _ReadAhead:
    """The reader thread of one table copy, and the source sessions it reads on.

    ``free`` holds the sessions with no open transaction; the reader takes
    one for each batch and hands it to the writer with the batch; the writer
    gives it back once the batch's source transaction has ended. So at most
    ``read_ahead`` batches wait, locked, besides the one being written.
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
        self.thread = threading.Thread(target=self._run, name="reader-%s" % copier.table.source, daemon=True)
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
                if not self.thread.is_alive() and self.ready.empty():
                    raise DbferryError("the copy reader of %s ended without a result." % self.copier.table.source,
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


class TableCopier:
    """Copies one table from its cursor to the end."""

    def __init__(self, config: MoveConfig, flavor: Flavor, table: MovedTable, last_key: Optional[int],
                 progress: Progress, throttle: Throttle, tunables: Tunables, hook: Optional[CopyHook] = None) -> None:
        self.config = config
        self.table = table
        self.last_key = last_key
        self.progress = progress
        self.throttle = throttle
        self.tunables = tunables
        self.hook = hook
        self.hasher = BatchHasher(config, table) if config.inline else None
        # Statements run with arguments (``()`` for the first), so names are escaped for that. The rows come
        # as bytes: binary, so that PyMySQL hands them over undecoded. The batch size may change between
        # batches (tunables), so the statements end at LIMIT.
        key = for_arguments(quote_ident(table.key))
        select = "SELECT %s, CAST(%s AS BINARY) FROM %s" % (key, for_arguments(table.row_literal), for_arguments(table.quoted_source))
        self.first_sql = select + " ORDER BY %s LIMIT " % key
        self.next_sql = select + " WHERE %s > %%s ORDER BY %s LIMIT " % (key, key)
        self.lock_clause = " " + flavor.shared_lock_clause

    def run(self, stop: threading.Event) -> None:
        """Copy until the table is done or ``stop`` is set (at a batch boundary)."""
        run_reconnecting("copying %s" % self.table.source, stop, lambda: self._open(stop), self._write_next)

    def _open(self, stop: threading.Event) -> tuple[Any, _ReadAhead]:
        target = open_target_writer(self.config)
        sessions: list = []
        try:
            while len(sessions) <= self.config.read_ahead:  # one for the batch being written, one per batch read ahead
                sessions.append(open_source_reader(self.config))
        except BaseException:
            close_quietly(target, *sessions)
            raise
        return target, _ReadAhead(self, sessions, stop)

    def read(self, source: Any, after: Optional[int]) -> _Batch:
        """Step 1: the batch after key ``after``, as (key, row literal) pairs, locked in ``source``'s transaction."""
        tail = "%d%s" % (self.tunables.batch_rows, self.lock_clause)
        if after is None:
            rows = fetch_all(source, self.first_sql + tail, ())
        else:
            rows = fetch_all(source, self.next_sql + tail, (after,))
        for key, literal in rows:
            if literal is None:  # CONCAT gives NULL when its result would exceed max_allowed_packet
                raise DbferryError("row %s of %s is too large for the source's max_allowed_packet once printed." % (key, self.table.source),
                                   obj=self.table.source, fix="raise max_allowed_packet on the source (the copy prints rows at about twice their size).")
        return _Batch(source, after, rows, BatchPrint.of(rows) if self.hasher is not None else None)

    def _write_next(self, target: Any, reader: _ReadAhead) -> bool:
        """Steps 2-4 for the next batch; True when the table is done."""
        batch = reader.next_batch()
        if batch is None:
            return False
        source = batch.session
        if batch.after != self.last_key:  # the reader runs ahead of the cursor only by batches in order
            raise DbferryError("the copy of %s read after key %s, not after the cursor %s." % (self.table.source, batch.after, self.last_key),
                               obj=self.table.source, fix="report this; restart the move, it resumes from the cursor.")
        if not batch.rows:
            if self.hasher is not None:  # rows only on the target beyond the source's last key
                self.hasher.check(target, self.last_key, None, True, batch.printed)  # the empty read, locked: the source has none
            state.save_cursor(target, self.config.name, self.table, self.last_key, True, 0)
            target.commit()
            source.rollback()
            reader.free.put(source)
            self.progress(self.table, 0, True)
            return True
        if self.hook is not None:
            self.hook(self.table, batch.rows)
        last_key = batch.rows[-1][0]
        with target.cursor() as cursor:
            copy_rows(cursor, self.table, [literal for _key, literal in batch.rows])
        if self.hasher is not None:
            self.hasher.check(target, self.last_key, last_key, False, batch.printed)
        state.save_cursor(target, self.config.name, self.table, last_key, False, len(batch.rows))
        fetch_all(source, "SELECT 1")  # step 3: the session that holds the locks is alive
        target.commit()
        # The batch is on the target: from here a failure must not copy it again.
        self.last_key = last_key
        self.progress(self.table, len(batch.rows), False)
        source.commit()
        reader.free.put(source)
        return False
