"""The binlog applier: source transactions, in order, onto the target.

Whole source transactions are grouped into target transactions of at most
about ``apply.batch_events`` row changes (what arrived while the target
wrote the one before, see MAX_BATCH_SECONDS); each target transaction also records the
position after its last source transaction (state.save_position), so the
target never holds half a source transaction nor a position that disagrees
with its rows. When a target transaction fails with something a retry can
cure (deadlock against the copier, a dropped connection), the same source
transactions are written again from a fresh session: the rolled-back
attempt left nothing behind.

With ``verify.inline``, each target transaction also marks the keys its
changes touch dirty and records its position as tracked (inline.py), so the
dirty set never misses an applied change, even across a crash.

A batch that deletes or re-keys parent rows of a followed cascading foreign
key also re-copies, in its target transaction, the child rows the cascade
changed on the source (cascades.py); the source session that read them
keeps its shared locks until the target has committed. Child rows that an
application transaction holds locked on the source are not waited for:
their keys are carried, recorded with the position (state.save_pending), and
tried again by every later batch, and every RETRY_PENDING_SECONDS while no
batch comes, until they are re-copied; meanwhile the move is not caught up
(the cutover and verification wait for them).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..verify import inline
from . import state
from ..binlog.changes import Transaction
from ..binlog.reader import BinlogStream
from ..config.move_config import MoveConfig
from ..server.flavor import Flavor
from ..server.connection import close_quietly, literal, rollback_quietly
from .cascades import BatchCascades, CascadePlan, Recopied
from .copier import open_source_reader, open_target_writer
from ..common.retry import Backoff, is_transient
from .rows import Statement, execute_statement, net_statements
from .keys import KeyValue
from .tables import MovedTable
from ..controls.throttle import Throttle
from ..config.tunables import Tunables

#: Called after each commit with every transaction of the committed batch, in order, and the batch's row changes: a move's
#: status reads the last one; an online schema change collects the keys each of them changed (osc/runner.py).
Applied = Callable[[list[Transaction], int], None]
#: Called with a batch before it is written. Race tests hold the applier here.
ApplyHook = Callable[[list], None]

#: A batch is handed to the target session when the session is free (the
#: batch holds what arrived while the session wrote the one before: one
#: transaction when the stream is slow, many when it is fast, like a group
#: commit), when it has ``apply.batch_events`` row changes, when the stream
#: is idle (nothing for IDLE_SECONDS), or when it is this old. At cutover the
#: source stops writing, so the last batch commits at most IDLE_SECONDS
#: after its last transaction arrived: that wait is part of the read-only
#: window.
MAX_BATCH_SECONDS = 0.25
IDLE_SECONDS = 0.02
#: With cascaded child keys still to re-copy, an applier with no batch to write tries them again this often: once the
#: source is read-only for the cutover no batch comes, and they must be re-copied all the same.
RETRY_PENDING_SECONDS = 1.0


@dataclass
class _Batch:
    """Whole source transactions rendered as one target transaction's statements."""

    transactions: list[Transaction]
    changes: int
    statements: list[Statement]
    #: Keys to mark dirty (verify.inline only).
    dirty: Optional[set[state.DirtyKey]]
    #: What the batch's parent changes cascaded to (cascades.py); None when nothing (the usual case).
    cascades: Optional[BatchCascades] = None


