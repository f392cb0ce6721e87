"""Checks of the selected tables: what the copy and the binlog stream can move consistently, and what they leave behind.

Refused: tables the copy cannot page through or lock (no usable key,
a non-transactional engine, old temporal formats), cascading foreign keys on
moved tables that the applier cannot follow (engine/cascades.py: their
changes are not in the binlog) and definitions that SHOW
CREATE TABLE prints wrongly. Reported for the operator to accept: foreign keys
to or from a table outside the move, triggers and views, which are not moved;
and, for the record, tables without rows and the foreign keys that are moved.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Optional

from ..common.identifiers import display_table, quote_ident, quote_table
from ..engine.cascades import cascade_refusal, read_generated_columns
from ..engine.foreign_keys import ForeignKey, name_conflicts, read_foreign_keys, target_constraints
from ..common.errors import DbferryError
from ..engine.key_choice import IndexColumns, choose_key, key_fix, read_unique_indexes
from ..engine.tables import UNPRINTABLE_FIX, unprintable_columns
from ..server import grants as grants_mod
from ..server.connection import fetch_all
from .context import Context
from .report import ERROR, OK, WARNING
from .selected_table import SelectedTable, in_list
from .target import tables_on_target

#: Shared row locks (the consistency argument, step 2) need a transactional engine.
TRANSACTIONAL_ENGINES = frozenset({"InnoDB"})


def _exclude(table: SelectedTable) -> str:
    """How to leave a table out, in the module's option and in the roles' variable (a playbook user writes the latter)."""
    return "exclude it with tables.exclude (dbferry_tables.exclude in the roles): ['%s']" % table.display


def table_support(ctx: Context) -> None:
    """Tables are transactional base tables (shared row locks hold), in a format the binlog stream decodes."""
    before = ctx.mark()
    for table in ctx.base_tables:
        if table.kind != "BASE TABLE":
            ctx.add("table_support", ERROR, table.display, "%s is a %s, which is not supported." % (table.display, table.kind.lower()),
                    _exclude(table) + ".")
        elif table.engine not in TRANSACTIONAL_ENGINES:
            ctx.add("table_support", ERROR, table.display,
                    "%s uses the %s engine; copying it consistently needs shared row locks (InnoDB)." % (table.display, table.engine),
                    "ALTER TABLE %s ENGINE=InnoDB, or %s." % (table.quoted, _exclude(table)))
    _old_temporal_columns(ctx)
    ctx.ok_unless_found("table_support", before, "tables", "every selected table is an InnoDB base table.")


def _old_temporal_columns(ctx: Context) -> None:
    """MariaDB 5.3 format TIME/DATETIME/TIMESTAMP columns: their binlog values cannot be decoded."""
    placeholders, args = in_list(t.schema for t in ctx.base_tables)
    moved = {t.display for t in ctx.base_tables}
    for schema, table, column, column_type in fetch_all(
            ctx.source, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                        "WHERE COLUMN_TYPE LIKE '%%mariadb-5.3%%' AND TABLE_SCHEMA IN " + placeholders, args):
        if display_table(schema, table) in moved:
            ctx.add("table_support", ERROR, display_table(schema, table),
                    "column %s of %s is %s, the MariaDB 5.3 format, whose binlog values cannot be decoded." % (
                        quote_ident(column), display_table(schema, table), column_type),
                    "rebuild the table in the current format: ALTER TABLE %s FORCE (with mysql56_temporal_format=ON)." %
                    quote_table(schema, table))


def _written_columns(ctx: Context) -> dict[tuple[str, str], dict[str, str]]:
    """(schema, table) -> its written (not generated) columns' lower-case DATA_TYPEs by name, for the selected schemas."""
    placeholders, args = in_list(t.schema for t in ctx.base_tables)
    found: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for schema, table, column, data_type, extra in fetch_all(
            ctx.source, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, EXTRA FROM information_schema.COLUMNS "
                        "WHERE TABLE_SCHEMA IN " + placeholders, args):
        if "GENERATED" not in (extra or "").upper():
            found[(schema, table)][column] = data_type.lower()
    return found


