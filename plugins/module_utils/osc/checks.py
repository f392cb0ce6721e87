"""The preflight of an online schema change: everything that would make the change fail or lose rows, checked before
anything is written.

Each finding is a preflight Finding (name, status, object, message, fix),
so a change's report reads like a move's. Nothing here writes to the
table: the one thing created is an empty copy of it, ``_<t>_chk``, which
the ALTER is tried on (does it parse, does it apply, what keys does the new
schema have, can the server do it natively) and which is always dropped.

The user's ALTER text is refused before anything is created when it could
do more than change the one table (alter_input_problem): it is pasted after
``ALTER TABLE <copy>`` as it is, on the empty copy and later on the ghost.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from ..common.errors import DbferryError
from ..common.identifiers import display_table, quote_ident, quote_table
from ..config.alter_config import AlterConfig
from ..cutover import read_only as readonly
from ..engine.selection import STATE_SCHEMA, Selection
from ..preflight import binlog
from ..preflight.context import Context, Request
from ..preflight.privileges import TARGET_PRIVILEGES, source_global_privileges
from ..preflight.report import ERROR, OK, WARNING, Finding
from ..preflight.tables import TRANSACTIONAL_ENGINES, schemas_hiding_triggers
from ..server import grants as grants_mod
from ..server.connection import error_code, error_text, execute, fetch_all, fetch_value, is_database_error
from ..server.error_codes import ER_LOCK_WAIT_TIMEOUT
from ..server.flavor import detect_flavor
from . import foreign_keys as fk
from . import ghost as ghosts
from .cutover import ANOTHER_CUT_OVER_FIX, SENTRY_COMMENT, leftover_sentry
from .replica import replica_problem
from .plan import GHOST_FORMAT, OLD_FORMAT, AlterPlan, build_plan, original_key, read_columns, table_names, unique_keys

#: The empty copy of ``t`` that preflight tries the ALTER on: as long as the ghost's name, which table_names checks.
CHECK_FORMAT = "_%s_chk"

#: Native algorithms tried on the empty copy, cheapest first, with the clause appended to the ALTER to run it so
#: (attempt_instant_ddl runs the change with the same clause).
NATIVE_CLAUSES = {"INSTANT": "ALGORITHM=INSTANT", "INPLACE": "ALGORITHM=INPLACE, LOCK=NONE"}

#: What the change's login needs on the table's database: copy and apply into the ghost (INSERT, DELETE for REPLACE,
#: UPDATE), create, alter, rename and drop the ghost and the old table, and lock the table for the cut-over.
DATABASE_PRIVILEGES = TARGET_PRIVILEGES + ("LOCK TABLES",)
#: What it needs on another database holding a child of the table: the cut-over locks the child and re-points it.
CHILD_PRIVILEGES = ("SELECT", "ALTER", "LOCK TABLES")

#: The fix of a unique key added with verify off.
VERIFY_UNIQUE_FIX = "keep verify on (the default): a row that violates it would be lost without a word."

#: The binlog checks of a move's preflight that hold for a change too: it tails the same binlog the same way.
BINLOG_CHECKS = (binlog.log_bin, binlog.binlog_format, binlog.binlog_row_image, binlog.binlog_row_metadata,
                 binlog.log_bin_compress, binlog.binlog_retention, binlog.server_id, binlog.gtid_position)

_QUOTED_RE = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|`(?:[^`]|``)*`", re.S)
_ALTER_PREFIX_RE = re.compile(r"^\s*ALTER\s+(?:ONLINE\s+)?(?:IGNORE\s+)?TABLE\b", re.I)
# RENAME COLUMN / INDEX / KEY change the table itself; any other RENAME renames the table.
_TABLE_RENAME_RE = re.compile(r"\bRENAME\b(?!\s+(?:COLUMN|INDEX|KEY)\b)", re.I)
# EXCHANGE PARTITION ... WITH TABLE x, CONVERT PARTITION ... TO TABLE x, CONVERT TABLE x TO PARTITION.
_OTHER_TABLE_RE = re.compile(r"\b(?:WITH|TO|CONVERT)\s+TABLE\b", re.I)


def _code_only(alter: str) -> str:
    """The ALTER text with every quoted string and identifier emptied, so a name or a default cannot look like SQL."""
    return _QUOTED_RE.sub(lambda found: found.group(0)[0] * 2, alter)


def alter_input_problem(alter: str) -> Optional[tuple[str, str]]:
    """(message, fix) when the ALTER text is not one change of this one table; None when it is.

    Comments are kept as code on purpose: MariaDB runs ``/*! ... */``.
    """
    code = _code_only(alter or "")
    if not code.strip():
        return "alter is empty.", "give the ALTER TABLE specification, e.g. alter: 'ADD COLUMN note TEXT'."
    if ";" in code:
        return ("alter contains ';': it must be one ALTER TABLE specification, not statements.",
                "remove the ';' and anything after it; run other statements yourself.")
    if _ALTER_PREFIX_RE.match(code):
        return ("alter starts with ALTER TABLE; it is only the specification, applied to the change's own copy of the table.",
                "leave out 'ALTER TABLE <name>', e.g. alter: 'ADD COLUMN note TEXT'.")
    if _TABLE_RENAME_RE.search(code):
        return ("alter renames the table; an online change keeps its name (its cut-over swaps names itself).",
                "rename the table on its own with RENAME TABLE, before or after the change.")
    if _OTHER_TABLE_RE.search(code):
        return ("alter names another table (a partition exchange or conversion); an online change rewrites one table only.",
                "run that ALTER TABLE natively.")
    return None


def refuse_on_errors(findings: list[Finding]) -> None:
    """Raise one DbferryError for the first error finding, with its object and fix; nothing when there is none."""
    for finding in findings:
        if finding.status == ERROR:
            others = sum(1 for f in findings if f.status == ERROR) - 1
            more = " (and %d more problem(s): see the preflight report)" % others if others else ""
            raise DbferryError("%s%s" % (finding.message, more), obj=finding.object, fix=finding.fix)


@contextlib.contextmanager
def _empty_copy(conn: Any, database: str, table: str) -> Iterator[str]:
    """Create ``_<t>_chk`` as an empty copy of ``t`` and yield its quoted name; it is dropped whatever happens.

    An existing table of that name is refused, never dropped: it may be someone's.
    """
    name = CHECK_FORMAT % table
    if ghosts.exists(conn, database, name):
        raise DbferryError("table %s exists; preflight needs that name for an empty copy of %s." % (
            display_table(database, name), display_table(database, table)), obj=display_table(database, name),
            fix="drop it if it is left over from an interrupted preflight (DROP TABLE %s), or rename it." % quote_table(database, name))
    quoted = quote_table(database, name)
    execute(conn, "CREATE TABLE %s LIKE %s" % (quoted, quote_table(database, table)))
    try:
        yield quoted
    finally:
        execute(conn, "DROP TABLE IF EXISTS %s" % quoted)


def _try_native(conn: Any, quoted_copy: str, alter: str) -> Optional[str]:
    """Apply ``alter`` to the empty copy natively if the server can; return the algorithm, or None (copy unchanged).

    A server refuses an ALGORITHM it cannot honour before it changes anything.
    A refused ALTER is not logged; one that succeeds reaches replicas, which
    run the same or a newer version and so can do at least what this server did.
    """
    for algorithm, clause in NATIVE_CLAUSES.items():
        try:
            execute(conn, "ALTER TABLE %s %s, %s" % (quoted_copy, alter, clause))
        except Exception as exc:  # noqa: BLE001 - a refusal is the answer
            if not is_database_error(exc):
                raise
            continue
        return algorithm
    return None


def described_key(conn: Any, database: str, table: str, key: tuple[str, ...]) -> str:
    """``(`tenant` int, `code` varchar(20))``: the key's columns of ``database.table`` with their types, for messages."""
    types = {column.name: column.column_type for column in read_columns(conn, database, table)}
    return "(%s)" % ", ".join("%s %s" % (quote_ident(c), types.get(c, "?")) for c in key)


