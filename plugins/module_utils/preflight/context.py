"""What every preflight check receives: the request, the sessions, what earlier checks learnt, and the report.

Checks run in the registry's order and some build on facts an earlier one
found (the selected tables, the source user's grants), so those facts live
here rather than in each check; a check never opens the main sessions itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..engine.selection import Selection
from ..server.connection import ServerSpec
from ..server.flavor import Flavor
from ..server.grants import Grant
from .report import OK, Finding, Report
from .selected_table import SelectedTable, base_tables


@dataclass(frozen=True)
class Request:
    """What the operator asked for: the servers, the selection and the options (run_preflight's arguments)."""

    source: ServerSpec
    target: ServerSpec
    selection: Selection
    allow: frozenset[str]
    min_binlog_retention_hours: float
    source_admin: Optional[ServerSpec]
    kill_sessions: bool
    privileged_sessions: str


@dataclass
class Context:
    """One preflight run, shared by its checks."""

    request: Request
    report: Report = field(default_factory=Report)
    #: Sessions opened by the connection checks; None when that server could not be reached.
    source: Optional[Any] = None
    target: Optional[Any] = None
    source_flavor: Optional[Flavor] = None
    target_flavor: Optional[Flavor] = None
    #: Filled by the selection check: what the selection picked on the source, views included.
    tables: list[SelectedTable] = field(default_factory=list)
    #: Filled by the source_privileges check: the source user's SHOW GRANTS.
    source_grants: list[Grant] = field(default_factory=list)

    @property
    def source_name(self) -> str:
        return self.request.source.describe()

    @property
    def target_name(self) -> str:
        return self.request.target.describe()

    @property
    def base_tables(self) -> list[SelectedTable]:
        return base_tables(self.tables)

    def add(self, name: str, status: str, obj: str, message: str, fix: str = "") -> None:
        """Record a finding; one the operator allowed is marked so, and no longer stops the move."""
        allowed = status != OK and name in self.request.allow
        self.report.checks.append(Finding(name, status, obj, message, fix, allowed))

    def mark(self) -> int:
        """Where the findings stand now, for ok_unless_found."""
        return len(self.report.checks)

    def ok_unless_found(self, name: str, since: int, obj: str, message: str) -> None:
        """Report ``name`` as ok when no finding of it was added since ``since`` (a mark)."""
        if not any(c.name == name for c in self.report.checks[since:]):
            self.add(name, OK, obj, message)
