"""A move's timeline, read from its JSON-lines log (``<state_dir>/ferry.log``, common/eventlog.py).

The log is the one record that covers a whole move, across agent restarts and into the cutover (cutover/window.py
appends the read-only window's steps to it). This reads it into plain series for charts: rows copied and rows/s and
lag over time (the agent's ``progress`` events), the intervals a move was held (``throttled``/``throttle_released``,
the operator's pause and throttle), the read-only window's steps (``window_step``), and the events a reader of a
post-mortem looks for (agent starts, tables copied, failures). A line that is not JSON (a torn last line of a killed
agent) is counted and skipped, not fatal: a report is most wanted after something went wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Optional

#: Events shown as marks on the time axis, with the words shown for them.
MARKS = {"agent_started": "agent started", "run": "copy and apply started", "copy_complete": "copy complete", "failed": "failed", "stopped": "agent stopped",
         "aborting": "aborting"}
#: Operator commands that hold a move until their counterpart (agent/process.py handlers).
_HOLDS = {"pause": "resume", "throttle": "unthrottle"}


@dataclass
class Point:
    """One ``progress`` event."""

    at: float
    phase: str
    rows_copied: int
    rows_estimated: int
    rows_per_second: float
    lag_seconds: Optional[float]
    lag_events: Optional[int]


@dataclass
class Interval:
    """A span of time: a hold of the move, or a step of the read-only window. ``end`` None: still open at the log's end."""

    start: float
    end: Optional[float]
    label: str
    failed: Optional[str] = None


@dataclass
class Timeline:
    """What the report draws."""

    move: str = ""
    first: Optional[float] = None
    last: Optional[float] = None
    points: list[Point] = field(default_factory=list)
    holds: list[Interval] = field(default_factory=list)
    window: list[Interval] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)
    tables: list[tuple[float, str, int]] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)
    skipped_lines: int = 0

    @property
    def phase(self) -> str:
        """The last phase the log shows: complete once a cutover recorded its last step, else the agent's."""
        if self.window and self.window[-1].label == "record" and not self.window[-1].failed:
            return "complete"
        for at, mark in reversed(self.marks):
            if mark in ("failed", "agent stopped") and (not self.points or at >= self.points[-1].at):
                return mark
        return self.points[-1].phase if self.points else "unknown"


def _seconds(stamp: str) -> float:
    """The log's ISO 8601 UTC timestamp as epoch seconds."""
    return datetime.fromisoformat(stamp).timestamp()


class _Reader:
    """Builds a Timeline one record at a time; the holds still open are kept by cause."""

    def __init__(self) -> None:
        self.timeline = Timeline()
        self.open_holds: dict[str, Interval] = {}

    def hold(self, at: float, cause: str, label: str) -> None:
        if cause not in self.open_holds:
            self.open_holds[cause] = Interval(at, None, label)
            self.timeline.holds.append(self.open_holds[cause])

    def release(self, at: float, cause: str) -> None:
        interval = self.open_holds.pop(cause, None)
        if interval is not None:
            interval.end = at

    def release_all(self, at: float) -> None:
        """An agent that starts or stops holds nothing any more (a new one checks again)."""
        for cause in list(self.open_holds):
            self.release(at, cause)

    def add(self, record: dict[str, Any]) -> None:
        at = _seconds(record["ts"])
        timeline = self.timeline
        timeline.move = timeline.move or str(record.get("move", ""))
        timeline.first = at if timeline.first is None else min(timeline.first, at)
        timeline.last = at if timeline.last is None else max(timeline.last, at)
        event = record.get("event")
        if event == "progress":
            timeline.points.append(Point(at, str(record.get("phase")), int(record.get("rows_copied") or 0),
                                         int(record.get("rows_estimated") or 0), float(record.get("rows_per_second") or 0.0),
                                         record.get("lag_seconds"), record.get("lag_events")))
        elif event == "throttled":
            self.hold(at, str(record.get("cause")), str(record.get("reason") or record.get("cause")))
        elif event == "throttle_released":
            self.release(at, str(record.get("cause")))
        elif event == "operator":
            command = record.get("command")
            if command in _HOLDS:
                self.hold(at, "operator " + command, "operator: %s" % command)
            for held, ends in _HOLDS.items():
                if command == ends:
                    self.release(at, "operator " + held)
        elif event == "window_step":
            start = float(record.get("started_at") or at)
            timeline.window.append(Interval(start, start + float(record.get("seconds") or 0.0), str(record.get("step")), record.get("failed")))
        elif event == "table_copied":
            timeline.tables.append((at, str(record.get("table")), int(record.get("rows") or 0)))
        if event in MARKS:
            timeline.marks.append((at, MARKS[event]))
            if event in ("agent_started", "stopped", "failed"):
                self.release_all(at)
        if event in ("failed", "aborting"):
            timeline.errors.append((at, str(record.get("error") or record.get("reason") or "")))


def read_timeline(lines: Iterable[str]) -> Timeline:
    """The timeline of the log ``lines`` (in the order written)."""
    reader = _Reader()
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            reader.add(record)
        except (ValueError, KeyError, TypeError):
            reader.timeline.skipped_lines += 1
    return reader.timeline


def load_timeline(path: str) -> Timeline:
    """The timeline of the log file at ``path``."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return read_timeline(handle)
