"""Foreign keys of a move: which ones it keeps, which it refuses, and their definitions on the target.

A move keeps a foreign key between two moved tables: the target table is
created with it, and the ferry's target sessions write with
``foreign_key_checks=0`` (copier.open_target_writer), because rows arrive
in key order table by table, not parents first, and a child's binlog
event can be applied before its parent is copied. The constraint holds
again once the target equals the source, at the cutover; nothing is
checked in between, and nothing needs to be: the source enforced it.

A cascading action (``ON DELETE/UPDATE CASCADE``, ``SET NULL``) changes
the child's rows inside InnoDB, unseen by the row-based binlog: cascades.py
follows those it can (both ends moved, no chain) and refuses the others.

A foreign key with one end outside the move is preflight's to report (the
operator may know the parent is on the target already); a moved child's
constraint then names the parent as the source does, qualified, the engine
logs it at prepare (``foreign_keys_outside``), and the cutover counts its
orphans on the target (cutover/orphans.py), as nothing enforced it there.

Refused too: two constraints of one name in one target schema (InnoDB's
foreign key names are unique per database, and the second CREATE TABLE
would fail with errno 121 on every resume), which renames can bring about,
or a target schema that has a constraint of that name already.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from ..common.errors import DbferryError
from ..common.identifiers import display_table, quote_ident, quote_table
from ..server.connection import fetch_all, placeholders

#: Referential actions that change rows of another table inside the server, unseen by the binlog.
CASCADING_ACTIONS = frozenset({"CASCADE", "SET NULL", "SET DEFAULT"})

_RULE_RE = re.compile(r" ON (DELETE|UPDATE) (CASCADE|SET NULL|SET DEFAULT|RESTRICT|NO ACTION)")

#: A backquoted identifier as SHOW CREATE TABLE prints it (backticks inside doubled).
_IDENT = r"`(?:[^`]|``)+`"
#: A foreign key line of SHOW CREATE TABLE, up to the referenced table: groups are the text before the
#: reference, the first identifier and, when the reference is qualified, the table after the dot.
#: One foreign key of SHOW CREATE TABLE, its name to be filled in (escaped); the group is its rules.
_CONSTRAINT_RE = (r"CONSTRAINT %%s FOREIGN KEY \(%s(?:, ?%s)*\) REFERENCES %s(?:\.%s)? \(%s(?:, ?%s)*\)"
                  r"((?: ON (?:DELETE|UPDATE) (?:CASCADE|SET NULL|SET DEFAULT|RESTRICT|NO ACTION))*)") % ((_IDENT,) * 6)
_REFERENCE_RE = re.compile(r"^(\s*CONSTRAINT %s FOREIGN KEY \(%s(?:, ?%s)*\) REFERENCES )(%s)(?:\.(%s))?(?= \()" % (
    (_IDENT,) * 5), re.MULTILINE)


@dataclass(frozen=True)
class Constraint:
    """Foreign key ``name`` of child table ``schema.table`` on parent ``parent_schema.parent_table``: what every
    view of a foreign key shares (its rules here, its columns at the cutover's orphan check)."""

    name: str
    schema: str
    table: str
    parent_schema: str
    parent_table: str

    @property
    def child(self) -> str:
        return display_table(self.schema, self.table)

    @property
    def parent(self) -> str:
        return display_table(self.parent_schema, self.parent_table)


@dataclass(frozen=True)
class ForeignKey(Constraint):
    """A constraint with its rules, as SHOW CREATE TABLE of the child prints them."""

    on_update: str = "RESTRICT"
    on_delete: str = "RESTRICT"
    #: The child's columns and the parent's columns they reference, in the constraint's order.
    columns: tuple[str, ...] = ()
    parent_columns: tuple[str, ...] = ()

    @property
    def cascades(self) -> list[str]:
        """The rules that change the child's rows inside the server, e.g. ``["ON DELETE CASCADE"]``."""
        return ["ON %s %s" % (event, rule) for event, rule in (("DELETE", self.on_delete), ("UPDATE", self.on_update))
                if rule in CASCADING_ACTIONS]

    def describe(self) -> str:
        return "foreign key %s on %s references %s (ON UPDATE %s, ON DELETE %s)" % (
            quote_ident(self.name), self.child, self.parent, self.on_update, self.on_delete)

    def drop_statement(self) -> str:
        return "ALTER TABLE %s DROP FOREIGN KEY %s" % (quote_table(self.schema, self.table), quote_ident(self.name))


def rules(ddl: str, name: str) -> tuple[str, str]:
    """(ON UPDATE, ON DELETE) of constraint ``name`` in a SHOW CREATE TABLE text.

    Matched over the whole text with identifier-aware patterns, not line by
    line: a name may hold a newline, which the server prints raw. A
    constraint that cannot be found fails closed: reading it as RESTRICT
    would let a cascade through.
    """
    match = re.search(_CONSTRAINT_RE % re.escape(quote_ident(name)), ddl)
    if match is None:
        raise DbferryError("cannot read the rules of foreign key %s in SHOW CREATE TABLE." % quote_ident(name), obj=name,
                           fix="report this with the server version and the table's SHOW CREATE TABLE.")
    found = dict(_RULE_RE.findall(match.group(1)))
    # The server omits a rule that is the default.
    return found.get("UPDATE", "RESTRICT"), found.get("DELETE", "RESTRICT")


def read_foreign_keys(conn: Any, moved: Iterable[tuple[str, str]], children_only: bool = False) -> list[ForeignKey]:
    """The foreign keys with an end in ``moved`` (source (schema, table) pairs), or with their child there when
    ``children_only``; by child table and name.

    REFERENTIAL_CONSTRAINTS, which has the rules, is hidden from a user with
    only SELECT on MariaDB; KEY_COLUMN_USAGE is not, and SHOW CREATE TABLE of
    the child (once per child table) has the rules. Names are compared here,
    exactly: information_schema ignores case and accents.
    """
    moved = set(moved)
    schemas = sorted({schema for schema, _table in moved})
    where = " AND TABLE_SCHEMA IN (%s)" % placeholders(len(schemas)) if children_only and schemas else ""
    found = fetch_all(conn, "SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, "
                            "COLUMN_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
                            "WHERE REFERENCED_TABLE_NAME IS NOT NULL" + where +
                      " ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION", schemas if where else None)
    columns: dict[tuple[str, str, str, str, str], list[tuple[str, str]]] = {}
    for schema, table, name, parent_schema, parent_table, column, parent_column in found:
        if (schema, table) in moved or (not children_only and (parent_schema, parent_table) in moved):
            columns.setdefault((schema, table, name, parent_schema, parent_table), []).append((column, parent_column))
    ddl: dict[tuple[str, str], str] = {}
    keys = []
    for (schema, table, name, parent_schema, parent_table), pairs in columns.items():
        if (schema, table) not in ddl:
            ddl[(schema, table)] = fetch_all(conn, "SHOW CREATE TABLE %s" % quote_table(schema, table))[0][1]
        on_update, on_delete = rules(ddl[(schema, table)], name)
        keys.append(ForeignKey(name, schema, table, parent_schema, parent_table, on_update, on_delete,
                               tuple(c for c, _p in pairs), tuple(p for _c, p in pairs)))
    return keys


def outside_parents(keys: Iterable[ForeignKey], moved: Iterable[tuple[str, str]]) -> list[ForeignKey]:
    """The keys of ``keys`` whose parent is not in ``moved``: their constraint is created on the target naming the parent's
    source table, and nothing checks it until the cutover."""
    moved = set(moved)
    return [key for key in keys if (key.parent_schema, key.parent_table) not in moved]


def name_conflicts(keys: Iterable[ForeignKey], targets: dict[tuple[str, str], tuple[str, str]],
                   existing: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(object, message, fix) for each constraint name of ``keys`` (moved children; ``targets``: source (schema, table) ->
    target (schema, table)) that another of them, or a constraint in ``existing`` ((schema, table, name) on the target, the
    move's own tables left out), has in the same target schema.

    Compared ignoring case, as InnoDB may: refusing two names that differ in case only costs a rename, missing them a
    prepare that fails on every resume.
    """
    taken: dict[tuple[str, str], str] = {}
    for schema, table, name in existing:
        taken.setdefault((schema, name.lower()), "the target's %s" % display_table(schema, table))
    found = []
    for key in keys:
        schema, table = targets[(key.schema, key.table)]
        slot = (schema, key.name.lower())
        if slot in taken:
            found.append((
                "%s (%s)" % (key.child, key.name),
                "foreign key %s of %s and a constraint of the same name on %s would both be in the target schema %s; InnoDB's "
                "foreign key names are unique per database, and creating %s would fail (errno 121, \"Duplicate key on write or "
                "update\") on every resume." % (quote_ident(key.name), key.child, taken[slot], quote_ident(schema), display_table(schema, table)),
                "rename the constraint on the source (%s, then ADD CONSTRAINT under a name of its own with the same definition), "
                "or move the table to another target schema." % key.drop_statement()))
        else:
            taken[slot] = "%s (moved to %s)" % (key.child, display_table(schema, table))
    return found


def target_constraints(target: Any, schemas: Iterable[str], ours: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(schema, table, name) of the foreign keys of the target schemas ``schemas``, but those on tables in ``ours``."""
    schemas, ours = sorted(set(schemas)), set(ours)
    if not schemas:
        return []
    rows = fetch_all(target, "SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME FROM information_schema.TABLE_CONSTRAINTS "
                             "WHERE CONSTRAINT_TYPE = 'FOREIGN KEY' AND TABLE_SCHEMA IN (%s)" % placeholders(len(schemas)), schemas)
    return [(schema, table, name) for schema, table, name in rows if (schema, table) not in ours]


def refuse_name_conflicts(source: Any, target: Any, targets: dict[tuple[str, str], tuple[str, str]]) -> list[ForeignKey]:
    """Refuse constraint names the target schema would hold twice (module docstring) before anything is created; return the
    moved children's foreign keys whose parent is outside the move (outside_parents), for the caller to log."""
    keys = read_foreign_keys(source, targets, children_only=True)
    if not keys:
        return []
    existing = target_constraints(target, (targets[(k.schema, k.table)][0] for k in keys), targets.values())
    for obj, message, fix in name_conflicts(keys, targets, existing)[:1]:
        raise DbferryError(message, obj=obj, fix=fix)
    return outside_parents(keys, targets)


def _unquote(ident: str) -> str:
    return ident[1:-1].replace("``", "`")


def retarget_references(ddl: str, schema: str, targets: dict[tuple[str, str], tuple[str, str]]) -> str:
    """A SHOW CREATE TABLE text of a table of ``schema`` whose every REFERENCES names the parent's target table, qualified.

    The server prints the parent unqualified when it is in the child's schema,
    and an unqualified name in CREATE TABLE ``db``.``t`` means a table of
    ``db``: a child moved to another schema, or a parent renamed (``targets``:
    source (schema, table) -> target (schema, table)), would otherwise point at
    a table the move does not fill. A parent outside ``targets`` keeps its
    source name, qualified.
    """

    def replace(match: re.Match) -> str:
        head, first, second = match.group(1), match.group(2), match.group(3)
        parent = (_unquote(first), _unquote(second)) if second else (schema, _unquote(first))
        return head + quote_table(*targets.get(parent, parent))

    return _REFERENCE_RE.sub(replace, ddl)