#: What makes a column hold the same values after the change (a unique key on it then refuses the same duplicates):
#: its type, collation, nullability and, for a generated column, its expression.
_COLUMN_SIGNATURE_SQL = ("SELECT COLUMN_NAME, COLUMN_TYPE, COLLATION_NAME, IS_NULLABLE, GENERATION_EXPRESSION FROM information_schema.COLUMNS "
                         "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND BINARY TABLE_SCHEMA = %s AND BINARY TABLE_NAME = %s")

#: A unique key as (column, prefix length or None) pairs, in key order.
UniqueKey = list[tuple[str, Optional[int]]]


def _column_signatures(conn: Any, database: str, table: str) -> dict[str, tuple[Any, ...]]:
    """Lower-case column name -> (type, collation, nullable, generation expression)."""
    return {row[0].lower(): tuple(row[1:]) for row in fetch_all(conn, _COLUMN_SIGNATURE_SQL, (database, table) * 2)}


def _prefix_covers(narrow: Optional[int], wide: Optional[int]) -> bool:
    """Whether values equal on a ``wide`` prefix (None: the whole column) are equal on a ``narrow`` one too."""
    return wide is None or (narrow is not None and narrow <= wide)


def unique_key_added(new_key: UniqueKey, old_keys: list[UniqueKey], counterpart: dict[str, str],
                     old_columns: dict[str, tuple[Any, ...]], new_columns: dict[str, tuple[Any, ...]]) -> bool:
    """Whether ``new_key`` can refuse rows the original holds: no unique key of the original (its primary key included)
    lies within it.

    An original key U lies within the new key K when each column of U has
    its counterpart in K (``counterpart``: lower-case original name -> lower-case
    new name), over at least U's prefix, and that column is defined the same
    (a new collation or type can make distinct values equal). Then two rows
    equal on K are equal on U: the same row, and K refuses nothing.
    """
    in_new = {column.lower(): prefix for column, prefix in new_key}
    for old_key in old_keys:
        within = True
        for column, prefix in old_key:
            new_name = counterpart.get(column.lower())
            if new_name is None or new_name not in in_new or not _prefix_covers(prefix, in_new[new_name]) \
                    or old_columns.get(column.lower()) != new_columns.get(new_name):
                within = False
                break
        if within:
            return False
    return True


