"""Every preflight check, in run (and report) order: the one list a new check is added to.

Each entry names the checks its findings carry (two where one scan of the
server finds both kinds, so they interleave in table order), what it needs
(a check that reads a server is skipped when that server could not be
reached, as the connection check already reported why), and its function
in the group module of its concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import binlog, connections, privileges, replica, selection, source_admin, tables, target
from .context import Context

#: What an entry may need: a session on the source, on the target, and something selected (tables or views).
SOURCE, TARGET, SELECTED = "source", "target", "selected"


@dataclass(frozen=True)
class Registered:
    """One entry of the registry: the names it reports under, the function, and what must be there to run it."""

    names: tuple[str, ...]
    run: Callable[[Context], None]
    needs: frozenset[str] = frozenset()

    def can_run(self, ctx: Context) -> bool:
        there = {SOURCE: ctx.source is not None, TARGET: ctx.target is not None, SELECTED: bool(ctx.tables)}
        return all(there[need] for need in self.needs)


_ON_SOURCE = frozenset({SOURCE})
_ON_TARGET = frozenset({TARGET})
_ON_BOTH = frozenset({SOURCE, TARGET})
_ON_SELECTED = frozenset({SOURCE, SELECTED})

REGISTRY: tuple[Registered, ...] = (
    Registered(("source_connection",), connections.source_connection),
    Registered(("target_connection",), connections.target_connection),
    Registered(("distinct_servers",), target.distinct_servers, _ON_BOTH),
    Registered(("log_bin",), binlog.log_bin, _ON_SOURCE),
    Registered(("binlog_format",), binlog.binlog_format, _ON_SOURCE),
    Registered(("binlog_row_image",), binlog.binlog_row_image, _ON_SOURCE),
    Registered(("binlog_row_metadata",), binlog.binlog_row_metadata, _ON_SOURCE),
    Registered(("log_bin_compress",), binlog.log_bin_compress, _ON_SOURCE),
    Registered(("binlog_retention",), binlog.binlog_retention, _ON_SOURCE),
    Registered(("server_id",), binlog.server_id, _ON_SOURCE),
    Registered(("gtid_position",), binlog.gtid_position, _ON_SOURCE),
    Registered((replica.SOURCE_REPLICA, replica.REHEARSAL_REPLICA), replica.source_replica, _ON_SOURCE),
    Registered(("selection",), selection.selection, _ON_SOURCE),
    Registered(("source_privileges",), privileges.source_privileges, _ON_SOURCE),
    Registered(("source_bypasses_read_only",), privileges.source_bypasses_read_only, _ON_SOURCE),
    Registered(("table_support",), tables.table_support, _ON_SELECTED),
    Registered(("primary_key", "primary_key_type"), tables.primary_keys, _ON_SELECTED),
    Registered(("foreign_keys", "foreign_key_cascades"), tables.foreign_keys, _ON_SELECTED),
    Registered(("foreign_key_names",), tables.foreign_key_names, _ON_BOTH | {SELECTED}),
    Registered(("triggers",), tables.triggers, _ON_SELECTED),
    Registered(("views",), tables.views, _ON_SELECTED),
    Registered(("empty_tables",), tables.empty_tables, _ON_SELECTED),
    Registered(("target_privileges",), privileges.target_privileges, _ON_TARGET),
    Registered(("target_read_only",), target.target_read_only, _ON_TARGET),
    Registered(("target_not_empty",), target.target_not_empty, _ON_TARGET),
    Registered(("definitions",), tables.definitions, _ON_SELECTED),
    Registered(("charsets",), target.charsets, _ON_BOTH | {SELECTED}),
    Registered(("target_version",), target.target_version, _ON_BOTH),
    Registered(("source_admin",), source_admin.source_admin),
)

#: Every check name, in run order.
CHECKS: tuple[str, ...] = tuple(name for entry in REGISTRY for name in entry.names)

#: Checks whose findings an operator may accept. All others would make the move
#: fail or let the target silently differ from the source.
#: source_replica: a rehearsal from a replica on purpose (preflight/replica.py; the move role allows it for dbferry_source_is_replica).
ALLOWABLE = ("binlog_retention", "foreign_keys", "triggers", "views", "target_not_empty", "target_version", "source_replica")


def run_checks(ctx: Context) -> None:
    """Run every registered check that can run, in order."""
    for entry in REGISTRY:
        if entry.can_run(ctx):
            entry.run(ctx)
