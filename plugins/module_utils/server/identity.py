"""What tells one MariaDB/MySQL server from another, as a session sees it."""

from __future__ import annotations

from typing import Any

from .connection import fetch_dicts


def server_identity(conn: Any) -> dict[str, Any]:
    """Host name, port, data directory and server id of the server ``conn`` reaches.

    Two logins reach the same server by different routes (a socket and TCP,
    a host name and an address), so the answers are compared, not the
    options. Two servers on hosts with the same name, port, data directory
    and server id would look alike; replication already demands distinct
    server ids, so that is not a set-up a move meets. The keys are also the
    format of a move's servers.json (engine/servers_seen.py): keep them.
    """
    return fetch_dicts(conn, "SELECT @@server_id AS server_id, @@hostname AS hostname, @@port AS port, @@datadir AS datadir")[0]
