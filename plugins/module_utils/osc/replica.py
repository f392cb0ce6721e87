"""``test_on_replica``: the whole change rehearsed on a replica, which is left as it was (gh-ost's --test-on-replica).

The change runs against the replica as against a primary: ghost, copy, the table's binlog events applied (the
replica's own binlog, which holds what its SQL thread applied only with ``log_slave_updates``), verification. Where a
real change would lock the table for its cut-over, the rehearsal stops the replica's SQL thread instead: nothing
writes the table then, so the replica's binlog position is final, the applier reaches it, and the last comparison
(the rows written since the verification, and the rows missing from the ghost) is final too. Then the names are
swapped and swapped back in one atomic RENAME (the real tables, renamed as a real cut-over renames them), the ghost and
the change's record are dropped, and the SQL thread started again; a failed rehearsal drops them too.

Every session of a rehearsal keeps its writes out of the replica's binlog (``sql_log_bin = 0``, AlterConfig's server
spec): the replica's GTIDs stay the primary's alone (a replica in gtid_strict_mode would stop at the next primary
transaction after a local one, and replicas of this one would receive the ghost), and the applier's positions compare
the primary's sequence numbers only. The primary is never connected to.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from ..common.errors import DbferryError
from ..common.eventlog import EventLog
from ..common.identifiers import display_table, quote_table
from ..server.connection import error_code, error_text, execute, fetch_dicts, fetch_value, is_database_error
from ..server.error_codes import ER_LOCK_WAIT_TIMEOUT

#: The longest wait for the applier to reach the stopped replica's position: the replica does not replicate meanwhile.
CATCH_UP_SECONDS = 120

#: The fix when the server cannot rehearse a change.
NOT_A_REPLICA_FIX = "give the login_* options of a replica of the server to change (one replication connection, running)."


def replica_problem(conn: Any) -> Optional[tuple[str, str]]:
    """Why this server cannot take a rehearsal, as (message, fix); None when it can: a replica with one replication
    connection whose SQL thread runs, and whose binlog holds what that thread applies."""
    try:
        connections = fetch_dicts(conn, "SHOW ALL SLAVES STATUS")
    except Exception as exc:  # noqa: BLE001 - a refusal is the finding
        if not is_database_error(exc):
            raise
        return ("the login may not read the replica's replication status: %s" % exc,
                "GRANT SLAVE MONITOR ON *.* (and REPLICATION SLAVE ADMIN, to stop and start its SQL thread) to the login.")
    if not connections:
        return "the server is not a replica (SHOW ALL SLAVES STATUS is empty); test_on_replica rehearses a change on one.", NOT_A_REPLICA_FIX
    if len(connections) > 1:
        return ("the server replicates through %d connections; test_on_replica stops the one SQL thread of a replica."
                % len(connections), NOT_A_REPLICA_FIX)
    if connections[0].get("Slave_SQL_Running") != "Yes":
        return ("the replica's SQL thread is not running (%s); the rehearsal follows what it applies."
                % (connections[0].get("Last_SQL_Error") or "stopped"), "start it (START SLAVE), then run the rehearsal.")
    if not fetch_value(conn, "SELECT @@GLOBAL.log_slave_updates"):
        return ("log_slave_updates is OFF on the replica: its binlog lacks the writes its SQL thread applies, which the "
                "rehearsal's applier reads.", "set log_slave_updates = ON in the replica's configuration (it needs a restart).")
    return None


def stop_sql_thread(conn: Any, log: EventLog, table: str) -> None:
    """Stop the replica's SQL thread: from now nothing writes the table (the replica serves no writes of its own)."""
    execute(conn, "STOP SLAVE SQL_THREAD")
    log.event("replica_sql_thread_stopped", table=table)


def start_sql_thread(conn: Any, log: EventLog, table: str) -> None:
    """Start the replica's SQL thread again; an error names the fix, since the replica now lags until it runs."""
    try:
        execute(conn, "START SLAVE SQL_THREAD")
    except Exception as exc:  # noqa: BLE001 - told with the fix
        raise DbferryError("the rehearsal could not start the replica's SQL thread again: %s" % error_text(exc), obj="replica",
                           fix="run START SLAVE SQL_THREAD on the replica; it lags until then.") from exc
    log.event("replica_sql_thread_started", table=table)


def swap_and_back(conn: Any, database: str, table: str, ghost: str, old: str, lock_timeout: int, retries: int,
                  log: EventLog) -> None:
    """The cut-over's RENAME and its reverse in ONE statement (the server runs its renames atomically: no moment, not even
    after a crash, leaves the replica with the new table under the name), waiting at most ``lock_timeout`` s for the
    table's metadata lock (a long read on the replica holds it), ``retries`` times."""
    names = {name: quote_table(database, name) for name in (table, ghost, old)}
    if fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (database, old)):
        raise DbferryError("table %s exists; the rehearsal's swap needs that name." % display_table(database, old),
                           obj=display_table(database, old), fix="drop or rename it on the replica, then run the rehearsal again.")
    statement = "SET STATEMENT lock_wait_timeout = %d FOR RENAME TABLE %s TO %s, %s TO %s, %s TO %s, %s TO %s" % (
        lock_timeout, names[table], names[old], names[ghost], names[table], names[table], names[ghost], names[old], names[table])
    for attempt in range(1, retries + 2):
        try:
            execute(conn, statement)
            return
        except Exception as exc:  # noqa: BLE001 - a lock wait timeout is retried, the rest raised
            if not (is_database_error(exc) and error_code(exc) == ER_LOCK_WAIT_TIMEOUT) or attempt > retries:
                raise
            log.event("rehearsal_swap_retry", table=display_table(database, table), attempt=attempt)
            time.sleep(min(attempt, 5))
