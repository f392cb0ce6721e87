"""What an online schema change writes where: the names of its tables, and the column mapping from the catalog.

The plan is read from the server's catalog once the ghost table exists with
the new schema (ghost.py): which columns of the original carry over (by
name, or by ``rename_columns``), which the new schema adds (they take their
defaults) or drops, and which are generated in the new table (the server
computes them: they are never written). Copy and apply both write the
mapped columns only, under their new names (``moved_table``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..common.errors import DbferryError
from ..common.identifiers import display_table, quote_ident
from ..engine.key_choice import IndexColumns, choose_key, read_unique_indexes
from ..engine.keys import is_exact
from ..engine.tables import MovedTable
from ..server.connection import fetch_all

#: MariaDB and MySQL refuse table names longer than this.
MAX_NAME = 64
#: The ghost (new schema) and old table names: gh-ost's, so that an operator who knows gh-ost knows them.
GHOST_FORMAT = "_%s_gho"
OLD_FORMAT = "_%s_del"

#: DATA_TYPEs whose values the binlog and the applier carry by number (ENUM index, SET bitmask): the number means the
#: same label in the new column only if the old members come first, in the same order.
_NUMBERED = frozenset({"enum", "set"})

#: An identifier in an ALTER: backtick-quoted (a doubled backtick inside) or bare.
_IDENT = r"(`(?:[^`]|``)+`|[A-Za-z0-9_$\u0080-\uffff]+)"
#: The renames an ALTER makes itself: RENAME COLUMN a TO b, CHANGE [COLUMN] [IF EXISTS] a b ...
_RENAME_RE = re.compile(r"(?i)\bRENAME\s+COLUMN\s+(?:IF\s+EXISTS\s+)?%s\s+TO\s+%s" % (_IDENT, _IDENT))
_CHANGE_RE = re.compile(r"(?i)\bCHANGE\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?%s\s+%s" % (_IDENT, _IDENT))


def alter_name(database: str, table: str) -> str:
    """The state name of the change of ``database.table`` (engine/state.py names allow [A-Za-z0-9_-]{1,64}): one per table."""
    return "alter-" + hashlib.sha1(("%s.%s" % (database, table)).encode("utf-8")).hexdigest()[:20]


def table_names(database: str, table: str) -> tuple[str, str]:
    """(ghost, old) names for ``table``; an error naming the table when they would be too long for the server."""
    ghost, old = GHOST_FORMAT % table, OLD_FORMAT % table
    if max(len(ghost), len(old)) > MAX_NAME:
        raise DbferryError("the change of %s needs tables named %s and %s, longer than the server's %d characters." % (
            display_table(database, table), ghost, old, MAX_NAME), obj=display_table(database, table),
            fix="rename the table to at most %d characters first (RENAME TABLE), or change it with a native ALTER TABLE." % (MAX_NAME - 5))
    return ghost, old


@dataclass(frozen=True)
class Column:
    """A column as information_schema.COLUMNS describes it."""

    name: str
    data_type: str
    column_type: str
    generated: bool
    #: CHARACTER_SET_NAME (None for a column that holds no text).
    charset: Optional[str] = None
    #: COLLATION_NAME (None for a column that holds no text): how the server compares its values.
    collation: Optional[str] = None


def read_columns(conn: Any, database: str, table: str) -> list[Column]:
    """The table's columns in order. Generated columns are told by IS_GENERATED and, for servers that leave it out, EXTRA.

    Names compared byte for byte (BINARY): information_schema compares them case- and accent-insensitively.
    """
    rows = fetch_all(conn, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, EXTRA, IS_GENERATED, CHARACTER_SET_NAME, COLLATION_NAME "
                           "FROM information_schema.COLUMNS "
                           "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND BINARY TABLE_SCHEMA = %s AND BINARY TABLE_NAME = %s "
                           "ORDER BY ORDINAL_POSITION", (database, table) * 2)
    return [Column(name, data_type.lower(), column_type, (is_generated or "").upper() == "ALWAYS" or "GENERATED" in (extra or "").upper(),
                   charset, collation) for name, data_type, column_type, extra, is_generated, charset, collation in rows]


#: Integer DATA_TYPEs: a key column may change from one to another (widen) and still compare its values alike.
INTEGER_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "bigint"})

#: How to give a table a key an online change can use (its refusal's fix).
KEY_FIX = ("keep one of the table's keys in the ALTER: a unique key (or the primary key) on the same columns, in the same order, "
           "of the same types and collations (an integer may widen); or first give the table a primary key, or a UNIQUE key on NOT "
           "NULL columns of integer, DECIMAL, CHAR/VARCHAR, BINARY/VARBINARY or temporal types, with a native ALTER TABLE")


def _unquote(identifier: str) -> str:
    if identifier.startswith("`"):
        return identifier[1:-1].replace("``", "`")
    return identifier


def renames_in(alter: str) -> dict[str, str]:
    """The column renames the ALTER text makes (RENAME COLUMN, CHANGE COLUMN to another name), old -> new."""
    found = {}
    for pattern in (_RENAME_RE, _CHANGE_RE):
        for match in pattern.finditer(alter):
            old, new = _unquote(match.group(1)), _unquote(match.group(2))
            if old.lower() != new.lower():
                found[old] = new
    return found


@dataclass(frozen=True)
class AlterPlan:
    """The change of one table: its names, key and column mapping (old column -> ghost column)."""

    database: str
    table: str
    ghost: str
    old: str
    #: The key the change copies, applies and compares by: columns of the original (engine/key_choice.py, kept by the
    #: new schema as a unique key: plan.shared_key), in key order.
    key: tuple[str, ...]
    #: Of the original table, in order (generated ones included), and their DATA_TYPEs.
    old_columns: tuple[str, ...]
    #: Of the ghost table, in order (generated ones included).
    ghost_columns: tuple[str, ...]
    #: The copied and applied columns, in the original's order: old name -> ghost name.
    mapping: dict[str, str]
    dropped: tuple[str, ...]
    added: tuple[str, ...]
    #: The ghost's generated columns: the server computes them.
    generated: tuple[str, ...]
    state_name: str
    #: DATA_TYPE of each of ``old_columns``.
    old_types: tuple[str, ...] = ()
    #: The ghost's UNIQUE keys (its primary key too) but the one on ``ghost_key``, as the original's columns (each with its
    #: prefix length, or None); only those made of copied columns. Rows of the original that share such a key's values can
    #: only be one in the ghost.
    unique_keys: tuple[tuple[tuple[str, Any], ...], ...] = ()

    @property
    def display(self) -> str:
        return display_table(self.database, self.table)

    def moved_table(self) -> MovedTable:
        """The table as copy and apply see it: the original, written into the ghost under the ghost's names."""
        types = dict(zip(self.old_columns, self.old_types))
        columns = tuple(self.mapping)
        return MovedTable(self.database, self.table, self.database, self.ghost, columns, self.key,
                          tuple(types.get(c, "") for c in columns), tuple(self.mapping[c] for c in columns))

    @property
    def ghost_key(self) -> tuple[str, ...]:
        """The key's columns as the ghost names them."""
        return tuple(self.mapping[c] for c in self.key)

    @property
    def exact_key(self) -> bool:
        """Whether Python's equality of two keys is the server's (engine/keys.py is_exact): integers, bytes, but not text."""
        types = dict(zip(self.old_columns, self.old_types))
        return is_exact([types.get(c, "") for c in self.key])