def primary_keys(ctx: Context) -> None:
    """Every moved table has a key the move copies it by (engine/key_choice.py): its primary key, or a unique key on NOT
    NULL columns. ``primary_key``: a table with no such key at all; ``primary_key_type``: a table whose keys the move
    cannot use (their column types, prefixes or NULL-able columns); a table moved by a unique key is reported (ok).

    One check reports both, table by table, so a report lists a table's key problem once and in table order.
    """
    indexes = read_unique_indexes(ctx.source, {t.schema for t in ctx.base_tables})
    columns = _written_columns(ctx)
    before = ctx.mark()
    by_unique = []
    for table in ctx.base_tables:
        found = indexes.get((table.schema, table.name), [])
        try:
            key = choose_key(table.schema, table.name, found, columns.get((table.schema, table.name), {}))
        except DbferryError as exc:
            ctx.add("primary_key" if not found else "primary_key_type", ERROR, table.display, exc.message,
                    "%s; or %s." % (key_fix(table.schema, table.name), _exclude(table)))
            continue
        if not key.primary:
            by_unique.append("%s by (%s)" % (table.display, ", ".join(quote_ident(c) for c in key.columns)))
    ctx.ok_unless_found("primary_key", before, "tables", "every selected table has a primary key or a unique key on NOT NULL columns%s." % (
        "; without a primary key, moved by a unique key on NOT NULL columns: " + ", ".join(by_unique) if by_unique else ""))
    ctx.ok_unless_found("primary_key_type", before, "tables", "every key is of columns the server compares exactly.")


def foreign_key_finding(key: ForeignKey, moved: set[tuple[str, str]], keys: Iterable[ForeignKey] = (),
                        unique_indexes: Iterable[IndexColumns] = (), generated: Iterable[str] = ()) -> Optional[tuple[str, str, str]]:
    """(check, message, fix) of an error about a foreign key with an end in ``moved``; None for one the move keeps.

    A foreign key between two moved tables is moved (engine/foreign_keys.py). A cascade on a moved child that the
    applier cannot follow is refused (engine/cascades.py, judged with the other foreign keys read, ``keys``, and the
    child's ``unique_indexes`` and ``generated`` columns); one from a table the move leaves behind to a moved parent is reported as out of the
    move: the target has no child rows to miss.
    """
    child_moved, parent_moved = (key.schema, key.table) in moved, (key.parent_schema, key.parent_table) in moved
    refused = cascade_refusal(key, keys, moved, unique_indexes, generated)
    if refused is not None:
        return ("foreign_key_cascades",) + refused
    if not parent_moved:
        return ("foreign_keys",
                "%s, which the move leaves behind: the target's %s would reference a table the move does not fill." % (
                    key.describe(), key.child),
                "add %s to the move, or drop the foreign key for the move (%s) and add it again after the cutover; allow "
                "foreign_keys only if %s is on the target already, under the same name, with its rows (the cutover counts the "
                "child rows whose parent row the target lacks, and refuses on any)." % (
                    key.parent, key.drop_statement(), key.parent))
    if not child_moved:
        return ("foreign_keys",
                "%s, which is moved while %s stays: after the cutover the constraint still points at the source's %s, "
                "which no longer receives the application's writes." % (key.describe(), key.child, key.parent),
                "add %s to the move, or drop the foreign key (%s); allow foreign_keys if it is moved separately." % (
                    key.child, key.drop_statement()))
    return None


def foreign_keys(ctx: Context) -> None:
    """Foreign keys with one end outside the move (foreign_keys), and cascading actions on moved child tables that the
    applier cannot follow, as the binlog does not record them (foreign_key_cascades); one check, as one scan of the
    constraints finds both."""
    moved = {(t.schema, t.name) for t in ctx.base_tables}
    before = ctx.mark()
    kept = followed = 0
    keys = read_foreign_keys(ctx.source, moved)
    cascading = {key.schema for key in keys if key.cascades}
    uniques = read_unique_indexes(ctx.source, cascading) if cascading else {}
    generated = read_generated_columns(ctx.source, cascading)
    for key in keys:
        found = foreign_key_finding(key, moved, keys, uniques.get((key.schema, key.table), []), generated.get((key.schema, key.table), ()))
        if found is None:
            kept += 1
            followed += bool(key.cascades)
        else:
            name, message, fix = found
            ctx.add(name, ERROR, "%s (%s)" % (key.child, key.name), message, fix)
    if kept:
        ctx.add("foreign_keys", OK, "tables", "%d foreign key(s) between moved tables are moved: created on the target with their "
                                              "tables, which the move writes with foreign_key_checks=0 until the cutover." % kept)
    ctx.ok_unless_found("foreign_keys", before, "tables", "no foreign keys on or into the selected tables.")
    ctx.ok_unless_found("foreign_key_cascades", before, "tables", (
        "%d cascading foreign key(s) between moved tables are followed: the applier re-copies the child rows a parent's "
        "delete or re-key changed." % followed) if followed else "no cascading foreign keys on the moved tables.")


