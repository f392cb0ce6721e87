"""One engine per state folder (a move's, or a schema change's): an flock on ``<state_dir>/ferry.lock``, which also holds the pid.

The kernel drops the lock when the process dies, however it dies (kill -9
too), so a stale pid file can never block a restart, and "is the move
running?" is answered by trying the lock, not by trusting a pid.
"""

from __future__ import annotations

import fcntl
import os
import time
from typing import Any, Optional

from ..common.errors import DbferryError

LOCK_FILE = "ferry.lock"


class RunLock:
    """Held for the life of an engine process."""

    def __init__(self, state_dir: str, what: str) -> None:
        """``what`` names the run in the refusal of a second one: ``move NAME``, ``the change of DB.TABLE``."""
        self.path = os.path.join(state_dir, LOCK_FILE)
        self.what = what
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
            raise DbferryError("%s is already running (pid %s)." % (self.what, pid), obj=self.what,
                               fix="see it with `dbferry status`, or stop that process first.") from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(str(os.getpid()))
        self.handle.flush()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.handle.close()


#: What running_pid returns while the lock's holder has not written its pid yet: it runs, its pid is not known.
#: Never a pid to signal: os.kill(-1, ...) signals every process the user may signal, os.kill(0, ...) our own group.
PID_UNKNOWN = -1


def running_pid(state_dir: str) -> Optional[int]:
    """The pid of the engine that holds the move's lock, PID_UNKNOWN in the instant before it wrote it, or None when none runs."""
    path = os.path.join(state_dir, LOCK_FILE)
    if not os.path.exists(path):
        return None
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            # The holder writes its pid right after it took the lock: a few looks usually see it.
            for _look in range(10):
                handle.seek(0)
                text = handle.read().strip()
                if text.isdigit() and int(text) > 0:
                    return int(text)
                time.sleep(0.01)
            return PID_UNKNOWN
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None
