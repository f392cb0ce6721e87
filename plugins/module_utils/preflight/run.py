"""Preflight: everything that would make a move fail or lose data, checked before anything is written.

Each finding names the check, a status (ok, warning, error), the object it is
about (a server, a table, a constraint, a user) and the fix. Every check
reports at least one finding, so a report also shows what was looked at and
found fine. Preflight only reads: the one "try" that talks to the binlog asks
for a dump that ends at once. The checks and their order are in registry.py.

Some findings may be accepted by the operator (``allow``); the others would
break the consistency argument (docs/design.md), so they cannot be waived.
"""

from __future__ import annotations

from typing import Iterable, Optional

from ..common.errors import DbferryError
from ..cutover import read_only as readonly
from ..engine.selection import Selection
from ..server.connection import ServerSpec
from .binlog import DEFAULT_MIN_BINLOG_RETENTION_HOURS
from .context import Context, Request
from .registry import ALLOWABLE, run_checks
from .report import Report


def run_preflight(
    source: ServerSpec,
    target: ServerSpec,
    selection: Selection,
    allow: Iterable[str] = (),
    min_binlog_retention_hours: float = DEFAULT_MIN_BINLOG_RETENTION_HOURS,
    source_admin: Optional[ServerSpec] = None,
    kill_sessions: bool = False,
    privileged_sessions: str = readonly.FAIL,
) -> Report:
    """Run every check; never writes to either server.

    ``source_admin`` is the login the cutover switches the source read-only
    with; ``kill_sessions`` says the cutover may end sessions with it, and
    ``privileged_sessions`` what it does with sessions that can write despite
    read_only (unless warn, the login must see every account's privileges).
    """
    allowed = frozenset(allow)
    unknown = sorted(allowed - set(ALLOWABLE))
    if unknown:
        raise DbferryError("allow names check(s) that cannot be accepted: %s." % ", ".join(unknown), obj="allow",
                           fix="allow takes only: %s." % ", ".join(ALLOWABLE))
    ctx = Context(Request(source, target, selection, allowed, min_binlog_retention_hours, source_admin, kill_sessions,
                          privileged_sessions))
    try:
        run_checks(ctx)
    finally:
        for conn in (ctx.source, ctx.target):
            if conn is not None:
                conn.close()
    return ctx.report
