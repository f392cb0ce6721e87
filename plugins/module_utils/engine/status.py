"""What a running move reports: progress, speed, lag, position, last error.

The engine's threads update one ``Status``; the run loop publishes it as
``status.json`` in the move's state folder (atomically replaced), which is
what ``dbferry status`` and the status module read.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from typing import Any, Optional

from ..binlog import gtid
from ..common.errors import DbferryError
from ..common.private import write_private
from .batch_times import BatchTimes
from .state import COMPLETE
from ..controls.throttle import PAUSE, Throttle
from ..config.tunables import Tunables
from ..server.connection import fetch_value
from ..server.flavor import Flavor

STATUS_FILE = "status.json"

#: rows/s is measured over this many seconds.
_RATE_WINDOW = 10.0


class Status:
    """Thread-safe progress of one move."""

    def __init__(self, move: str, inline: bool = False, throttle: Optional[Throttle] = None, tunables: Optional[Tunables] = None) -> None:
        self.move = move
        #: What holds copy and apply now, and the settings in force: shown as they are at each snapshot.
        self.throttle = throttle or Throttle()
        self.tunables = tunables
        #: With verify.inline: the dirty rows left after the re-verifier's last pass, and the rows it found equal so far.
        self.inline = inline
        self.inline_dirty_rows = 0
        self.inline_verified_rows = 0
        self.tables: dict[str, dict[str, Any]] = {}
        #: Tables copied in several ranges -> [rows copied, done] of each range.
        self._ranges: dict[str, list[list]] = {}
        self.applied_position = ""
        self.applied_timestamp: Optional[int] = None
        self.applied_changes = 0
        self.source_current = ""
        self.lag_events = 0
        #: The source's clock minus this host's, as last measured: event timestamps are the source's clock, so lag in
        #: seconds is measured against it. Two hosts' clocks can differ by seconds, and a lag figure that adds the skew
        #: never falls under a wait's max_lag.
        self.clock_offset = 0.0
        #: Cascaded child rows the applier still has to re-copy (application transactions hold them on the source),
        #: per child table; None until the applier reports (a move without cascading foreign keys never does).
        self.recopy_pending: Optional[dict[str, int]] = None
        #: How long the copy's batches held their rows' locks on the source (copy_batch_lock_ms).
        self.batch_times = BatchTimes()
        self.error: Optional[str] = None
        self.is_stopped = False
        self._lock = threading.Lock()
        self._samples: deque = deque()

    def add_table(self, name: str, estimate: int, copied: int, done: bool, ranges: Optional[list[tuple[int, bool]]] = None) -> None:
        """A table to copy, with what its copy did so far; ``ranges``: (rows copied, done) of each of its ranges, when it is
        copied in several (shown per range: ``copied_range``, ``ranges_done``)."""
        with self._lock:
            self.tables[name] = {"estimate": estimate, "copied": copied, "done": done}
            if ranges is not None and len(ranges) > 1:
                self._ranges[name] = [[rows, range_done] for rows, range_done in ranges]

    def copied(self, name: str, rows: int, done: bool, range_no: int = 0) -> tuple[bool, bool]:
        """Count copied rows of a table's range (``done``: that range's end); return whether this call completed the
        table's copy, and whether it completed the copy of every table. A table of several ranges is done with its last
        range.

        Decided under the lock: two copiers finishing their last tables at once both saw every table done,
        and the on-copy-complete hook ran twice.
        """
        with self._lock:
            was_complete = all(t["done"] for t in self.tables.values())
            entry = self.tables[name]
            entry["copied"] += rows
            ranges = self._ranges.get(name)
            if ranges is not None:
                ranges[range_no][0] += rows
                ranges[range_no][1] = ranges[range_no][1] or done
                done = all(range_done for _rows, range_done in ranges)
            table_done = done and not entry["done"]
            entry["done"] = entry["done"] or done
            if done:
                entry["estimate"] = entry["copied"]
            return table_done, not was_complete and all(t["done"] for t in self.tables.values())

    def applied(self, position: str, timestamp: Optional[int], changes: int) -> None:
        with self._lock:
            self.applied_position = position
            if timestamp is not None:
                self.applied_timestamp = timestamp
            self.applied_changes += changes

    def source_position(self, current: str, behind: int, clock_offset: Optional[float] = None) -> None:
        """The source's current position, how many transactions the target is behind it, and its clock's offset."""
        with self._lock:
            self.source_current = current
            self.lag_events = behind
            if clock_offset is not None:
                self.clock_offset = clock_offset

    def inline_pass(self, verified: int, dirty: int) -> None:
        """A re-verifier pass found ``verified`` rows equal; ``dirty`` are left."""
        with self._lock:
            self.inline_verified_rows += verified
            self.inline_dirty_rows = dirty

    def recopy_pending_rows(self, rows: dict[str, int]) -> None:
        """The applier's cascaded child rows still to re-copy, per child table (an empty dict: none)."""
        with self._lock:
            self.recopy_pending = dict(rows)

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self.error = str(exc)

    def stopped(self) -> None:
        """The engine stopped cleanly, at a checkpoint."""
        with self._lock:
            self.is_stopped = True

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = time.time()
            copied = sum(t["copied"] for t in self.tables.values())
            estimated = sum(max(t["estimate"], t["copied"]) for t in self.tables.values())
            self._samples.append((now, copied))
            while len(self._samples) > 1 and now - self._samples[0][0] > _RATE_WINDOW:
                self._samples.popleft()
            first_time, first_copied = self._samples[0]
            rate = (copied - first_copied) / (now - first_time) if now > first_time else 0.0
            done = all(t["done"] for t in self.tables.values())
            if self.lag_events == 0:
                lag_seconds: Optional[float] = 0.0
            elif self.applied_timestamp is not None:
                lag_seconds = max(0.0, now + self.clock_offset - self.applied_timestamp)
            else:
                lag_seconds = None
            reasons = self.throttle.reasons()
            snapshot = {
                "move": self.move,
                "phase": "failed" if self.error else "stopped" if self.is_stopped else "tailing" if done else "copying",
                "tables": {name: self._table(name, entry) for name, entry in sorted(self.tables.items())},
                "rows_copied": copied,
                "rows_estimated": estimated,
                "rows_per_second": round(rate, 1),
                "eta_seconds": None if done or rate <= 0 else round(max(0, estimated - copied) / rate),
                "lag_seconds": None if lag_seconds is None else round(lag_seconds, 3),
                "lag_events": self.lag_events,
                "source_clock_offset_seconds": round(self.clock_offset, 3),
                "applied_position": self.applied_position,
                "source_position": self.source_current,
                "applied_changes": self.applied_changes,
                "throttled": bool(reasons),
                "throttle_reason": "; ".join(reasons) or None,
                "paused": self.throttle.holds(PAUSE),
                "last_error": self.error,
                # Whose status this is: the agent module returns once its agent, this pid, has published one.
                "pid": os.getpid(),
                "updated_at": round(now, 3),
            }
            if self.tunables is not None:
                snapshot["settings"] = self.tunables.settings()
            if self.recopy_pending is not None:
                snapshot.update(recopy_pending_rows=sum(self.recopy_pending.values()), recopy_pending_tables=dict(self.recopy_pending))
            batches = self.batch_times.summary()
            if batches is not None:
                snapshot["copy_batch_lock_ms"] = batches
            if self.inline:
                snapshot.update(inline_dirty_rows=self.inline_dirty_rows, inline_verified_rows=self.inline_verified_rows)
            return snapshot

    def _table(self, name: str, entry: dict[str, Any]) -> dict[str, Any]:
        """A table's entry of the snapshot: with several ranges, the rows copied of each and how many are done."""
        shown = dict(entry)
        ranges = self._ranges.get(name)
        if ranges is not None:
            shown.update(copied_range=[rows for rows, _done in ranges], ranges_done=sum(1 for _rows, done in ranges if done))
        return shown

    def publish(self, state_dir: str) -> dict[str, Any]:
        """Write status.json atomically; return what was written."""
        snapshot = self.snapshot()
        write(state_dir, snapshot)
        return snapshot