def unique_keys(conn: Any, database: str, table: str) -> dict[str, list[tuple[str, Any]]]:
    """The table's UNIQUE keys, PRIMARY too: index name -> [(column, prefix length or None)] in key order."""
    keys: dict[str, list[tuple[str, Any]]] = {}
    for index, column, sub_part in fetch_all(
            conn, "SELECT INDEX_NAME, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s "
                  "AND TABLE_NAME = %s AND BINARY TABLE_SCHEMA = %s AND BINARY TABLE_NAME = %s AND NON_UNIQUE = 0 "
                  "ORDER BY INDEX_NAME, SEQ_IN_INDEX", (database, table) * 2):
        keys.setdefault(index, []).append((column, sub_part))
    return keys


def _by_name(columns: list[Column]) -> dict[str, Column]:
    """Columns by lower-case name: column names are case-insensitive."""
    return {column.name.lower(): column for column in columns}


def _check_renames(display: str, alter: str, renames: dict[str, str], old: dict[str, Column], ghost: dict[str, Column]) -> None:
    """Refuse a rename_columns entry that names no column, and a rename the ALTER makes that rename_columns leaves out."""
    for source, target in renames.items():
        if source.lower() not in old:
            raise DbferryError("rename_columns renames column %s, which %s does not have." % (quote_ident(source), display),
                               obj=source, fix="name the column as the original table has it (SHOW CREATE TABLE), or remove the entry.")
        if target.lower() not in ghost:
            raise DbferryError("rename_columns renames %s to %s, but the new schema of %s has no column %s." % (
                quote_ident(source), quote_ident(target), display, quote_ident(target)), obj=target,
                fix="rename the column in the ALTER too (RENAME COLUMN %s TO %s), or correct the entry." % (quote_ident(source), quote_ident(target)))
    given = {k.lower(): v.lower() for k, v in renames.items()}
    for source, target in renames_in(alter).items():
        if given.get(source.lower()) != target.lower():
            raise DbferryError("the ALTER renames column %s to %s, and rename_columns does not say so: its values would be dropped "
                               "and the new column filled with its default." % (quote_ident(source), quote_ident(target)), obj=source,
                               fix="add rename_columns: {%s: %s} so that the values are copied under the new name." % (source, target))


