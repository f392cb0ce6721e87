"""Splitting a migration file into statements, and reading an ALTER TABLE into its table and specification.

Why a splitter of our own: the migration's ALTERs go to the online schema change one by one, the rest to the server
one by one, so the file must be cut at its statements' ends. A ``;`` ends a statement only outside quotes,
backticks and comments. What cannot be cut that way (``DELIMITER``, stored program bodies, the server's
executable ``/*! ... */`` comments) is refused with the line and the fix, never guessed at: a wrong cut runs
half a statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from ..common.errors import DbferryError

#: A stored program's body holds ``;`` of its own; cutting at them would run half the body.
_COMPOUND = re.compile(r"(?is)^\s*create\s+(or\s+replace\s+)?(definer\s*=\s*\S+\s+)?(aggregate\s+)?"
                       r"(procedure|function|trigger|event|package)\b")
_ALTER_TABLE = re.compile(r"(?is)^\s*alter\s+(?P<online>online\s+)?(?P<ignore>ignore\s+)?table\s+(?P<rest>.*)$")
_IF_EXISTS = re.compile(r"(?is)^if\s+exists\s+")
_BARE_NAME = re.compile(r"[0-9A-Za-z$_\u0080-\uffff]+")


@dataclass(frozen=True)
class Statement:
    """One statement of a file: its text without comments, the line it starts on, and, for an ALTER TABLE, what the
    online change needs (``table``, ``alter``: the specification after the name, ``rename_columns``)."""

    text: str
    line: int
    table: Optional[str] = None
    alter: Optional[str] = None
    rename_columns: dict[str, str] = field(default_factory=dict)

    @property
    def is_alter(self) -> bool:
        return self.table is not None


def _error(source: str, line: int, message: str, fix: str) -> DbferryError:
    return DbferryError("%s line %d: %s" % (source, line, message), obj=source, fix=fix)


def split(text: str, source: str) -> list[tuple[str, int]]:
    """The statements of ``text`` as (text without comments, first line), in order; ``source`` names the file in errors.

    Strings ('...', "...") keep their ``;`` and their escapes (backslash, doubled quote); backtick names keep theirs;
    ``-- `` and ``#`` comments run to the end of the line, ``/* */`` to their end."""
    statements: list[tuple[str, int]] = []
    current: list[str] = []
    start_line: Optional[int] = None
    i, line, size = 0, 1, len(text)

    def close() -> None:
        nonlocal start_line
        body = "".join(current).strip()
        if body:
            statements.append((body, start_line or line))
        current.clear()
        start_line = None

    while i < size:
        char = text[i]
        if char == "\n":
            line += 1
        if start_line is None and not char.isspace() and not _comment_at(text, i):
            start_line = line
            if re.match(r"(?i)delimiter\s", text[i:i + 10]):
                raise _error(source, line, "DELIMITER is a client command, not SQL: the file cannot be cut into statements safely.",
                             "write one statement per ';' and put stored programs into a migration of your application's own tool.")
        if char in "'\"`":
            end = _quoted_end(text, i)
            if end < 0:
                raise _error(source, line, "a %s opened here is never closed." % ("name" if char == "`" else "string"),
                             "close it (a quote inside a string is written twice: 'it''s').")
            current.append(text[i:end])
            line += text.count("\n", i, end)
            i = end
            continue
        if text.startswith("/*", i):
            if text.startswith(("/*!", "/*M!"), i):
                raise _error(source, line, "an executable comment /*! ... */ runs on the server only under conditions the file does not show.",
                             "write its statement out plainly, without /*! */.")
            end = text.find("*/", i + 2)
            if end < 0:
                raise _error(source, line, "a /* comment opened here is never closed.", "close it with */.")
            line += text.count("\n", i, end)
            current.append(" ")
            i = end + 2
            continue
        if _line_comment_at(text, i):
            end = text.find("\n", i)
            i = size if end < 0 else end
            continue
        if char == ";":
            close()
            i += 1
            continue
        current.append(char)
        i += 1
    close()
    for body, first in statements:
        if _COMPOUND.match(body):
            raise _error(source, first, "a stored program's body has statements of its own: it cannot be cut safely at ';'.",
                         "create stored programs with your application's own migration tool, not in a dbferry migration.")
    return statements


