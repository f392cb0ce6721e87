"""Every difference between MariaDB and MySQL (5.7, 8.x) that dbferry relies on.

Code elsewhere asks a ``Flavor`` for a statement or a variable name instead of
testing versions itself, so supporting another server release is a change to
this file and its unit tests only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..common.errors import DbferryError
from .connection import fetch_all

MARIADB = "mariadb"
MYSQL = "mysql"

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Flavor:
    """A server's kind and version, and what follows from them."""

    kind: str
    version: tuple[int, int, int]
    version_string: str

    @classmethod
    def parse(cls, version_string: str, version_comment: str = "") -> "Flavor":
        """Build from ``SELECT VERSION(), @@version_comment``."""
        match = _VERSION_RE.match(version_string)
        if not match:
            raise ValueError("unrecognised server version %r" % version_string)
        is_mariadb = "mariadb" in (version_string + " " + version_comment).lower()
        numbers = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
        return cls(MARIADB if is_mariadb else MYSQL, numbers, version_string)

    @property
    def is_mariadb(self) -> bool:
        return self.kind == MARIADB

    @property
    def label(self) -> str:
        """``MariaDB 10.11.19`` / ``MySQL 8.0.36``, for messages."""
        return "%s %s" % ("MariaDB" if self.is_mariadb else "MySQL", ".".join(map(str, self.version)))

    @property
    def gtid_position_sql(self) -> str:
        """Query for the current binlog position as a GTID set (one value)."""
        if self.is_mariadb:
            return "SELECT @@GLOBAL.gtid_binlog_pos"
        return "SELECT @@GLOBAL.gtid_executed"

    @property
    def binlog_status_sql(self) -> str:
        """Statement that shows the current binlog file and position."""
        if self.is_mariadb:
            # SHOW BINLOG STATUS exists since 10.5.2; SHOW MASTER STATUS is its old alias.
            return "SHOW BINLOG STATUS" if self.version >= (10, 5, 2) else "SHOW MASTER STATUS"
        # MySQL 8.2 renamed it and 8.4 removed the old name.
        return "SHOW BINARY LOG STATUS" if self.version >= (8, 2, 0) else "SHOW MASTER STATUS"

    @property
    def binlog_monitor_privilege(self) -> str:
        """The privilege that allows reading binlog status (and the binlog file list)."""
        if self.is_mariadb and self.version >= (10, 5, 2):
            return "BINLOG MONITOR"
        return "REPLICATION CLIENT"

    @property
    def read_only_variables(self) -> tuple[str, ...]:
        """Variables that make the server read-only, in the order they are set."""
        if self.is_mariadb:
            return ("read_only",)
        return ("read_only", "super_read_only")

    @property
    def has_binlog_row_metadata(self) -> bool:
        """Whether binlog_row_metadata exists (column names in the binlog)."""
        if self.is_mariadb:
            return self.version >= (10, 5, 0)
        return self.version >= (8, 0, 1)

    @property
    def has_binlog_compression(self) -> bool:
        """Whether the server can compress binlog events (MariaDB's log_bin_compress, 10.2.3+)."""
        return self.is_mariadb and self.version >= (10, 2, 3)

    @property
    def binlog_retention_variables(self) -> tuple[str, ...]:
        """Retention variables, best first: seconds where the server has them, else days."""
        if self.is_mariadb:
            return ("binlog_expire_logs_seconds", "expire_logs_days") if self.version >= (10, 6, 1) else ("expire_logs_days",)
        return ("binlog_expire_logs_seconds", "expire_logs_days") if self.version >= (8, 0, 1) else ("expire_logs_days",)

    @property
    def shared_lock_clause(self) -> str:
        """Suffix of a SELECT that takes shared row locks."""
        if not self.is_mariadb and self.version >= (8, 0, 1):
            return "FOR SHARE"
        return "LOCK IN SHARE MODE"

    @property
    def collation_ids_sql(self) -> str:
        """Query for (collation id, character set name) of every collation the server knows.

        MariaDB 10.10+ lists its UCA 14 collations, per character set, only in
        COLLATION_CHARACTER_SET_APPLICABILITY; COLLATIONS has them once, without ids.
        """
        if self.is_mariadb and self.version >= (10, 10, 0):
            return "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY"
        return "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT NULL"

    @property
    def read_only_bypass_privileges(self) -> tuple[str, ...]:
        """Privileges whose holders can still write while the server is read-only the way this module leaves it.

        On MySQL this module sets super_read_only too, which stops SUPER and
        CONNECTION_ADMIN as well. MariaDB 10.11 took READ_ONLY ADMIN out of SUPER.
        """
        if not self.is_mariadb:
            return ()
        if self.version >= (10, 11, 0):
            return ("READ_ONLY ADMIN",)
        if self.version >= (10, 5, 2):
            return ("READ_ONLY ADMIN", "SUPER")
        return ("SUPER",)

    @property
    def read_only_privilege(self) -> str:
        """The privilege to grant so that a user can switch read_only (and super_read_only)."""
        if self.is_mariadb:
            return "READ_ONLY ADMIN" if self.version >= (10, 5, 2) else "SUPER"
        return "SYSTEM_VARIABLES_ADMIN" if self.version >= (8, 0, 0) else "SUPER"

    @property
    def kill_privileges(self) -> tuple[str, ...]:
        """Privileges that let a user KILL other users' sessions, the one to grant first."""
        if self.is_mariadb:
            return ("CONNECTION ADMIN", "SUPER") if self.version >= (10, 5, 2) else ("SUPER",)
        return ("CONNECTION_ADMIN", "SUPER") if self.version >= (8, 0, 0) else ("SUPER",)

    def gtid_is_usable(self, gtid_mode: str) -> bool:
        """Whether positions can be GTIDs: always on MariaDB; MySQL needs gtid_mode=ON."""
        return self.is_mariadb or gtid_mode.upper() == "ON"


def detect_flavor(conn: Any) -> Flavor:
    """Ask a connected server what it is."""
    version, comment = fetch_all(conn, "SELECT VERSION(), @@version_comment")[0]
    return Flavor.parse(version, comment or "")


def refuse_unsupported_source(flavor: Flavor, what: str) -> None:
    """Raise unless this version can serve a source of ``flavor``: MariaDB only, for now.

    The one place that says so, for every step that reads the source (the
    engine, verification): when MySQL sources come, this is where they are
    let in. ``what`` says what the caller does, for the message ("moves").
    """
    if not flavor.is_mariadb:
        raise DbferryError("the source is %s; this version %s from MariaDB only." % (flavor.label, what), obj="source",
                           fix="MySQL sources (GTID or file/position) are planned for a later version.")
