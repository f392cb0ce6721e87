"""The source objects a preflight looks at: the tables and views the selection picked.

Preflight keeps its own record rather than the engine's moved table: it also
describes views and tables the move would refuse (no key, another engine),
since reporting those is its job, and it learns whether a table has rows
while it tries the source user's reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from ..common.identifiers import display_table, quote_table
from ..server.connection import placeholders

VIEW = "VIEW"


@dataclass
class SelectedTable:
    """A table (or view) on the source that the selection picked, as information_schema.TABLES lists it."""

    schema: str
    name: str
    kind: str
    engine: Optional[str]
    #: Unknown (None) until the source user's read of it was tried; views are never read.
    has_rows: Optional[bool] = None

    @property
    def display(self) -> str:
        return display_table(self.schema, self.name)

    @property
    def quoted(self) -> str:
        return quote_table(self.schema, self.name)

    @property
    def is_view(self) -> bool:
        return self.kind == VIEW


def base_tables(tables: Iterable[SelectedTable]) -> list[SelectedTable]:
    """The tables that hold rows; views are reported, never moved."""
    return [t for t in tables if not t.is_view]


def in_list(values: Iterable[str]) -> tuple[str, list[str]]:
    """An ``IN (%s, ...)`` placeholder list and its arguments, sorted and never empty (``IN ()`` is a syntax error)."""
    values = sorted(set(values)) or [""]
    return "(" + placeholders(len(values)) + ")", values
