"""Quoting of SQL identifiers and literals built outside a driver placeholder.

Every schema, table and column name that reaches a statement goes through
``quote_ident``: names come from users and from the servers' catalogs, and
neither is trusted to be free of backticks.
"""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """Return ``name`` as a backtick-quoted identifier, backticks doubled."""
    if not isinstance(name, str) or name == "":
        raise ValueError("an SQL identifier must be a non-empty string, got %r" % (name,))
    return "`" + name.replace("`", "``") + "`"


def quote_table(schema: str, table: str) -> str:
    """Return the qualified, quoted name ``schema``.``table``."""
    return quote_ident(schema) + "." + quote_ident(table)


def for_arguments(sql_text: str) -> str:
    """SQL text that goes into a statement executed with arguments.

    PyMySQL %-formats the whole statement when it has arguments, so a ``%``
    in a name would be taken for a placeholder: double it. (A statement
    built with this must then always be executed with arguments, ``()`` if
    it has none, so that the doubling is undone.)
    """
    return sql_text.replace("%", "%%")


def display_table(schema: str, table: str) -> str:
    """The ``db.table`` form used in messages, patterns and results."""
    return "%s.%s" % (schema, table)
