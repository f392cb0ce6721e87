"""The selection check: what the operator's include/exclude picks on the source, found once for every later check."""

from __future__ import annotations

from ..engine.selection import SYSTEM_SCHEMAS, unmatched_error
from ..server.connection import fetch_all
from .context import Context
from .report import ERROR
from .selected_table import SelectedTable, in_list


def selection(ctx: Context) -> None:
    """Every include entry, name or pattern, matches something on the source, and something is selected.

    Fills ``ctx.tables`` (views included, reported by the views check) and the report's table list.
    """
    chosen = ctx.request.selection
    placeholders, args = in_list(SYSTEM_SCHEMAS)
    schemas = [row[0] for row in fetch_all(
        ctx.source, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN " + placeholders, args)]
    rows = fetch_all(
        ctx.source,
        "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA NOT IN " + placeholders + " ORDER BY TABLE_SCHEMA, TABLE_NAME",
        args,
    )
    before = ctx.mark()
    for option, entry in chosen.unmatched_includes(schemas, [(schema, name) for schema, name, _kind, _engine in rows]):
        error = unmatched_error(option, entry)
        ctx.add("selection", ERROR, entry, error.message, error.fix)
    ctx.tables = [SelectedTable(*row) for row in rows if chosen.selects_table(row[0], row[1])]
    base = ctx.base_tables
    if not base:
        ctx.add("selection", ERROR, "databases/tables", "the selection matches no table on the source.",
                "check databases.include/exclude and tables.include/exclude against SHOW DATABASES.")
    else:
        ctx.ok_unless_found("selection", before, "databases/tables",
                            "%d table(s) in %d database(s) selected." % (len(base), len({t.schema for t in ctx.tables})))
    ctx.report.tables = [t.display for t in base]
