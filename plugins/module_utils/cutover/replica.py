"""The read-only step of a rehearsal from a replica: its SQL threads stopped at a recorded position, the primary untouched.

A rehearsal from a replica (docs/rehearsals.md; the move role's
``dbferry_source_is_replica``) moves from a replica of the real source into a
rehearsal target and cuts over, so that the whole runbook runs without one
write to the primary. Step 4 of the consistency argument (docs/design.md)
needs a source whose position no longer moves. On a replica the position
moves by what its SQL threads apply and by what local sessions write, so
``stop``:

1. checks that the server is a replica that logs what it applies to its own
   binlog (``log_bin`` and ``log_slave_updates``): the move reads that
   binlog, and without them the primary's writes would never reach it;
2. stops the SQL thread of every replication connection that runs one
   (``STOP SLAVE 'name' SQL_THREAD`` returns once the thread stopped between
   two transactions); the IO threads go on filling the relay logs, which are
   not the binlog;
3. switches ``read_only`` on (a replica usually has it on already), so local
   sessions cannot write either and the cutover's own check, that the
   source is read-only, holds; waits for local transactions that had
   written before that, and refuses sessions that may write despite
   ``read_only`` (replication threads aside: their SQL threads are stopped);
4. reads the final position Pf, the replica's ``@@gtid_binlog_pos``, last.

From there the rehearsal goes on as a cutover does: verify against Pf, wait
until the target applied Pf, record the move complete. ``start`` then
restarts the SQL threads that ``stop`` stopped and puts ``read_only`` back as
it was, and the replica catches up with the primary. A failure inside
``stop`` undoes what it did before it raises.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..common.errors import DbferryError
from ..server import grants as grants_mod
from ..server.connection import ServerSpec, close_quietly, connect, error_code, execute, fetch_dicts, fetch_value, is_database_error
from ..server.error_codes import ER_SPECIFIC_ACCESS_DENIED_ERROR
from ..server.flavor import detect_flavor
from .read_only import FAIL, SYSTEM_USER, WARN, list_writers, privileged_sessions, sees_every_account, wait_for_writers

#: What the privileged_sessions option of a replica's stop may be: there is no kill here, a rehearsal ends no one's session.
REPLICA_PRIVILEGED_ACTIONS = (FAIL, WARN)


@dataclass(frozen=True)
class Replication:
    """One replication connection of a server, as SHOW ALL SLAVES STATUS shows it."""

    connection: str
    primary: str
    sql_running: bool

    def describe(self) -> str:
        return "%sfrom %s" % ("connection '%s' " % self.connection if self.connection else "", self.primary)


def replication(conn: Any) -> list[Replication]:
    """The server's replication connections (none for a primary); needs SLAVE MONITOR (or SUPER, REPLICATION CLIENT)."""
    return [Replication(row["Connection_name"], "%s:%s" % (row["Master_Host"], row["Master_Port"]), row["Slave_SQL_Running"] == "Yes")
            for row in fetch_dicts(conn, "SHOW ALL SLAVES STATUS")]


def logs_what_it_applies(conn: Any) -> bool:
    """Whether the server writes what its replication applies to its own binlog (log_bin and log_slave_updates)."""
    return bool(int(fetch_value(conn, "SELECT @@GLOBAL.log_bin")) and int(fetch_value(conn, "SELECT @@GLOBAL.log_slave_updates")))


@dataclass
class Stopped:
    """What ``stop`` found and did: the module's result, and what ``start`` needs to undo it."""

    server: str
    position: str = ""
    #: Connections whose SQL thread was running and was (or, in check mode, would be) stopped.
    stopped: list[str] = field(default_factory=list)
    read_only_before: bool = False
    privileged_sessions: list[dict[str, Any]] = field(default_factory=list)
    waited_seconds: float = 0.0
    check_mode: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.stopped) or not self.read_only_before

    def result(self) -> dict[str, Any]:
        return {"changed": self.changed, "position": self.position, "stopped": self.stopped, "read_only_before": self.read_only_before,
                "privileged_sessions": self.privileged_sessions, "waited_seconds": self.waited_seconds}

    def warnings(self) -> list[str]:
        if not self.privileged_sessions:
            return []
        return ["%s: %d session(s) can write despite read_only, so the replica's position may still move: %s."
                % (self.server, len(self.privileged_sessions), "; ".join("session %(id)s (%(user)s@%(host)s)" % s for s in self.privileged_sessions))]


