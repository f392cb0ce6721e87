"""The moved tables: their columns and keys on the source, and their creation
on the target from the source's own definitions.

A ``MovedTable`` is what copy, apply and verification need to know about
one table: the source and target names, the columns that are written
(generated columns never are: the target computes them; invisible ones are,
by name, since ``SELECT *`` would leave them out) and the key columns (keys.py).
An online schema change writes them into the ghost table under their new
names (``target_columns``).
"""

from __future__ import annotations

import re
from functools import cached_property
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ..config.move_config import MoveConfig
from ..server.connection import execute, fetch_all, fetch_value, placeholders
from ..common.errors import DbferryError
from ..common.identifiers import display_table, for_arguments, quote_ident, quote_table
from .foreign_keys import retarget_references
from .key_choice import IndexColumns, choose_key, read_unique_indexes
from .keys import is_exact, key_list
from .unique_fit import unique_differences
from .selection import SYSTEM_SCHEMAS


#: information_schema DATA_TYPEs whose text form is an exact SQL literal as it is (numbers).
_BARE_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "double", "year"})
#: DATA_TYPEs written by number: BIT's value, ENUM's index, SET's bitmask (docs/design.md step 3: never ENUM or SET by label).
_NUMBERED_TYPES = frozenset({"bit", "enum", "set"})
#: The numbered DATA_TYPEs whose numbers stand for labels of the column's definition (target_differences).
_LABELLED_TYPES = frozenset({"enum", "set"})
#: DATA_TYPEs whose values are bytes in a character set of their own (or none), and
#: so go as hex literals: bytes exact, whatever the column's or the session's charset.
_BYTE_TYPES = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "binary", "varbinary", "tinyblob", "blob",
                         "mediumblob", "longblob", "json", "geometry", "point", "linestring", "polygon", "multipoint",
                         "multilinestring", "multipolygon", "geometrycollection"})


def value_literal(column: str, data_type: str) -> str:
    """An SQL expression that makes the server print the column's value as an SQL literal that writes it back exactly.

    The copier has the source server print each row as ``(v1,v2,...)`` and
    sends those bytes to the target as they are: no value is decoded and
    re-encoded in Python, which is most of what a copy costs otherwise.
    NULL prints as NULL. Strings and bytes print as ``X'..'``: hex keeps
    every byte, and the target reads a hex literal as the column's own
    character set. FLOAT prints through DOUBLE, whose text round-trips
    (FLOAT's own text has 6 significant digits), and the target rounds it
    back to the same FLOAT. BIT, ENUM and SET print as their number (value,
    index, bitmask), which stores the same value in a column of the same
    definition, with no round trip through a label's text: the ENUM error
    value (index 0, which reads as '') stays 0 even where '' is a label.
    Temporal and other values print as quoted text (the session time zone
    is +00:00 on both sides, so TIMESTAMPs do not shift).
    """
    name = quote_ident(column)
    if data_type in _BARE_TYPES:
        value = name
    elif data_type == "float":
        value = "CAST(%s AS DOUBLE)" % name
    elif data_type in _NUMBERED_TYPES:
        value = "%s + 0" % name
    elif data_type in _BYTE_TYPES:
        value = "CONCAT('X''', HEX(%s), '''')" % name
    else:
        return "QUOTE(%s)" % name  # QUOTE prints NULL as NULL itself
    return "IFNULL(%s, 'NULL')" % value


