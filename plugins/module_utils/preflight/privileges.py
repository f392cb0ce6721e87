"""Checks of what the move's two users may do: read and stream the source, write the target, not bypass read_only.

Grants are read with SHOW GRANTS and then, on the source, tried for real (a
row of each table, a binlog dump that ends at once): SHOW GRANTS does not
show everything that refuses a read, and a grant read wrong must not pass.
"""

from __future__ import annotations

from typing import Any

from ..binlog.dump import probe_dump
from ..common.identifiers import quote_ident
from ..engine.selection import STATE_SCHEMA
from ..server import grants as grants_mod
from ..server.connection import connect, error_code, error_text, fetch_all, fetch_value, is_database_error
from ..server.error_codes import ER_ACCESS_DENIED_ERROR, ER_SPECIFIC_ACCESS_DENIED_ERROR
from ..server.flavor import Flavor
from .context import Context
from .report import ERROR, OK, WARNING

SOURCE_GLOBAL_PRIVILEGES = ("REPLICATION SLAVE",)
SOURCE_TABLE_PRIVILEGES = ("SELECT",)
TARGET_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER")


def source_global_privileges(flavor: Flavor) -> tuple[str, ...]:
    """What the source user needs on ``*.*``: the binlog stream, and the binlog status under this product's name."""
    return SOURCE_GLOBAL_PRIVILEGES + (flavor.binlog_monitor_privilege,)


def stream_refusal_fix(code: int) -> str:
    """The fix of a refused binlog dump: a missing privilege or login is the user's; anything else the server's."""
    if code in (ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR):
        return "grant REPLICATION SLAVE ON *.* to the source user."
    return "check the source's error log for this error."


def _account_object(conn: Any, side: str) -> tuple[tuple[str, str], str]:
    """The session's account and how findings name it (``user@host on source``)."""
    account = grants_mod.parse_account(fetch_value(conn, "SELECT CURRENT_USER()"))
    return account, "%s@%s on %s" % (account + (side,))


def source_privileges(ctx: Context) -> None:
    """The source user can read rows, binlog status and the binlog stream.

    Fills ``ctx.source_grants`` for later checks and each table's ``has_rows`` (its read is tried here).
    """
    account, obj = _account_object(ctx.source, "source")
    grants = ctx.source_grants = grants_mod.read_grants(ctx.source)
    before = ctx.mark()
    lacking = grants_mod.missing(source_global_privileges(ctx.source_flavor), grants_mod.privileges_on(grants))
    if lacking:
        ctx.add("source_privileges", ERROR, obj, "the source user lacks %s (global)." % ", ".join(lacking),
                grants_mod.grant_statement(lacking, "*.*", account))
    for schema in sorted({t.schema for t in ctx.tables}):
        if not grants_mod.missing(SOURCE_TABLE_PRIVILEGES, grants_mod.privileges_on(grants, schema)):
            continue
        # information_schema hides tables the user has no privilege on, so
        # with table-level grants only, unseen tables would silently not move.
        if not ctx.request.selection.names_every_table_of(schema):
            ctx.add("source_privileges", ERROR, obj,
                    "the source user lacks SELECT on %s.*; tables of %s it cannot see would not be moved." % (schema, schema),
                    grants_mod.grant_statement(SOURCE_TABLE_PRIVILEGES, "%s.*" % quote_ident(schema), account)
                    + " Or name each table of %s in tables.include." % schema)
            continue
        unreadable = [t for t in ctx.tables if t.schema == schema
                      and grants_mod.missing(SOURCE_TABLE_PRIVILEGES, grants_mod.privileges_on(grants, schema, t.name))]
        if unreadable:
            ctx.add("source_privileges", ERROR, obj, "the source user cannot SELECT %s." % ", ".join(t.display for t in unreadable),
                    " ".join(grants_mod.grant_statement(SOURCE_TABLE_PRIVILEGES, t.quoted, account) for t in unreadable))
    # The dump is tried only when the grants look complete; otherwise its refusal would repeat what is reported.
    grants_look_complete = ctx.mark() == before
    _try_table_reads(ctx, obj)
    if grants_look_complete:
        _try_binlog_stream(ctx, obj)
    ctx.ok_unless_found("source_privileges", before, obj, "has %s, and SELECT on the selected tables (granted and tried)." %
                        ", ".join(source_global_privileges(ctx.source_flavor)))


