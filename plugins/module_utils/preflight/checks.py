"""Preflight: everything that would make a move fail or lose data, checked
before anything is written.

Each finding is a ``Check`` with a status (ok, warning, error), the object it
is about (a server, a table, a constraint, a user) and the fix. Every check
name below reports at least one row, so a report also shows what was
looked at and found fine. Preflight only reads: the one "try" that talks to
the binlog asks for a dump that ends at once.

Some findings may be accepted by the operator (``allow``); the others would
break the consistency argument of DESIGN.md, so they cannot be waived.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Optional

from ..server import grants as grants_mod
from ..binlog.dump import probe_dump
from ..server.connection import ServerSpec, connect, error_code, error_text, fetch_all, fetch_value, is_database_error
from ..common.errors import DbferryError
from ..server.flavor import Flavor, detect_flavor
from ..common.identifiers import display_table, quote_ident, quote_table
from .source_admin import check_source_admin, server_identity
from ..cutover import read_only as readonly
from ..engine.tables import SUPPORTED_KEY_TYPES, UNPRINTABLE_FIX, unprintable_columns
from ..engine.selection import STATE_SCHEMA, SYSTEM_SCHEMAS, Selection, unmatched_error

OK, WARNING, ERROR = "ok", "warning", "error"

#: Every check preflight runs, in report order, with what it protects.
CHECKS: dict[str, str] = {
    "source_connection": "the source answers with these credentials",
    "target_connection": "the target answers with these credentials",
    "distinct_servers": "the source and the target are two servers, not one reached two ways",
    "log_bin": "the source writes a binary log",
    "binlog_format": "row events, not statements, so changes can be applied by key",
    "binlog_row_image": "FULL images, so every column of a changed row is known",
    "binlog_row_metadata": "FULL metadata, so events carry column names",
    "log_bin_compress": "uncompressed binlog events, which the binlog stream can read",
    "binlog_retention": "binlogs outlive a paused or slow move",
    "server_id": "the source has a server id",
    "gtid_position": "the start position can be read",
    "selection": "every include entry, name or pattern, matches something on the source, and something is selected",
    "source_privileges": "the source user can read rows, binlog status and the binlog stream",
    "source_bypasses_read_only": "the source user cannot write despite read_only, so the cutover can tell the app's sessions from the agent's",
    "target_privileges": "the target user can create and write the moved tables and _dbferry",
    "primary_key": "every moved table has a primary key",
    "primary_key_type": "the primary key is of a kind this version copies",
    "table_support": "tables are transactional base tables (shared row locks hold)",
    "foreign_keys": "foreign keys on moved tables",
    "foreign_key_cascades": "cascading actions, which the binlog does not record",
    "triggers": "triggers, which are not moved",
    "views": "views, which are not moved",
    "empty_tables": "tables without rows",
    "target_not_empty": "the moved tables are absent or empty on the target",
    "target_read_only": "the target accepts writes",
    "charsets": "the target knows every character set and collation used",
    "definitions": "the tables the move creates get the source's ENUM/SET members and defaults (SHOW CREATE TABLE prints them as they are)",
    "target_version": "the target is not older than the source",
    "source_admin": "the cutover's login reaches the source and may switch read_only and see sessions",
}

#: Findings an operator may accept. All others would make the move fail or
#: let the target silently differ from the source.
ALLOWABLE = ("binlog_retention", "foreign_keys", "triggers", "views", "target_not_empty", "target_version")

SOURCE_GLOBAL_PRIVILEGES = ("REPLICATION SLAVE",)
SOURCE_TABLE_PRIVILEGES = ("SELECT",)
TARGET_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER")

#: Shared row locks (the consistency argument, step 2) need a transactional engine.
TRANSACTIONAL_ENGINES = frozenset({"InnoDB"})
DEFAULT_MIN_BINLOG_RETENTION_HOURS = 72


@dataclass
class Check:
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
class Table:
    """A table (or view) on the source that the selection picked."""

    schema: str
    name: str
    kind: str
    engine: Optional[str]
    has_rows: Optional[bool] = None

    @property
    def display(self) -> str:
        return display_table(self.schema, self.name)

    @property
    def quoted(self) -> str:
        return quote_table(self.schema, self.name)


@dataclass
class Report:
    """The outcome of a preflight run."""

    checks: list[Check] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    servers: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        counts = {OK: 0, WARNING: 0, ERROR: 0, "allowed": 0}
        for check in self.checks:
            counts["allowed" if check.allowed else check.status] += 1
        counts["total"] = len(self.checks)
        return counts

    def failures(self, fail_on: str = ERROR) -> list[Check]:
        """Checks that stop the move: errors (and warnings with ``fail_on: warning``) not allowed."""
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


def _in_list(values: Iterable[str]) -> tuple[str, list[str]]:
    """An ``IN (%s, ...)`` placeholder list and its arguments (never empty)."""
    values = sorted(set(values)) or [""]
    return "(" + ", ".join(["%s"] * len(values)) + ")", values


class _Preflight:
    """One run: holds the findings and the facts later checks build on."""

    def __init__(self, selection: Selection, allow: Iterable[str], min_retention_hours: float) -> None:
        self.selection = selection
        self.allow = frozenset(allow)
        self.min_retention_hours = min_retention_hours
        self.report = Report()

    def add(self, name: str, status: str, obj: str, message: str, fix: str = "") -> None:
        allowed = status != OK and name in self.allow
        self.report.checks.append(Check(name, status, obj, message, fix, allowed))

    def ok_unless_found(self, name: str, found_before: int, obj: str, message: str) -> None:
        """Report ``name`` as ok when no finding was added since ``found_before``."""
        if not any(c.name == name for c in self.report.checks[found_before:]):
            self.add(name, OK, obj, message)

    # -- connections ---------------------------------------------------------

    def connect(self, role: str, spec: ServerSpec) -> tuple[Optional[Any], Optional[Flavor]]:
        """A session on the server and what it is; (None, None) when it cannot be reached."""
        try:
            conn = connect(spec)
        except DbferryError as exc:
            self.add(role + "_connection", ERROR, exc.obj, exc.message, exc.fix)
            return None, None
        flavor = detect_flavor(conn)
        self.report.servers[role] = flavor.label
        self.add(role + "_connection", OK, spec.describe(), "connected to %s." % flavor.label)
        return conn, flavor

    def check_distinct_servers(self, source: Any, target: Any, source_name: str, target_name: str) -> None:
        """The source and the target must be two servers: a move onto its own source would overwrite the rows it reads.

        Compared by what the servers answer (preflight_admin.server_identity),
        since a socket and a TCP address, or two host names, can reach one server.
        """
        identity = server_identity(source)
        if identity == server_identity(target):
            self.add("distinct_servers", ERROR, target_name,
                     "the source %s and the target %s are the same server (host name %s, port %s, data directory %s, server id %s)."
                     % ((source_name, target_name) + identity),
                     "point the target at the server the databases move to; check unix_socket and config_file of both.")
        else:
            self.add("distinct_servers", OK, target_name, "the target is another server than the source.")

    # -- source binlog ---------------------------------------------------------

    def check_binlog(self, conn: Any, flavor: Flavor, server: str) -> None:
        log_bin, binlog_format, row_image, server_id = fetch_all(
            conn, "SELECT @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image, @@GLOBAL.server_id"
        )[0]
        restart = "; it cannot be changed at run time"
        if int(log_bin):
            self.add("log_bin", OK, server, "the binary log is on.")
        else:
            self.add("log_bin", ERROR, server, "the binary log is off (log_bin=OFF).",
                     "add log_bin=binlog under [mysqld] in the source's my.cnf and restart it" + restart + ".")
        self._require_value("binlog_format", binlog_format, "ROW", server,
                            "SET GLOBAL binlog_format = 'ROW' and set it in my.cnf; sessions keep their old format until they reconnect.")
        self._require_value("binlog_row_image", row_image, "FULL", server,
                            "SET GLOBAL binlog_row_image = 'FULL' and set it in my.cnf.")
        if flavor.has_binlog_row_metadata:
            metadata = fetch_value(conn, "SELECT @@GLOBAL.binlog_row_metadata")
            self._require_value("binlog_row_metadata", metadata, "FULL", server,
                                "SET GLOBAL binlog_row_metadata = 'FULL' and set it in my.cnf.")
        else:
            self.add("binlog_row_metadata", ERROR, server,
                     "%s has no binlog_row_metadata; events would not carry column names." % flavor.label,
                     "upgrade the source to MariaDB 10.5+ or MySQL 8.0.1+.")
        if flavor.has_binlog_compression:
            if int(fetch_value(conn, "SELECT @@GLOBAL.log_bin_compress")):
                self.add("log_bin_compress", ERROR, server, "log_bin_compress is ON; the binlog stream cannot read compressed events.",
                         "SET GLOBAL log_bin_compress = OFF and set it in my.cnf, before the move starts.")
            else:
                self.add("log_bin_compress", OK, server, "log_bin_compress is OFF.")
        else:
            self.add("log_bin_compress", OK, server, "%s does not compress binlog events." % flavor.label)
        self._check_retention(conn, flavor, server)
        if int(server_id):
            self.add("server_id", OK, server, "server_id is %s." % server_id)
        else:
            self.add("server_id", ERROR, server, "server_id is 0; the source cannot serve a binlog stream.",
                     "set server_id to a non-zero value unique in your replication topology, in my.cnf and with SET GLOBAL.")
        self._check_gtid(conn, flavor, server)

    def _require_value(self, variable: str, actual: Any, wanted: str, server: str, fix: str) -> None:
        if str(actual).upper() == wanted:
            self.add(variable, OK, server, "%s is %s." % (variable, wanted))
        else:
            self.add(variable, ERROR, server, "%s is %s; a move needs %s." % (variable, actual, wanted), fix)

    def _check_retention(self, conn: Any, flavor: Flavor, server: str) -> None:
        variable = flavor.binlog_retention_variables[0]
        value = float(fetch_value(conn, "SELECT @@GLOBAL.%s" % variable) or 0)
        seconds = value if variable.endswith("seconds") else value * 86400
        if seconds == 0:
            self.add("binlog_retention", OK, server, "binlogs never expire (%s = 0); purge them by hand." % variable)
        elif seconds < self.min_retention_hours * 3600:
            self.add("binlog_retention", WARNING, server,
                     "binlogs expire after %.1f h (%s = %g), less than %g h; a move paused or slowed for longer "
                     "cannot catch up and must start over." % (seconds / 3600, variable, value, self.min_retention_hours),
                     "raise it, e.g. SET GLOBAL binlog_expire_logs_seconds = 604800 (and in my.cnf), or allow binlog_retention.")
        else:
            self.add("binlog_retention", OK, server, "binlogs are kept %.1f h." % (seconds / 3600))

    def _check_gtid(self, conn: Any, flavor: Flavor, server: str) -> None:
        try:
            position = fetch_value(conn, flavor.gtid_position_sql)
            gtid_mode = "ON" if flavor.is_mariadb else str(fetch_value(conn, "SELECT @@GLOBAL.gtid_mode"))
        except Exception as exc:  # noqa: BLE001 - any server error here is the finding
            if not is_database_error(exc):
                raise
            self.add("gtid_position", ERROR, server, "cannot read the binlog position: %s" % error_text(exc),
                     "grant the source user %s." % flavor.binlog_monitor_privilege)
            return
        if not flavor.gtid_is_usable(gtid_mode):
            self.add("gtid_position", OK, server, "gtid_mode is %s: positions will be binlog file and offset." % gtid_mode)
        elif position:
            self.add("gtid_position", OK, server, "current position %s." % position)
        else:
            self.add("gtid_position", OK, server, "no transaction logged yet; the move starts at the beginning of the binlog.")

    # -- what is moved ---------------------------------------------------------

    def discover(self, conn: Any) -> list[Table]:
        """The selected tables and views on the source, with a row probe for base tables."""
        placeholders, args = _in_list(SYSTEM_SCHEMAS)
        schemas = [row[0] for row in fetch_all(
            conn, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN " + placeholders, args)]
        rows = fetch_all(
            conn,
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA NOT IN " + placeholders + " ORDER BY TABLE_SCHEMA, TABLE_NAME",
            args,
        )
        every = [(schema, name) for schema, name, _kind, _engine in rows]
        for option, entry in self.selection.unmatched_includes(schemas, every):
            error = unmatched_error(option, entry)
            self.add("selection", ERROR, entry, error.message, error.fix)
        tables = [Table(s, n, k, e) for s, n, k, e in rows if self.selection.selects_table(s, n)]
        if not [t for t in tables if t.kind != "VIEW"]:
            self.add("selection", ERROR, "databases/tables", "the selection matches no table on the source.",
                     "check databases.include/exclude and tables.include/exclude against SHOW DATABASES.")
        else:
            self.ok_unless_found("selection", 0, "databases/tables",
                                 "%d table(s) in %d database(s) selected." % (
                                     len([t for t in tables if t.kind != "VIEW"]), len({t.schema for t in tables})))
        self.report.tables = [t.display for t in tables if t.kind != "VIEW"]
        return tables

    def check_tables(self, conn: Any, tables: list[Table], grants: list[grants_mod.Grant]) -> None:
        base = [t for t in tables if t.kind != "VIEW"]
        self._check_support(base)
        self._check_old_temporal_columns(conn, base)
        self._check_keys(conn, base)
        self._check_foreign_keys(conn, {t.display for t in base})
        self._check_triggers(conn, base, grants)
        views = [t for t in tables if t.kind == "VIEW"]
        for view in views:
            self.add("views", WARNING, view.display, "view %s is not moved." % view.display,
                     "recreate it on the target after the move (SHOW CREATE VIEW %s), or allow views." % view.quoted)
        if not views:
            self.add("views", OK, "databases", "no views in the selected databases.")
        empty = [t.display for t in base if t.has_rows is False]
        self.add("empty_tables", OK, "%d table(s)" % len(empty),
                 ("no rows in: %s (created on the target, filled by later writes)." % ", ".join(empty))
                 if empty else "every selected table has rows.")

    def _check_support(self, tables: list[Table]) -> None:
        before = len(self.report.checks)
        for table in tables:
            if table.kind != "BASE TABLE":
                self.add("table_support", ERROR, table.display, "%s is a %s, which is not supported." % (table.display, table.kind.lower()),
                         "exclude it with tables.exclude: ['%s']." % table.display)
            elif table.engine not in TRANSACTIONAL_ENGINES:
                self.add("table_support", ERROR, table.display,
                         "%s uses the %s engine; copying it consistently needs shared row locks (InnoDB)." % (table.display, table.engine),
                         "ALTER TABLE %s ENGINE=InnoDB, or exclude it with tables.exclude: ['%s']." % (table.quoted, table.display))
        self.ok_unless_found("table_support", before, "tables", "every selected table is an InnoDB base table.")

    def _check_old_temporal_columns(self, conn: Any, tables: list[Table]) -> None:
        """MariaDB 5.3 format TIME/DATETIME/TIMESTAMP columns: their binlog values cannot be decoded."""
        placeholders, args = _in_list(t.schema for t in tables)
        moved = {t.display for t in tables}
        for schema, table, column, column_type in fetch_all(
                conn, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                      "WHERE COLUMN_TYPE LIKE '%%mariadb-5.3%%' AND TABLE_SCHEMA IN " + placeholders, args):
            if display_table(schema, table) in moved:
                self.add("table_support", ERROR, display_table(schema, table),
                         "column %s of %s is %s, the MariaDB 5.3 format, whose binlog values cannot be decoded." % (
                             quote_ident(column), display_table(schema, table), column_type),
                         "rebuild the table in the current format: ALTER TABLE %s FORCE (with mysql56_temporal_format=ON)." %
                         quote_table(schema, table))

    def _check_keys(self, conn: Any, tables: list[Table]) -> None:
        placeholders, args = _in_list(t.schema for t in tables)
        keys: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for schema, table, column, data_type in fetch_all(
            conn,
            "SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.COLUMN_NAME, c.DATA_TYPE "
            "FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.COLUMNS c "
            # BINARY: names that differ only by case or accent are other tables (schema.read_tables)
            "ON BINARY c.TABLE_SCHEMA = BINARY k.TABLE_SCHEMA AND BINARY c.TABLE_NAME = BINARY k.TABLE_NAME AND c.COLUMN_NAME = k.COLUMN_NAME "
            "WHERE k.CONSTRAINT_NAME = 'PRIMARY' AND k.TABLE_SCHEMA IN " + placeholders +
            " ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.ORDINAL_POSITION",
            args,
        ):
            keys[display_table(schema, table)].append((column, data_type.lower()))
        missing_before = len(self.report.checks)
        for table in tables:
            key = keys.get(table.display)
            if not key:
                self.add("primary_key", ERROR, table.display, "%s has no primary key; rows cannot be copied in key order or found by key." % table.display,
                         "add one (ALTER TABLE %s ADD PRIMARY KEY (...)), or exclude it with tables.exclude: ['%s']." % (table.quoted, table.display))
            elif len(key) > 1 or key[0][1] not in SUPPORTED_KEY_TYPES:
                described = ", ".join("%s %s" % (quote_ident(c), t) for c, t in key)
                self.add("primary_key_type", ERROR, table.display,
                         "%s has primary key (%s); this version copies tables with a single integer key column only. "
                         "Composite and non-integer keys are planned for a later version." % (table.display, described),
                         "exclude it with tables.exclude: ['%s'] and move it another way, or wait for a later version." % table.display)
        self.ok_unless_found("primary_key", missing_before, "tables", "every selected table has a primary key.")
        self.ok_unless_found("primary_key_type", missing_before, "tables", "every primary key is a single integer column.")

    def _check_foreign_keys(self, conn: Any, moved: set[str]) -> None:
        before = len(self.report.checks)
        # REFERENTIAL_CONSTRAINTS is hidden from a user with only SELECT on
        # MariaDB; KEY_COLUMN_USAGE is not, and SHOW CREATE TABLE has the rules.
        for schema, table, name, ref_schema, ref_table in fetch_all(
            conn,
            "SELECT DISTINCT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME "
            "FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_NAME IS NOT NULL "
            "ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME",
        ):
            child, parent = display_table(schema, table), display_table(ref_schema, ref_table)
            if child not in moved and parent not in moved:
                continue
            update_rule, delete_rule = _foreign_key_rules(conn, schema, table, name)
            obj = "%s (%s)" % (child, name)
            described = "foreign key %s on %s references %s (ON UPDATE %s, ON DELETE %s)" % (
                quote_ident(name), child, parent, update_rule, delete_rule)
            cascading = [rule for rule in (update_rule, delete_rule) if rule in ("CASCADE", "SET NULL", "SET DEFAULT")]
            if cascading:
                self.add("foreign_key_cascades", ERROR, obj,
                         "%s; the rows a cascade changes are not written to the binlog, so the target would miss them." % described,
                         "drop the foreign key on the source for the move and recreate it after cutover "
                         "(ALTER TABLE %s DROP FOREIGN KEY %s), or exclude both tables." % (quote_table(schema, table), quote_ident(name)))
            else:
                self.add("foreign_keys", ERROR, obj,
                         "%s; the target is written in key order with foreign_key_checks=0, so it holds only once the move is complete." % described,
                         "drop it for the move and recreate it after cutover, or allow foreign_keys.")
        self.ok_unless_found("foreign_keys", before, "tables", "no foreign keys on or into the selected tables.")
        self.ok_unless_found("foreign_key_cascades", before, "tables", "no cascading foreign keys.")

    def _check_triggers(self, conn: Any, tables: list[Table], grants: list[grants_mod.Grant]) -> None:
        by_table = {t.display: t for t in tables}
        before = len(self.report.checks)
        for name, schema, table, timing, event in fetch_all(
            conn,
            "SELECT TRIGGER_NAME, EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION "
            "FROM information_schema.TRIGGERS ORDER BY EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, TRIGGER_NAME",
        ):
            key = display_table(schema, table)
            if key in by_table:
                self.add("triggers", WARNING, key,
                         "trigger %s (%s %s) on %s is not moved." % (quote_ident(name), timing, event, key),
                         "create it on the target after cutover, not before: it would fire on the rows the ferry writes. Or allow triggers.")
        # information_schema.TRIGGERS lists only triggers on tables the user has TRIGGER on.
        unseen = sorted({t.schema for t in tables if "TRIGGER" not in grants_mod.privileges_on(grants, t.schema)
                         and grants_mod.ALL not in grants_mod.privileges_on(grants, t.schema)})
        note = " (without the TRIGGER privilege on %s, triggers there are not visible to the source user)" % ", ".join(unseen) if unseen else ""
        self.ok_unless_found("triggers", before, "tables", "no triggers on the selected tables%s." % note)

    # -- privileges ------------------------------------------------------------

    def source_privileges(self, conn: Any, flavor: Flavor, spec: ServerSpec, tables: list[Table]) -> list[grants_mod.Grant]:
        account = grants_mod.parse_account(fetch_value(conn, "SELECT CURRENT_USER()"))
        grants = grants_mod.read_grants(conn)
        obj = "%s@%s on source" % account
        before = len(self.report.checks)
        lacking = grants_mod.missing(SOURCE_GLOBAL_PRIVILEGES + (flavor.binlog_monitor_privilege,), grants_mod.privileges_on(grants))
        if lacking:
            self.add("source_privileges", ERROR, obj, "the source user lacks %s (global)." % ", ".join(lacking),
                     grants_mod.grant_statement(lacking, "*.*", account))
        for schema in sorted({t.schema for t in tables}):
            if not grants_mod.missing(SOURCE_TABLE_PRIVILEGES, grants_mod.privileges_on(grants, schema)):
                continue
            # information_schema hides tables the user has no privilege on, so
            # with table-level grants only, unseen tables would silently not move.
            if not self.selection.names_every_table_of(schema):
                self.add("source_privileges", ERROR, obj,
                         "the source user lacks SELECT on %s.*; tables of %s it cannot see would not be moved." % (schema, schema),
                         grants_mod.grant_statement(SOURCE_TABLE_PRIVILEGES, "%s.*" % quote_ident(schema), account)
                         + " Or name each table of %s in tables.include." % schema)
                continue
            unreadable = [t.display for t in tables if t.schema == schema
                          and grants_mod.missing(SOURCE_TABLE_PRIVILEGES, grants_mod.privileges_on(grants, schema, t.name))]
            if unreadable:
                self.add("source_privileges", ERROR, obj, "the source user cannot SELECT %s." % ", ".join(unreadable),
                         " ".join(grants_mod.grant_statement(SOURCE_TABLE_PRIVILEGES, quote_table(schema, t.split(".", 1)[1]), account)
                                  for t in unreadable))
        self._try_source(conn, flavor, spec, obj, tables, probe_stream=len(self.report.checks) == before)
        self.ok_unless_found("source_privileges", before, obj, "has %s, and SELECT on the selected tables (granted and tried)." %
                             ", ".join(SOURCE_GLOBAL_PRIVILEGES + (flavor.binlog_monitor_privilege,)))
        return grants

    def source_bypasses_read_only(self, conn: Any, flavor: Flavor, grants: list[grants_mod.Grant]) -> None:
        """Warn when the move's source user may write despite read_only.

        The cutover leaves every session of that user out of privileged_sessions (they are the agent's, which reads
        the source as it), so a session of the application under the same user would go on writing unseen.
        """
        obj = "%s@%s on source" % grants_mod.parse_account(fetch_value(conn, "SELECT CURRENT_USER()"))
        granted = grants_mod.privileges_on(grants)
        held = [p for p in flavor.read_only_bypass_privileges if grants_mod.ALL in granted or p in granted]
        if not held:
            self.add("source_bypasses_read_only", OK, obj, "the source user cannot write despite read_only.")
            return
        through = " (through ALL PRIVILEGES)" if grants_mod.ALL in granted else ""
        self.add("source_bypasses_read_only", WARNING, obj,
                 "the source user holds %s%s, so it can write despite read_only; the cutover's privileged_sessions leaves every "
                 "session of it out as the agent's, so an application session under the same user cannot be told apart "
                 "from the agent's and would go on writing after the final position." % (" and ".join(held), through),
                 "give the move a login of its own without %s (README: what your servers need)." % " or ".join(held))

    def _try_source(self, conn: Any, flavor: Flavor, spec: ServerSpec, obj: str, tables: list[Table], probe_stream: bool) -> None:
        """Try the reads a move makes: a row of each table and, when the grants
        look complete (else they are reported already), a binlog dump."""
        reported = {c.message for c in self.report.checks if c.name == "source_privileges"}
        for table in tables:
            if table.kind == "VIEW":
                continue
            try:
                table.has_rows = bool(fetch_all(conn, "SELECT 1 FROM %s LIMIT 1" % table.quoted))
            except Exception as exc:  # noqa: BLE001 - a server error is the finding
                if not is_database_error(exc):
                    raise
                if not any(table.display in message for message in reported):
                    self.add("source_privileges", ERROR, obj, "reading %s failed: %s" % (table.display, error_text(exc)),
                             "grant SELECT on %s to the source user." % table.quoted)
        if not probe_stream:
            return
        probe = connect(spec)
        try:
            probe_dump(probe, flavor)
        except Exception as exc:  # noqa: BLE001 - a server error is the finding
            if not is_database_error(exc):
                raise
            self.add("source_privileges", ERROR, obj, "streaming the binlog was refused: %s" % error_text(exc),
                     "grant REPLICATION SLAVE ON *.* to the source user." if error_code(exc) in (1227, 1045)
                     else "check the source's error log for this error.")
        finally:
            probe.close()

    def target_privileges(self, conn: Any, schemas: list[str]) -> None:
        account = grants_mod.parse_account(fetch_value(conn, "SELECT CURRENT_USER()"))
        grants = grants_mod.read_grants(conn)
        obj = "%s@%s on target" % account
        before = len(self.report.checks)
        for schema in sorted(set(schemas)) + [STATE_SCHEMA]:
            lacking = grants_mod.missing(TARGET_PRIVILEGES, grants_mod.privileges_on(grants, schema))
            if lacking:
                self.add("target_privileges", ERROR, obj, "the target user lacks %s on %s." % (", ".join(lacking), schema),
                         grants_mod.grant_statement(lacking, "%s.*" % quote_ident(schema), account))
        self.ok_unless_found("target_privileges", before, obj, "has %s on the moved databases and %s." % (", ".join(TARGET_PRIVILEGES), STATE_SCHEMA))

    # -- target ----------------------------------------------------------------

    def check_target(self, conn: Any, tables: list[Table], server: str) -> None:
        if int(fetch_value(conn, "SELECT @@GLOBAL.read_only")):
            self.add("target_read_only", ERROR, server, "the target is read-only (read_only=ON).",
                     "SET GLOBAL read_only = OFF on the target (and in its my.cnf) before the move.")
        else:
            self.add("target_read_only", OK, server, "the target accepts writes.")
        base = [t for t in tables if t.kind != "VIEW"]
        placeholders, args = _in_list(t.schema for t in base)
        existing = {display_table(s, n) for s, n in fetch_all(
            conn, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA IN " + placeholders, args)}
        before, reused = len(self.report.checks), 0
        for table in base:
            if table.display not in existing:
                continue
            if fetch_all(conn, "SELECT 1 FROM %s LIMIT 1" % table.quoted):
                self.add("target_not_empty", ERROR, table.display, "%s already exists on the target and has rows." % table.display,
                         "drop or empty it on the target, move into another database, or allow target_not_empty "
                         "to keep its rows (rows with the same key are then not copied).")
            else:
                reused += 1
        self.ok_unless_found("target_not_empty", before, server,
                             "the moved tables are absent on the target%s." % (" or empty (%d empty table(s) will be reused)" % reused if reused else ""))

    def check_definitions(self, source: Any, target: Optional[Any], tables: list[Table]) -> None:
        """Definitions SHOW CREATE TABLE cannot print (schema.unprintable_columns), of the tables the move would create
        from it: a table that exists on the target already is the operator's, created by hand (reuse_target)."""
        base = [t for t in tables if t.kind != "VIEW"]
        on_target: set[tuple[str, str]] = set()
        if target is not None:
            placeholders, args = _in_list(t.schema for t in base)
            on_target = set(fetch_all(target, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA IN "
                                      + placeholders, args))
        before = len(self.report.checks)
        for found in unprintable_columns(source, [(t.schema, t.name) for t in base if (t.schema, t.name) not in on_target]):
            self.add("definitions", ERROR, found.table, found.message, UNPRINTABLE_FIX)
        self.ok_unless_found("definitions", before, "tables", "every ENUM/SET member and default of the tables to create prints as it is stored.")

    def check_charsets(self, source: Any, target: Any, tables: list[Table], target_label: str) -> None:
        placeholders, args = _in_list(t.schema for t in tables)
        moved = {t.display for t in tables}
        users: dict[str, list[str]] = defaultdict(list)
        for schema, collation in fetch_all(
                source, "SELECT SCHEMA_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN " + placeholders, args):
            users[collation].append(schema)
        for schema, table, collation in fetch_all(
                source, "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES "
                        "WHERE TABLE_COLLATION IS NOT NULL AND TABLE_SCHEMA IN " + placeholders, args):
            if display_table(schema, table) in moved:
                users[collation].append(display_table(schema, table))
        for schema, table, column, collation in fetch_all(
                source, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
                        "WHERE COLLATION_NAME IS NOT NULL AND TABLE_SCHEMA IN " + placeholders, args):
            if display_table(schema, table) in moved:
                users[collation].append("%s.%s" % (display_table(schema, table), column))
        known = _known_collations(target)
        for collation in sorted(users):
            if collation not in known:
                where = users[collation]
                self.add("charsets", ERROR, collation,
                         "collation %s, used by %s, is unknown to the target (%s)." % (
                             collation, ", ".join(where[:5]) + (" and %d more" % (len(where) - 5) if len(where) > 5 else ""), target_label),
                         "convert those columns to a collation both servers know, or move to a target that has it.")
        if all(c in known for c in users):
            self.add("charsets", OK, "collations", "the target knows all %d collation(s) in use: %s." % (len(users), ", ".join(sorted(users))))

    def check_versions(self, source: Flavor, target: Flavor) -> None:
        obj = "%s -> %s" % (source.label, target.label)
        if source.kind != target.kind:
            self.add("target_version", WARNING, obj, "source and target are different products; types and defaults may differ.",
                     "rehearse the move and compare; allow target_version when satisfied.")
        elif target.version < source.version:
            self.add("target_version", WARNING, obj, "the target is older than the source.",
                     "upgrade the target, or rehearse the move and allow target_version.")
        else:
            self.add("target_version", OK, obj, "the target is not older than the source.")