class Applier:
    """Applies a stream's transactions to the target until stopped.

    Two threads: the one that calls run() writes batches to the target, one
    target transaction each, in order; a preparer thread reads the stream,
    groups transactions into batches and renders their statements. The
    preparer's work (taking the transactions from the reader process,
    computing the net effect, writing values as SQL) thus overlaps with the
    target's work on the batch before, instead of waiting for it; and the
    batch is handed over as soon as the session is free (MAX_BATCH_SECONDS).
    The order of writes and what each target transaction holds are as with
    one thread: the preparer renders, never writes.
    """

    def __init__(self, config: MoveConfig, tables: list[MovedTable], applied: Applied, throttle: Throttle, tunables: Tunables,
                 hook: Optional[ApplyHook] = None, record_empty: bool = True, cascades: Optional[CascadePlan] = None,
                 log_event: Optional[Callable[..., None]] = None) -> None:
        self.config = config
        self.tables = {(t.schema, t.name): t for t in tables}
        self.applied = applied
        self.throttle = throttle
        self.tunables = tunables
        self.hook = hook
        #: Whether a batch without a row change of the moved tables still records its position on the target. A move
        #: records it (its cutover waits for the target's position); an online schema change must not: its target is
        #: its source, so each such record is a new transaction in the binlog it reads, which would come back as the
        #: next batch without a change, for ever. It is told of the position all the same (``applied``).
        self.record_empty = record_empty
        #: The cascading foreign keys the applier follows; None or empty: none.
        self.cascades = cascades or None
        #: The move's log (EventLog.event), told of keys carried (log_pending).
        self.log_event = log_event
        self.conn: Optional[Any] = None
        #: The source session of the re-copies of cascaded rows, opened at the first.
        self.source: Optional[Any] = None
        #: Whether keys the re-copy cannot lock may be carried (CascadePlan.open_source), known once it opened.
        self.carry = True
        #: Cascaded child keys still to re-copy, as the target's last commit recorded them; None until read from it.
        self.pending: Optional[dict[MovedTable, set[KeyValue]]] = None if self.cascades else {}

    def run(self, stream: Any, stop: threading.Event) -> None:
        """Read from ``stream`` (a binlog.reader.BinlogStream) and apply until ``stop`` is set.

        It stops at a checkpoint: what was prepared and not written is read
        again after a restart. An error of the stream is raised once the
        batches before it are written.
        """
        prepared: queue.Queue = queue.Queue(maxsize=1)
        ended = threading.Event()  # this thread is leaving: the preparer must not wait for room any longer
        free = threading.Event()  # this thread waits for a batch: the preparer hands over what it has
        preparer = threading.Thread(target=self._prepare, args=(stream, stop, ended, free, prepared), name="apply-preparer", daemon=True)
        preparer.start()
        try:
            while True:
                free.set()
                try:
                    item = prepared.get(timeout=RETRY_PENDING_SECONDS) if self.pending is None or self.pending else prepared.get()
                except queue.Empty:
                    item = _Batch([], 0, [], set() if self.config.inline else None)  # only the keys still to re-copy
                free.clear()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                self.throttle.wait(stop)  # between target transactions: a held applier holds none open
                if stop.is_set():
                    return
                self._commit(item, stop)
        finally:
            ended.set()
            preparer.join()
            close_quietly(self.conn, self.source)

    def _prepare(self, stream: Any, stop: threading.Event, ended: threading.Event, free: threading.Event, prepared: queue.Queue) -> None:
        """The preparer thread: batches of whole transactions, rendered; then None at ``stop``, or the error that ended it."""
        batch: list[Transaction] = []
        changes = 0
        started = time.monotonic()
        try:
            while not (stop.is_set() or ended.is_set()):
                try:
                    txn = stream.next_transaction(timeout=IDLE_SECONDS)
                except BaseException:
                    if batch:  # the transactions before the stream's error are written first
                        self._hand_over(prepared, ended, self._render(batch))
                    raise
                if txn is not None:
                    if not batch:
                        started = time.monotonic()
                    batch.append(txn)
                    changes += len(txn.changes)
                due = free.is_set() or changes >= self.tunables.batch_events or time.monotonic() - started > MAX_BATCH_SECONDS
                if batch and (txn is None or due):
                    self._hand_over(prepared, ended, self._render(batch))
                    batch, changes = [], 0
            self._hand_over(prepared, ended, None)
        except BaseException as exc:  # noqa: BLE001 - raised by run() after the batches before it  # pylint: disable=broad-exception-caught
            self._hand_over(prepared, ended, exc)

    @staticmethod
    def _hand_over(prepared: queue.Queue, ended: threading.Event, item: Any) -> None:
        while not ended.is_set():
            try:
                prepared.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _render(self, batch: list[Transaction]) -> _Batch:
        rows = [change for txn in batch for change in txn.changes]
        dirty = inline.changed_keys(self.tables, rows) if self.config.inline else None
        cascades = self.cascades.of_batch(rows) if self.cascades is not None else None
        return _Batch(batch, len(rows), net_statements(self.tables, rows, literal), dirty, cascades)

    def _commit(self, batch: _Batch, stop: threading.Event) -> None:
        """Write ``batch`` as one target transaction, retrying what a retry can cure; give up on it when ``stop`` is set.

        A batch given up is not lost: the target's position is still the one
        before it, so a restart reads those transactions again. Without that,
        a target that stopped answering kept the agent from stopping for as
        long as it retried.
        """
        last = batch.transactions[-1] if batch.transactions else None  # None: only the keys still to re-copy
        if last is not None and self.hook is not None:
            self.hook(batch.transactions)
        if last is not None and batch.changes == 0 and not self.record_empty:
            self.applied(batch.transactions, 0)  # every batch before it is committed: this thread commits them in order
            return
        backoff = Backoff("applying binlog events")
        while True:
            try:
                if self.conn is None:
                    self.conn = open_target_writer(self.config)
                if self.pending is None:
                    self.pending = self._load_pending()
                    if self.pending:  # carried over a restart: the log and the status say so from the start
                        self.log_pending(self.pending)
                if last is None and not self.pending:
                    self.conn.rollback()
                    return
                children = batch.cascades.lock_children(self.conn) if batch.cascades is not None else {}
                with self.conn.cursor() as cursor:
                    for statement in batch.statements:
                        execute_statement(cursor, statement, "applying binlog events to")
                dirty, pending = batch.dirty, self.pending
                if children or pending:
                    recopied = self._recopy(children)
                    dirty, pending = None if dirty is None else dirty | recopied.dirty, recopied.pending
                if dirty is not None:
                    state.mark_dirty(self.conn, self.config.name, dirty)
                    if last is not None:
                        state.save_inline_position(self.conn, self.config.name, last.position)
                if pending != self.pending:
                    state.save_pending(self.conn, self.config.name, _dirty_keys(pending))
                if last is not None:
                    state.save_position(self.conn, self.config.name, last.position)
                self.conn.commit()
                if children or self.pending:
                    rollback_quietly(self.source)  # it only read: ending it releases the re-copied rows' locks (cascades.py)
                if pending != self.pending:
                    self.log_pending(pending)
                self.pending = pending
                if last is not None:
                    self.applied(batch.transactions, batch.changes)
                return
            except Exception as exc:  # noqa: BLE001 - transient ones are retried, the rest re-raised
                if not is_transient(exc):
                    raise
                close_quietly(self.conn, self.source)  # the target's transaction first: it rolls back before the source's locks go
                self.conn = self.source = None
                if stop.is_set():
                    return
                backoff.failed(exc)

    def _load_pending(self) -> dict[MovedTable, set[KeyValue]]:
        """The keys still to re-copy as the target records them (a restart resumes with them), per child table."""
        found: dict[MovedTable, set[KeyValue]] = {}
        for schema, table, key in state.load_pending(self.conn, self.config.name):
            found.setdefault(self.tables[(schema, table)], set()).add(key)
        return found

    def _recopy(self, children: dict[MovedTable, set[KeyValue]]) -> Recopied:
        """Re-copy the cascaded child rows ``children`` (cascades.py, found only with ``self.cascades``), and the keys
        carried from earlier batches, in the open target transaction; the source's locks stay held until the caller's
        commit. The carried keys are read without waiting: no transaction of this batch holds them."""
        plan: CascadePlan = self.cascades  # type: ignore[assignment]
        if self.source is None:
            self.source = open_source_reader(self.config)
            self.carry = plan.open_source(self.source)
        found = plan.recopy(self.source, self.conn, children, wait=True, carry=self.carry)
        carried = {child: keys - children.get(child, set()) for child, keys in (self.pending or {}).items()}
        carried = {child: keys for child, keys in carried.items() if keys}
        if carried:
            again = plan.recopy(self.source, self.conn, carried, wait=not self.carry, carry=self.carry)
            found.dirty |= again.dirty
            for child, keys in again.pending.items():
                found.pending.setdefault(child, set()).update(keys)
        # Rows still to re-copy are known to differ on the target: dirty, so the re-verifier keeps looking at them.
        found.dirty |= set(_dirty_keys(found.pending))
        return found

    def log_pending(self, pending: dict[MovedTable, set[KeyValue]]) -> None:
        """Tell the move's log, when it changes, how many cascaded child rows wait for application transactions that hold
        them on the source (none: every one re-copied)."""
        if self.log_event is not None:
            self.log_event("recopy_pending", rows={child.source: len(keys) for child, keys in pending.items()})


