"""Writes to moved tables on the source after the cutover: found and reported, never lost in silence.

The cutover records the move complete once the target has applied the
source's final position Pf; the move's applied position on the target is
then Pf (or later, when a privileged session wrote on and was only warned
about). Anything the source's binlog holds after it that
touches a moved table was written after the target took over (a session
that bypassed read_only, read_only switched off too early, a forgotten
cron job) and is not on the target. ``writes_after_cutover`` reads the
source's binlog from Pf up to its position now, with the same stream the
agent applies (binlog_stream.py), and counts the transactions that change a
moved table; the status module reports them and the move role fails on
them before it finishes (and before cleanup would forget Pf).

The stream uses the move's binlog server id: the agent, which used it, is
stopped by the cutover.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from ..agent import process as agent
from ..binlog import gtid
from ..engine import state
from ..binlog.reader import BinlogStream
from ..config.move_config import MoveConfig
from ..server.connection import close_quietly, connect, fetch_value
from ..common.errors import DbferryError
from ..server.flavor import detect_flavor
from ..common.module_errors import operator_message

#: Reading the binlog from Pf to now may take this long before the check gives up (and says so).
DEFAULT_TIMEOUT = 60.0


def transaction_gtid(before: str, after: str) -> str:
    """The GTID of the transaction that moved a position from ``before`` to ``after`` (the domain that changed)."""
    old = gtid.parse(before)
    for domain, (server, seq) in sorted(gtid.parse(after).items()):
        if old.get(domain) != (server, seq):
            return "%d-%d-%d" % (domain, server, seq)
    return ""


def writes_after_cutover(config: MoveConfig, timeout: float = DEFAULT_TIMEOUT) -> Optional[dict[str, Any]]:
    """What the source's binlog holds for the moved tables after the final position; None while the move is not complete.

    ``count`` is the number of such transactions, ``first_gtid`` the first one's GTID, ``tables`` the tables they changed,
    ``checked_to`` the source position read up to.
    """
    target = connect(config.target)
    try:
        recorded = state.load(target, config.name)
        if recorded is None or recorded.phase != state.COMPLETE:
            return None
        tables = [(t.schema, t.name) for t in state.read_move_tables(target, config.name)]
    finally:
        close_quietly(target)
    final = recorded.applied_position
    source = connect(config.source)
    try:
        flavor = detect_flavor(source)
        now = fetch_value(source, flavor.gtid_position_sql) or ""
    finally:
        close_quietly(source)
    found: dict[str, Any] = {"final_position": final, "checked_to": now, "count": 0, "first_gtid": None, "tables": []}
    if gtid.reached(final, now):
        return found
    changed: set[str] = set()
    deadline = time.monotonic() + timeout
    with BinlogStream(config.source, flavor, final, tables, server_id=config.server_id) as stream:
        position = final
        while not gtid.reached(position, now):
            txn = stream.next_transaction(deadline - time.monotonic())
            if txn is None:
                raise DbferryError("reading the source's binlog from the final position %s to %s took longer than %.0f s (at %s)." % (
                    final, now, timeout, position), obj=config.name, fix="run the status again; a large binlog since the cutover takes longer.")
            if txn.changes:
                found["count"] += 1
                found["first_gtid"] = found["first_gtid"] or transaction_gtid(position, txn.position)
                changed.update("%s.%s" % (c.schema, c.table) for c in txn.changes)
            position = txn.position
    found["tables"] = sorted(changed)
    return found


def for_status(state_dir: str, timeout: float = DEFAULT_TIMEOUT) -> Optional[dict[str, Any]]:
    """``writes_after_cutover`` of the move whose state folder is ``state_dir``, for its status; a failure to check is
    reported in ``error`` (a status that cannot look must not read as "no writes")."""
    config = agent.stored_config(state_dir)
    if config is None:
        return None
    try:
        return writes_after_cutover(config, timeout)
    except Exception as exc:  # noqa: BLE001 - reported in the status; a bug is raised  # pylint: disable=broad-exception-caught
        message = operator_message("checking the source's binlog after the cutover", exc)
        if message is None:
            raise
        return {"error": message, "count": None, "first_gtid": None}