def _try_table_reads(ctx: Context, obj: str) -> None:
    """Read a row of each selected table as the copy will; a refusal not reported from the grants is a finding."""
    reported = {c.message for c in ctx.report.checks if c.name == "source_privileges"}
    for table in ctx.base_tables:
        try:
            table.has_rows = bool(fetch_all(ctx.source, "SELECT 1 FROM %s LIMIT 1" % table.quoted))
        except Exception as exc:  # noqa: BLE001 - a server error is the finding
            if not is_database_error(exc):
                raise
            if not any(table.display in message for message in reported):
                ctx.add("source_privileges", ERROR, obj, "reading %s failed: %s" % (table.display, error_text(exc)),
                        "grant SELECT on %s to the source user." % table.quoted)


def _try_binlog_stream(ctx: Context, obj: str) -> None:
    """Ask for a binlog dump that ends at once, on a session of its own (a dump takes the session over)."""
    probe = connect(ctx.request.source)
    try:
        probe_dump(probe, ctx.source_flavor)
    except Exception as exc:  # noqa: BLE001 - a server error is the finding
        if not is_database_error(exc):
            raise
        ctx.add("source_privileges", ERROR, obj, "streaming the binlog was refused: %s" % error_text(exc),
                stream_refusal_fix(error_code(exc)))
    finally:
        probe.close()


def bypassing_privileges(granted: frozenset[str], flavor: Flavor) -> list[str]:
    """The privileges of ``granted`` that let a session write despite read_only (all of them under ALL PRIVILEGES)."""
    return [p for p in flavor.read_only_bypass_privileges if grants_mod.ALL in granted or p in granted]


def source_bypasses_read_only(ctx: Context) -> None:
    """The source user cannot write despite read_only, so the cutover can tell the app's sessions from the agent's.

    The cutover leaves every session of that user out of privileged_sessions (they are the agent's, which reads
    the source as it), so a session of the application under the same user would go on writing unseen.
    """
    _account, obj = _account_object(ctx.source, "source")
    granted = grants_mod.privileges_on(ctx.source_grants)
    held = bypassing_privileges(granted, ctx.source_flavor)
    if not held:
        ctx.add("source_bypasses_read_only", OK, obj, "the source user cannot write despite read_only.")
        return
    through = " (through ALL PRIVILEGES)" if grants_mod.ALL in granted else ""
    ctx.add("source_bypasses_read_only", WARNING, obj,
            "the source user holds %s%s, so it can write despite read_only; the cutover's privileged_sessions leaves every "
            "session of it out as the agent's, so an application session under the same user cannot be told apart "
            "from the agent's and would go on writing after the final position." % (" and ".join(held), through),
            "give the move a login of its own without %s (README: what your servers need)." % " or ".join(held))


def target_privileges(ctx: Context) -> None:
    """The target user can create and write the moved tables and _dbferry."""
    account, obj = _account_object(ctx.target, "target")
    grants = grants_mod.read_grants(ctx.target)
    before = ctx.mark()
    for schema in sorted({t.schema for t in ctx.tables}) + [STATE_SCHEMA]:
        lacking = grants_mod.missing(TARGET_PRIVILEGES, grants_mod.privileges_on(grants, schema))
        if lacking:
            ctx.add("target_privileges", ERROR, obj, "the target user lacks %s on %s." % (", ".join(lacking), schema),
                    grants_mod.grant_statement(lacking, "%s.*" % quote_ident(schema), account))
    ctx.ok_unless_found("target_privileges", before, obj,
                        "has %s on the moved databases and %s." % (", ".join(TARGET_PRIVILEGES), STATE_SCHEMA))