_RULE_RE = re.compile(r" ON (DELETE|UPDATE) (CASCADE|SET NULL|SET DEFAULT|RESTRICT|NO ACTION)")


def _foreign_key_rules(conn: Any, schema: str, table: str, name: str) -> tuple[str, str]:
    """(ON UPDATE, ON DELETE) of one constraint, read from SHOW CREATE TABLE."""
    ddl = fetch_all(conn, "SHOW CREATE TABLE %s" % quote_table(schema, table))[0][1]
    prefix = "CONSTRAINT %s FOREIGN KEY" % quote_ident(name)
    line = next((ln.strip() for ln in ddl.splitlines() if ln.strip().startswith(prefix)), "")
    rules = dict(_RULE_RE.findall(line))
    # The server omits a rule that is the default.
    return rules.get("UPDATE", "RESTRICT"), rules.get("DELETE", "RESTRICT")


def _known_collations(conn: Any) -> set[str]:
    """Collation names the server accepts, including MariaDB 10.10+'s full UCA names."""
    known = {row[0] for row in fetch_all(conn, "SELECT COLLATION_NAME FROM information_schema.COLLATIONS")}
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY")
        columns = [d[0].upper() for d in cur.description]
        wanted = [i for i, c in enumerate(columns) if c in ("COLLATION_NAME", "FULL_COLLATION_NAME")]
        for row in cur.fetchall():
            known.update(row[i] for i in wanted)
    return known