def _comment_at(text: str, i: int) -> bool:
    return text.startswith("/*", i) or _line_comment_at(text, i)


def _line_comment_at(text: str, i: int) -> bool:
    """``#``, or ``--`` followed by a space, a control character or the end (``a--1`` is arithmetic, as the server reads it)."""
    if text[i] == "#":
        return True
    return text.startswith("--", i) and (i + 2 == len(text) or text[i + 2] <= " ")


def _quoted_end(text: str, i: int) -> int:
    """The index just past the string or name opened at ``i``; -1 when it is not closed."""
    quote, j = text[i], i + 1
    while j < len(text):
        if text[j] == "\\" and quote != "`":
            j += 2
            continue
        if text[j] == quote:
            if text.startswith(quote * 2, j):
                j += 2
                continue
            return j + 1
        j += 1
    return -1


def _name(text: str) -> tuple[Optional[str], str]:
    """A name at the start of ``text`` (bare or in backticks) and the rest; (None, text) when there is none."""
    if text.startswith("`"):
        end = _quoted_end(text, 0)
        return (text[1:end - 1].replace("``", "`"), text[end:]) if end > 0 else (None, text)
    found = _BARE_NAME.match(text)
    return (found.group(0), text[found.end():]) if found else (None, text)


def _clauses(spec: str) -> list[str]:
    """The specification's comma-separated clauses (commas inside parentheses, strings and names do not count)."""
    clauses, depth, start, i = [], 0, 0, 0
    while i < len(spec):
        char = spec[i]
        if char in "'\"`":
            i = _quoted_end(spec, i)
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            clauses.append(spec[start:i].strip())
            start = i + 1
        i += 1
    clauses.append(spec[start:].strip())
    return clauses


def _renames(spec: str) -> dict[str, str]:
    """Columns the specification renames (RENAME COLUMN a TO b, CHANGE [COLUMN] [IF EXISTS] a b ...): the online change copies
    their values under the new name only when told."""
    renames = {}
    for clause in _clauses(spec):
        found = re.match(r"(?is)^rename\s+column\s+", clause)
        if found:
            old, rest = _name(clause[found.end():])
            to = re.match(r"(?is)^\s+to\s+", rest)
            new = _name(rest[to.end():])[0] if to else None
        else:
            found = re.match(r"(?is)^change\s+(column\s+)?(if\s+exists\s+)?", clause)
            if not found:
                continue
            old, rest = _name(clause[found.end():])
            new = _name(rest.lstrip())[0]
        if old and new and old != new:
            renames[old] = new
    return renames


def read_alter(body: str, line: int, source: str, database: str) -> Statement:
    """``body`` as a Statement: an ALTER TABLE of ``database`` gets its table, specification and renames."""
    found = _ALTER_TABLE.match(body)
    if not found:
        return Statement(body, line)
    if found.group("ignore"):
        raise _error(source, line, "ALTER IGNORE TABLE drops the rows that break a new unique key.",
                     "remove IGNORE: the online change fails with the rows that break the key, and you decide what to do with them.")
    rest = _IF_EXISTS.sub("", found.group("rest"))
    first, rest = _name(rest)
    table = first
    if rest.startswith("."):
        table, rest = _name(rest[1:])
        if first != database:
            raise _error(source, line, "the ALTER changes %s.%s, a table of another database than %s." % (first, table, database),
                         "write the table's name without its database: a migration changes dbferry_database's tables.")
    spec = rest.strip()
    if table is None or not spec or not rest[:1].isspace():
        raise _error(source, line, "cannot read the table's name and the change in %r." % body[:80],
                     "write ALTER TABLE name ... or ALTER TABLE `name` ... (a name with anything but letters, digits, $ and _ in backticks).")
    return Statement(body, line, table=table, alter=spec, rename_columns=_renames(spec))


def statements(text: str, source: str, database: str) -> list[Statement]:
    """Every statement of a migration file, ALTER TABLEs read; DbferryError naming ``source``, the line and the fix on what
    cannot be cut or read safely."""
    found = [read_alter(body, line, source, database) for body, line in split(text, source)]
    if not found:
        raise DbferryError("%s has no statement." % source, obj=source, fix="write its SQL into it, or remove the file.")
    return found
