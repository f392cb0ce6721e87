"""Which tables a statement in a query event changes.

In a row-based binlog, row changes come as rows events; what still comes
as SQL text is DDL, transaction control, and DML a session logged in
statement format. The stream cannot follow either on a moved table, so it
must recognise them (assembler.py stops the stream): this is a scanner for
the few statement forms that name the tables they change, not an SQL
parser. Where it cannot tell, it counts every name in the statement:
stopping a move for nothing is better than missing a change.
"""

from __future__ import annotations

import re
from typing import Optional

_TOKEN = re.compile(
    r"\s+"
    r"|(?:--(?=\s|$)|\#)[^\n]*"  # line comments
    r"|/\*M?!\d*"  # opening of an executable comment: its text is SQL the server ran
    r"|/\*.*?\*/"  # other comments
    r"|\*/"  # closing of an executable comment
    r"|(?P<quoted>`(?:[^`]|``)*`|\"(?:[^\"\\]|\\.|\"\")*\")"  # double quotes too: ANSI_QUOTES makes them names
    r"|(?P<string>'(?:[^'\\]|\\.|'')*')"
    r"|(?P<word>[\w$]+)"
    r"|(?P<punct>.)",
    re.S,
)

TableRef = tuple[str, Optional[str]]


class _Statement:
    """A cursor over the tokens of one SQL statement, for the few forms that name the tables they change."""

    def __init__(self, query: str, default_schema: str) -> None:
        self.tokens = [(m.lastgroup, m.group(m.lastgroup)) for m in _TOKEN.finditer(query) if m.lastgroup]
        self.at = 0
        self.default_schema = default_schema

    def word(self, *words: str) -> bool:
        """Consume the next token if it is one of ``words`` (keywords, upper case)."""
        if self.at < len(self.tokens) and self.tokens[self.at][0] == "word" and self.tokens[self.at][1].upper() in words:
            self.at += 1
            return True
        return False

    def punct(self, char: str) -> bool:
        if self.at < len(self.tokens) and self.tokens[self.at] == ("punct", char):
            self.at += 1
            return True
        return False

    def skip_if_exists(self) -> None:
        if self.word("IF"):
            self.word("NOT")
            self.word("EXISTS")

    def identifier(self) -> Optional[str]:
        if self.at >= len(self.tokens) or self.tokens[self.at][0] not in ("word", "quoted"):
            return None
        kind, text = self.tokens[self.at]
        self.at += 1
        return text if kind == "word" else text[1:-1].replace(text[0] * 2, text[0])

    def table(self) -> Optional[TableRef]:
        """``name`` or ``schema.name``; None when the next tokens are not a name."""
        first = self.identifier()
        if first is None:
            return None
        if self.punct("."):
            second = self.identifier()
            return (first, second) if second is not None else None
        return (self.default_schema, first)

    def tables(self, separators: tuple[str, ...]) -> list[Optional[TableRef]]:
        """Names separated by commas or the keywords in ``separators`` (RENAME's TO), each maybe followed by WAIT n/NOWAIT."""
        found = []
        while True:
            found.append(self.table())
            if self.word("WAIT"):
                self.at += 1
            self.word("NOWAIT")
            if not (self.punct(",") or self.word(*separators)):
                return found

    def table_after(self, keyword: str) -> Optional[TableRef]:
        while self.at < len(self.tokens):
            if self.word(keyword):
                return self.table()
            self.at += 1
        return None

    def references(self) -> list[TableRef]:
        """Every name or ``a.b`` pair in the statement: what a statement that is not parsed further may touch."""
        self.at = 0
        found: list[TableRef] = []
        while self.at < len(self.tokens):
            ref = self.table()
            if ref is None:
                self.at += 1
            else:
                found.append(ref)
        return found


def _ddl_tables(stmt: _Statement) -> Optional[list[Optional[TableRef]]]:
    """The tables a DDL statement alters, drops, renames, truncates or creates; None for other statements."""
    if stmt.word("TRUNCATE"):
        stmt.word("TABLE")
        return [stmt.table()]
    if stmt.word("RENAME"):
        if not stmt.word("TABLE", "TABLES"):
            return None  # RENAME USER
        stmt.skip_if_exists()
        return stmt.tables(("TO",))
    if stmt.word("DROP"):
        if stmt.word("DATABASE", "SCHEMA"):
            stmt.skip_if_exists()
            schema = stmt.identifier()
            return [(schema, None) if schema is not None else None]
        if stmt.word("TABLE", "TABLES"):
            stmt.skip_if_exists()
            return stmt.tables(())
        return [stmt.table_after("ON")] if stmt.word("INDEX") else None  # DROP TEMPORARY TABLE: never a moved table
    if stmt.word("CREATE"):
        if stmt.word("OR"):
            stmt.word("REPLACE")
        if stmt.word("TABLE"):
            stmt.skip_if_exists()
            return [stmt.table()]
        stmt.word("UNIQUE", "FULLTEXT", "SPATIAL")
        return [stmt.table_after("ON")] if stmt.word("INDEX") else None
    if stmt.word("ALTER"):
        stmt.word("ONLINE")
        stmt.word("IGNORE")
        if not stmt.word("TABLE"):
            return None
        stmt.skip_if_exists()
        altered = [stmt.table()]
        while stmt.at < len(stmt.tokens):  # ... EXCHANGE PARTITION p WITH TABLE other: other's rows change too
            if stmt.word("WITH") and stmt.word("TABLE"):
                altered.append(stmt.table())
            else:
                stmt.at += 1
        return altered
    return None


def statement_tables(query: str, default_schema: str) -> tuple[str, list[TableRef]]:
    """What a statement in a query event may change: ``("ddl", tables)``, ``("dml", tables)`` or ``("", [])``.

    A table is ``(schema, table)``; ``(schema, None)`` stands for every table
    of a schema (DROP DATABASE). Unqualified names belong to ``default_schema``,
    the session's database when the statement ran. When a DDL statement cannot
    be parsed, and for DML logged as a statement, every name in it counts:
    stopping a move for nothing is better than missing a change.
    """
    stmt = _Statement(query, default_schema)
    if stmt.word("INSERT", "REPLACE", "UPDATE", "DELETE", "LOAD"):
        return "dml", stmt.references()
    found = _ddl_tables(stmt)
    if found is None:
        return "", []
    if None in found:
        return "ddl", stmt.references()
    return "ddl", [ref for ref in found if ref is not None]


def savepoint_name(query: str) -> str:
    """The savepoint a SAVEPOINT or ROLLBACK TO statement names (its last name), as written."""
    return _Statement(query, "").references()[-1][1] or ""
