"""The one exception type the engine raises for conditions an operator must fix.

Every message names the object (a server, a table, an option) and the fix, so
that the module, the CLI and the agent can print it as is and stop.
"""

from __future__ import annotations


class DbferryError(Exception):
    """A failure with the object it concerns and what the operator should do."""

    def __init__(self, message: str, *, obj: str = "", fix: str = "", transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.obj = obj
        self.fix = fix
        #: True when retrying later may succeed (a server that cannot be reached right now).
        self.transient = transient

    def __str__(self) -> str:
        return "%s Fix: %s" % (self.message, self.fix) if self.fix else self.message
