"""The checks that hold or stop a move on their own: load, replica lag, a query, flag files.

One thread (``ThrottleChecks.run``) looks at every condition each
``throttle_check_seconds`` and holds or releases ``Ferry.throttle`` under one
holder name per cause, with a reason an operator can act on
(``max_load: Threads_running=31 > 25``). Copy and apply then stop at their
next batch boundary; they never wait on a server round trip of a check.

- ``max_load`` / ``critical_load``: ``SHOW GLOBAL STATUS`` on the source.
  critical_load stops the move (``Throttle.abort``) at a checkpoint; with
  ``critical_load_interval_millis`` the move is held first and stopped only
  if the load is still too high once that time has passed.
- ``throttle_control_replicas``: ``SHOW ALL SLAVES STATUS`` on each replica;
  the move never writes to the source, so there is no heartbeat table and the
  lag is the replica's own ``Seconds_Behind_Master`` (whole seconds). NULL
  (SQL or IO thread stopped or broken) counts as lagging beyond any limit.
- ``throttle_query`` on the source: a number above 0 throttles. It runs in a
  read-only session and transaction, rolled back after each run: a query that
  would write (an INSERT, a CREATE TABLE, a procedure that writes) fails, and
  so throttles, instead of changing the source a move must never change.
- ``throttle_flag_file`` throttles while it exists; ``panic_flag_file``
  stops the move as soon as it exists.

A check that cannot be evaluated (server unreachable, unknown status
variable, a query that fails) throttles, with the error as its reason: a
move is never sped up by a check that does not work (gh-ost does the same).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from typing import Any, Callable, Optional, TypeVar

from ..config.move_config import MoveConfig
from ..server.connection import ServerSpec, close_quietly, connect, error_text, fetch_dicts, is_database_error, placeholders
from ..common.errors import DbferryError
from ..common.eventlog import EventLog
from .throttle import Throttle
from ..config.tunables import Tunables

T = TypeVar("T")

#: A check must not hang the checker thread for long on a server that does not answer.
CHECK_TIMEOUT_SECONDS = 5


def exceeded(values: dict[str, Any], limits: dict[str, int]) -> list[str]:
    """``Threads_running=31 > 25`` for each limited variable above its limit; an unknown or non-numeric one is named too."""
    found = {name.lower(): value for name, value in values.items()}
    over = []
    for name, limit in limits.items():
        value = found.get(name.lower())
        if value is None:
            over.append("the source has no status variable %s" % name)
        elif not str(value).isdigit():
            over.append("%s=%s is not a number" % (name, value))
        elif int(value) > limit:
            over.append("%s=%s > %d" % (name, value, limit))
    return over


def replica_lag(rows: list[dict[str, Any]], max_lag_millis: int) -> Optional[str]:
    """Why ``SHOW ALL SLAVES STATUS`` rows mean the replica lags too much, or None when it does not."""
    if not rows:
        return "is not replicating (SHOW ALL SLAVES STATUS is empty)"
    for row in rows:
        behind = row.get("Seconds_Behind_Master")
        channel = " (connection '%s')" % row["Connection_name"] if row.get("Connection_name") else ""
        if behind is None:
            return "Seconds_Behind_Master is NULL%s: IO thread %s, SQL thread %s; counts as lagging" % (
                channel, row.get("Slave_IO_Running"), row.get("Slave_SQL_Running"))
        if int(behind) * 1000 > max_lag_millis:
            return "is %s s behind%s > max_lag_millis %d" % (behind, channel, max_lag_millis)
    return None


def _attempt(call: Callable[[], T]) -> tuple[Optional[T], Optional[str]]:
    """(what ``call`` returned, None), or (None, why) when a server could not answer. A bug is raised, not turned into a reason."""
    try:
        return call(), None
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if is_database_error(exc):
            return None, error_text(exc)
        if isinstance(exc, (DbferryError, OSError)):
            return None, str(exc)
        raise


def _check_spec(spec: ServerSpec) -> ServerSpec:
    return dataclasses.replace(spec, connect_timeout=min(spec.connect_timeout, CHECK_TIMEOUT_SECONDS))


class _Session:
    """A connection kept open between checks, reopened after any failure."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = _check_spec(spec)
        self.conn: Any = None

    def rows(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        """Rows as dicts; raises what the server or the connection raised (and forgets the connection)."""
        try:
            self.conn = self.conn or connect(self.spec, read_timeout=CHECK_TIMEOUT_SECONDS)
            return fetch_dicts(self.conn, sql, args)
        except Exception:
            self.close()
            raise

    def read_only_value(self, sql: str) -> Any:
        """The first column of the first row of ``sql`` run read-only, or None.

        ``SET SESSION TRANSACTION READ ONLY`` (again before each run: the query
        itself could have changed it) also refuses DDL, which would commit a
        ``START TRANSACTION READ ONLY`` implicitly and run outside it; the
        transaction and its rollback end whatever the query opened (a BEGIN,
        locks of a locking read) before the next check.
        """
        self.rows("SET SESSION TRANSACTION READ ONLY")
        self.rows("START TRANSACTION READ ONLY")
        rows = self.rows(sql)
        self.rows("ROLLBACK")
        return next(iter(rows[0].values()), None) if rows else None

    def close(self) -> None:
        close_quietly(self.conn)
        self.conn = None


class ThrottleChecks:
    """Holds, releases or aborts the throttle from the configured conditions."""

    def __init__(self, config: MoveConfig, throttle: Throttle, tunables: Tunables, log: EventLog) -> None:
        self.config = config
        self.throttle = throttle
        self.tunables = tunables
        self.log = log
        self.source = _Session(config.source)
        self.replicas = [_Session(spec) for spec in config.throttle_control_replicas]
        #: When critical_load was first seen exceeded (monotonic), while it stays exceeded.
        self._critical_since: Optional[float] = None

    def run(self, halt: threading.Event) -> None:
        """Check every ``throttle_check_seconds`` (after the caller's first ``check``) until ``halt``; raise what stopped the move."""
        try:
            while not halt.wait(self.config.throttle_check_seconds):
                self.check()
        finally:
            for session in [self.source] + self.replicas:
                session.close()

    def check(self) -> None:
        """One look at every condition."""
        panic = self.config.panic_flag_file
        if panic and os.path.exists(panic):
            self._stop(DbferryError("panic flag file %s exists: the move stopped at a checkpoint." % panic, obj=panic,
                                    fix="remove the file, then start the move again: it resumes from its checkpoint."))
        tunables = self.tunables
        if tunables.max_load or tunables.critical_load:
            self._load(tunables.max_load, tunables.critical_load)
        else:
            self._set("max_load", None)
            self._set("critical_load", None)
            self._critical_since = None
        self._set("throttle_query", self._query(tunables.throttle_query) if tunables.throttle_query else None)
        self._set("replica_lag", self._replicas(tunables.max_lag_millis))
        flag = self.config.throttle_flag_file
        self._set("throttle_flag_file", "throttle_flag_file: %s exists" % flag if flag and os.path.exists(flag) else None)

    def _set(self, holder: str, reason: Optional[str]) -> None:
        """Hold under ``holder`` with ``reason``, or release when None; log the changes, not every check."""
        if reason is not None:
            if self.throttle.hold(holder, reason):
                self.log.event("throttled", cause=holder, reason=reason)
        elif self.throttle.release(holder):
            self.log.event("throttle_released", cause=holder)

    def _stop(self, error: DbferryError) -> None:
        self.log.event("aborting", reason=error.message)
        self.throttle.abort(error)
        raise error

    def _load(self, max_load: dict[str, int], critical_load: dict[str, int]) -> None:
        names = sorted(set(max_load) | set(critical_load))
        rows, failure = _attempt(lambda: self.source.rows("SHOW GLOBAL STATUS WHERE Variable_name IN (%s)" % placeholders(len(names)), names))
        if rows is None:
            reason = "cannot read the source's status: %s" % failure
            self._set("max_load", "max_load: " + reason if max_load else None)
            self._set("critical_load", "critical_load: " + reason if critical_load else None)
            return
        values = {row["Variable_name"]: row["Value"] for row in rows}
        over = exceeded(values, max_load)
        self._set("max_load", "max_load: " + ", ".join(over) if over else None)
        self._critical(exceeded(values, critical_load))

    def _critical(self, over: list[str]) -> None:
        if not over:
            self._critical_since = None
            self._set("critical_load", None)
            return
        interval = self.config.critical_load_interval_millis / 1000.0
        now = time.monotonic()
        if self._critical_since is None:
            self._critical_since = now
        waited = now - self._critical_since
        if waited < interval:
            self._set("critical_load", "critical_load: %s; the move stops if it still is in %.0f ms" % (
                ", ".join(over), (interval - waited) * 1000))
            return
        self._stop(DbferryError(
            "critical_load exceeded on the source: %s%s; the move stopped at a checkpoint." % (
                ", ".join(over), " (still, after %.0f ms)" % (waited * 1000) if interval else ""),
            obj="critical_load", fix="find what loads the source; when it is calm, start the move again (it resumes), "
                                     "or raise critical_load / critical_load_interval_millis."))

    def _query(self, query: str) -> Optional[str]:
        value, failure = _attempt(lambda: self.source.read_only_value(query))
        if failure is not None:
            return "throttle_query failed: %s" % failure
        try:
            number = float(value or 0)
        except (TypeError, ValueError):
            return "throttle_query returned %r, not a number" % (value,)
        return "throttle_query returned %s" % value if number > 0 else None

    def _replicas(self, max_lag_millis: int) -> Optional[str]:
        reasons = []
        for session in self.replicas:
            rows, failure = _attempt(lambda session=session: session.rows("SHOW ALL SLAVES STATUS"))
            why = replica_lag(rows, max_lag_millis) if rows is not None else "cannot be checked: %s; counts as lagging" % failure
            if why:
                reasons.append("%s %s" % (session.spec.describe(), why))
        return "replica_lag: " + "; ".join(reasons) if reasons else None
