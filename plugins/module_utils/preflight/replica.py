"""Whether the source is a replica: a move must read the primary, a rehearsal may read a replica.

A replica's binlog can miss writes that reached its primary: with
log_slave_updates off it logs none of them, and replication filters or
``sql_log_bin=0`` sessions on the primary leave others out (ghostferry's
production guide requires the primary for that reason). So a replica
source is an error (``source_replica``), unless the operator rehearses on
purpose from a replica, never touching the primary: the move role's
``dbferry_source_is_replica`` accepts this check (it is in ``allow``), and
the cutover then stops the replica's SQL threads instead
(cutover/replica.py). With that, ``rehearsal_replica`` requires what the
rehearsal relies on: the source is a replica, and it logs what it applies.
"""

from __future__ import annotations

from typing import Optional

from ..cutover.replica import logs_what_it_applies, replication
from ..server.connection import error_code, fetch_all, is_database_error
from ..server.error_codes import ER_SPECIFIC_ACCESS_DENIED_ERROR
from .context import Context
from .report import ERROR, OK, WARNING

SOURCE_REPLICA, REHEARSAL_REPLICA = "source_replica", "rehearsal_replica"

#: How an operator says the source is a replica on purpose (the move role does it for dbferry_source_is_replica).
OPTION = "dbferry_source_is_replica: true (the move role; it allows source_replica)"


def replica_findings(server: str, primaries: Optional[list[str]], running: int, logs_applied: bool,
                     rehearsal: bool) -> list[tuple[str, str, str, str]]:
    """(check, status, message, fix) of a source.

    ``primaries`` describes each replication connection (None: the login may not list them, and only
    ``running``, the Slaves_running status, is known); ``rehearsal`` says the operator set the option.
    """
    if primaries is None:
        replica = running > 0
        seen = "%d replication thread(s) running (Slaves_running; SHOW ALL SLAVES STATUS was refused)" % running
    else:
        replica = bool(primaries)
        seen = "it replicates %s" % "; ".join(primaries)
    if not rehearsal:
        if not replica:
            return [(SOURCE_REPLICA, OK, "%s is no replica%s." % (
                server, "" if primaries is not None else " with running replication (Slaves_running is 0)"), "")]
        return [(SOURCE_REPLICA, ERROR, "%s is a replica (%s): its binlog can miss writes that reached its primary "
                 "(log_slave_updates off, replication filters, sql_log_bin=0 sessions), so a move must read the primary." % (server, seen),
                 "point the source at the primary; to rehearse from this replica without touching the primary, set %s." % OPTION)]
    found = [(SOURCE_REPLICA, WARNING if replica else OK, "%s is a replica (%s): a rehearsal, whose cutover stops its SQL threads."
              % (server, seen) if replica else "%s is no replica." % server, "")]
    if not replica:
        found.append((REHEARSAL_REPLICA, ERROR, "dbferry_source_is_replica is set, but %s replicates from no one, so stopping "
                      "replication would not freeze it." % server,
                      "point the source at a replica of the real source, or leave dbferry_source_is_replica false for a move "
                      "from this server."))
    elif not logs_applied:
        found.append((REHEARSAL_REPLICA, ERROR, "%s does not write what it replicates to its own binlog (log_bin and "
                      "log_slave_updates must be ON), so the move would see none of the primary's writes." % server,
                      "add log_slave_updates=ON (and log_bin=binlog) under [mysqld] in its my.cnf and restart it."))
    else:
        found.append((REHEARSAL_REPLICA, OK, "%s logs what it replicates (log_slave_updates ON)." % server, ""))
    return found


def source_replica(ctx: Context) -> None:
    """The source is the primary, or a replica the operator rehearses on (module docstring)."""
    try:
        primaries: Optional[list[str]] = [r.describe() for r in replication(ctx.source)]
    except Exception as exc:  # noqa: BLE001 - a refused look is answered from the status, below
        if not (is_database_error(exc) and error_code(exc) == ER_SPECIFIC_ACCESS_DENIED_ERROR):
            raise
        primaries = None
    running = int(dict(fetch_all(ctx.source, "SHOW GLOBAL STATUS LIKE 'Slaves_running'")).get("Slaves_running", 0))
    rehearsal = SOURCE_REPLICA in ctx.request.allow
    for name, status, message, fix in replica_findings(ctx.source_name, primaries, running, logs_what_it_applies(ctx.source), rehearsal):
        ctx.add(name, status, ctx.source_name, message, fix)