def _members_kept(old: Column, new: Column) -> bool:
    """Whether an ENUM or SET number means the same label in ``new``: the same kind, the old members first, in order."""
    if old.data_type != new.data_type:
        return False
    before, after = old.column_type.rstrip(), new.column_type.rstrip()
    return after == before or after.startswith(before[:-1] + ",")


def _compares_alike(old: Column, new: Column) -> bool:
    """Whether the server compares a key column's values alike before and after the change: both integers (a key may
    widen), or the same type and collation (a new collation or length reorders or merges text: 'a' = 'A')."""
    if old.data_type in INTEGER_TYPES and new.data_type in INTEGER_TYPES:
        return True
    return (old.column_type.lower(), old.collation) == (new.column_type.lower(), new.collation)


def _kept_by(old: dict[str, Column], ghost: dict[str, Column], ghost_indexes: list[IndexColumns],
             mapping: dict[str, str]) -> Callable[[IndexColumns], Optional[str]]:
    """Why the new schema does not keep a key of the original (key_choice.choose_key's ``also``), or None: gh-ost's
    "shared unique key". The copy's ranges and the applier's lookups run on both tables, so the ghost must hold a unique
    key on the same columns (mapped through the renames), in the same order, whole, each compared alike."""
    def reason(index: IndexColumns) -> Optional[str]:
        for column in index.columns:
            if column not in mapping:
                return "the new schema drops its column %s" % quote_ident(column)
            before, after = old[column.lower()], ghost[mapping[column].lower()]
            if not _compares_alike(before, after):
                return "the new schema changes its column %s from %s to %s, which compares its values otherwise" % (
                    quote_ident(column), _typed(before), _typed(after))
        mapped = tuple(mapping[c].lower() for c in index.columns)
        if not any(tuple(c.lower() for c in kept.columns) == mapped and not kept.prefix for kept in ghost_indexes):
            return "the new schema has no unique key on (%s) alone, in that order" % ", ".join(quote_ident(mapping[c]) for c in index.columns)
        return None
    return reason


