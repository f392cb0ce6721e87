"""The read-only window's budget: how long the source is expected to stay read-only, from what is left to verify, and
the limit it must stay under (``max_read_only_seconds``).

Verification is what grows with the data in the window; the rest (read-only
on, Pf, the cutover's checks) is a few round trips. So the estimate is the
verification's, table by table: a table inline vouches for costs its dirty
rows (rows changed since they were last found equal), any other table all
its rows (a checksum), each at a rate measured by the pass made while the
source was writable (window.py) when it read enough rows, else at a
conservative default; plus the binlog lag the applier must catch up on
before anything is compared. Tables are verified ``parallel`` at a time.
After the verification, the cutover scans each moved child table whose
foreign key names a parent outside the move for orphans (cutover/orphans.py),
one table after another: its copied rows at the checksum rate.

The limit is checked twice: before read-only goes on (an estimate over it
refuses, nothing is touched), and after each step in the window (an overrun
makes the source writable again and fails, naming the step and the table
that took the time). 0 means no limit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

from ..common.errors import DbferryError
from ..cutover.orphans import outside_keys
from ..engine import state
from ..engine.tables import MovedTable
from .checksum import TableResult

#: max_read_only_seconds' default: a window an application rides out with retries.
DEFAULT_MAX_SECONDS = 5.0
#: Rows a verify worker compares per second when nothing was measured: a checksum reads a range of rows per query (the
#: issue's 3M rows took 27 s with 2 workers, ~55,000 rows/s each), a dirty-row comparison looks rows up by key.
CHECKSUM_ROWS_PER_SECOND = 50_000.0
DIRTY_ROWS_PER_SECOND = 10_000.0
#: A pass that read fewer rows measures its round trips rather than its rate.
MEASURED_MIN_ROWS = 10_000


@dataclass(frozen=True)
class Part:
    """One table's share of the window."""

    table: str
    method: str
    rows: int
    seconds: float

    def describe(self) -> str:
        what = "its %d dirty rows" % self.rows if self.method == "inline" else "all %d rows by checksum" % self.rows
        return "%s: %s, %.1f s" % (self.table, what, self.seconds)


@dataclass(frozen=True)
class Estimate:
    """The expected read-only window, and what makes it up."""

    parts: tuple[Part, ...]
    parallel: int
    catch_up_seconds: float = 0.0
    #: The cutover's orphan scans of children of parents outside the move, one after another (cutover/orphans.py).
    orphan_scan_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        """The catch-up, then the tables ``parallel`` at a time: at least the largest one, at least their sum shared out;
        then the orphan scans."""
        work = [p.seconds for p in self.parts]
        largest = max(work, default=0.0)
        return self.catch_up_seconds + max(largest, sum(work) / max(self.parallel, 1)) + self.orphan_scan_seconds

    def largest(self) -> Optional[Part]:
        return max(self.parts, key=lambda p: p.seconds, default=None)

    def describe(self) -> str:
        """One line: the total and its largest parts."""
        shown = sorted(self.parts, key=lambda p: -p.seconds)[:3]
        parts = ["catching up %.1f s of binlog lag" % self.catch_up_seconds] if self.catch_up_seconds else []
        parts += [p.describe() for p in shown]
        parts += ["orphan scans of foreign keys to parents outside the move %.1f s" % self.orphan_scan_seconds] if self.orphan_scan_seconds else []
        more = "; and %d more table(s)" % (len(self.parts) - len(shown)) if len(self.parts) > len(shown) else ""
        return "expected read-only window %.1f s (%s%s)" % (self.seconds, "; ".join(parts) or "nothing left to verify", more)

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 3), "catch_up_seconds": round(self.catch_up_seconds, 3), "parallel": self.parallel,
                "orphan_scan_seconds": round(self.orphan_scan_seconds, 3),
                "tables": [{"table": p.table, "method": p.method, "rows": p.rows, "seconds": round(p.seconds, 3)} for p in self.parts],
                "summary": self.describe()}


