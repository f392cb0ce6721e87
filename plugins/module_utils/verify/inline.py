"""Inline verification (config ``verify.inline``): what the engine does so that
verify method ``inline`` needs to compare only the rows changed recently.

The invariant, for a table whose whole copy was hashed ("covered") in a move
whose applier marked every change ("tracked"): once the applier has applied
the source's position, every row of the target equals the source's, except
perhaps rows whose key is in ``_dbferry.dirty``. It is kept by three writers:

1. The copier, after writing a batch and before committing, hashes the
   batch's key range on both sides and compares. The source's side is the
   batch itself: the rows exactly as the source printed them for the copy
   (schema.value_literal), read under the batch's shared locks, hashed as
   they arrive, before the copier does anything with them, without asking
   the source again. The target prints the rows of the same
   key range the same way, inside the target transaction, and hashes them.
   Equal prints mean equal rows, because the print is exact (every byte and
   digit, which the fidelity tests check type by type); and a row that the
   target stores differently from what it was sent prints differently. If
   the sums differ, which is legitimate when the applier has not yet brought
   a row's older events, the differing keys are marked dirty in the same
   target transaction. The range after the last key is hashed when the
   table is done, so rows only on the target beyond the source's last key
   are found too. (Method checksum compares with a digest of its own.)
2. The applier marks the before and after key of every change it applies,
   in the transaction that applies it (one statement per commit).
3. The re-verifier removes a key only after finding it equal on both sides:
   it reads the keys with their ``seq``, reads the source position P, hashes
   the rows on the source, waits until the applier has applied P, hashes
   them on the target, and deletes the keys that matched only if their
   ``seq`` is unchanged, i.e. no change of the row was applied in between.
   A change applied later marks the key again. Rows that differ stay dirty
   (they may be changes still arriving) and are looked at again.

Tracking is continuous from ``inline_moves.tracked_since``: a run after a
gap (changes applied while inline was off) starts it again there, and the
copy hashes of tables begun before no longer count. Such tables are vouched
for by a checksum pass while the source is writable (window.py).

Out of reach by design: a write to the target behind the move's back (not
in the source's binlog) to a row that is not dirty. Inline verification
only re-reads dirty rows; method checksum reads every row and finds it.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from ..binlog import gtid
from ..binlog.changes import RowChange
from ..config.move_config import MoveConfig
from ..server.connection import connect, fetch_all, fetch_value
from ..server.flavor import Flavor
from ..common.identifiers import for_arguments
from ..common.retry import run_reconnecting
from ..engine import state
from ..engine.keys import KeyValue
from ..engine.tables import MovedTable
from ..engine.status import Status
from .checksum import key_digests, range_condition, row_differences, row_digest, rows_at_keys, table_columns

#: Dirty keys the re-verifier takes per pass.
REVERIFY_ROWS = 500
#: The re-verifier's pause when nothing is dirty.
IDLE_SECONDS = 0.5


def changed_keys(tables: dict[tuple[str, str], MovedTable], changes: Iterable[RowChange]) -> set[state.DirtyKey]:
    """Every key a change touches: the before key and the after key (they differ when the key changes)."""
    keys = set()
    for change in changes:
        key = tables[(change.schema, change.table)].key
        for image in (change.before, change.after):
            if image is not None:
                keys.add((change.schema, change.table, tuple(image[c] for c in key)))
    return keys


#: GROUP_CONCAT's limit on the target's session for the batch digest: a batch's printed rows, with room to spare
#: (a longer batch is cut, its digest differs, and the rows are then compared one by one: slower, never wrong).
GROUP_CONCAT_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class BatchPrint:
    """A batch as the source printed it, taken as it arrived: its rows' count and the MD5 of their prints in key order,
    and the rows themselves (kept apart from the list the copier writes from), for a row-by-row comparison."""

    rows: tuple
    digest: Optional[str]

    @classmethod
    def of(cls, rows: list) -> "BatchPrint":
        return cls(tuple(rows), hashlib.md5(b"".join(printed for _key, printed in rows)).hexdigest() if rows else None)


class BatchHasher:
    """The copier's part (step 1 of the module docstring), for one table.

    One digest a batch on each side: the MD5 of the rows' prints, concatenated
    in key order (each print is a self-delimiting tuple). On the target that
    is one pass that prints the rows and one MD5 over the result, and in the
    agent one MD5 over the batch's bytes: no per-row work in Python. Only when
    the digests differ are the rows compared one by one.
    """

    def __init__(self, config: MoveConfig, table: MovedTable) -> None:
        self.config = config
        self.table = table
        self.printed = for_arguments(table.row_literal)

    def compare(self, target: Any, low: Optional[KeyValue], high: Optional[KeyValue], ours: BatchPrint) -> None:
        """Compare key range ``(low, high]`` (None: open) on the target with the batch copied into it, in the batch's
        target transaction; mark the keys that differ. (The copier records the progress, ``state.save_hashed``, with
        its cursor.)"""
        condition, args = range_condition(self.table.key, (low, high))
        theirs = fetch_all(target, "SELECT COUNT(*), MD5(GROUP_CONCAT(%s ORDER BY %s SEPARATOR '')) FROM %s WHERE %s" % (
            self.printed, self.table.key_sql, self.table.target_sql, condition), args)[0]
        if (int(theirs[0]), theirs[1]) != (len(ours.rows), ours.digest):
            rows = [(key, hashlib.md5(printed).hexdigest()) for key, printed in ours.rows]
            differences = row_differences(rows, key_digests(target, self.table.target_sql, self.table.key, "MD5(%s)" % self.printed,
                                                            condition, args))
            state.mark_dirty(target, self.config.name, ((self.table.schema, self.table.name, k) for k, _kind in differences))


class Reverifier:
    """The background part (step 3 of the module docstring): takes dirty keys, removes those found equal."""

    def __init__(self, config: MoveConfig, flavor: Flavor, tables: list[MovedTable], status: Status,
                 hook: Optional[Callable[[], None]] = None) -> None:
        self.config = config
        self.flavor = flavor
        self.tables = {(t.schema, t.name): t for t in tables}
        self.status = status
        self.hook = hook
        #: Each table's row digest expression, made on first use.
        self.digests: dict[tuple[str, str], str] = {}
        #: Where the next pass starts: passes go round the dirty set, so rows that keep differing do not starve the others.
        self.after: Optional[state.DirtyRow] = None

    def run(self, halt: threading.Event) -> None:
        """Re-verify until ``halt`` is set."""
        run_reconnecting("re-verifying changed rows", halt, lambda: (connect(self.config.source), connect(self.config.target)),
                         lambda source, target: self._round(source, target, halt))

    def _round(self, source: Any, target: Any, halt: threading.Event) -> bool:
        """One pass over a batch of dirty keys; pause when there was nothing to do. Never done: False."""
        if self.hook is not None:
            self.hook()
        if not self._pass(source, target, halt):
            halt.wait(IDLE_SECONDS)
        return False

    def _take(self, target: Any) -> list[state.DirtyRow]:
        """The next dirty keys after ``self.after`` (from the start once the end is reached)."""
        rows: list = []
        if self.after is not None:
            rows = state.dirty_after(target, self.config.name, self.after, REVERIFY_ROWS)
        if not rows:
            rows = state.dirty_after(target, self.config.name, None, REVERIFY_ROWS)
        self.after = rows[-1] if len(rows) == REVERIFY_ROWS else None
        return [row for row in rows if (row.schema, row.table) in self.tables]

    def _pass(self, source: Any, target: Any, halt: threading.Event) -> bool:
        """One batch of dirty keys; False when there was nothing to do."""
        taken = self._take(target)
        if not taken:
            self.status.inline_pass(0, 0)
            return False
        position = fetch_value(source, self.flavor.gtid_position_sql) or ""
        by_table: dict[tuple[str, str], list[state.DirtyRow]] = {}
        for row in taken:
            by_table.setdefault((row.schema, row.table), []).append(row)
        ours = {name: self._digests(source, name, keys, True) for name, keys in by_table.items()}
        while not gtid.reached(self.status.applied_position, position):
            if halt.wait(0.05):
                return True
        verified = 0
        for name, keys in by_table.items():
            theirs = self._digests(target, name, keys, False)
            equal = [row for i, row in enumerate(keys) if ours[name].get(i) == theirs.get(i)]
            if equal:
                verified += state.clear_dirty(target, self.config.name, name[0], name[1], equal)
        self.status.inline_pass(verified, state.dirty_count(target, self.config.name))
        return True

    def _digests(self, conn: Any, name: tuple[str, str], keys: list[state.DirtyRow], on_source: bool) -> dict[int, str]:
        """Position in ``keys`` -> row digest of the row at that dirty key, for the rows that exist on that side (the
        source is always asked first). Rows are matched to keys by the server (checksum.rows_at_keys): a row that two
        dirty keys both find counts for the first; the second finds none on either side, and the first stays dirty
        while the row differs.
        """
        if name not in self.digests:
            self.digests[name] = row_digest(table_columns(conn, *name))
        table = self.tables[name]
        return {i: row[0] for i, row in rows_at_keys(conn, table.source_sql if on_source else table.target_sql, table.key,
                                                     self.digests[name], [row.key for row in keys]).items()}
