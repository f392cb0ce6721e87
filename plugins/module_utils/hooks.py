"""Hooks: the operator's executables, run at a move's events (gh-ost style).

Every executable file in ``hooks_path`` whose name starts with the event's
name runs, in name order (``on-start-notify``, ``on-start-page``), with
environment variables that describe the move and its progress
(``DBFERRY_*``, see ``environment``) on top of the runner's own environment.
Never a password: only the move's status, which holds none, and the servers
as ``user@host:port``.

Events: ``on-start``, ``on-copy-complete``, ``on-status`` (every
``hooks_status_seconds``) and ``on-failure`` come from the engine, queued to
one thread of their own so that a slow hook never holds copy or apply;
``on-before-cutover``, ``on-after-cutover`` and ``on-success`` come from the
cutover, which runs them itself and waits for them. Each run is limited to
``hooks_timeout_seconds`` (then killed, with its process group) and logged
with its exit status and the end of its output. A failing hook is logged
and otherwise ignored, except ``on-before-cutover``: the cutover does not
start when one fails (as in gh-ost), so such a hook can veto it.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from typing import Any, Optional

from .config import MoveConfig
from .errors import DbferryError
from .eventlog import EventLog

EVENTS = ("on-start", "on-copy-complete", "on-before-cutover", "on-after-cutover", "on-success", "on-failure", "on-status")
#: How much of a hook's output goes into the log line about it.
OUTPUT_TAIL = 2000


def environment(config: MoveConfig, event: str, snapshot: dict[str, Any], error: Optional[str] = None) -> dict[str, str]:
    """The variables a hook gets (besides the runner's own environment)."""
    values = {
        "MOVE": config.name,
        "EVENT": event,
        "STATE_DIR": config.state_dir,
        "SOURCE": config.source.describe(),
        "TARGET": config.target.describe(),
        "PHASE": snapshot.get("phase"),
        "ROWS_COPIED": snapshot.get("rows_copied"),
        "ROWS_ESTIMATED": snapshot.get("rows_estimated"),
        "ROWS_PER_SECOND": snapshot.get("rows_per_second"),
        "ETA_SECONDS": snapshot.get("eta_seconds"),
        "LAG_SECONDS": snapshot.get("lag_seconds"),
        "LAG_EVENTS": snapshot.get("lag_events"),
        "APPLIED_POSITION": snapshot.get("applied_position"),
        "THROTTLED": "1" if snapshot.get("throttled") else "0",
        "THROTTLE_REASON": snapshot.get("throttle_reason"),
        "ERROR": error or snapshot.get("last_error"),
    }
    return {"DBFERRY_" + key: "" if value is None else str(value) for key, value in values.items()}


class Hooks:
    """Finds and runs the hooks of one move; does nothing without ``hooks_path``."""

    def __init__(self, config: MoveConfig, log: EventLog) -> None:
        self.config = config
        self.log = log
        self._queue: queue.Queue = queue.Queue()
        self._worker: Optional[threading.Thread] = None

    def check(self) -> None:
        """Refuse a ``hooks_path`` that is not a folder, before the move starts rather than at its first event."""
        path = self.config.hooks_path
        if path and not os.path.isdir(path):
            raise DbferryError("hooks_path %s is not a folder." % path, obj=path, fix="create it, or correct hooks_path.")

    def find(self, event: str) -> list[str]:
        """The executables for ``event``, in name order."""
        path = self.config.hooks_path
        if not path or not os.path.isdir(path):
            return []
        found = []
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if name.startswith(event) and os.path.isfile(full):
                if os.access(full, os.X_OK):
                    found.append(full)
                else:
                    self.log.event("hook_skipped", hook=full, hook_event=event, reason="not executable")
        return found

    def run(self, event: str, snapshot: dict[str, Any], error: Optional[str] = None) -> list[str]:
        """Run the hooks of ``event`` now, one after the other; return why each failed one failed."""
        env = dict(os.environ, **environment(self.config, event, snapshot, error))
        failures = []
        for path in self.find(event):
            failure = self._run_one(path, event, env)
            if failure:
                failures.append(failure)
        return failures

    def _run_one(self, path: str, event: str, env: dict[str, str]) -> Optional[str]:
        started = time.monotonic()
        try:
            process = subprocess.Popen([path], env=env, cwd=self.config.state_dir, stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:  # e.g. a script without a #! line
            self.log.event("hook", hook=path, hook_event=event, seconds=0, failed=str(exc), output="")
            return "hook %s: cannot run: %s" % (path, exc)
        with process:
            try:
                output = process.communicate(timeout=self.config.hooks_timeout_seconds)[0]
                failure = "exit status %d" % process.returncode if process.returncode else None
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the hook and whatever it started
                output = process.communicate()[0]
                failure = "killed after %.0f s (hooks_timeout_seconds)" % self.config.hooks_timeout_seconds
        text = output.decode("utf-8", "replace")[-OUTPUT_TAIL:].strip()
        self.log.event("hook", hook=path, hook_event=event, seconds=round(time.monotonic() - started, 3), failed=failure, output=text)
        return "hook %s: %s%s" % (path, failure, ": " + text if text else "") if failure else None

    def fire(self, event: str, snapshot: dict[str, Any], error: Optional[str] = None) -> None:
        """Run the hooks of ``event`` in the background, after those fired before (never blocks the caller)."""
        if not self.config.hooks_path:
            return
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="hooks", daemon=True)
            self._worker.start()
        self._queue.put((event, snapshot, error))

    def _work(self) -> None:
        for event, snapshot, error in iter(self._queue.get, None):
            self.run(event, snapshot, error)

    def close(self) -> None:
        """Let the hooks fired so far finish (each within its timeout): the process may be about to end."""
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None