def _typed(column: Column) -> str:
    return column.column_type + (" COLLATE %s" % column.collation if column.collation else "")


def _unique_indexes(conn: Any, database: str, table: str) -> list[IndexColumns]:
    return read_unique_indexes(conn, [database], table).get((database, table), [])


def _choose(conn: Any, database: str, table: str, columns: list[Column],
            also: Optional[Callable[[IndexColumns], Optional[str]]] = None) -> tuple[str, ...]:
    """key_choice.choose_key over the table's unique indexes and its written columns, refused in a change's words."""
    types = {c.name: c.data_type for c in columns if not c.generated}
    return choose_key(database, table, _unique_indexes(conn, database, table), types, also=also, user="an online change",
                      fix=KEY_FIX + ".").columns


def original_key(conn: Any, database: str, table: str) -> tuple[str, ...]:
    """The key the original table alone offers: what preflight reports, and what the change's record names before its
    ghost exists (build_plan chooses among the keys the new schema keeps too)."""
    return _choose(conn, database, table, read_columns(conn, database, table))


def build_plan(conn: Any, database: str, table: str, ghost: str, old: str, alter: str, renames: dict[str, str]) -> AlterPlan:
    """The plan of the change, read from the catalog: the original ``table`` and its ``ghost`` with the new schema exist."""
    display = display_table(database, table)
    old_columns, ghost_columns = read_columns(conn, database, table), read_columns(conn, database, ghost)
    if not old_columns:
        raise DbferryError("table %s does not exist." % display, obj=display, fix="check database and table.")
    old_by_name, ghost_by_name = _by_name(old_columns), _by_name(ghost_columns)
    _check_renames(display, alter, renames, old_by_name, ghost_by_name)
    renamed = {k.lower(): v.lower() for k, v in renames.items()}
    mapping: dict[str, str] = {}
    for column in old_columns:
        target = ghost_by_name.get(renamed.get(column.name.lower(), column.name.lower()))
        if column.generated or target is None or target.generated:
            continue
        if _NUMBERED & {column.data_type, target.data_type} and not _members_kept(column, target):
            raise DbferryError("column %s of %s changes from %s to %s: the binlog carries ENUM and SET values by number, which would "
                               "name other members in the new column." % (quote_ident(column.name), display, column.column_type,
                                                                          target.column_type), obj=column.name,
                               fix="only add members at the end of an ENUM or SET in an online change; reorder or convert it with a "
                                   "native ALTER TABLE.")
        mapping[column.name] = target.name
    key = _choose(conn, database, table, old_columns, _kept_by(old_by_name, ghost_by_name, _unique_indexes(conn, database, ghost), mapping))
    targets = {name.lower() for name in mapping.values()}
    by_target = {target.lower(): source for source, target in mapping.items()}
    ghost_key = [mapping[c].lower() for c in key]
    unique = tuple(tuple((by_target[column.lower()], sub_part) for column, sub_part in columns)
                   for columns in unique_keys(conn, database, ghost).values()
                   if all(c.lower() in by_target for c, _s in columns) and [(c.lower(), s) for c, s in columns] != [(c, None) for c in ghost_key])
    return AlterPlan(
        database=database, table=table, ghost=ghost, old=old, key=key,
        old_columns=tuple(c.name for c in old_columns),
        ghost_columns=tuple(c.name for c in ghost_columns),
        mapping=mapping,
        dropped=tuple(c.name for c in old_columns if not c.generated and c.name not in mapping),
        added=tuple(c.name for c in ghost_columns if not c.generated and c.name.lower() not in targets),
        generated=tuple(c.name for c in ghost_columns if c.generated),
        state_name=alter_name(database, table),
        old_types=tuple(c.data_type for c in old_columns),
        unique_keys=unique,
    )
