"""One engine per move: an flock on ``<state_dir>/ferry.lock``, which also holds the pid.

The kernel drops the lock when the process dies, however it dies (kill -9
too), so a stale pid file can never block a restart, and "is the move
running?" is answered by trying the lock, not by trusting a pid.
"""

from __future__ import annotations

import fcntl
import os
import time
from typing import Any, Optional

from .errors import DbferryError

LOCK_FILE = "ferry.lock"


class RunLock:
    """Held for the life of an engine process."""

    def __init__(self, state_dir: str, move: str) -> None:
        self.path = os.path.join(state_dir, LOCK_FILE)
        self.move = move
        self.handle: Any = None

    def __enter__(self) -> "RunLock":
        self.handle = open(self.path, "a+", encoding="utf-8")  # pylint: disable=consider-using-with
        # A few tries: running_pid() holds a shared lock for an instant while it asks.
        for attempt in range(5):
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt < 4:
                    time.sleep(0.1)
        else:
            self.handle.seek(0)
            pid = self.handle.read().strip() or "?"
            self.handle.close()
            raise DbferryError("move %s is already running (pid %s)." % (self.move, pid), obj=self.move,
                               fix="use `dbferry status %s`, or stop that process first." % self.move) from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(str(os.getpid()))
        self.handle.flush()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.handle.close()


def running_pid(state_dir: str) -> Optional[int]:
    """The pid of the engine that holds the move's lock, or None when none runs."""
    path = os.path.join(state_dir, LOCK_FILE)
    if not os.path.exists(path):
        return None
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None
