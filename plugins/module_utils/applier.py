"""The binlog applier: source transactions, in order, onto the target.

Whole source transactions are grouped into target transactions of about
``apply.batch_events`` row changes; each target transaction also records the
position after its last source transaction (state.save_position), so the
target never holds half a source transaction nor a position that disagrees
with its rows. When a target transaction fails with something a retry can
cure (deadlock against the copier, a dropped connection), the same source
transactions are written again from a fresh session: the rolled-back
attempt left nothing behind.

With ``verify.inline``, each target transaction also marks the keys its
changes touch dirty and records its position as tracked (inline.py), so the
dirty set never misses an applied change, even across a crash.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

from . import inline, state
from .changes import Transaction
from .config import MoveConfig
from .connection import close_quietly
from .copier import open_target_writer
from .retry import Backoff, is_transient
from .rows import apply_changes
from .schema import MovedTable
from .throttle import Throttle
from .tunables import Tunables

#: Called with the last applied transaction after each commit.
Applied = Callable[[Transaction, int], None]
#: Called with a batch before it is written. Race tests hold the applier here.
ApplyHook = Callable[[list], None]

#: A batch is committed when it has this many row changes, when the stream
#: is idle (nothing for IDLE_SECONDS), or when it is this old: lag stays low
#: under a steady trickle. At cutover the source stops writing, so the last
#: batch commits IDLE_SECONDS after its last transaction arrived: that wait
#: is part of the read-only window.
MAX_BATCH_SECONDS = 0.25
IDLE_SECONDS = 0.02


class Applier:
    """Applies a stream's transactions to the target until stopped."""

    def __init__(self, config: MoveConfig, tables: list[MovedTable], applied: Applied, throttle: Throttle, tunables: Tunables,
                 hook: Optional[ApplyHook] = None) -> None:
        self.config = config
        self.tables = {(t.schema, t.name): t for t in tables}
        self.applied = applied
        self.throttle = throttle
        self.tunables = tunables
        self.hook = hook
        self.conn: Optional[Any] = None

    def run(self, stream: Any, stop: threading.Event) -> None:
        """Read from ``stream`` (a binlog_stream.BinlogStream) and apply until ``stop`` is set."""
        batch: list[Transaction] = []
        changes = 0
        started = time.monotonic()
        try:
            while not stop.is_set():
                if not batch:
                    self.throttle.wait(stop)  # between target transactions: a held applier holds none open
                    if stop.is_set():
                        break
                txn = stream.next_transaction(timeout=IDLE_SECONDS)
                if txn is not None:
                    if not batch:
                        started = time.monotonic()
                    batch.append(txn)
                    changes += len(txn.changes)
                full = changes >= self.tunables.batch_events or time.monotonic() - started > MAX_BATCH_SECONDS
                if batch and (txn is None or full):
                    self._commit(batch, changes)
                    batch, changes = [], 0
            if batch:
                self._commit(batch, changes)
        finally:
            close_quietly(self.conn)

    def _commit(self, batch: list[Transaction], changes: int) -> None:
        if self.hook is not None:
            self.hook(batch)
        backoff = Backoff("applying binlog events")
        rows = [change for txn in batch for change in txn.changes]
        while True:
            try:
                if self.conn is None:
                    self.conn = open_target_writer(self.config)
                with self.conn.cursor() as cursor:
                    apply_changes(cursor, self.tables, rows)
                if self.config.inline:
                    inline.mark(self.conn, self.config.name, inline.changed_keys(self.tables, rows))
                    state.save_inline_position(self.conn, self.config.name, batch[-1].position)
                state.save_position(self.conn, self.config.name, batch[-1].position)
                self.conn.commit()
                self.applied(batch[-1], changes)
                return
            except Exception as exc:  # noqa: BLE001 - transient ones are retried, the rest re-raised
                if not is_transient(exc):
                    raise
                close_quietly(self.conn)
                self.conn = None
                backoff.failed(exc)