def measured_rate(results: list[TableResult]) -> Optional[float]:
    """Rows per second and worker of a checksum pass, when it read enough rows to tell."""
    rows = sum(r.rows for r in results)
    seconds = sum(r.seconds for r in results)
    return rows / seconds if rows >= MEASURED_MIN_ROWS and seconds > 0 else None


def estimate(tables: list[MovedTable], coverage: Optional[dict[str, Optional[str]]], dirty: dict[tuple[str, str], int],
             rows: dict[tuple[str, str], int], parallel: int, checksum_rate: Optional[float] = None,
             catch_up_seconds: float = 0.0) -> Estimate:
    """The window for verifying ``tables``: ``coverage`` None is method checksum (every table by checksum), else
    checksum.inline_coverage's (None: vouched for, compared at its ``dirty`` rows); ``rows`` are the tables' sizes."""
    parts = []
    for table in tables:
        name = (table.schema, table.name)
        if coverage is not None and coverage[table.source] is None:
            parts.append(Part(table.source, "inline", dirty.get(name, 0), dirty.get(name, 0) / DIRTY_ROWS_PER_SECOND))
        else:
            parts.append(Part(table.source, "checksum", rows.get(name, 0), rows.get(name, 0) / (checksum_rate or CHECKSUM_ROWS_PER_SECOND)))
    return Estimate(tuple(parts), parallel, max(catch_up_seconds, 0.0))


def expected(target: Any, move: str, tables: list[MovedTable], coverage: Optional[dict[str, Optional[str]]], parallel: int,
             checksum_rate: Optional[float] = None, catch_up_seconds: float = 0.0) -> Estimate:
    """estimate() from what the target records now: dirty rows, and rows copied as the tables' sizes; plus the cutover's
    orphan scans of the children whose foreign key names a parent outside the move."""
    recorded = state.load(target, move)
    rows = {name: cursor.rows_copied for name, cursor in recorded.cursors.items()} if recorded is not None else {}
    found = estimate(tables, coverage, state.dirty_counts(target, move) if coverage is not None else {}, rows, parallel,
                     checksum_rate, catch_up_seconds)
    sources = {(t.target_schema, t.target_name): (t.schema, t.name) for t in tables}
    scanned = sum(rows.get(sources[(key.schema, key.table)], 0) for key in outside_keys(target, sources))
    return replace(found, orphan_scan_seconds=scanned / (checksum_rate or CHECKSUM_ROWS_PER_SECOND))


def refuse_over(found: Estimate, limit: float) -> None:
    """Before read-only goes on: refuse a window expected to last longer than ``limit`` seconds (0: no limit)."""
    if limit <= 0 or found.seconds <= limit:
        return
    largest = found.largest()
    fix = "verify with method inline and let the pass made while the source is writable vouch for the tables (the switchover " \
          "makes it), wait for a quieter time (fewer changed rows), or raise max_read_only_seconds (0: no limit)."
    if largest is not None and largest.method == "checksum":
        fix = "%s is compared by checksum in the window: %s" % (largest.table, fix)
    raise DbferryError("the %s is over max_read_only_seconds %g." % (found.describe(), limit),
                       obj=largest.table if largest is not None else "max_read_only_seconds", fix=fix)


def overrun(limit: float, elapsed: float, step: str, slowest: str = "") -> Optional[str]:
    """In the window, after ``step``: why it is over ``limit`` (None: within it, or no limit); ``slowest`` names what
    took the time in the step."""
    if limit <= 0 or elapsed <= limit:
        return None
    return "the source has been read-only for %.3f s, over max_read_only_seconds %g, after step %s%s." % (
        elapsed, limit, step, " (the longest: %s)" % slowest if slowest else "")


def slowest_table(results: list[TableResult]) -> str:
    """The table a verification spent the most time on, and how it was compared."""
    if not results:
        return ""
    found = max(results, key=lambda r: r.seconds)
    return "%s, %d rows by %s in %.3f s" % (found.table.source, found.rows, found.method or "checksum", found.seconds)