def observe_source(conn: Any, flavor: Flavor, status: Status) -> None:
    """Read the source's position and clock into ``status``, for its lag figures (a move's run loop, an alter's status loop)."""
    current = fetch_value(conn, flavor.gtid_position_sql) or ""
    asked = time.time()
    source_clock = float(fetch_value(conn, "SELECT UNIX_TIMESTAMP(NOW(6))"))
    clock_offset = source_clock - (asked + time.time()) / 2  # the source read its clock about halfway through the round trip
    status.source_position(current, gtid.behind(status.applied_position, current), clock_offset)


def write(state_dir: str, snapshot: dict[str, Any]) -> None:
    """Publish ``snapshot`` where `dbferry status`, the status module and the wait module read it."""
    write_private(os.path.join(state_dir, STATUS_FILE), json.dumps(snapshot, indent=1))


def record_complete(state_dir: str, final_position: str) -> None:
    """After the cutover, the published status says "complete": the stopped agent's last word was "stopped",
    which at 3 a.m. reads like a move that still has to be cut over."""
    try:
        snapshot = read(state_dir)
    except (OSError, ValueError):
        snapshot = {"tables": {}}
    snapshot.update(phase=COMPLETE, applied_position=final_position, source_position=final_position, lag_seconds=0.0,
                    lag_events=0, throttled=False, throttle_reason=None, updated_at=round(time.time(), 3))
    write(state_dir, snapshot)


def refuse_complete(state_dir: str, move: str) -> None:
    """Raise when the move's status says it was cut over: its agent must not start again.

    Checked before the agent is launched, so that nothing rewrites the status of a complete move (an agent
    refused by the target's record would publish "failed" over "complete").
    """
    try:
        snapshot = read(state_dir)
    except (OSError, ValueError):
        return
    if snapshot.get("phase") == COMPLETE:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(snapshot.get("updated_at") or 0))
        raise DbferryError("move %s was cut over already (at %s, final position %s); its agent is not started again." % (
            move, when, snapshot.get("applied_position") or "?"), obj=move,
            fix="nothing to do for this move; to move the same data again, remove it first (dbferry.mysql.agent state: absent).")


def read(state_dir: str) -> dict[str, Any]:
    """The last published status of the move whose state folder is ``state_dir``."""
    with open(os.path.join(state_dir, STATUS_FILE), encoding="utf-8") as handle:
        return json.load(handle)
