"""Which source and target servers a move's state folder belongs to, so that a move never resumes against others.

A state folder (``~/.dbferry/moves/NAME``) outlives its servers: a second move given the same name with new servers
found the first one's status there, was reported as resuming, and then started over on a target without checkpoints.
The first start of a move records both servers' identities in ``servers.json``; every later start compares and refuses
other servers, naming the fix (another name, or abort the old move).

A server's identity survives a restart and a new IP address but not a different server: MySQL has ``@@server_uuid``;
MariaDB has none, and the combination of ``@@server_id``, ``@@hostname``, ``@@port`` and ``@@datadir`` serves instead.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..common.errors import DbferryError
from ..common.private import write_private
from ..config.move_config import MoveConfig
from ..server.connection import close_quietly, connect, fetch_dicts
from ..server.flavor import Flavor, detect_flavor
from ..server.identity import server_identity
from . import status
from .state import COMPLETE

SERVERS_FILE = "servers.json"


def identity(conn: Any, flavor: Flavor) -> dict[str, Any]:
    """What tells this server from any other, as of now."""
    if flavor.is_mariadb:
        return server_identity(conn)
    return fetch_dicts(conn, "SELECT @@server_uuid AS server_uuid")[0]


def check_move(config: MoveConfig) -> None:
    """check() for the servers of ``config``, asked now: before an agent starts (process.start, `dbferry run`), and before
    anything else looks at the state folder (a complete move's status there would otherwise answer for other servers)."""
    servers = {}
    for role, spec in (("source", config.source), ("target", config.target)):
        conn = connect(spec)
        try:
            servers[role] = identity(conn, detect_flavor(conn))
        finally:
            close_quietly(conn)
    check(config.state_dir, config.name, servers)


def _described(seen: dict[str, Any]) -> str:
    """A server as a person tells it: ``host:port`` (server_id, datadir) on MariaDB, its server_uuid on MySQL."""
    if "server_uuid" in seen:
        return "server_uuid %s" % seen["server_uuid"]
    return "%s:%s (server_id %s, datadir %s)" % (seen.get("hostname"), seen.get("port"), seen.get("server_id"), seen.get("datadir"))


def check(state_dir: str, move: str, servers: dict[str, dict[str, Any]]) -> None:
    """Record ``servers`` (``source`` and ``target`` identities) at a move's first start; later, raise when they differ."""
    path = os.path.join(state_dir, SERVERS_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            recorded = json.load(handle)
    except FileNotFoundError:
        write_private(path, json.dumps(servers, indent=1, sort_keys=True) + "\n")
        return
    changed = [role for role in ("source", "target") if recorded.get(role) != servers[role]]
    if changed:
        differences = "; ".join("the %s was %s, now it is %s" % (role, _described(recorded.get(role) or {}), _described(servers[role]))
                                for role in changed)
        raise DbferryError(
            "move %s was started with other servers, and its state in %s belongs to them: %s." % (move, state_dir, differences),
            obj=move, fix=_fix(state_dir))


def _fix(state_dir: str) -> str:
    """Another name always works; the old state goes away by abort while its move runs, by hand once it was cut over
    (abort refuses a move that was cut over, and a cleanup run would meet this same refusal)."""
    try:
        last_phase = status.read(state_dir).get("phase")
    except (OSError, ValueError):
        last_phase = None
    if last_phase == COMPLETE:
        return ("give this move another name (dbferry_name); or, since the old move was cut over and needs nothing from its "
                "state folder, remove it (rm -r %s) and run again." % state_dir)
    return ("give this move another name (dbferry_name), or abort the old move first (playbooks/abort.yml, or "
            "dbferry.mysql.agent state: absent) if it is no longer wanted.")
