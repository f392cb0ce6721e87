"""The agent's binlog server id must be its own: not the source's, not a connected replica's.

The source treats the agent's binlog connection as a replica's. With the
source's own server id, MariaDB refuses the dump only once the agent has
prepared the target; with a replica's, it drops that replica's older
connection (or the agent's, error 4052), and the two kick each other out.
So the id is checked before the agent writes anything (Ferry.prepare,
before ``_dbferry`` exists).

Replicas are found in ``SHOW SLAVE HOSTS`` (every replica registers when it
connects), which needs REPLICATION MASTER ADMIN (MariaDB 10.5.2+) or
REPLICATION SLAVE ADMIN / SUPER on older servers; without it only the
source's own id is compared, and the agent's log says so
(``server_id_replicas_unchecked``).
"""

from __future__ import annotations

from typing import Any

from ..server.connection import error_code, fetch_all, fetch_value, is_database_error
from ..common.errors import DbferryError
from ..server.error_codes import ER_SPECIFIC_ACCESS_DENIED_ERROR


def replica_ids(conn: Any) -> dict[int, str]:
    """Server id -> "host:port" of each replica registered with the source; raises on a missing privilege."""
    rows = fetch_all(conn, "SHOW SLAVE HOSTS")
    return {int(row[0]): "%s:%s" % (row[1] or "?", row[2]) for row in rows}


def check_server_id(conn: Any, server_id: int, source: str) -> bool:
    """Raise when ``server_id`` is the source's or a registered replica's; False when replicas could not be listed."""
    fix = "set binlog.server_id to another number (1 to 4294967295) that no server of the source's replication topology uses."
    own = int(fetch_value(conn, "SELECT @@GLOBAL.server_id"))
    if own == server_id:
        raise DbferryError("binlog.server_id %d is the server_id of the source %s itself; the source would refuse the binlog stream."
                           % (server_id, source), obj="binlog.server_id", fix=fix)
    try:
        replicas = replica_ids(conn)
    except Exception as exc:  # noqa: BLE001 - a missing privilege only narrows the check  # pylint: disable=broad-exception-caught
        if not (is_database_error(exc) and error_code(exc) == ER_SPECIFIC_ACCESS_DENIED_ERROR):
            raise
        return False
    if server_id in replicas:
        raise DbferryError("binlog.server_id %d is the server_id of a replica of the source %s (%s); the source would drop that "
                           "replica's connection or the agent's." % (server_id, source, replicas[server_id]), obj="binlog.server_id", fix=fix)
    return True