#: Character set and collation names are catalog words, not user text; they
#: cannot be quoted as identifiers, so they are checked instead.
_CHARSET_RE = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class MovedTable:
    """One table of a move: read from the source's catalog (read_tables) or from the move's record on the target
    (state.read_move_tables, for verification and cutover, which need names and key only: ``columns`` is empty).

    Names come quoted two ways on purpose: ``quoted_*`` for statements sent
    as they are (no arguments, or the copier's batches, sent as bytes), and
    ``*_sql`` for statements executed with arguments, where PyMySQL reads a
    ``%`` in a name as a placeholder unless it is doubled (for_arguments).
    """

    schema: str
    name: str
    target_schema: str
    target_name: str
    columns: tuple[str, ...]
    #: The key columns (keys.py): the primary key's, or a NOT NULL unique key's (choose_key), in index order.
    key: tuple[str, ...]
    #: information_schema DATA_TYPE of each column, in ``columns`` order ("" when not known: printed as quoted text).
    types: tuple[str, ...] = ()
    #: The name each of ``columns`` is written under in the target table, in the same order; empty means the same names.
    #: An online schema change (osc/plan.py) writes a renamed column under its new name.
    target_columns: tuple[str, ...] = ()
    #: The unique index the key is, when it is not the primary key (read_tables); None for the primary key, or not known.
    key_index_name: Optional[str] = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, tuple) or not self.key:
            raise TypeError("key must be a non-empty tuple of column names, not %r" % (self.key,))
        if not self.target_columns:
            object.__setattr__(self, "target_columns", self.columns)
        elif len(self.target_columns) != len(self.columns):
            raise ValueError("target_columns must name every one of columns")

    @property
    def source(self) -> str:
        return display_table(self.schema, self.name)

    @property
    def target(self) -> str:
        return display_table(self.target_schema, self.target_name)

    @property
    def quoted_source(self) -> str:
        return quote_table(self.schema, self.name)

    @property
    def quoted_target(self) -> str:
        return quote_table(self.target_schema, self.target_name)

    @property
    def source_sql(self) -> str:
        return for_arguments(self.quoted_source)

    @property
    def target_sql(self) -> str:
        return for_arguments(self.quoted_target)

    @property
    def key_sql(self) -> str:
        """The key columns, quoted and comma-separated, for statements run with arguments."""
        return key_list(self.key)

    # Cached: the applier reads these for every row change it writes (rows.net_statements).
    @cached_property
    def key_indexes(self) -> tuple[int, ...]:
        """Positions of the key columns in ``columns``."""
        return tuple(self.columns.index(c) for c in self.key)

    @cached_property
    def exact_key(self) -> bool:
        """Whether Python's equality of this table's key values is the server's (keys.is_exact; needs ``types``)."""
        return bool(self.types) and is_exact([self.types[i] for i in self.key_indexes])

    @property
    def key_index_hint(self) -> str:
        """`` FORCE INDEX (...)`` after the table's name in a locking read that pages by a unique key, or nothing.

        Without it, MariaDB may read the first batch (ORDER BY the key, no
        WHERE) by a full scan and a sort, taking a shared lock on every row of
        the table until the batch is written; the primary key it never skips.
        """
        return "" if self.key_index_name is None else " FORCE INDEX (%s)" % for_arguments(quote_ident(self.key_index_name))

    @property
    def column_list(self) -> str:
        return ", ".join(quote_ident(c) for c in self.columns)

    @property
    def target_column_list(self) -> str:
        """The written columns as the target table names them (``target_columns``), for INSERT and REPLACE."""
        return ", ".join(quote_ident(c) for c in self.target_columns)

    @property
    def target_key(self) -> tuple[str, ...]:
        """The key columns' names in the target table."""
        return tuple(self.target_columns[i] for i in self.key_indexes)

    @property
    def enum_indexes(self) -> tuple[int, ...]:
        """Positions of the ENUM columns in ``columns``: where the ENUM error value (index 0) may be."""
        return tuple(i for i, data_type in enumerate(self.types) if data_type == "enum")

    @property
    def error_value_test(self) -> Optional[str]:
        """An expression true for a row holding the ENUM error value, which only a lenient statement writes (rows.py);
        None for a table without ENUM columns."""
        tests = ["%s + 0 = 0" % quote_ident(self.columns[i]) for i in self.enum_indexes]
        return "(%s) IS TRUE" % " OR ".join(tests) if tests else None

    @property
    def row_literal(self) -> str:
        """An expression that the source prints as the row's ``(v1,v2,...)`` for a VALUES list (see value_literal)."""
        types = self.types or ("",) * len(self.columns)
        return "CONCAT('(', %s, ')')" % ", ',', ".join(value_literal(c, t) for c, t in zip(self.columns, types))