def _refuse_unless_rehearsable(conn: Any, spec: ServerSpec) -> list[Replication]:
    """The replica's connections; an error naming the server when it is no replica, or does not log what it applies."""
    try:
        connections = replication(conn)
    except Exception as exc:
        if not (is_database_error(exc) and error_code(exc) == ER_SPECIFIC_ACCESS_DENIED_ERROR):
            raise
        raise DbferryError("%s may not look at its replication (SHOW ALL SLAVES STATUS)." % spec.describe(), obj=spec.describe(),
                           fix=grants_mod.grant_statement(["SLAVE MONITOR", "SLAVE ADMIN"], "*.*",
                                                          grants_mod.parse_account(fetch_value(conn, "SELECT CURRENT_USER()")))) from None
    if not connections:
        raise DbferryError("%s replicates from no one, so it is no replica to rehearse on: stopping replication cannot freeze it."
                           % spec.describe(), obj=spec.describe(),
                           fix="point the source at a replica of the real source, or move from this server without dbferry_source_is_replica.")
    if not logs_what_it_applies(conn):
        raise DbferryError("%s does not write what it replicates to its own binlog (log_bin and log_slave_updates must be ON), "
                           "so the move would see none of the primary's writes." % spec.describe(), obj=spec.describe(),
                           fix="add log_bin=binlog and log_slave_updates=ON under [mysqld] in its my.cnf and restart it; "
                               "then start the rehearsal again (its copy must begin after that).")
    return connections


def _sql_thread(conn: Any, connection: str, verb: str) -> None:
    execute(conn, "%s SLAVE %%s SQL_THREAD" % verb, (connection,))


def stop(admin: ServerSpec, *, wait_for_writes: float = 10.0, privileged: str = FAIL, ignore_users: tuple[str, ...] = (),
         check_mode: bool = False) -> Stopped:
    """Freeze the replica (module docstring) and read its final position; in check mode only look."""
    if privileged not in REPLICA_PRIVILEGED_ACTIONS:
        raise DbferryError("privileged_sessions is %r." % privileged, obj="privileged_sessions", fix="use fail or warn.")
    conn = connect(admin)
    try:
        flavor = detect_flavor(conn)
        connections = _refuse_unless_rehearsable(conn, admin)
        done = Stopped(admin.describe(), stopped=[c.connection for c in connections if c.sql_running],
                       read_only_before=bool(int(fetch_value(conn, "SELECT @@GLOBAL.read_only"))), check_mode=check_mode)
        sees_all = sees_every_account(grants_mod.read_grants(conn))
        if check_mode:
            done.position = fetch_value(conn, flavor.gtid_position_sql) or ""
            return done
        try:
            _freeze(conn, admin, done, wait_for_writes, privileged, ignore_users, sees_all)
        except BaseException:
            _thaw(conn, done.stopped, done.read_only_before)
            raise
        done.position = fetch_value(conn, flavor.gtid_position_sql) or ""
        return done
    finally:
        close_quietly(conn)


def _freeze(conn: Any, admin: ServerSpec, done: Stopped, wait_for_writes: float, privileged: str, ignore_users: tuple[str, ...],
            sees_all: bool) -> None:
    """Steps 2 and 3 of the module docstring."""
    for connection in done.stopped:
        _sql_thread(conn, connection, "STOP")
    if not done.read_only_before:
        execute(conn, "SET GLOBAL read_only = ON")
    waited = wait_for_writers(lambda: list_writers(conn, admin), lambda _session: False, since=time.monotonic(),
                              wait_for_writes=wait_for_writes, kill_after=None)
    done.waited_seconds = waited.seconds
    if waited.open_writers:
        raise DbferryError("%s: after %s s these local sessions still have uncommitted writes: %s." % (
            admin.describe(), waited.seconds, "; ".join(s.describe() for s in waited.open_writers)), obj=admin.describe(),
            fix="end them, or raise wait_for_writes; replication was started again.")
    found = [s for s in privileged_sessions(conn, detect_flavor(conn), ignore_users, sees_all) if s.user != SYSTEM_USER]
    done.privileged_sessions = [s.as_dict() for s in found]
    if found and privileged == FAIL:
        raise DbferryError("%s: %d session(s) can write despite read_only, after the final position: %s." % (
            admin.describe(), len(found), "; ".join(s.describe() for s in found)), obj=admin.describe(),
            fix="end them, or set privileged_sessions: warn if they will not write until the rehearsal is over; replication was started again.")


def _thaw(conn: Any, connections: list[str], read_only_before: bool) -> None:
    for connection in connections:
        _sql_thread(conn, connection, "START")
    if not read_only_before:
        execute(conn, "SET GLOBAL read_only = OFF")


def start(admin: ServerSpec, connections: list[str], read_only_before: bool, *, check_mode: bool = False) -> dict[str, Any]:
    """Undo ``stop``: start the SQL threads of ``connections`` again and put read_only back; the module's result."""
    conn = connect(admin)
    try:
        known = {c.connection: c for c in replication(conn)}
        unknown = sorted(set(connections) - set(known))
        if unknown:
            raise DbferryError("%s has no replication connection named %s." % (admin.describe(), ", ".join(repr(c) for c in unknown)),
                               obj=admin.describe(), fix="pass the stopped list that the stop returned.")
        starting = [c for c in connections if not known[c].sql_running]
        read_only_now = bool(int(fetch_value(conn, "SELECT @@GLOBAL.read_only")))
        changed = bool(starting) or read_only_now != read_only_before
        if not check_mode:
            if read_only_now != read_only_before:
                execute(conn, "SET GLOBAL read_only = %s" % ("ON" if read_only_before else "OFF"))
            for connection in starting:
                _sql_thread(conn, connection, "START")
        return {"changed": changed, "started": starting, "read_only": read_only_before}
    finally:
        close_quietly(conn)