def _foreign_keys(conn: Any, database: str, table: str) -> list[tuple[str, str, str, str, str]]:
    """(constraint, child schema, child table, parent schema, parent table) of every foreign key from or to the table."""
    rows = fetch_all(
        conn,
        "SELECT DISTINCT CONSTRAINT_NAME, TABLE_SCHEMA, TABLE_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME "
        "FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_NAME IS NOT NULL "
        "AND ((TABLE_SCHEMA = %s AND TABLE_NAME = %s) OR (REFERENCED_TABLE_SCHEMA = %s AND REFERENCED_TABLE_NAME = %s)) "
        "ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME", (database, table) * 2)
    # compared again in Python: information_schema ignores case and accents in names
    return [row for row in rows if tuple(row[1:3]) == (database, table) or tuple(row[3:5]) == (database, table)]


@dataclass
class Preflight:
    """What the preflight found, and what it learned on the empty copy, so that nobody makes that copy again: every
    copy is DDL on the production server that its replicas run too."""

    findings: list[Finding] = field(default_factory=list)
    #: "INSTANT" or "INPLACE" (with LOCK=NONE) when the server can run the ALTER natively; None: it would copy the table,
    #: or the ALTER was not tried (a finding says why).
    algorithm: Optional[str] = None
    #: The table's definition after the ALTER (the altered copy's, named as the table); None when it was not tried.
    new_create: Optional[str] = None
    #: The column mapping onto the altered copy; None when there is no key or the mapping was refused.
    plan: Optional[AlterPlan] = None
    #: What the change does with the foreign keys from and to the table (the foreign_keys check's findings), for check mode.
    foreign_keys: list[str] = field(default_factory=list)


