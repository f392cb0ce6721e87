"""Which key a moved table is paged through and its rows found by: read from the catalog, chosen once.

The primary key when it is usable; otherwise a unique key whose columns are
all NOT NULL (InnoDB itself orders such a table by one), fewest columns
first, then by name, so that every run chooses the same one. A key is
usable when the server orders and compares each of its columns exactly
(keys.KEY_TYPES), text columns are in a character set whose values come
back exactly through the utf8mb4 session (keys.ROUND_TRIP_CHARSETS), it indexes whole columns (a prefix part orders only the
prefix) and each column is written by the move (not generated). A table
with none is refused with the fix; a key is never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from ..common.errors import DbferryError
from ..common.identifiers import display_table, quote_ident, quote_table
from ..server.connection import fetch_all, placeholders
from .keys import KEY_TYPES, ROUND_TRIP_CHARSETS


@dataclass(frozen=True)
class IndexColumns:
    """One unique index of a table, as the catalog describes it."""

    name: str
    columns: tuple[str, ...]
    #: Each column's prefix length (SUB_PART), in ``columns`` order; None where the whole column is indexed.
    sub_parts: tuple[Optional[int], ...]
    #: Whether any column is NULL-able (a unique key allows many NULLs: it names no row).
    nullable: bool
    #: Each column's character set, in ``columns`` order (None: not text).
    charsets: tuple[Optional[str], ...]

    @property
    def primary(self) -> bool:
        return self.name == "PRIMARY"

    @property
    def prefix(self) -> bool:
        """Whether any column is indexed by a prefix only."""
        return any(part is not None for part in self.sub_parts)


def unusable_reason(index: IndexColumns, types: dict[str, str]) -> Optional[str]:
    """Why ``index`` cannot be a moved table's key, or None. ``types``: the written columns' DATA_TYPEs by name."""
    if index.nullable:
        return "a column of it may be NULL"
    if index.prefix:
        return "it indexes a prefix of a column"
    for column, charset in zip(index.columns, index.charsets):
        if column not in types:
            return "its column %s is generated" % quote_ident(column)
        if types[column] not in KEY_TYPES:
            return "its column %s is %s, which the server does not compare exactly or cannot key on whole" % (
                quote_ident(column), types[column].upper())
        if charset is not None and charset not in ROUND_TRIP_CHARSETS:
            return ("its column %s is in character set %s, whose values do not all come back exactly as the bound of the "
                    "next batch" % (quote_ident(column), charset))
    return None


def key_fix(schema: str, table: str) -> str:
    """How to give ``schema.table`` a key the move can use (a refusal's fix, before how to leave the table out)."""
    return ("add a primary key (ALTER TABLE %s ADD PRIMARY KEY (...)) or a UNIQUE key on whole NOT NULL columns: integer, "
            "DECIMAL, text (utf8mb4/utf8mb3/latin1/ucs2/utf16/utf32), binary or temporal" % quote_table(schema, table))


def choose_key(schema: str, table: str, indexes: Iterable[IndexColumns], types: dict[str, str],
               also: Optional[Callable[[IndexColumns], Optional[str]]] = None, user: str = "the move", fix: Optional[str] = None) -> IndexColumns:
    """The index whose columns are the key of ``schema.table`` (module docstring); a DbferryError naming the table and
    why when it has none.

    ``also``: a further reason an otherwise usable index cannot be the key, or None (an online change's: the new schema
    must keep it, osc/plan.py); ``user`` and ``fix`` word the refusal for the caller."""
    ordered = sorted(indexes, key=lambda i: (not i.primary, len(i.columns), i.name))
    reasons = []
    for index in ordered:
        reason = unusable_reason(index, types)
        if reason is None and also is not None:
            reason = also(index)
        if reason is None:
            return index
        reasons.append("%s (%s): %s" % ("its primary key" if index.primary else "unique key %s" % quote_ident(index.name),
                                        ", ".join(quote_ident(c) for c in index.columns), reason))
    shown = display_table(schema, table)
    why = "; ".join(reasons) if reasons else "it has no primary key and no unique key"
    raise DbferryError("table %s has no key %s can use: %s." % (shown, user, why), obj=shown,
                       fix=fix or key_fix(schema, table) + "; or exclude the table with tables.exclude (dbferry_tables.exclude in the roles).")


def read_unique_indexes(conn: Any, schemas: Iterable[str], table: Optional[str] = None) -> dict[tuple[str, str], list[IndexColumns]]:
    """(schema, table) -> its unique indexes, their columns in index order, for the tables of ``schemas`` (``table`` only,
    when given).

    Names compared byte for byte (BINARY), as tables.read_tables does: the catalog's collation would join ``T`` to ``t``.
    Both catalog tables get the schemas (and the table) as constants of their own: the server opens only the tables a
    constant names, and a COLUMNS restricted by the join alone opened every table of every schema (44 ms on a sandbox
    of a few hundred tables, each time an online change looked; a server with thousands of tables takes seconds).
    """
    wanted = sorted(set(schemas))
    if not wanted:
        return {}

    def scope(alias: str) -> str:
        named = "" if table is None else " AND {0}.TABLE_NAME = %s AND BINARY {0}.TABLE_NAME = %s".format(alias)
        return "{0}.TABLE_SCHEMA IN ({1}){2}".format(alias, placeholders(len(wanted)), named)

    args = wanted + ([] if table is None else [table, table])
    rows = fetch_all(
        conn,
        "SELECT s.TABLE_SCHEMA, s.TABLE_NAME, s.INDEX_NAME, s.COLUMN_NAME, s.SUB_PART, c.IS_NULLABLE = 'YES', "
        "c.CHARACTER_SET_NAME "
        "FROM information_schema.STATISTICS s JOIN information_schema.COLUMNS c ON BINARY c.TABLE_SCHEMA = BINARY s.TABLE_SCHEMA "
        "AND BINARY c.TABLE_NAME = BINARY s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME "
        "WHERE s.NON_UNIQUE = 0 AND " + scope("s") + " AND " + scope("c") + " ORDER BY s.TABLE_SCHEMA, s.TABLE_NAME, s.INDEX_NAME, s.SEQ_IN_INDEX",
        args + args)
    parts: dict[tuple[str, str, str], list[tuple[str, Optional[int], bool, Optional[str]]]] = {}
    for schema, name, index, column, sub_part, nullable, charset in rows:
        parts.setdefault((schema, name, index), []).append((column, None if sub_part is None else int(sub_part), bool(nullable), charset))
    found: dict[tuple[str, str], list[IndexColumns]] = {}
    for (schema, name, index), columns in parts.items():
        found.setdefault((schema, name), []).append(IndexColumns(
            index, tuple(c for c, _p, _n, _s in columns), tuple(p for _c, p, _n, _s in columns), any(n for _c, _p, n, _s in columns),
            tuple(s for _c, _p, _n, s in columns)))
    return found