def _dirty_keys(keys: dict[MovedTable, set[KeyValue]]) -> list[state.DirtyKey]:
    """``keys`` per child table as dirty keys (state.DirtyKey): how the state tables record keys of a table."""
    return [(child.schema, child.name, key) for child, child_keys in keys.items() for key in child_keys]


def apply_binlog(config: MoveConfig, flavor: Flavor, tables: list[MovedTable], position: str, applied: Applied, throttle: Throttle,
                 tunables: Tunables, stop: threading.Event, hook: Optional[ApplyHook] = None, on_event: Optional[Callable[..., None]] = None,
                 record_empty: bool = True, cascades: Optional[CascadePlan] = None) -> None:
    """Stream the binlog of ``config.source`` from ``position`` and apply the changes of ``tables`` until ``stop`` is set.

    The one wiring of a BinlogStream to an Applier, for a move (engine/ferry.py) and an online schema change
    (osc/runner.py): the stream's key columns are the tables', so before images carry only the key (all the applier reads),
    and for the parents of the cascading foreign keys ``cascades`` (a move's), the columns they reference.
    """
    keys = {(t.schema, t.name): cascades.before_columns(t) if cascades else t.key for t in tables}
    stream = BinlogStream(config.source, flavor, position, [(t.schema, t.name) for t in tables], server_id=config.server_id,
                          heartbeat_seconds=config.heartbeat_seconds, stall_seconds=config.stall_seconds,
                          keys=keys, on_event=on_event)
    try:
        Applier(config, tables, applied, throttle, tunables, hook, record_empty, cascades, on_event).run(stream, stop)
    finally:
        stream.close()
