"""Checks of the target: another server than the source, writable, free of the moved tables' rows, and able to hold
what the source has (its collations, its version's types and defaults)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from ..common.identifiers import display_table
from ..server.connection import fetch_all, fetch_value
from ..server.flavor import Flavor
from ..server.identity import server_identity
from .context import Context
from .report import ERROR, OK, WARNING
from .selected_table import SelectedTable, in_list

#: How many users of an unknown collation a finding names before it counts the rest.
NAMED_USERS = 5


def tables_on_target(conn: Any, tables: Iterable[SelectedTable]) -> set[tuple[str, str]]:
    """(schema, name) of every table the target has in the schemas of ``tables``."""
    placeholders, args = in_list(t.schema for t in tables)
    return set(fetch_all(conn, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA IN "
                         + placeholders, args))


def distinct_servers(ctx: Context) -> None:
    """The source and the target are two servers, not one reached two ways: a move onto its own source would overwrite
    the rows it reads.

    Compared by what the servers answer (server/identity.py), since a socket and a TCP address, or two
    host names, can reach one server.
    """
    identity = server_identity(ctx.source)
    if identity == server_identity(ctx.target):
        ctx.add("distinct_servers", ERROR, ctx.target_name,
                "the source %s and the target %s are the same server (host name %s, port %s, data directory %s, server id %s)."
                % (ctx.source_name, ctx.target_name, identity["hostname"], identity["port"], identity["datadir"], identity["server_id"]),
                "point the target at the server the databases move to; check unix_socket and config_file of both.")
    else:
        ctx.add("distinct_servers", OK, ctx.target_name, "the target is another server than the source.")


def target_read_only(ctx: Context) -> None:
    """The target accepts writes."""
    if int(fetch_value(ctx.target, "SELECT @@GLOBAL.read_only")):
        ctx.add("target_read_only", ERROR, ctx.target_name, "the target is read-only (read_only=ON).",
                "SET GLOBAL read_only = OFF on the target (and in its my.cnf) before the move.")
    else:
        ctx.add("target_read_only", OK, ctx.target_name, "the target accepts writes.")


def target_not_empty(ctx: Context) -> None:
    """The moved tables are absent or empty on the target; an empty one is reused."""
    base = ctx.base_tables
    existing = tables_on_target(ctx.target, base)
    before, reused = ctx.mark(), 0
    for table in base:
        if (table.schema, table.name) not in existing:
            continue
        if fetch_all(ctx.target, "SELECT 1 FROM %s LIMIT 1" % table.quoted):
            ctx.add("target_not_empty", ERROR, table.display, "%s already exists on the target and has rows." % table.display,
                    "drop or empty it on the target, or move into another database (rename.databases); the agent "
                    "refuses a new move into it. When the move resumes, the rows are its own: the move role allows "
                    "target_not_empty then, and nothing needs doing.")
        else:
            reused += 1
    ctx.ok_unless_found("target_not_empty", before, ctx.target_name, "the moved tables are absent on the target%s." % (
        " or empty (%d empty table(s) will be reused)" % reused if reused else ""))


def _collation_users(ctx: Context) -> dict[str, list[str]]:
    """Each collation the selection uses on the source, with what uses it: schemas, then tables, then columns."""
    placeholders, args = in_list(t.schema for t in ctx.tables)
    moved = {t.display for t in ctx.tables}
    users: dict[str, list[str]] = defaultdict(list)
    for schema, collation in fetch_all(
            ctx.source, "SELECT SCHEMA_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN "
            + placeholders, args):
        users[collation].append(schema)
    for schema, table, collation in fetch_all(
            ctx.source, "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES "
                        "WHERE TABLE_COLLATION IS NOT NULL AND TABLE_SCHEMA IN " + placeholders, args):
        if display_table(schema, table) in moved:
            users[collation].append(display_table(schema, table))
    for schema, table, column, collation in fetch_all(
            ctx.source, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
                        "WHERE COLLATION_NAME IS NOT NULL AND TABLE_SCHEMA IN " + placeholders, args):
        if display_table(schema, table) in moved:
            users[collation].append("%s.%s" % (display_table(schema, table), column))
    return users


def _known_collations(conn: Any) -> set[str]:
    """Collation names the server accepts, including MariaDB 10.10+'s full UCA names."""
    known = {row[0] for row in fetch_all(conn, "SELECT COLLATION_NAME FROM information_schema.COLLATIONS")}
    with conn.cursor() as cur:
        # SELECT *: FULL_COLLATION_NAME exists only on MariaDB 10.10+, so the columns are picked by name.
        cur.execute("SELECT * FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY")
        columns = [d[0].upper() for d in cur.description]
        wanted = [i for i, c in enumerate(columns) if c in ("COLLATION_NAME", "FULL_COLLATION_NAME")]
        for row in cur.fetchall():
            known.update(row[i] for i in wanted)
    return known


def named_users(users: list[str]) -> str:
    """The first few users of a collation, and how many more there are."""
    more = len(users) - NAMED_USERS
    return ", ".join(users[:NAMED_USERS]) + (" and %d more" % more if more > 0 else "")


def charsets(ctx: Context) -> None:
    """The target knows every character set and collation used."""
    users = _collation_users(ctx)
    known = _known_collations(ctx.target)
    for collation in sorted(users):
        if collation not in known:
            message = "collation %s, used by %s, is unknown to the target (%s)." % (
                collation, named_users(users[collation]), ctx.target_flavor.label)
            ctx.add("charsets", ERROR, collation, message,
                    "convert those columns to a collation both servers know, or move to a target that has it.")
    if all(c in known for c in users):
        ctx.add("charsets", OK, "collations", "the target knows all %d collation(s) in use: %s." % (len(users), ", ".join(sorted(users))))


def version_finding(source: Flavor, target: Flavor) -> tuple[str, str, str]:
    """(status, message, fix) of the two servers' products and versions: an older or other target may lack types or
    defaults the source's tables use."""
    if source.kind != target.kind:
        return (WARNING, "source and target are different products; types and defaults may differ.",
                "rehearse the move and compare; allow target_version when satisfied.")
    if target.version < source.version:
        return WARNING, "the target is older than the source.", "upgrade the target, or rehearse the move and allow target_version."
    return OK, "the target is not older than the source.", ""


def target_version(ctx: Context) -> None:
    """The target is not older than the source."""
    status, message, fix = version_finding(ctx.source_flavor, ctx.target_flavor)
    ctx.add("target_version", status, "%s -> %s" % (ctx.source_flavor.label, ctx.target_flavor.label), message, fix)