def read_tables(conn: Any, config: MoveConfig) -> list[MovedTable]:
    """The selected base tables on the source, in name order.

    Names are compared byte for byte (BINARY): information_schema compares
    them in a case- and accent-insensitive collation, which would join the
    columns of ``T`` to ``t`` and of ``cafe`` to ``café``.

    Refuses what the copier cannot move consistently (preflight reports the
    same, with more detail): a table without a usable key (key_choice.py).
    """
    system = placeholders(len(SYSTEM_SCHEMAS))
    rows = fetch_all(
        conn,
        "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.EXTRA, c.DATA_TYPE "
        "FROM information_schema.COLUMNS c JOIN information_schema.TABLES t "
        "ON BINARY t.TABLE_SCHEMA = BINARY c.TABLE_SCHEMA AND BINARY t.TABLE_NAME = BINARY c.TABLE_NAME "
        "WHERE t.TABLE_TYPE = 'BASE TABLE' AND c.TABLE_SCHEMA NOT IN (" + system + ") "
        "ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION",
        sorted(SYSTEM_SCHEMAS),
    )
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, extra, data_type in rows:
        if not config.selection.selects_table(schema, table):
            continue
        columns.setdefault((schema, table), [])
        if "GENERATED" not in (extra or "").upper():
            columns[(schema, table)].append((column, data_type.lower()))
    indexes = read_unique_indexes(conn, {schema for schema, _table in columns})
    tables = []
    for (schema, table), typed in columns.items():
        index = choose_key(schema, table, indexes.get((schema, table), []), dict(typed))
        target_schema, target_name = config.target_name(schema, table)
        tables.append(MovedTable(schema, table, target_schema, target_name, tuple(c for c, _t in typed), index.columns,
                                 tuple(t for _c, t in typed), key_index_name=None if index.primary else index.name))
    if not tables:
        raise DbferryError("the selection matches no table on the source.", obj="databases/tables",
                           fix="check databases.include/exclude and tables.include/exclude.")
    return tables


def _create_statement(source: Any, table: MovedTable, targets: dict[tuple[str, str], tuple[str, str]]) -> str:
    """SHOW CREATE TABLE of the source table, renamed to its target name, its foreign keys pointing at their parents'
    target tables (``targets``: source (schema, table) -> target (schema, table) of every moved table)."""
    ddl = fetch_all(source, "SHOW CREATE TABLE %s" % table.quoted_source)[0][1]
    prefix = "CREATE TABLE %s" % quote_ident(table.name)
    if not ddl.startswith(prefix):
        raise DbferryError("unexpected SHOW CREATE TABLE output for %s." % table.source, obj=table.source,
                           fix="report this with the server version.")
    return "CREATE TABLE %s%s" % (table.quoted_target, retarget_references(ddl[len(prefix):], table.schema, targets))


@dataclass(frozen=True)
class Unprintable:
    """A column whose definition SHOW CREATE TABLE may not print as it is (see unprintable_columns)."""

    table: str
    column: str
    #: What is printed: ``enum('a','?')`` or ``DEFAULT 'x?'``.
    printed: str

    @property
    def message(self) -> str:
        return ("column %s of %s is printed as %s: SHOW CREATE TABLE writes every character outside the server's metadata "
                "character set (utf8mb3: emoji and other 4-byte characters) as '?', so a target table created from it would "
                "have other %s." % (quote_ident(self.column), self.table, self.printed,
                                    "members" if self.printed.startswith(("enum", "set")) else "defaults"))


#: The fix for an Unprintable column.
UNPRINTABLE_FIX = ("create the target table yourself with the source's real definition and set reuse_target: true, or leave the table "
                   "out with tables.exclude (if the '?' is a real question mark, create the table yourself all the same).")


