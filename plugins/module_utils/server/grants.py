"""Reading ``SHOW GRANTS`` output, and deciding what it allows.

Preflight uses this to name the exact missing privilege and the GRANT that
adds it, before a move starts; trying the statements themselves is done
too, but only for what can be tried without writing.

Database-level grants are LIKE patterns on the server (``shop\\_%``), and
are matched as such here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from .connection import fetch_all

ALL = "ALL PRIVILEGES"


@dataclass(frozen=True)
class Grant:
    """One ``GRANT privs ON scope TO ...`` line. schema/table None means ``*``."""

    privileges: frozenset[str]
    schema: Optional[str]
    table: Optional[str]


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside backticks, quotes and parentheses."""
    parts, depth, quote, start, i = [], 0, "", 0, 0
    while i < len(text):
        char = text[i]
        if quote:
            if char == quote:
                if text[i + 1:i + 2] == quote:
                    i += 1
                else:
                    quote = ""
        elif char in "`'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _unquote(name: str) -> Optional[str]:
    name = name.strip()
    if name == "*":
        return None
    if name.startswith("`") and name.endswith("`"):
        return name[1:-1].replace("``", "`")
    return name


def parse_grant(line: str) -> Optional[Grant]:
    """Parse one SHOW GRANTS line; None for lines that grant no table privileges
    (roles, PROXY, routines)."""
    if not line.upper().startswith("GRANT "):
        return None
    body = line[len("GRANT "):]
    on_parts = _split_top_level(body, " ON ")
    if len(on_parts) < 2:
        return None  # "GRANT role TO user"
    privs_text, rest = on_parts[0], " ON ".join(on_parts[1:])
    scope = _split_top_level(rest, " TO ")[0].strip()
    if scope.upper().startswith(("PROCEDURE ", "FUNCTION ", "PACKAGE ")) or privs_text.strip().upper() == "PROXY":
        return None
    scope_parts = _split_top_level(scope, ".")
    if len(scope_parts) != 2:
        return None
    privileges = set()
    for raw in _split_top_level(privs_text, ","):
        raw = raw.strip().upper()
        if "(" in raw:
            continue  # column-level: not enough for whole-row reads or writes
        privileges.add(ALL if raw in ("ALL", ALL) else raw)
    return Grant(frozenset(privileges), _unquote(scope_parts[0]), _unquote(scope_parts[1]))


def _like_to_regex(pattern: str) -> re.Pattern:
    """Database-level grant names are LIKE patterns: % and _ are wildcards, \\ escapes."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _covers(grant: Grant, schema: Optional[str], table: Optional[str]) -> bool:
    if grant.schema is None:
        return True
    if schema is None:
        return False
    if grant.table is None:
        return bool(_like_to_regex(grant.schema).match(schema))
    return grant.schema == schema and table is not None and grant.table == table


def privileges_on(grants: Iterable[Grant], schema: Optional[str] = None, table: Optional[str] = None) -> frozenset[str]:
    """Privileges that apply to ``schema.table`` (or the database, or ``*.*``)."""
    found: set[str] = set()
    for grant in grants:
        if _covers(grant, schema, table):
            found |= grant.privileges
    return frozenset(found)


def read_grants(conn: Any, account: str = "") -> list[Grant]:
    """The parsed ``SHOW GRANTS`` of the session's login, or of ``account`` (a quoted account or role name)."""
    rows = fetch_all(conn, "SHOW GRANTS FOR " + account if account else "SHOW GRANTS")
    return [g for g in (parse_grant(r[0]) for r in rows) if g]


def holds_any(granted: frozenset[str], choices: Iterable[str]) -> bool:
    """Whether ``granted`` includes one of ``choices`` (ALL PRIVILEGES includes them all)."""
    return ALL in granted or not granted.isdisjoint(choices)


def missing(needed: Iterable[str], granted: frozenset[str]) -> list[str]:
    """The needed privileges not in ``granted`` (ALL PRIVILEGES covers everything)."""
    if ALL in granted:
        return []
    return [p for p in needed if p not in granted]


def parse_account(current_user: str) -> tuple[str, str]:
    """Split ``CURRENT_USER()`` (``user@host``) into its parts; the host has no '@'."""
    at = current_user.rindex("@")
    return current_user[:at], current_user[at + 1:]


def grant_statement(privileges: Iterable[str], scope: str, account: tuple[str, str]) -> str:
    """The GRANT an operator runs to add ``privileges`` on ``scope`` (e.g. ```shop`.*``)."""
    user, host = account
    return "GRANT %s ON %s TO '%s'@'%s';" % (", ".join(privileges), scope, user.replace("'", "''"), host.replace("'", "''"))
