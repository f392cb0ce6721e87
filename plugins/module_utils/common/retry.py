"""Which failures are worth retrying, and how long to keep trying.

A move runs for hours; connections drop, the target deadlocks copy against
apply, a DBA kills a session. Those are retried with growing pauses from
the last checkpoint; anything else stops the move with its error.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from ..server.connection import close_quietly, error_code, error_text, is_certificate_error, is_database_error
from ..server.error_codes import (
    CR_CONN_HOST_ERROR, CR_SERVER_GONE_ERROR, CR_SERVER_LOST, ER_CLIENT_INTERACTION_TIMEOUT, ER_CONNECTION_KILLED, ER_LOCK_DEADLOCK,
    ER_LOCK_WAIT_TIMEOUT, ER_SERVER_SHUTDOWN,
)
from .errors import DbferryError

#: Server/driver errors that a retry from the last checkpoint can cure.
TRANSIENT_CODES = frozenset({
    ER_SERVER_SHUTDOWN,
    ER_LOCK_WAIT_TIMEOUT,
    ER_LOCK_DEADLOCK,
    ER_CONNECTION_KILLED,
    CR_CONN_HOST_ERROR,
    CR_SERVER_GONE_ERROR,
    CR_SERVER_LOST,
    ER_CLIENT_INTERACTION_TIMEOUT,
})


def is_transient(exc: BaseException) -> bool:
    """True for errors a reconnect-and-retry can cure.

    A session that timed out (read_timeout: CR_SERVER_LOST, or
    CR_SERVER_GONE_ERROR on a write) is one of them, like a dropped
    connection. A TLS handshake that failed is not, though the driver reports
    it as "cannot connect" (CR_CONN_HOST_ERROR): the server will show the same
    certificate to the next try, and five minutes of retries would only hide
    what the operator must fix.
    """
    if isinstance(exc, DbferryError):
        return exc.transient
    if is_certificate_error(exc):
        return False
    if is_database_error(exc):
        return error_code(exc) in TRANSIENT_CODES or error_code(exc) == 0
    return isinstance(exc, (ConnectionError, TimeoutError))


class Backoff:
    """Pauses of 0.1 s doubling to ``ceiling``, for at most ``budget`` seconds
    without a success in between; then the last error stops the move."""

    def __init__(self, what: str, budget: float = 300.0, ceiling: float = 5.0) -> None:
        self.what = what
        self.budget = budget
        self.ceiling = ceiling
        self.failing_since: Optional[float] = None
        self.delay = 0.1

    def success(self) -> None:
        self.failing_since = None
        self.delay = 0.1

    def failed(self, exc: BaseException) -> None:
        """Sleep before the next try, or raise when the budget is spent."""
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = now
        if now - self.failing_since > self.budget:
            # The last error's own fix, when it has one, is the fix: once, not inside the message as well.
            raise DbferryError("%s kept failing for %.0f s; last error: %s" % (self.what, self.budget, error_text(exc)), obj=self.what,
                               fix=getattr(exc, "fix", "") or "check that both servers are up and reachable, then start the move again: "
                               "it resumes.") from exc
        time.sleep(self.delay)
        self.delay = min(self.delay * 2, self.ceiling)


def run_reconnecting(what: str, stop: threading.Event, open_sessions: Callable[[], tuple], step: Callable[..., bool]) -> None:
    """Call ``step(*sessions)`` until it returns True or ``stop`` is set.

    A transient failure closes the sessions and opens new ones after a
    backoff pause; ``step`` must therefore resume from its own checkpoint.
    Anything else is raised.
    """
    backoff = Backoff(what)
    sessions: Optional[tuple] = None
    try:
        while not stop.is_set():
            try:
                if sessions is None:
                    sessions = open_sessions()
                if step(*sessions):
                    return
                backoff.success()
            except Exception as exc:  # noqa: BLE001 - transient ones are retried, the rest re-raised
                if not is_transient(exc):
                    raise
                close_quietly(*(sessions or ()))
                sessions = None
                backoff.failed(exc)
    finally:
        close_quietly(*(sessions or ()))
