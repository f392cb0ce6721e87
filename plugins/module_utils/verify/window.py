"""Before the source goes read-only: a checksum pass for the tables inline cannot vouch for, so that the read-only
window compares only changed rows, whatever the tables' size.

Inline verification vouches for a table whose whole copy was hashed while
every applied change was tracked (inline.py). It cannot for a table copied,
or whose binlog events were applied, while ``verify.inline`` was off: a
rehearsal without it, a run restarted with it. Such a table used to be
compared by checksum in the read-only window, every row of it. Here it is
compared by checksum while the source is still writable, and is vouched for
from then on: its differing rows are marked dirty, and the pass's start
position is recorded (``state.record_checked``). In the window only its dirty
rows are compared, as for any covered table.

Why that is enough (docs/design.md, "Verification"). Tracking is continuous
from ``tracked_since`` up to now (``state.InlineState.current``), and the
pass reads the source position P before it reads any row, P not before
``tracked_since``. Take a key k of the table and the last change c to k up
to the final position Pf:

- c is applied while tracking: the applier marked k dirty with c, and only
  a comparison that found k equal afterwards (re-verifier, or a later pass)
  removed the mark. k is compared in the window or was found equal since c.
- Otherwise c was applied before tracking began, so before P (or there is
  no c): k's row is the same on the source from P to Pf, and on the target
  too (no change of k is applied after c). The pass read the source's row
  after P, and the target's at some point after: both are the rows of Pf.
  A range found equal proves k equal at Pf; a range that stays different is
  narrowed to its rows, and the differing ones are marked dirty, to be
  compared (again) in the window.

A table whose differences exceed what a pass lists (``MAX_REPORTED_ROWS``)
is left unvouched: the window compares it by checksum, and reports it. A
gap in tracking after the pass (a run without inline) moves
``tracked_since`` past P, and the pass no longer counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..engine import state
from ..server.connection import ServerSpec, close_quietly, connect, fetch_value
from .checksum import DEFAULT_CHUNK_ROWS, DEFAULT_PARALLEL, DEFAULT_TIMEOUT, TableResult, check_options, coverage_of, sessions, \
    verify_tables, wait_applied


@dataclass
class Prepared:
    """What the pass did: the tables it compared (and vouches for now), and those still left to checksum in the window."""

    #: The source position read before the pass ("" when there was nothing to compare).
    position: str = ""
    checked: list[TableResult] = field(default_factory=list)
    #: Source table name -> why the window still compares it by checksum.
    unvouched: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """Whether the target's _dbferry records a pass (nothing else is written)."""
        return any(t.table.source not in self.unvouched for t in self.checked)

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "seconds": round(self.seconds, 3), "unvouched": dict(self.unvouched),
                "checked": [dict(t.as_dict(), dirty_marked=len(t.mismatches)) for t in self.checked]}


def prepare(source: ServerSpec, target: ServerSpec, move: str, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
            parallel: int = DEFAULT_PARALLEL, timeout: float = DEFAULT_TIMEOUT,
            hook: Optional[Callable[[], None]] = None) -> Prepared:
    """Compare every table of ``move`` that inline cannot vouch for while the source is writable (module docstring).

    A move that does not run with ``verify.inline`` now is left as it is: every table of it is compared by checksum in
    the window, and ``unvouched`` says why. ``hook`` runs between the comparison and its record (race tests).
    """
    check_options("checksum", timeout, chunk_rows, parallel)
    started = time.monotonic()
    with sessions(source, target, "verifies moves") as (source_conn, target_conn, flavor):
        tables = state.read_move_tables(target_conn, move)
        recorded = state.inline_state(target_conn, move)
        coverage = coverage_of(recorded, tables)
        pending = [t for t in tables if coverage[t.source] is not None]
        if not pending or recorded is None or not recorded.current:
            return Prepared(unvouched={name: why for name, why in coverage.items() if why is not None}, seconds=time.monotonic() - started)
        position = fetch_value(source_conn, flavor.gtid_position_sql) or ""
        wait_applied(target_conn, move, pending, position, timeout)
    results = verify_tables(source, target, move, flavor.gtid_position_sql, pending, chunk_rows, parallel, timeout)
    if hook is not None:
        hook()
    prepared = Prepared(position, results)
    conn = connect(target, autocommit=False)
    try:
        for result in results:
            if result.truncated:
                prepared.unvouched[result.table.source] = "a checksum pass while the source was writable found more than %d differing " \
                                                          "rows" % len(result.mismatches)
                continue
            state.record_checked(conn, move, result.table, position, [m.key for m in result.mismatches])
            conn.commit()
    finally:
        close_quietly(conn)
    prepared.seconds = time.monotonic() - started
    return prepared
