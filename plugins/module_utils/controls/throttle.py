"""The throttle: the one place copy and apply ask, before each batch, whether they may go on.

Copy workers call ``wait`` before they read a batch, so a throttled copier
holds no source locks; the applier calls it between target transactions, so
a throttled applier holds no target transaction open (the binlog reader then
fills its read-ahead queue and stops reading; the source keeps the events).

Anything can hold the throttle under a name of its own (an operator's
``throttle`` command, a load check, a flag file); it opens when every holder
has released it. ``abort`` makes every waiter raise instead: the move stops at
the checkpoint it is at (panic flag, critical load).
"""

from __future__ import annotations

import threading
from typing import Optional

#: The operator's holders (control socket): ``pause`` also holds the re-verifier, ``throttle`` is gh-ost's manual throttle.
PAUSE = "pause"
OPERATOR = "operator"


class Throttle:
    """Thread-safe set of reasons to hold copy and apply, and an optional reason to stop."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._reasons: dict[str, str] = {}
        self._abort: Optional[BaseException] = None

    def hold(self, holder: str, reason: str) -> bool:
        """Hold copy and apply because of ``reason`` until ``release(holder)``; True when ``holder`` did not hold yet.

        A holder that holds already only has its reason replaced (a load check
        reports the value it saw last).
        """
        with self._changed:
            new = holder not in self._reasons
            self._reasons[holder] = reason
            return new

    def release(self, holder: str) -> bool:
        """Drop ``holder``'s hold; True when it held."""
        with self._changed:
            if self._reasons.pop(holder, None) is None:
                return False
            self._changed.notify_all()
            return True

    def holds(self, holder: str) -> bool:
        """Whether ``holder`` holds the throttle now."""
        with self._changed:
            return holder in self._reasons

    def abort(self, error: BaseException) -> None:
        """Make every current and later ``wait`` raise ``error``."""
        with self._changed:
            self._abort = error
            self._changed.notify_all()

    def reasons(self) -> list[str]:
        """Why copy and apply are held now (empty: they run)."""
        with self._changed:
            return [self._reasons[holder] for holder in sorted(self._reasons)]

    def wait(self, stop: threading.Event) -> None:
        """Return when nothing holds the throttle, or ``stop`` is set; raise the abort error if there is one."""
        with self._changed:
            while True:
                if self._abort is not None:
                    raise self._abort
                if not self._reasons or stop.is_set():
                    return
                # stop is an Event of its own, not this condition: look at it a few times a second.
                self._changed.wait(0.2)