def foreign_key_names(ctx: Context) -> None:
    """No foreign key of a moved table has a name its target schema holds already: InnoDB's names are unique per database,
    and the move's CREATE TABLE would fail (errno 121) on every resume. Preflight knows no renames: the target schema is the
    source's; the engine checks again with them (engine/foreign_keys.py)."""
    moved = {(t.schema, t.name): (t.schema, t.name) for t in ctx.base_tables}
    keys = read_foreign_keys(ctx.source, moved, children_only=True)
    existing = target_constraints(ctx.target, (k.schema for k in keys), moved) if keys else []
    before = ctx.mark()
    for obj, message, fix in name_conflicts(keys, moved, existing):
        ctx.add("foreign_key_names", ERROR, obj, message, fix)
    ctx.ok_unless_found("foreign_key_names", before, "tables", "no foreign key of a moved table has a name the target schema holds.")


def schemas_hiding_triggers(schemas: Iterable[str], grants: list[grants_mod.Grant]) -> list[str]:
    """The schemas where the user lacks TRIGGER: information_schema.TRIGGERS lists only triggers on tables it has it on."""
    hidden = set()
    for schema in schemas:
        granted = grants_mod.privileges_on(grants, schema)
        if "TRIGGER" not in granted and grants_mod.ALL not in granted:
            hidden.add(schema)
    return sorted(hidden)


def triggers(ctx: Context) -> None:
    """Triggers, which are not moved."""
    moved = {t.display for t in ctx.base_tables}
    before = ctx.mark()
    for name, schema, table, timing, event in fetch_all(
        ctx.source,
        "SELECT TRIGGER_NAME, EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION "
        "FROM information_schema.TRIGGERS ORDER BY EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, TRIGGER_NAME",
    ):
        key = display_table(schema, table)
        if key in moved:
            ctx.add("triggers", WARNING, key,
                    "trigger %s (%s %s) on %s is not moved." % (quote_ident(name), timing, event, key),
                    "create it on the target after cutover, not before: it would fire on the rows the ferry writes. Or allow triggers.")
    unseen = schemas_hiding_triggers((t.schema for t in ctx.base_tables), ctx.source_grants)
    note = " (without the TRIGGER privilege on %s, triggers there are not visible to the source user)" % ", ".join(unseen) if unseen else ""
    ctx.ok_unless_found("triggers", before, "tables", "no triggers on the selected tables%s." % note)


def views(ctx: Context) -> None:
    """Views, which are not moved."""
    selected = [t for t in ctx.tables if t.is_view]
    for view in selected:
        ctx.add("views", WARNING, view.display, "view %s is not moved." % view.display,
                "recreate it on the target after the move (SHOW CREATE VIEW %s), or allow views." % view.quoted)
    if not selected:
        ctx.add("views", OK, "databases", "no views in the selected databases.")


def empty_tables(ctx: Context) -> None:
    """Tables without rows, as the source user's reads found them (source_privileges)."""
    empty = [t.display for t in ctx.base_tables if t.has_rows is False]
    ctx.add("empty_tables", OK, ("%d empty table(s)" % len(empty)) if empty else "tables",
            ("no rows in: %s (created on the target, filled by later writes)." % ", ".join(empty))
            if empty else "every selected table has rows.")


def definitions(ctx: Context) -> None:
    """The tables the move creates get the source's ENUM/SET members and defaults (SHOW CREATE TABLE prints them as they are).

    Only tables the move would create from SHOW CREATE TABLE: one that exists on the target already is the
    operator's, created by hand (reuse_target). Without a target session, every table counts as to be created.
    """
    base = ctx.base_tables
    existing: set[tuple[str, str]] = tables_on_target(ctx.target, base) if ctx.target is not None else set()
    before = ctx.mark()
    for found in unprintable_columns(ctx.source, [(t.schema, t.name) for t in base if (t.schema, t.name) not in existing]):
        ctx.add("definitions", ERROR, found.table, found.message, UNPRINTABLE_FIX)
    ctx.ok_unless_found("definitions", before, "tables", "every ENUM/SET member and default of the tables to create prints as it is stored.")