def run_preflight(
    source: ServerSpec,
    target: ServerSpec,
    selection: Selection,
    allow: Iterable[str] = (),
    min_binlog_retention_hours: float = DEFAULT_MIN_BINLOG_RETENTION_HOURS,
    source_admin: Optional[ServerSpec] = None,
    kill_sessions: bool = False,
    privileged_sessions: str = readonly.FAIL,
) -> Report:
    """Run every check; never writes to either server.

    ``source_admin`` is the login the cutover switches the source read-only
    with; ``kill_sessions`` says the cutover may end sessions with it, and
    ``privileged_sessions`` what it does with sessions that can write despite
    read_only (unless warn, the login must see every account's privileges).
    """
    unknown = sorted(set(allow) - set(ALLOWABLE))
    if unknown:
        raise DbferryError("allow names check(s) that cannot be accepted: %s." % ", ".join(unknown), obj="allow",
                           fix="allow takes only: %s." % ", ".join(ALLOWABLE))
    run = _Preflight(selection, allow, min_binlog_retention_hours)
    src, src_flavor = run.connect("source", source)
    dst, dst_flavor = run.connect("target", target)
    try:
        if src is not None and dst is not None:
            run.check_distinct_servers(src, dst, source.describe(), target.describe())
        tables: list[Table] = []
        if src is not None and src_flavor is not None:
            run.check_binlog(src, src_flavor, source.describe())
            tables = run.discover(src)
            grants = run.source_privileges(src, src_flavor, source, tables)
            run.source_bypasses_read_only(src, src_flavor, grants)
            if tables:
                run.check_tables(src, tables, grants)
        if dst is not None:
            run.target_privileges(dst, [t.schema for t in tables])
            run.check_target(dst, tables, target.describe())
        if src is not None and tables:
            run.check_definitions(src, dst, tables)
        if src is not None and src_flavor is not None and dst_flavor is not None:
            if tables:
                run.check_charsets(src, dst, tables, dst_flavor.label)
            run.check_versions(src_flavor, dst_flavor)
        check_source_admin(run.add, source_admin, server_identity(src) if src is not None else None, kill_sessions,
                           see_accounts=privileged_sessions != readonly.WARN)
    finally:
        for conn in (src, dst):
            if conn is not None:
                conn.close()
    return run.report
