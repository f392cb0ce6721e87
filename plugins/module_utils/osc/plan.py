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
from typing import Any, Optional

from ..common.errors import DbferryError
from ..common.identifiers import display_table, quote_ident
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


def read_columns(conn: Any, database: str, table: str) -> list[Column]:
    """The table's columns in order. Generated columns are told by IS_GENERATED and, for servers that leave it out, EXTRA.

    Names compared byte for byte (BINARY): information_schema compares them case- and accent-insensitively.
    """
    rows = fetch_all(conn, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, EXTRA, IS_GENERATED, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
                           "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND BINARY TABLE_SCHEMA = %s AND BINARY TABLE_NAME = %s "
                           "ORDER BY ORDINAL_POSITION", (database, table) * 2)
    return [Column(name, data_type.lower(), column_type, (is_generated or "").upper() == "ALWAYS" or "GENERATED" in (extra or "").upper(),
                   charset) for name, data_type, column_type, extra, is_generated, charset in rows]


#: Key types an online change pages through today: one integer column (moves take any key, engine/keys.py).
INTEGER_KEY_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "bigint"})


def primary_key(conn: Any, database: str, table: str) -> list[str]:
    """The columns of the table's PRIMARY KEY, in key order (empty: none)."""
    return [name for (name,) in fetch_all(
        conn, "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
              "AND BINARY TABLE_SCHEMA = %s AND BINARY TABLE_NAME = %s AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
        (database, table) * 2)]


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
    key: str
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
    #: The ghost's UNIQUE keys but its primary key, as the original's columns (each with its prefix length, or None); only
    #: those made of copied columns. Rows of the original that share such a key's values can only be one in the ghost.
    unique_keys: tuple[tuple[tuple[str, Any], ...], ...] = ()

    @property
    def display(self) -> str:
        return display_table(self.database, self.table)

    def moved_table(self) -> MovedTable:
        """The table as copy and apply see it: the original, written into the ghost under the ghost's names."""
        types = dict(zip(self.old_columns, self.old_types))
        columns = tuple(self.mapping)
        return MovedTable(self.database, self.table, self.database, self.ghost, columns, (self.key,),
                          tuple(types.get(c, "") for c in columns), tuple(self.mapping[c] for c in columns))

    @property
    def ghost_key(self) -> str:
        return self.mapping[self.key]


def unique_keys(conn: Any, database: str, table: str) -> dict[str, list[tuple[str, Any]]]:
    """The table's UNIQUE keys but PRIMARY: index name -> [(column, prefix length or None)] in key order."""
    keys: dict[str, list[tuple[str, Any]]] = {}
    for index, column, sub_part in fetch_all(
            conn, "SELECT INDEX_NAME, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s "
                  "AND TABLE_NAME = %s AND BINARY TABLE_SCHEMA = %s AND BINARY TABLE_NAME = %s AND NON_UNIQUE = 0 "
                  "AND INDEX_NAME <> 'PRIMARY' ORDER BY INDEX_NAME, SEQ_IN_INDEX", (database, table) * 2):
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


def build_plan(conn: Any, database: str, table: str, ghost: str, old: str, alter: str, renames: dict[str, str]) -> AlterPlan:
    """The plan of the change, read from the catalog: the original ``table`` and its ``ghost`` with the new schema exist."""
    display = display_table(database, table)
    old_columns, ghost_columns = read_columns(conn, database, table), read_columns(conn, database, ghost)
    if not old_columns:
        raise DbferryError("table %s does not exist." % display, obj=display, fix="check database and table.")
    old_by_name, ghost_by_name = _by_name(old_columns), _by_name(ghost_columns)
    _check_renames(display, alter, renames, old_by_name, ghost_by_name)
    key_columns = primary_key(conn, database, table)
    if len(key_columns) != 1 or old_by_name[key_columns[0].lower()].data_type not in INTEGER_KEY_TYPES:
        raise DbferryError("table %s has no single-column integer primary key, which an online change needs." % display, obj=display,
                           fix="run the alter's check mode for the details; give the table such a key with a native ALTER first.")
    key = key_columns[0]
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
    if key not in mapping or primary_key(conn, database, ghost) != [mapping[key]]:
        raise DbferryError("the new schema of %s does not keep the primary key %s as its own." % (display, quote_ident(key)), obj=display,
                           fix="keep the primary key in the ALTER: an online change copies and applies rows by it.")
    targets = {name.lower() for name in mapping.values()}
    by_target = {target.lower(): source for source, target in mapping.items()}
    unique = tuple(tuple((by_target[column.lower()], sub_part) for column, sub_part in columns)
                   for columns in unique_keys(conn, database, ghost).values() if all(c.lower() in by_target for c, _s in columns))
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
