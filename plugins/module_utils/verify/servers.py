"""Verification of two servers without a move: e.g. a replica of the source and a replica of the target, both stopped.

After a move, or a rehearsal from a replica (docs/rehearsals.md), the two
sides can be compared again later, on replicas stopped at the cutover's
position, without the move: its record on the target may be cleaned up, and
a replica of the target runs no move. So, unlike checksum.verify:

- the tables are the selection on the source (engine/tables.py
  ``read_tables``: base tables with a usable key, key_choice.py), each
  compared with the table of the same name on the target;
- no applier can catch up, so both servers must stand still. Each one's
  position (``@@gtid_current_pos``: what it applied, by replication or
  locally) is read before and after the comparison, and a server that moved
  in between fails it: its rows may have been read at two positions. A
  position the caller gives must be the server's, per domain it names.

The row comparison is checksum.py's, with the same exact row digest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

from ..binlog import gtid
from ..common.errors import DbferryError
from ..engine.selection import Selection
from ..engine.tables import read_tables
from ..server.connection import ServerSpec, fetch_value
from .checksum import VerifyReport, check_options, sessions, verify_tables

#: Where a server stands: the transactions it applied, by replication (gtid_slave_pos) or its own (gtid_binlog_pos).
POSITION_SQL = "SELECT @@GLOBAL.gtid_current_pos"


@dataclass(frozen=True)
class _SameNames:
    """What read_tables needs of a move configuration: the selection, and every table under its own name on the target."""

    selection: Selection

    @staticmethod
    def target_name(schema: str, table: str) -> tuple[str, str]:
        return schema, table


def at_position(current: str, wanted: str) -> bool:
    """True when a server at ``current`` is at ``wanted``: the same transaction last in every domain ``wanted`` names."""
    have = gtid.parse(current)
    return all(have.get(domain, (None, None))[1] == seq for domain, (_server, seq) in gtid.parse(wanted).items())


def _position(conn: Any) -> str:
    return fetch_value(conn, POSITION_SQL) or ""


def _refuse_elsewhere(side: str, spec: ServerSpec, current: str, wanted: Optional[str]) -> None:
    if wanted is not None and not at_position(current, wanted):
        raise DbferryError(
            "the %s %s is at %s, not at the given position %s; servers without a move are compared as they stand."
            % (side, spec.describe(), current or "(nothing applied)", wanted), obj=spec.describe(),
            fix="stop it there (on a replica: STOP SLAVE, then START SLAVE UNTIL master_gtid_pos = '%s'), or leave the position out."
            % wanted)


def _refuse_moved(side: str, spec: ServerSpec, before: str, after: str) -> None:
    if before != after:
        raise DbferryError(
            "the %s %s moved from %s to %s while it was compared, so its rows were read at more than one position."
            % (side, spec.describe(), before or "(nothing applied)", after), obj=spec.describe(),
            fix="stop what changes it (a replica: STOP SLAVE; a primary: make it read-only), then verify again.")


def compare_servers(source: ServerSpec, target: ServerSpec, selection: Selection, *, source_position: Optional[str] = None,
                    target_position: Optional[str] = None, chunk_rows: int, parallel: int) -> VerifyReport:
    """Compare the selected tables of two servers that stand still (module docstring); mismatches are in the report.

    The report's ``position`` is the source's, its ``applied_position`` the target's.
    """
    check_options("checksum", 0, chunk_rows, parallel)
    for given in (source_position, target_position):
        if given is not None:
            gtid.parse(given)  # a bad position fails before any connection
    started = time.monotonic()
    with sessions(source, target, "verifies servers") as (source_conn, target_conn, _flavor):
        before = _position(source_conn), _position(target_conn)
        _refuse_elsewhere("source", source, before[0], source_position)
        _refuse_elsewhere("target", target, before[1], target_position)
        tables = read_tables(source_conn, _SameNames(selection))  # type: ignore[arg-type]  # duck-typed MoveConfig
        results = verify_tables(source, target, None, POSITION_SQL, tables, chunk_rows, parallel, 0)
        _refuse_moved("source", source, before[0], _position(source_conn))
        _refuse_moved("target", target, before[1], _position(target_conn))
    return VerifyReport(before[0], before[1], time.monotonic() - started, results)
