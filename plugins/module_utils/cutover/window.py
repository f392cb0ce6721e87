"""The read-only window's steps, written to the move's log for the post-mortem (``dbferry report``).

The cutover runs in a module's process, not in the agent, so until now its timings reached only the Ansible result
of one task. Each step is appended to the agent's log (``<state_dir>/ferry.log``) as a ``window_step`` event with its
start (epoch seconds) and length, so that the report can draw the window next to the copy and the lag: the switchover
logs ``read_only`` and ``verify``, the cutover its own steps. A separate ``read_only`` task does not know the move and
logs nothing; the report then shows the window from the cutover on.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Optional

from ..common.eventlog import EventLog

EVENT = "window_step"


class WindowSteps:
    """Collects steps timed with ``time.monotonic`` and logs them with wall-clock starts."""

    def __init__(self, name: str, state_dir: str) -> None:
        self.name = name
        self.state_dir = state_dir
        #: Wall-clock time minus monotonic time, to turn a monotonic mark into the epoch seconds the log is read in.
        self._offset = time.time() - time.monotonic()
        self._steps: list[dict] = []

    def add(self, step: str, began: float, ended: float, failed: Optional[str] = None) -> None:
        """A step from monotonic mark ``began`` to ``ended``; ``failed`` is the error that ended it."""
        entry = {"step": step, "started_at": round(self._offset + began, 3), "seconds": round(max(0.0, ended - began), 3)}
        if failed:
            entry["failed"] = failed
        self._steps.append(entry)

    def ended(self, step: str, began: float) -> float:
        """``step`` lasted from ``began`` until now; returns now, where the next step begins."""
        now = time.monotonic()
        self.add(step, began, now)
        return now

    def write(self) -> None:
        """Append the steps to the move's log. A log that cannot be written costs the report its window, never the cutover."""
        if not self._steps:
            return
        with contextlib.suppress(OSError):
            log = EventLog(self.name, os.path.join(self.state_dir, "ferry.log"))
            try:
                for entry in self._steps:
                    log.event(EVENT, **entry)
            finally:
                log.close()
        self._steps = []
