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
cutover, which runs them itself and waits for them: ``on-before-cutover``
runs while the source is read-only, so its time is the application's.
A failing hook is logged and otherwise ignored, except ``on-before-cutover``:
the cutover does not start when one fails (as in gh-ost), so such a hook can
veto it.

Each run is limited to ``hooks_timeout_seconds``, and the limit is the hook
process's own: its output goes to a file, not a pipe, and the runner waits
for the process, not for the end of its output. A hook that exits while a
child it detached (``setsid cmd &``) still holds its stdout has ended, with
its exit status; one that outlives the limit is killed with its process group
(it runs in a session of its own). The queue of the engine's events is
bounded: an ``on-status`` fired while one is still waiting is left out (the
waiting one reports the move when it runs), and once the agent stops, the
``on-status`` runs still waiting are skipped, so a slow status hook never
delays the stop by more than the one run in progress.

Hooks run the operator's code as the agent's user, so the folder and each
hook must belong to that user (or root) and be writable by no one else:
``check`` refuses the folder at start, and a hook found unsafe later is not
run (and counts as failed).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import stat
import subprocess
import tempfile
import threading
import time
from typing import Any, Optional

from ..config.move_config import MoveConfig
from ..common.errors import DbferryError
from ..common.eventlog import EventLog

EVENTS = ("on-start", "on-copy-complete", "on-before-cutover", "on-after-cutover", "on-success", "on-failure", "on-status")
#: How much of a hook's output goes into the log line about it.
OUTPUT_TAIL = 2000
#: Engine events waiting for the hooks thread, at most (on-status takes one place at most; see Hooks.fire).
QUEUE_LIMIT = 16
#: What ``check`` and ``run`` tell the operator to do about an unsafe hooks folder or hook.
SAFE_FIX = "chown them to the user the agent runs as (or root) and chmod go-w them (hooks run as that user)."


def unsafe(path: str, what: str) -> Optional[str]:
    """Why the folder or hook ``path`` is not safe to run code from, or None.

    Anyone who may write it may change what the agent runs, as the agent's
    user, with the move's credentials in reach.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        return "%s %s cannot be read: %s" % (what, path, exc.strerror)
    if info.st_uid not in (os.geteuid(), 0):
        return "%s %s is owned by uid %d, not by uid %d (this user) or root" % (what, path, info.st_uid, os.geteuid())
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "%s %s is writable by group or others (mode %o)" % (what, path, stat.S_IMODE(info.st_mode))
    return None


def _tail(output: Any) -> str:
    """The end of what a hook wrote to ``output`` (a file), as text for the log."""
    output.seek(0, os.SEEK_END)
    output.seek(max(0, output.tell() - 4 * OUTPUT_TAIL))
    return output.read().decode("utf-8", "replace")[-OUTPUT_TAIL:].strip()


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
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_LIMIT)
        self._worker: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._status_waiting = False  # an on-status event is in the queue
        self._closing = False

    def check(self) -> None:
        """Refuse a ``hooks_path`` that is not a folder, or that others could change, before the move starts rather than at its first event."""
        path = self.config.hooks_path
        if not path:
            return
        if not os.path.isdir(path):
            raise DbferryError("hooks_path %s is not a folder." % path, obj=path, fix="create it, or correct hooks_path.")
        problems = [unsafe(path, "hooks_path")] + [unsafe(hook, "hook") for hook in self._matching()]
        found = [problem for problem in problems if problem]
        if found:
            raise DbferryError("hooks are not safe to run: %s." % "; ".join(found), obj=path, fix=SAFE_FIX)

    def _matching(self, event: str = "on-") -> list[str]:
        """The files in ``hooks_path`` whose names start with ``event`` (every hook by default), in name order."""
        path = self.config.hooks_path
        if not path or not os.path.isdir(path):
            return []
        return [os.path.join(path, name) for name in sorted(os.listdir(path))
                if name.startswith(event) and os.path.isfile(os.path.join(path, name))]

    def find(self, event: str) -> list[str]:
        """The executables for ``event``, in name order."""
        found = []
        for full in self._matching(event):
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
        refused = unsafe(str(self.config.hooks_path), "hooks_path") or unsafe(path, "hook")
        if refused:
            self.log.event("hook", hook=path, hook_event=event, seconds=0, failed="not run: " + refused, output="")
            return "hook %s: not run: %s" % (path, refused)
        started = time.monotonic()
        with tempfile.TemporaryFile() as output:
            try:
                process = subprocess.Popen([path], env=env, cwd=self.config.state_dir, stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                           stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:  # e.g. a script without a #! line
                self.log.event("hook", hook=path, hook_event=event, seconds=0, failed=str(exc), output="")
                return "hook %s: cannot run: %s" % (path, exc)
            try:
                code = process.wait(timeout=self.config.hooks_timeout_seconds)
                failure = None if code == 0 else "exit status %d" % code if code > 0 else "killed by signal %d" % -code
            except subprocess.TimeoutExpired:
                # Its session's leader is the hook itself (start_new_session), not reaped yet: the group exists.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                failure = "killed after %.0f s (hooks_timeout_seconds)" % self.config.hooks_timeout_seconds
            text = _tail(output)
        self.log.event("hook", hook=path, hook_event=event, seconds=round(time.monotonic() - started, 3), failed=failure, output=text)
        return "hook %s: %s%s" % (path, failure, ": " + text if text else "") if failure else None

    def fire(self, event: str, snapshot: dict[str, Any], error: Optional[str] = None) -> None:
        """Run the hooks of ``event`` in the background, after those fired before (never blocks the caller).

        An ``on-status`` fired while another waits is left out; an event that
        finds the queue full is logged as dropped, not waited for.
        """
        if not self.config.hooks_path:
            return
        with self._lock:  # events come from several threads (the copiers, the run loop): one worker for them all
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="hooks", daemon=True)
                self._worker.start()
            if event == "on-status":
                if self._status_waiting:
                    return
                self._status_waiting = True
            try:
                self._queue.put_nowait((event, snapshot, error))
            except queue.Full:
                if event == "on-status":
                    self._status_waiting = False
                self.log.event("hook_dropped", hook_event=event, reason="%d events wait for the hooks already" % QUEUE_LIMIT)

    def _work(self) -> None:
        for event, snapshot, error in iter(self._queue.get, None):
            with self._lock:
                if event == "on-status":
                    self._status_waiting = False
                skip = self._closing and event == "on-status"
            if not skip:
                self.run(event, snapshot, error)

    def close(self) -> None:
        """Let the hooks fired so far finish (each within its timeout), but for waiting on-status runs: the process may be about to end."""
        if self._worker is not None:
            with self._lock:
                self._closing = True
            self._queue.put(None)  # waits while the queue is full: the worker takes an event at least every hooks_timeout_seconds
            self._worker.join()
            self._worker = None
            self._closing = False