def unprintable_columns(conn: Any, tables: Iterable[tuple[str, str]]) -> list[Unprintable]:
    """Columns of ``tables`` (schema, name) whose ENUM/SET members or default may hold a character SHOW CREATE TABLE
    prints as '?'.

    MariaDB prints definitions in utf8mb3, in SHOW CREATE TABLE as in
    information_schema, so a 4-byte character in a member or a default
    comes out as '?' and nothing reads the real one back. A '?' in a column
    whose character set has 4-byte characters (or in a default of a column
    without a character set) is therefore taken for a lost character; in
    latin1 and the like a '?' can only be itself.
    """
    wanted = set(tables)
    if not wanted:
        return []
    schemas = sorted({schema for schema, _name in wanted})
    rows = fetch_all(
        conn,
        "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.COLUMN_DEFAULT "
        "FROM information_schema.COLUMNS c LEFT JOIN information_schema.CHARACTER_SETS s ON s.CHARACTER_SET_NAME = c.CHARACTER_SET_NAME "
        "WHERE c.TABLE_SCHEMA IN (%s) AND (s.MAXLEN IS NULL OR s.MAXLEN >= 4) "
        "AND ((c.DATA_TYPE IN ('enum', 'set') AND c.COLUMN_TYPE LIKE %%s) OR c.COLUMN_DEFAULT LIKE %%s) "
        "ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION" % placeholders(len(schemas)),
        schemas + ["%?%", "%?%"])
    found = []
    for schema, table, column, data_type, column_type, default in rows:
        if (schema, table) not in wanted:  # compared in Python: exact, where information_schema ignores case and accents
            continue
        lost_member = data_type.lower() in ("enum", "set") and "?" in column_type
        found.append(Unprintable(display_table(schema, table), column, column_type if lost_member else "DEFAULT %s" % default))
    return found


def _columns(conn: Any, schema: str, name: str) -> dict[str, tuple[str, str, str, Optional[str]]]:
    """The table's columns by lower-case name (column names are case-insensitive): (name, DATA_TYPE, COLUMN_TYPE,
    COLLATION_NAME)."""
    rows = fetch_all(conn, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COLLATION_NAME FROM information_schema.COLUMNS "
                           "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND BINARY TABLE_SCHEMA = %s AND BINARY TABLE_NAME = %s",
                     (schema, name) * 2)
    return {column.lower(): (column, data_type.lower(), column_type, collation) for column, data_type, column_type, collation in rows}


def _unique_indexes(conn: Any, schema: str, name: str) -> list[IndexColumns]:
    return read_unique_indexes(conn, [schema], name).get((schema, name), [])


def target_differences(source: Any, target: Any, table: MovedTable) -> list[str]:
    """What makes an existing target table unfit for the move's writes: unique indexes that do not tell rows apart as
    the source's do (unique_fit.py), a moved column it lacks, an ENUM or SET column whose definition is not the
    source's, or a key column in another collation.

    ENUM and SET values are written by number (index, bitmask), so members
    in another order or count would change the labels without an error, and
    inline verification, which hashes the numbers, would not see it either.
    COLUMN_TYPE is compared byte for byte: both servers print a 4-byte
    character of a member as the same '?', so count and order still compare.
    A key column's collation decides which keys are one row: in a coarser
    one ('a' and 'A' under a case-insensitive collation) the copy's
    duplicate-key skip and the applier's REPLACE would merge rows the
    source holds apart, without an error.
    """
    ours = _columns(source, table.schema, table.name)
    theirs = _columns(target, table.target_schema, table.target_name)
    found = unique_differences(table.key, _unique_indexes(source, table.schema, table.name),
                               _unique_indexes(target, table.target_schema, table.target_name),
                               {name: c[3] for name, c in ours.items()}, {name: c[3] for name, c in theirs.items()})
    for column in table.columns:
        mine, their = ours.get(column.lower()), theirs.get(column.lower())
        if their is None:
            found.append("it has no column %s" % quote_ident(column))
        elif mine is not None and _LABELLED_TYPES & {mine[1], their[1]} and mine[2] != their[2]:
            found.append("its column %s is %s where the source's is %s" % (quote_ident(column), their[2], mine[2]))
        elif mine is not None and column in table.key and mine[3] != their[3]:
            found.append("its key column %s has collation %s where the source's has %s" % (quote_ident(column), their[3], mine[3]))
    return found


