"""What preflight hands back: one finding per thing looked at, and the report they make up.

A finding carries the check that made it, how it came out, the object it is
about (a server, a table, a constraint, a user) and the fix, so that an
operator reading one line knows what to do without reading the code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OK, WARNING, ERROR = "ok", "warning", "error"


@dataclass
class Finding:
    """One finding: what was checked, on what, how it came out, and the fix."""

    name: str
    status: str
    object: str
    message: str
    fix: str = ""
    allowed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    """The outcome of a preflight run: the findings in run order, the selected tables and the servers that answered."""

    checks: list[Finding] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    servers: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        counts = {OK: 0, WARNING: 0, ERROR: 0, "allowed": 0}
        for check in self.checks:
            counts["allowed" if check.allowed else check.status] += 1
        counts["total"] = len(self.checks)
        return counts

    def failures(self, fail_on: str = ERROR) -> list[Finding]:
        """Findings that stop the move: errors (and warnings with ``fail_on: warning``) not allowed."""
        statuses = (ERROR, WARNING) if fail_on == WARNING else (ERROR,)
        return [c for c in self.checks if c.status in statuses and not c.allowed]

    def lines(self) -> list[str]:
        """The report as aligned text lines, for a terminal or Ansible output."""
        width = max([len(c.name) for c in self.checks] + [4])
        out = []
        for check in self.checks:
            status = "allowed" if check.allowed else check.status
            line = "%-7s  %-*s  %s: %s" % (status.upper(), width, check.name, check.object, check.message)
            out.append(line + (" Fix: " + check.fix if check.fix and check.status != OK else ""))
        return out

    def failure_message(self, fail_on: str = ERROR) -> str:
        failed = self.failures(fail_on)
        lines = ["preflight found %d problem(s) that stop the move:" % len(failed)]
        lines += ["- %s [%s] %s Fix: %s" % (c.name, c.object, c.message, c.fix) for c in failed]
        return "\n".join(lines)