class _Checks:
    """One preflight of a change: the session, the config, and the findings in check order."""

    def __init__(self, conn: Any, config: AlterConfig) -> None:
        self.conn = conn
        self.config = config
        self.found = Preflight()
        self.findings = self.found.findings
        self.obj = display_table(config.database, config.table)
        self.flavor = detect_flavor(conn)
        self.grants = grants_mod.read_grants(conn)

    def add(self, name: str, status: str, message: str, fix: str = "", obj: Optional[str] = None) -> None:
        self.findings.append(Finding(name, status, self.obj if obj is None else obj, message, fix))

    def run(self) -> Preflight:
        problem = alter_input_problem(self.config.alter)
        if problem:
            self.add("alter_input", ERROR, *problem)
        else:
            self.add("alter_input", OK, "alter is one change of %s." % self.obj)
        self.binlog()
        if self.config.test_on_replica:
            self.replica()
        self.privileges()
        if not self.table():
            return self.found
        key = self.primary_key()
        self.foreign_keys()
        self.triggers()
        self.free_space()
        names_free = self.side_tables()
        if problem is None and names_free:
            self.on_empty_copy(key)
        return self.found

    def binlog(self) -> None:
        """The move preflight's binlog checks, run as they are on a context that holds only this server."""
        spec = self.config.server
        request = Request(source=spec, target=spec, selection=Selection(tables_include=(self.obj,)), allow=frozenset(),
                          min_binlog_retention_hours=binlog.DEFAULT_MIN_BINLOG_RETENTION_HOURS, source_admin=None,
                          kill_sessions=False, privileged_sessions=readonly.FAIL)
        ctx = Context(request, source=self.conn, source_flavor=self.flavor)
        for check in BINLOG_CHECKS:
            check(ctx)
        self.findings.extend(ctx.report.checks)

    def replica(self) -> None:
        """test_on_replica: the server is a replica whose binlog holds what its SQL thread applies (osc/replica.py)."""
        problem = replica_problem(self.conn)
        if problem is not None:
            self.add("replica", ERROR, *problem)
        else:
            self.add("replica", OK, "the server is a replica whose binlog holds what it applies: the change can be rehearsed on it.")

    def privileges(self) -> None:
        """The login can run every statement of the change (its grants, as SHOW GRANTS lists them)."""
        account = grants_mod.parse_account(fetch_value(self.conn, "SELECT CURRENT_USER()"))
        obj = "%s@%s" % account
        needed = ((source_global_privileges(self.flavor), None, "*.*"),
                  (DATABASE_PRIVILEGES, self.config.database, "%s.*" % quote_ident(self.config.database)),
                  (TARGET_PRIVILEGES, STATE_SCHEMA, "%s.*" % quote_ident(STATE_SCHEMA))) + tuple(
            (CHILD_PRIVILEGES, schema, "%s.*" % quote_ident(schema)) for schema in sorted(
                {key.schema for key in fk.children_of(self.conn, self.config.database, self.config.table)} - {self.config.database}))
        found = False
        for privileges, schema, scope in needed:
            lacking = grants_mod.missing(privileges, grants_mod.privileges_on(self.grants, schema))
            if lacking:
                found = True
                self.add("privileges", ERROR, "the login lacks %s on %s." % (", ".join(lacking), scope),
                         grants_mod.grant_statement(lacking, scope, account), obj)
        if not found:
            self.add("privileges", OK, "has %s globally, %s on %s and %s." % (
                ", ".join(needed[0][0]), ", ".join(DATABASE_PRIVILEGES), self.config.database, STATE_SCHEMA), obj=obj)

    def table(self) -> bool:
        """The table exists and is an InnoDB base table; the checks of its definition need it."""
        rows = fetch_all(self.conn, "SELECT TABLE_TYPE, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                                    "AND BINARY TABLE_SCHEMA = %s AND BINARY TABLE_NAME = %s",
                         (self.config.database, self.config.table) * 2)
        if not rows:
            self.add("table", ERROR, "table %s does not exist." % self.obj, "check database and table (names are case-sensitive).")
            return False
        kind, engine = rows[0]
        if kind != "BASE TABLE":
            self.add("table", ERROR, "%s is a %s; only base tables can be changed online." % (self.obj, kind.lower()),
                     "change the tables it reads, or recreate it (CREATE OR REPLACE VIEW).")
            return False
        if engine not in TRANSACTIONAL_ENGINES:
            self.add("table", ERROR, "%s uses the %s engine; the copy needs shared row locks (InnoDB)." % (self.obj, engine),
                     "convert it first: ALTER TABLE %s ENGINE=InnoDB." % quote_table(self.config.database, self.config.table))
            return False
        self.add("table", OK, "%s is an InnoDB base table." % self.obj)
        return True

    def primary_key(self) -> Optional[tuple[str, ...]]:
        """A key the copy pages through and the applier finds rows by (plan.original_key: the primary key, else a unique key
        on NOT NULL columns, of types the server compares exactly); its columns. Whether the new schema keeps it is
        column_mapping's check."""
        try:
            key = original_key(self.conn, self.config.database, self.config.table)
        except DbferryError as exc:
            self.add("primary_key", ERROR, exc.message, exc.fix)
            return None
        self.add("primary_key", OK, "key %s." % self._key_words(self.config.table, key))
        return key

    def _key_words(self, table: str, key: tuple[str, ...]) -> str:
        """The key's columns and types, and which key it is when it is not the primary key (a unique key: gh-ost's shared key)."""
        primary = tuple(c for c, _p in unique_keys(self.conn, self.config.database, table).get("PRIMARY", []))
        return described_key(self.conn, self.config.database, table, key) + ("" if primary == key else " (a unique key on NOT NULL columns)")

    def foreign_keys(self) -> None:
        """Foreign keys from or to the table that the change carries over (osc/foreign_keys.py): the table's own on the new
        table, its children re-pointed under the cut-over's lock (the cost reported); refused where that cannot be done safely."""
        database, table = self.config.database, self.config.table
        found = fk.problems(self.conn, database, table, OLD_FORMAT % table)
        for obj, message, fix in found:
            self.add("foreign_keys", ERROR, message, fix, obj)
        if found:
            return
        own, children = fk.read(self.conn, database, table)
        if own:
            self.add_carried("the new table gets %s's foreign key(s) %s as %s, added under the cut-over's lock (in place, metadata "
                             "only); %s keeps them." % (self.obj, ", ".join(quote_ident(k.name) for k in own),
                                                        ", ".join(quote_ident(fk.toggled(k.name)) for k in own),
                                                        display_table(database, OLD_FORMAT % table)))
        if children:
            renamed = ", ".join("%s -> %s" % (quote_ident(k.name), quote_ident(fk.toggled(k.name))) for k in children)
            self.add_carried("%d foreign key(s) of %s re-pointed at the new table (%s): the children are locked with %s during the "
                             "cut-over (their writes wait too) and re-pointed just before the RENAME, one ALTER per child, in place, "
                             "metadata only (no rows read or rebuilt; about %d ms per child added to the lock's time)." % (
                                 len(children), ", ".join(sorted({k.child for k in children})), renamed, self.obj,
                                 fk.LOCK_MS_PER_CHILD))
        if not own and not children:
            self.add("foreign_keys", OK, "no foreign key from or to %s." % self.obj)

    def add_carried(self, message: str) -> None:
        """A foreign_keys finding on the keys the change carries over, also told in check mode's result."""
        self.add("foreign_keys", OK, message)
        self.found.foreign_keys.append(message)

    def triggers(self) -> None:
        """No triggers on the table: they would not be on the ghost, and would be lost at the swap."""
        rows = fetch_all(self.conn, "SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE "
                                    "FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = %s AND EVENT_OBJECT_TABLE = %s "
                                    "ORDER BY TRIGGER_NAME", (self.config.database, self.config.table))
        found = [r for r in rows if (r[3], r[4]) == (self.config.database, self.config.table)]
        for name, timing, event, _schema, _table in found:
            self.add("triggers", ERROR, "trigger %s (%s %s) is on %s; an online change would lose it at the swap." % (
                quote_ident(name), timing, event, self.obj),
                "drop it for the change and create it again after (SHOW CREATE TRIGGER %s), or change the table natively."
                % quote_table(self.config.database, name))
        if not found:
            unseen = schemas_hiding_triggers([self.config.database], self.grants)
            note = " (without the TRIGGER privilege on %s, its triggers are not visible to this login)" % unseen[0] if unseen else ""
            self.add("triggers", OK, "no triggers on %s%s." % (self.obj, note))

    def free_space(self) -> None:
        """Room for the ghost (the table's size again) and the copy's row events in the binlog (its data again): an estimate.

        The free space is read where the server's data directory is visible
        from here (a server on this host); otherwise the need is reported alone.
        """
        data, index = fetch_all(self.conn, "SELECT DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                                           "AND TABLE_NAME = %s AND BINARY TABLE_SCHEMA = %s AND BINARY TABLE_NAME = %s",
                                (self.config.database, self.config.table) * 2)[0]
        needed = 2 * int(data or 0) + int(index or 0)
        free = _free_bytes(str(fetch_value(self.conn, "SELECT @@datadir") or ""), self.config.server)
        mib = 1024 * 1024
        if free is None:
            self.add("free_space", OK, "the change needs about %.0f MiB (ghost table and binlog); the server's free space is not "
                     "readable from here." % (needed / mib))
        elif free < needed:
            self.add("free_space", WARNING, "the change needs about %.0f MiB (ghost table and binlog); the data directory has %.0f MiB free."
                     % (needed / mib, free / mib), "free space on the server, or purge old binlogs, before the change.")
        else:
            self.add("free_space", OK, "the change needs about %.0f MiB; %.0f MiB free." % (needed / mib, free / mib))

    def side_tables(self) -> bool:
        """The ghost and old names fit and are free, or their leftovers are to be dropped; whether the names fit."""
        try:
            table_names(self.config.database, self.config.table)
        except DbferryError as exc:
            self.add("ghost_table", ERROR, exc.message, exc.fix)
            return False
        for name, name_format, option in (("ghost_table", GHOST_FORMAT, "initially_drop_ghost_table"),
                                          ("old_table", OLD_FORMAT, "initially_drop_old_table")):
            side = name_format % self.config.table
            obj = display_table(self.config.database, side)
            if not ghosts.exists(self.conn, self.config.database, side):
                self.add(name, OK, "%s is free." % obj, obj=obj)
            elif name == "old_table" and self.sentry_left(side, obj):
                continue
            elif getattr(self.config, option):
                self.add(name, OK, "%s exists and will be dropped (%s)." % (obj, option), obj=obj)
            else:
                self.add(name, ERROR, "%s exists, left over from an earlier change?" % obj,
                         "drop it (DROP TABLE %s) if it is, or set %s: true." % (quote_table(self.config.database, side), option), obj)
        return True

    def sentry_left(self, old: str, obj: str) -> bool:
        """Whether the old name holds a cut-over's sentry (its finding added): left empty by an interrupted cut-over, which
        the next one drops (cutover.py), or locked by one running now. False: a real table, for side_tables to judge."""
        try:
            if not leftover_sentry(self.conn, self.config.database, old):
                return False
        except Exception as exc:  # noqa: BLE001 - a lock wait timeout is the answer  # pylint: disable=broad-exception-caught
            if error_code(exc) != ER_LOCK_WAIT_TIMEOUT:
                raise
            self.add("old_table", ERROR, "%s is locked by another session: a cut-over of %s is running now." % (obj, self.obj),
                     ANOTHER_CUT_OVER_FIX, obj)
            return True
        self.add("old_table", OK, "%s is the empty sentry of an interrupted cut-over (marked '%s'); the cut-over drops it."
                 % (obj, SENTRY_COMMENT), obj=obj)
        return True

    def on_empty_copy(self, key: Optional[tuple[str, ...]]) -> None:
        """The ALTER applies to an empty copy; then what the new schema is (new_schema) and whether it is native."""
        try:
            with _empty_copy(self.conn, self.config.database, self.config.table) as copy:
                try:
                    algorithm = _try_native(self.conn, copy, self.config.alter)
                    if algorithm is None:
                        execute(self.conn, "ALTER TABLE %s %s" % (copy, self.config.alter))
                except Exception as exc:  # noqa: BLE001 - the server's refusal of the ALTER is the finding
                    if not is_database_error(exc):
                        raise
                    self.add("alter_applies", ERROR, "the ALTER fails on an empty copy of %s: %s" % (self.obj, error_text(exc)),
                             "correct the alter text (it is what follows ALTER TABLE %s)." % quote_ident(self.config.table))
                    return
                self.add("alter_applies", OK, "the ALTER applies to an empty copy of %s." % self.obj)
                name = CHECK_FORMAT % self.config.table
                self.found.new_create = ghosts.as_named(ghosts.show_create(self.conn, self.config.database, name), name, self.config.table)
                self.found.algorithm = algorithm
                self.new_schema(key)
                self.native(algorithm)
        except DbferryError as exc:  # the copy's name is taken (_empty_copy)
            self.add("alter_applies", ERROR, exc.message, exc.fix, exc.obj)
        except Exception as exc:  # noqa: BLE001 - creating (or dropping) the copy was refused: a finding too
            if not is_database_error(exc):
                raise
            self.add("alter_applies", ERROR, "the ALTER could not be tried on an empty copy of %s: %s" % (self.obj, error_text(exc)),
                     "give the login what the privileges check names, then check again.")

    def new_schema(self, key: Optional[tuple[str, ...]]) -> None:
        """The column mapping the change would use (plan.py: a key of the table kept, renames declared, ENUM members kept),
        an InnoDB table, and no foreign key added."""
        copy = CHECK_FORMAT % self.config.table
        if key is not None:
            self.column_mapping(copy)
        engine = fetch_value(self.conn, "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                                        "AND BINARY TABLE_SCHEMA = %s AND BINARY TABLE_NAME = %s", (self.config.database, copy) * 2)
        if engine not in TRANSACTIONAL_ENGINES:
            # the copy saves its cursor in the same transaction as the rows, and reads under shared row locks
            self.add("new_engine", ERROR, "the ALTER makes %s a %s table; an online change writes the new table transactionally (InnoDB)."
                     % (self.obj, engine), "change the engine natively, or leave ENGINE= out of the alter.")
        else:
            self.add("new_engine", OK, "the new table is InnoDB.")
        added = _foreign_keys(self.conn, self.config.database, copy)
        if added:
            self.add("foreign_keys", ERROR, "the ALTER adds foreign key %s; an online change of a child table is not supported yet."
                     % ", ".join(quote_ident(row[0]) for row in added),
                     "add the foreign key natively after the change.")

    def column_mapping(self, copy: str) -> None:
        _ghost, old = table_names(self.config.database, self.config.table)
        try:
            plan = build_plan(self.conn, self.config.database, self.config.table, copy, old, self.config.alter, self.config.rename_columns)
        except DbferryError as exc:
            self.add("column_mapping", ERROR, exc.message, exc.fix)
            return
        self.found.plan = plan
        renamed = ["%s -> %s" % (a, b) for a, b in plan.mapping.items() if a != b]
        self.add("column_mapping", OK, "copies %d column(s)%s%s%s; pages through both tables by key %s, which the new schema keeps "
                 "as %s." % (len(plan.mapping), "; renames " + ", ".join(renamed) if renamed else "",
                             "; drops " + ", ".join(plan.dropped) if plan.dropped else "",
                             "; adds " + ", ".join(plan.added) if plan.added else "",
                             self._key_words(self.config.table, plan.key), described_key(self.conn, self.config.database, copy, plan.ghost_key)))
        if not self.config.verify:
            self.unique_keys_unverified(copy, plan.mapping, plan.generated)

    def unique_keys_unverified(self, copy: str, mapping: dict[str, str], generated: tuple[str, ...]) -> None:
        """With verify off, no unique key that the original's rows may violate.

        The copy keeps the row the new table already has when another
        collides with it on a unique key (docs/design.md, step 2), and the
        applier's REPLACE evicts it: the verification is what tells such a
        loss from a collision that a later event repairs. Without it, a row
        that breaks a key the new schema adds would vanish.
        """
        database, table = self.config.database, self.config.table
        old_keys: list[UniqueKey] = list(unique_keys(self.conn, database, table).values())  # its primary key too
        # Copied columns by the mapping; a generated column keeps its name (it is recomputed, never copied).
        counterpart = {old.lower(): new.lower() for old, new in mapping.items()}
        counterpart.update({name.lower(): name.lower() for name in generated})
        old_columns, new_columns = _column_signatures(self.conn, database, table), _column_signatures(self.conn, database, copy)
        added = [(index, key) for index, key in unique_keys(self.conn, database, copy).items()
                 if unique_key_added(key, old_keys, counterpart, old_columns, new_columns)]
        for index, key in added:
            columns = ", ".join(quote_ident(c) + ("(%d)" % prefix if prefix else "") for c, prefix in key)
            self.add("unique_keys", ERROR, "verify is off and the new schema adds unique key %s (%s), which %s does not enforce: rows "
                     "that share its values would be copied as one, the others dropped." % (quote_ident(index), columns, self.obj),
                     VERIFY_UNIQUE_FIX, "%s (%s)" % (self.obj, index))
        if not added:
            self.add("unique_keys", OK, "verify is off; the new schema adds no unique key that %s does not enforce already." % self.obj)

    def native(self, algorithm: Optional[str]) -> None:
        if algorithm is None:
            self.add("native_algorithm", OK, "the server would copy the table (ALGORITHM=COPY) and block writes: the online change is the way.")
        elif self.config.attempt_instant_ddl:
            self.add("native_algorithm", OK, "the server can do this natively (%s); attempt_instant_ddl: true runs it so." % algorithm)
        else:
            self.add("native_algorithm", WARNING, "the server can do this natively (%s): attempt_instant_ddl: true runs it so." % algorithm,
                     "set attempt_instant_ddl: true, or run ALTER TABLE %s natively." % quote_table(self.config.database, self.config.table))


def _free_bytes(datadir: str, spec: Any) -> Optional[int]:
    """Free bytes of the file system of ``datadir`` when the server runs on this host and the folder is readable; else None."""
    local = spec.unix_socket or spec.host in ("localhost", "127.0.0.1", "::1")
    if not local or not datadir or not os.path.isdir(datadir):
        return None
    stat = os.statvfs(datadir)
    return stat.f_bavail * stat.f_frsize


def check_alter(conn: Any, config: AlterConfig) -> Preflight:
    """Every check of the change, in order, and what the empty copy told; raises nothing for what it finds
    (refuse_on_errors does)."""
    return _Checks(conn, config).run()