def check_target_tables(source: Any, target: Any, tables: list[MovedTable], reuse_target: bool) -> list[MovedTable]:
    """Refuse target tables the move cannot use or create; return the existing, usable (empty) ones.

    A table with rows is refused (the copy could not tell its rows from
    ours); an empty one is accepted only with ``reuse_target``, and only if
    it has every moved column and the source's ENUM and SET definitions
    (target_differences). A table to be created from a definition the
    source cannot print faithfully is refused (unprintable_columns). All of
    it before anything is written, since the engine calls this before it
    records the move.
    """
    existing = []
    to_create = []
    differences = []
    for table in tables:
        # The plain comparisons let the server look the table up by name; BINARY makes the match exact (read_tables).
        found = fetch_value(target, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                                    "AND BINARY TABLE_SCHEMA = %s AND BINARY TABLE_NAME = %s",
                            (table.target_schema, table.target_name) * 2)
        if not found:
            to_create.append(table)
            continue
        target_display = table.target
        if fetch_all(target, "SELECT 1 FROM %s LIMIT 1" % table.quoted_target):
            raise DbferryError("target table %s exists and has rows." % target_display, obj=target_display,
                               fix="drop or empty it, or rename the move's target with rename.databases.")
        if not reuse_target:
            raise DbferryError("target table %s already exists (empty)." % target_display, obj=target_display,
                               fix="drop it, or set reuse_target: true to copy into it.")
        unfit = target_differences(source, target, table)
        if unfit:
            differences.append((target_display, "target table %s does not match %s: %s." % (target_display, table.source, "; ".join(unfit))))
        existing.append(table)
    if differences:
        raise DbferryError(" ".join(message for _name, message in differences) + " ENUM and SET values are written by number "
                           "(index, bitmask), so other members would change them without an error.",
                           obj=", ".join(name for name, _message in differences),
                           fix="give the target table every column of the source table, each ENUM and SET with the source's real "
                               "members in the same order, each key column in the source's collation (ALTER TABLE ... MODIFY) and the "
                               "source's unique keys, no other; or drop it and let the move create it.")
    unprintable = unprintable_columns(source, [(t.schema, t.name) for t in to_create])
    if unprintable:
        raise DbferryError(" ".join(u.message for u in unprintable), obj=", ".join(sorted({u.table for u in unprintable})),
                           fix=UNPRINTABLE_FIX)
    return existing


#: The table option SHOW CREATE TABLE prints with the next AUTO_INCREMENT value: it moves with every insert.
_AUTO_INCREMENT_OPTION_RE = re.compile(r" AUTO_INCREMENT=\d+")


def source_definitions(source: Any, tables: list[MovedTable]) -> dict[str, str]:
    """SHOW CREATE TABLE of each moved source table, by its source name, without the next AUTO_INCREMENT value (the
    app's inserts move it; the definition stays): ferry.prepare compares them across P0."""
    definitions = {}
    for table in tables:
        columns, brace, options = fetch_all(source, "SHOW CREATE TABLE %s" % table.quoted_source)[0][1].rpartition("\n)")
        definitions[table.source] = columns + brace + _AUTO_INCREMENT_OPTION_RE.sub("", options)
    return definitions


def drop_target_tables(target: Any, tables: list[MovedTable]) -> None:
    """Drop target tables this move created and nothing wrote to yet (a prepare that must start again)."""
    execute(target, "SET SESSION foreign_key_checks = 0")  # a parent may go before its child
    for table in tables:
        execute(target, "DROP TABLE IF EXISTS %s" % table.quoted_target)


def create_target_tables(source: Any, target: Any, tables: list[MovedTable], existing: list[MovedTable]) -> list[str]:
    """Create the target databases and the tables not in ``existing``; return the ones created."""
    created = []
    for schema in sorted({t.target_schema for t in tables}):
        source_schema = next(t.schema for t in tables if t.target_schema == schema)
        charset, collation = fetch_all(
            source, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
            (source_schema,))[0]
        if not (_CHARSET_RE.match(charset) and _CHARSET_RE.match(collation)):
            raise DbferryError("unexpected character set %r / collation %r on %s." % (charset, collation, source_schema),
                               obj=source_schema, fix="report this with the server version.")
        execute(target, "CREATE DATABASE IF NOT EXISTS %s CHARACTER SET %s COLLATE %s" % (quote_ident(schema), charset, collation))
    # A child may come before its parent (foreign_keys.py: the constraints are the source's, enforced there).
    execute(target, "SET SESSION foreign_key_checks = 0")
    targets = {(t.schema, t.name): (t.target_schema, t.target_name) for t in tables}
    for table in tables:
        if table not in existing:
            execute(target, _create_statement(source, table, targets))
            created.append(table.source)
    return created
