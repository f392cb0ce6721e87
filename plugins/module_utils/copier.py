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

With ``verify.inline``, step 2 also hashes the batch's key range on both
sides and marks the keys that differ dirty (inline.py), in the same two
transactions, so the hashes are of exactly the rows written.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from . import state
from .config import MoveConfig
from .connection import connect, execute, fetch_all
from .flavor import Flavor
from .identifiers import for_arguments, quote_ident
from .inline import BatchHasher
from .retry import run_reconnecting
from .rows import copy_rows
from .schema import MovedTable
from .throttle import Throttle
from .tunables import Tunables

#: Called with (table, rows) between the read and the write, while the
#: source locks are held. Tests use it to run racing DML at that moment.
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
    # Rows arrive in key order per table, not in the order constraints need.
    execute(conn, "SET SESSION foreign_key_checks = 0")
    return conn


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
        self.stop: Optional[threading.Event] = None
        self.hasher = BatchHasher(config, flavor, table) if config.inline else None
        # Both statements run with arguments (``()`` for the first), so names are escaped for that.
        key = for_arguments(quote_ident(table.key))
        select = "SELECT %s FROM %s" % (for_arguments(table.select_list), for_arguments(table.quoted_source))
        # The batch size may change between batches (tunables), so the statements end at LIMIT.
        self.first_sql = select + " ORDER BY %s LIMIT " % key
        self.next_sql = select + " WHERE %s > %%s ORDER BY %s LIMIT " % (key, key)
        self.lock_clause = " " + flavor.shared_lock_clause

    def run(self, stop: threading.Event) -> None:
        """Copy until the table is done or ``stop`` is set (at a batch boundary)."""
        self.stop = stop
        run_reconnecting("copying %s" % self.table.source, stop,
                         lambda: (open_source_reader(self.config), open_target_writer(self.config)), self._batch)

    def _batch(self, source: Any, target: Any) -> bool:
        """Copy one batch; True when the table is done."""
        self.throttle.wait(self.stop)  # before the read: a held copier holds no source locks
        if self.stop.is_set():
            return False
        tail = "%d%s" % (self.tunables.batch_rows, self.lock_clause)
        if self.last_key is None:
            rows = fetch_all(source, self.first_sql + tail, ())
        else:
            rows = fetch_all(source, self.next_sql + tail, (self.last_key,))
        if not rows:
            if self.hasher is not None:  # rows only on the target beyond the source's last key
                self.hasher.check(source, target, self.last_key, None, True)
            state.save_cursor(target, self.config.name, self.table, self.last_key, True, 0)
            target.commit()
            source.rollback()
            self.progress(self.table, 0, True)
            return True
        if self.hook is not None:
            self.hook(self.table, rows)
        last_key = rows[-1][self.table.key_index]
        with target.cursor() as cursor:
            copy_rows(cursor, self.table, rows)
        if self.hasher is not None:
            self.hasher.check(source, target, self.last_key, last_key, False)
        state.save_cursor(target, self.config.name, self.table, last_key, False, len(rows))
        fetch_all(source, "SELECT 1")  # step 3: the session that holds the locks is alive
        target.commit()
        # The batch is on the target: from here a failure must not copy it again.
        self.last_key = last_key
        self.progress(self.table, len(rows), False)
        source.commit()
        return False
