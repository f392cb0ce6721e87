"""The cut-over of an online schema change: the ghost table takes the table's name in one atomic RENAME.

MariaDB refuses RENAME TABLE in a session that holds LOCK TABLES (error
1192), so two sessions share the work, and a third table, the sentry, keeps
the RENAME from running until everything is in order:

1. the sentry ``_<t>_del`` is created (a tiny marked table, not a copy of t);
2. the locker: ``LOCK TABLES t WRITE, _<t>_del WRITE`` and every table
   whose foreign keys reference t (its children, in any schema) WRITE: from
   here no other session can write or read t, so the binlog position read
   next is final for t, and no application transaction gets to hold t while
   it waits for the swap (under a READ lock, one that read t and then wrote
   it would deadlock against the RENAME, error 1213: its read lock keeps the
   RENAME out, and the waiting RENAME keeps its write out);
3. the locker reads the position and the caller's ``wait_applied`` brings the
   ghost up to it and verifies the keys changed since the last pass, reading
   t through the locker (the only session that can) and the ghost, which the
   applier writes unlocked until it has caught up, through its own;
4. the renamer, once step 3 is done (a failed wait then leaves no RENAME to
   end): ``RENAME TABLE t TO _<t>_del, ghost TO t``: it waits on the
   metadata locks the locker holds, and a waiting RENAME is served before
   the reads and writes that wait on t once t is released (measured on
   MariaDB 10.11), which then find the new table under the name;
5. the locker re-points the children at the ghost (one in-place ALTER
   each: InnoDB then carries them to t with the RENAME, so no child row is
   ever checked against ``_<t>_del``), drops the sentry, waits until the
   renamer holds every lock it needs but t's, and releases t and the
   children: the RENAME runs before any waiting write to t.

The renamer takes its metadata locks in the order of the names' bytes. For
a table whose name sorts after ``_`` (most names: ``_t_del`` < ``_t_gho`` <
``t``) it takes the sentry's and the ghost's before t's, so a session that
still reads the ghost when the sentry is dropped would leave the renamer
waiting on the ghost while writes to t go ahead; the RENAME would then move
them into ``_<t>_del``, lost (gh-ost issue 887; reproduced here). So step 5
drops the sentry only if no other session uses the ghost (a ``LOCK TABLES
... WRITE NOWAIT`` granted and released, before the re-pointing: locking a
table takes its children's locks too, and the locker holds them), and releases t only once a probe
that ignores waiting requests (``SHOW CREATE TABLE`` takes a high-priority
shared lock) finds the ghost held by the renamer. For a name that sorts
before ``_`` (``Orders``) the renamer waits on t first and neither is needed.

Before the release, anything that goes wrong (the lock not granted within
``lock_timeout``, the caller's wait too long, a session killed, a flag file)
ends the attempt the same way: the renamer's session is killed and seen gone,
the children pointed at t again through the locker (or, the locker gone, a
session of its own, writes having resumed), t released, the sentry dropped. After the release, a RENAME still waiting
for t at the deadline is killed as well (under the WRITE lock only a
session reading the catalog can hold t, briefly; the bound stays for any
other). Writes to t waited, none failed, and the original is in place; the
next attempt comes after a pause. If the process dies instead, its sessions
end with it: before the sentry is dropped the RENAME fails on it
(``_<t>_del`` exists), after that it completes the swap, which is then
whole (wait_applied is done); the only window left is a session that opens
the ghost in the milliseconds between the NOWAIT check and the DROP while
the process dies before the probe. A process that dies between the
re-pointing and the RENAME leaves the children on the ghost; the next run,
or ``state: absent``, puts them back first. Either the original or the new table
always has the name, and a sentry left behind is recognised by its comment,
dropped and reported by the next swap.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, TypeVar

from ..common.errors import DbferryError
from ..common.eventlog import EventLog
from ..common.identifiers import display_table, quote_table
from ..server.connection import (
    ServerSpec, close_quietly, connect, error_code, error_text, execute, fetch_all, fetch_value, is_database_error,
)
from ..server.error_codes import (
    CR_SERVER_GONE_ERROR, CR_SERVER_LOST, ER_CONNECTION_KILLED, ER_LOCK_WAIT_TIMEOUT, ER_NO_SUCH_THREAD, ER_SPECIFIC_ACCESS_DENIED_ERROR,
)
from . import foreign_keys
from . import ghost as ghosts

#: The sentry's table comment: how a later run tells a sentry left by a killed cut-over (safe to drop: it holds
#: no rows and only blocks a RENAME) from an old table of an earlier change (rows someone may still need).
SENTRY_COMMENT = "dbferry cut-over sentry"
#: The processlist state of a session waiting on a metadata lock (the renamer, and writes to a locked table).
METADATA_LOCK_WAIT = "Waiting for table metadata lock"
#: Pause before the second attempt; it doubles up to LONGEST_PAUSE, so a burst of long transactions can end
#: while sixty attempts still span minutes rather than hours.
FIRST_PAUSE = 0.5
LONGEST_PAUSE = 10.0
#: How often the processlist and the probe are read while the table is locked (each read takes about 1 ms).
POLL_SECONDS = 0.002
#: Errors that say a session is gone (a DBA's KILL, a dropped connection): the control session is then opened again.
SESSION_GONE = frozenset({ER_CONNECTION_KILLED, CR_SERVER_GONE_ERROR, CR_SERVER_LOST})
#: The control session's lock wait bound (seconds) for its own DDL: creating and dropping the sentry, dropping the
#: old table. Longer than a cut-over attempt's, since none of these blocks the application's writes to t.
CONTROL_LOCK_WAIT = 30
#: The fix when another cut-over of the same table holds its names.
ANOTHER_CUT_OVER_FIX = "let that change finish, or stop it, before running this one."
#: The most sessions a message names (the oldest transactions first).
MAX_BLOCKERS = 10
#: How much of a statement a message shows.
MAX_STATEMENT_CHARS = 200


@dataclass
class CutOverResult:
    """What a successful swap did; ``old_table`` is None when ok_to_drop_table dropped it."""

    attempts: int
    lock_seconds: float
    old_table: Optional[str]
    #: Things a later reader must know, e.g. a sentry left by an interrupted cut-over that this one dropped.
    warnings: list[str] = field(default_factory=list)
    #: The tables that referenced t, locked with it and re-pointed at the ghost just before the RENAME (shown names).
    children: list[str] = field(default_factory=list)


class _AttemptFailed(Exception):
    """An attempt ended before the swap, everything released and the original in place: another may succeed."""


def pause_before(attempt: int) -> float:
    """Seconds to wait before attempt number ``attempt`` (2, 3, ...): FIRST_PAUSE doubling up to LONGEST_PAUSE."""
    return min(LONGEST_PAUSE, FIRST_PAUSE * 2 ** max(0, attempt - 2))


def renamer_takes_before_table(table: str, names: Iterable[str]) -> list[str]:
    """Of ``names``, those whose metadata lock the RENAME takes before ``table``'s.

    The server sorts a statement's lock requests by their keys (schema and
    name as bytes, each ended by a zero byte) and takes them in that order.
    """
    def key(name: str) -> bytes:
        return name.encode("utf-8") + b"\0"
    return [name for name in names if key(name) < key(table)]


def lock_wait_seconds(seconds: float) -> int:
    """A session's lock_wait_timeout for a bound of ``seconds``: the server takes whole seconds, at least 1."""
    return max(1, int(math.ceil(seconds)))


def describe_session(row: dict[str, Any]) -> str:
    """One line naming a session that may hold the table: id, account, how long, what it runs."""
    statement = " ".join((row.get("statement") or "").split())
    if len(statement) > MAX_STATEMENT_CHARS:
        statement = statement[:MAX_STATEMENT_CHARS] + "..."
    if row.get("trx_seconds") is not None:
        age = "transaction open %s s" % row["trx_seconds"]
    else:
        age = "statement running %s s" % row.get("seconds", 0)
    doing = "running: %s" % statement if statement else "idle in its transaction"
    return "connection %s (%s@%s): %s, %s" % (row["id"], row.get("user"), row.get("host"), age, doing)


def mentions_table(statement: Optional[str], table: str) -> bool:
    """True when ``statement`` names ``table`` as a word (bare or backquoted)."""
    if not statement:
        return False
    return re.search(r"(?<![\w$])`?%s`?(?![\w$])" % re.escape(table), statement) is not None


def leftover_sentry(conn: Any, database: str, name: str) -> bool:
    """Whether ``database.name`` is a sentry that an interrupted cut-over left: marked with SENTRY_COMMENT and empty.

    Such a table only keeps a RENAME from running: dropping it loses
    nothing. A table with rows is someone's, whatever its comment. The rows
    are looked for with a lock wait of a second: a running cut-over's locker
    holds its sentry, and the caller gets that wait's error (1205) at once.
    Reads in an autocommit session, so that nothing holds the table after.
    """
    if ghosts.comment(conn, database, name) != SENTRY_COMMENT:
        return False
    return not fetch_value(conn, "SET STATEMENT lock_wait_timeout = 1 FOR SELECT 1 FROM %s LIMIT 1" % quote_table(database, name))


#: The sessions blockers() looks at; the statement and the transaction's age, and the join that gives them, filled in.
BLOCKERS_SQL = ("SELECT p.ID, p.USER, p.HOST, p.DB, p.COMMAND, p.TIME, p.STATE, %s FROM information_schema.PROCESSLIST p%s"
                " WHERE p.ID <> CONNECTION_ID()")
#: Those with the PROCESS privilege: every session, and the open transactions (INNODB_TRX needs PROCESS).
WITH_TRANSACTIONS = ("COALESCE(p.INFO, x.trx_query), TIMESTAMPDIFF(SECOND, x.trx_started, NOW())",
                     " LEFT JOIN information_schema.INNODB_TRX x ON x.trx_mysql_thread_id = p.ID")
#: Without it: the login's own sessions, their statements only.
STATEMENTS_ONLY = ("p.INFO, NULL", "")
#: The last line of blockers() without the PROCESS privilege.
NO_PROCESS_NOTE = ("(without the PROCESS privilege only this login's own sessions are seen, and no open transaction; "
                   "grant PROCESS to name the others)")


def blockers(conn: Any, database: str, table: str, *, exclude: Iterable[int] = ()) -> list[str]:
    """The sessions that may keep ``database.table`` from being locked, oldest first, as lines for messages.

    The server does not say who holds a table's metadata lock (that needs the
    metadata_lock_info plugin or performance_schema, both off by default), so
    this names every open InnoDB transaction (one that read or wrote t keeps
    its lock until it ends) and every statement running on t. Sessions that
    only wait for t are left out: they are the victims, not the cause.

    Without the PROCESS privilege the server shows a login its own sessions
    only and no transactions (INNODB_TRX is refused): the statements of the
    login's own sessions that run on t are named then, and a last line says
    that the others could not be seen.
    """
    notes = []
    try:
        try:
            rows = fetch_all(conn, BLOCKERS_SQL % WITH_TRANSACTIONS)
        except Exception as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
            if error_code(exc) != ER_SPECIFIC_ACCESS_DENIED_ERROR:
                raise
            rows = fetch_all(conn, BLOCKERS_SQL % STATEMENTS_ONLY)
            notes.append(NO_PROCESS_NOTE)
    except Exception as exc:  # noqa: BLE001 - a message without the list beats no message  # pylint: disable=broad-exception-caught
        return ["(the sessions could not be listed: %s)" % (error_text(exc) if is_database_error(exc) else exc)]
    skip = set(exclude)
    found = []
    for ident, user, host, db, command, seconds, state, statement, trx_seconds in rows:
        if ident in skip or command in ("Daemon", "Binlog Dump", "Killed"):
            continue
        on_table = command == "Query" and mentions_table(statement, table) and (db == database or mentions_table(statement, database))
        if trx_seconds is None and (not on_table or state == METADATA_LOCK_WAIT):
            continue
        found.append({"id": ident, "user": user, "host": host, "seconds": seconds, "trx_seconds": trx_seconds,
                      "statement": statement})
    found.sort(key=lambda row: -(row["trx_seconds"] if row["trx_seconds"] is not None else row["seconds"] or 0))
    return [describe_session(row) for row in found[:MAX_BLOCKERS]] + notes


Result = TypeVar("Result")


class _Control:
    """The session that creates and drops the sentry, reads the catalog and kills the renamer.

    It is opened again when it is gone: undoing an attempt (killing the
    renamer, dropping the sentry) must not fail for want of a session.
    """

    def __init__(self, spec: ServerSpec, lock_wait: int) -> None:
        self.spec = spec
        self.lock_wait = lock_wait
        self.conn: Any = None

    def session(self) -> Any:
        if self.conn is None:
            self.conn = connect(self.spec)
            # Its DDL must not wait for ever (the server's default is a day) behind a session that holds a name.
            execute(self.conn, "SET SESSION lock_wait_timeout = %d" % self.lock_wait)
        return self.conn

    def call(self, work: Callable[[Any], Result]) -> Result:
        """``work(session)``, once more on a new session if the first one turned out to be gone."""
        try:
            return work(self.session())
        except Exception as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
            if error_code(exc) not in SESSION_GONE:
                raise
        self.close()
        return work(self.session())

    def execute(self, sql: str, args: Any = None) -> int:
        return self.call(lambda conn: execute(conn, sql, args))

    def fetch_all(self, sql: str, args: Any = None) -> list[tuple]:
        return self.call(lambda conn: fetch_all(conn, sql, args))

    def fetch_value(self, sql: str, args: Any = None) -> Any:
        return self.call(lambda conn: fetch_value(conn, sql, args))

    def close(self) -> None:
        close_quietly(self.conn)
        self.conn = None


@dataclass(frozen=True)
class _Names:
    database: str
    table: str
    ghost: str
    old: str

    def sql(self, name: str) -> str:
        return quote_table(self.database, name)

    def shown(self, name: str) -> str:
        return display_table(self.database, name)


def _existing(control: _Control, names: _Names) -> dict[str, str]:
    """Which of t, the ghost and the old name exist now: name -> table comment."""
    rows = control.fetch_all("SELECT TABLE_NAME, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
                             " AND TABLE_NAME IN (%s, %s, %s)", (names.database, names.table, names.ghost, names.old))
    return {name: comment or "" for name, comment in rows}


def _renames_waiting(control: _Control, names: _Names) -> list[int]:
    """Sessions whose RENAME TABLE of t waits now: another cut-over of the same table, whose sentry must stay."""
    rows = control.fetch_all("SELECT ID, INFO FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()"
                             " AND COMMAND = 'Query' AND INFO LIKE 'RENAME TABLE%'")
    return [ident for ident, info in rows if mentions_table(info, names.table) and mentions_table(info, names.old)]


def _clear_old_name(control: _Control, names: _Names, initially_drop_old_table: bool, log: EventLog) -> list[str]:
    """Make sure the old name is free for the sentry; return the warnings for what was found there.

    Also refuses a pair that is not ready to swap: t or the ghost missing.
    """
    present = _existing(control, names)
    if names.table not in present:
        raise DbferryError("%s does not exist; the cut-over has no table to replace (present: %s)." % (
            names.shown(names.table), ", ".join(sorted(present)) or "none of the ghost and old tables"),
            obj=names.shown(names.table), fix="check the database and table names.")
    if names.ghost not in present:
        raise DbferryError("the ghost table %s does not exist, so there is nothing to swap with %s%s." % (
            names.shown(names.ghost), names.shown(names.table),
            " (%s exists: an earlier cut-over may have completed)" % names.shown(names.old) if names.old in present else ""),
            obj=names.shown(names.ghost), fix="run the change again from the start; it builds the ghost table.")
    if names.old not in present:
        return []
    waiting = _renames_waiting(control, names)
    if waiting:
        # Checked first: that cut-over's locker holds the old name, so even reading it would wait.
        raise DbferryError("another cut-over of %s is running: connection %s waits to rename it." % (
            names.shown(names.table), ", ".join(map(str, waiting))), obj=names.shown(names.table),
            fix=ANOTHER_CUT_OVER_FIX)
    try:
        sentry = control.call(lambda conn: leftover_sentry(conn, names.database, names.old))
    except Exception as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
        if error_code(exc) != ER_LOCK_WAIT_TIMEOUT:
            raise
        # A locker holds the old name while no RENAME waits yet: another cut-over, in its wait for the applier.
        raise DbferryError("another cut-over of %s is running: %s is locked by another session." % (
            names.shown(names.table), names.shown(names.old)), obj=names.shown(names.old), fix=ANOTHER_CUT_OVER_FIX) from None
    if sentry:
        control.execute("DROP TABLE %s" % names.sql(names.old))
        warning = ("%s was the sentry of a cut-over that was interrupted (the process or its session ended while %s was "
                   "locked); the original table had stayed in place. The sentry was dropped." % (
                       names.shown(names.old), names.shown(names.table)))
        log.event("cut_over_leftover_sentry", table=names.shown(names.table), sentry=names.shown(names.old), dropped=True)
        return [warning]
    if not initially_drop_old_table:
        raise DbferryError("%s exists: the old table of an earlier change of %s, or another table by that name; the cut-over "
                           "needs the name." % (names.shown(names.old), names.shown(names.table)), obj=names.shown(names.old),
                           fix="rename or drop it once you no longer need it, or set initially_drop_old_table.")
    control.execute("DROP TABLE %s" % names.sql(names.old))
    log.event("cut_over_old_table_dropped", table=names.shown(names.old), reason="initially_drop_old_table")
    return ["%s existed and was dropped (initially_drop_old_table)." % names.shown(names.old)]


def _abort_reason(names: _Names, panic_flag: Optional[str], stop: Optional[threading.Event]) -> Optional[DbferryError]:
    """The error that must end the cut-over now (panic flag file, stop asked), or None."""
    if panic_flag and os.path.exists(panic_flag):
        return DbferryError("the panic flag file %s exists: the cut-over of %s stopped; the original table is in place." % (
            panic_flag, names.shown(names.table)), obj=panic_flag,
            fix="remove the file, then run the change again; it resumes.")
    if stop is not None and stop.is_set():
        return DbferryError("the cut-over of %s was stopped before the swap; the original table is in place." % names.shown(names.table),
                            obj=names.shown(names.table), fix="run the change again; it resumes.")
    return None


def _wait_outside_lock(seconds: float, postpone_flag: Optional[str], names: _Names, panic_flag: Optional[str],
                       stop: Optional[threading.Event], log: EventLog) -> None:
    """Sleep ``seconds``, then on while the postpone flag file exists; nothing is locked. Panic and stop end it."""
    until = time.monotonic() + seconds
    postponed = False
    while True:
        reason = _abort_reason(names, panic_flag, stop)
        if reason is not None:
            raise reason
        flagged = bool(postpone_flag) and os.path.exists(postpone_flag or "")
        if flagged and not postponed:
            log.event("cut_over_postponed", table=names.shown(names.table), flag_file=postpone_flag)
        elif postponed and not flagged:
            log.event("cut_over_postpone_lifted", table=names.shown(names.table), flag_file=postpone_flag)
        postponed = flagged
        if not flagged and time.monotonic() >= until:
            return
        time.sleep(0.05 if not flagged else 0.2)


class _Renamer(threading.Thread):
    """A session that sends one statement and waits in it (the RENAME; the holder's LOCK TABLES of the children); its
    outcome is read after it ends."""

    def __init__(self, conn: Any, statement: str, name: str = "cut-over renamer") -> None:
        super().__init__(name=name, daemon=True)
        self.conn = conn
        self.statement = statement
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            execute(self.conn, self.statement)
        except BaseException as exc:  # pylint: disable=broad-exception-caught  # read by the attempt
            self.error = exc


def _outcome(pending: Optional[_Renamer]) -> str:
    """The error that ended ``pending``'s statement, for a message."""
    error = pending.error if pending is not None else None
    if error is None:
        return "no error"
    return error_text(error) if is_database_error(error) else str(error)


class _Attempt:
    """One try: sentry, lock, RENAME sent, caller's wait, release; or, on any failure before the release, undone."""

    def __init__(self, spec: ServerSpec, control: _Control, names: _Names, lock_timeout: float, log: EventLog, number: int) -> None:
        self.spec = spec
        self.control = control
        self.names = names
        self.lock_timeout = lock_timeout
        self.log = log
        self.number = number
        self.locker: Any = None
        self.renamer: Optional[_Renamer] = None
        self.renamer_id: Optional[int] = None
        self.locked_at: Optional[float] = None
        self.sentry_dropped = False
        #: The tables whose constraints on t are re-pointed at the ghost under the lock, (schema, table).
        self.children: list[tuple[str, str]] = []
        #: The re-pointing was sent: until the RENAME runs, the children reference the ghost and must be put back.
        self.repointed = False
        #: The session that takes the children from the locker at the release and holds them until the RENAME ended.
        self.holder: Optional[_Renamer] = None

    def run(self, wait_applied: Callable[[str, float, Any], None], abort: Callable[[], Optional[DbferryError]]) -> float:
        """Swap, and return the seconds writes to t were held; raise _AttemptFailed (undone) or an error that must stop the change."""
        names = self.names
        try:
            self.control.execute("CREATE TABLE %s (id INT NOT NULL PRIMARY KEY) ENGINE=InnoDB COMMENT='%s'" % (
                names.sql(names.old), SENTRY_COMMENT))
            # Read per attempt, before the lock: only the ALTERs run under it.
            keys = self.control.call(lambda conn: foreign_keys.children_of(conn, names.database, names.table))
            self.children = foreign_keys.child_tables(keys)
            repoint = self.control.call(lambda conn: foreign_keys.repoint_statements(conn, keys, names.database, names.ghost))
            # Both sessions are opened before the lock, so that connecting is not part of the time writes wait; each
            # has a read timeout beyond its lock wait bound, so that a lock wait ends in the server's error.
            self.locker = connect(self.spec, read_timeout=lock_wait_seconds(self.lock_timeout) + 30)
            execute(self.locker, "SET SESSION lock_wait_timeout = %d" % lock_wait_seconds(self.lock_timeout))
            renamer = self._open_renamer()
            self._open_holder()
            # Writes to t wait from the moment the LOCK TABLES request is queued, not only once it is granted.
            self.locked_at = time.monotonic()
            deadline = self.locked_at + self.lock_timeout
            # WRITE on t, not READ: an application transaction that read t before wanting to write it would hold
            # t against the RENAME while the RENAME holds its write back (a deadlock, 1213); WRITE keeps every other
            # session out of t until the swap. WRITE on the sentry, so the locker may drop it. WRITE on the children,
            # so the locker may re-point them, and no child row is written while they reference the ghost.
            execute(self.locker, "LOCK TABLES %s" % ", ".join("%s WRITE" % quote_table(*table) for table in (
                [(names.database, names.table), (names.database, names.old)] + self.children)))
            position = fetch_value(self.locker, "SELECT @@GLOBAL.gtid_binlog_pos") or ""
            self.log.event("cut_over_locked", attempt=self.number, table=names.shown(names.table), position=position,
                           locker_connection=self.locker.thread_id(), renamer_connection=self.renamer_id,
                           seconds=round(time.monotonic() - self.locked_at, 3), children=self.shown_children())
            # t can now be read only through the locker: the caller verifies through it.
            wait_applied(position, max(0.0, deadline - time.monotonic()), self.locker)
            self._check(deadline, abort, "bringing the ghost table up to the lock's position")
            # Sent only now, so that an attempt whose wait fails has no RENAME to end; the RENAME queues on the sentry
            # (or t) first, both held by the locker, and reaches for the ghost only once the sentry is dropped.
            self._send_rename(renamer, deadline, abort)
            self._wait_names_free(deadline, abort)
            # After that check: locking the ghost takes its children's locks too, which the locker holds from here.
            self._repoint(repoint, deadline, abort)
            if self.holder is not None:
                self._queue(self.holder, "waiting for the children's holder to queue", deadline, abort)
            execute(self.locker, "DROP TABLE %s" % names.sql(names.old))
            self.sentry_dropped = True
            self._wait_renamer_ready(deadline, abort)
            execute(self.locker, "UNLOCK TABLES")
        except BaseException as exc:
            self._undo()
            if self.sentry_dropped and self._swapped():
                # The locker's session ended between its DROP and its UNLOCK: the RENAME ran, and the swap is whole.
                return time.monotonic() - self.locked_at
            if isinstance(exc, _AttemptFailed) or (isinstance(exc, DbferryError) and exc.transient) \
                    or isinstance(exc, TimeoutError) or is_database_error(exc):
                raise _AttemptFailed(self._reason(exc)) from exc
            raise
        finally:
            close_quietly(self.locker)
        return self._rename_outcome(renamer, deadline)

    def shown_children(self) -> list[str]:
        return [display_table(*table) for table in self.children]

    def _repoint(self, statements: list[str], deadline: float, abort: Callable[[], Optional[DbferryError]]) -> None:
        """Under the lock, t's children pointed at the ghost: the RENAME carries them to t with it (InnoDB follows a
        renamed parent), so no child row is ever checked against ``_<t>_del``. One in-place ALTER per child, through
        the locker, which holds them all; each a DDL of its own (milliseconds), none started once the lock's time is
        up."""
        if not statements:
            return
        started = time.monotonic()
        self.repointed = True
        for statement in statements:
            self._check(deadline, abort, "re-pointing the children at the ghost")
            foreign_keys.run_statements(self.locker, [statement])
        self.log.event("cut_over_children_repointed", attempt=self.number, table=self.names.shown(self.names.table),
                       children=self.shown_children(), seconds=round(time.monotonic() - started, 3))

    def _holding(self) -> Any:
        """The holder's session once it holds the children (the locker has released them), else None."""
        holder = self.holder
        if holder is None or holder.ident is None:
            return None
        holder.join(self._renamer_lock_wait() + 5)
        return holder.conn if not holder.is_alive() and holder.error is None else None

    def _children_back(self, holding: Any) -> None:
        """A failed attempt's children pointed at t again, before any child is written when ``holding`` (a session
        that holds them: the locker, or the holder after the release) is given, else through the control session
        (child writes have resumed: both are gone). A child the attempt did not reach references t still: the server
        is read, not the attempt's list."""
        if not self.repointed:
            return
        names = self.names
        if holding is not None:
            try:
                back = foreign_keys.repoint(holding, names.database, names.ghost, names.table)
            except Exception as exc:  # noqa: BLE001 - left to the next session (_put_back_after_release)  # pylint: disable=broad-exception-caught
                if not is_database_error(exc):
                    raise
                return
        else:
            try:
                back = self.control.call(lambda conn: foreign_keys.repoint(conn, names.database, names.ghost, names.table))
            except Exception as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
                if not is_database_error(exc):
                    raise
                raise DbferryError("the cut-over of %s failed and putting its children back failed too (%s): %s may still "
                                   "reference the ghost %s." % (names.shown(names.table), error_text(exc),
                                                                ", ".join(self.shown_children()), names.shown(names.ghost)),
                                   obj=names.shown(names.table),
                                   fix="end the transactions that hold those tables, then run the change again (or remove it "
                                       "with state: absent): either puts them back first.") from exc
        self.repointed = False
        if back:
            self.log.event("cut_over_children_put_back", attempt=self.number, table=names.shown(names.table), children=back,
                           through="a session holding them" if holding is not None else "control")

    def _open_renamer(self) -> _Renamer:
        """The renamer's session, set up and idle until _send_rename."""
        names = self.names
        self.renamer = _Renamer(connect(self.spec, read_timeout=self._renamer_lock_wait() + 30), "RENAME TABLE %s TO %s, %s TO %s" % (
            names.sql(names.table), names.sql(names.old), names.sql(names.ghost), names.sql(names.table)))
        self.renamer_id = self.renamer.conn.thread_id()
        execute(self.renamer.conn, "SET SESSION lock_wait_timeout = %d" % self._renamer_lock_wait())
        return self.renamer

    def _open_holder(self) -> None:
        """The holder's session, when t has children, set up and idle until queued.

        Without it, UNLOCK TABLES would release the children with t, and the
        application could take a child before the RENAME takes InnoDB's lock
        on it (the RENAME of a parent locks its children in the engine,
        without their metadata locks): a transaction that wrote the child and
        then waits for t, which the RENAME holds, would hold the RENAME back
        until innodb_lock_wait_timeout (50 s) ends it, every write to t and
        the child waiting meanwhile (reproduced on MariaDB 10.11). Queued for
        the children before the release, the holder's LOCK TABLES is served
        before the application's writes (a waiting WRITE lock goes first).
        """
        if not self.children:
            return
        conn = connect(self.spec, read_timeout=self._renamer_lock_wait() + 30)
        self.holder = _Renamer(conn, "LOCK TABLES %s" % ", ".join("%s WRITE" % quote_table(*table) for table in self.children),
                               name="cut-over children's holder")
        execute(conn, "SET SESSION lock_wait_timeout = %d" % self._renamer_lock_wait())

    def _send_rename(self, renamer: _Renamer, deadline: float, abort: Callable[[], Optional[DbferryError]]) -> None:
        """Send the RENAME and wait until it waits on the metadata locks."""
        self._queue(renamer, "waiting for the RENAME to queue", deadline, abort)

    def _queue(self, pending: _Renamer, doing: str, deadline: float, abort: Callable[[], Optional[DbferryError]]) -> None:
        """Start ``pending``'s statement and wait until it waits on the metadata locks the locker holds."""
        pending.start()
        ident = pending.conn.thread_id()
        while self.control.fetch_value("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = %s", (ident,)) != METADATA_LOCK_WAIT:
            if not pending.is_alive():
                raise _AttemptFailed("the %s ended before the swap was ready: %s" % (
                    "RENAME" if pending is self.renamer else "children's LOCK TABLES", _outcome(pending)))
            self._check(deadline, abort, doing)
            time.sleep(POLL_SECONDS)

    def _put_back_after_release(self) -> None:
        """Children still on the ghost once the locker has let them go: put back through the holder, which took them
        from the locker, else through the control session; then released."""
        self._children_back(self._holding())
        self._children_back(None)
        self._release_holder()

    def _release_holder(self) -> None:
        """The children released, once the RENAME has ended (or the attempt is undone)."""
        holder, self.holder = self.holder, None
        if holder is None:
            return
        if holder.is_alive():
            holder.join(self._renamer_lock_wait() + 5)
        try:
            execute(holder.conn, "UNLOCK TABLES")
        except Exception:  # noqa: BLE001 - a session that is gone holds nothing  # pylint: disable=broad-exception-caught
            pass
        close_quietly(holder.conn)

    def _wait_names_free(self, deadline: float, abort: Callable[[], Optional[DbferryError]]) -> None:
        """Wait, with the sentry still standing, until no other session uses a name the renamer takes before t's.

        _wait_renamer_ready would wait for such a session too, but after the
        sentry is gone; should this process die then, the locker's session
        would end, t be released, and writes could reach t before the RENAME.
        Checked here with a write lock that is not waited for (granted, then
        released at once), that window is left with the few milliseconds
        between this check and the DROP.
        """
        for name in renamer_takes_before_table(self.names.table, (self.names.ghost,)):
            while True:
                try:
                    self.control.execute("LOCK TABLES %s WRITE NOWAIT" % self.names.sql(name))
                except Exception as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
                    if error_code(exc) != ER_LOCK_WAIT_TIMEOUT:
                        raise
                    self._check(deadline, abort, "another session used %s (a transaction that read it was still open)"
                                % self.names.shown(name))
                    time.sleep(POLL_SECONDS)
                    continue
                self.control.execute("UNLOCK TABLES")
                break

    def _wait_renamer_ready(self, deadline: float, abort: Callable[[], Optional[DbferryError]]) -> None:
        """Wait until the renamer holds every lock it takes before t's, so that t's release lets only the RENAME in.

        The probe takes a high-priority shared lock on the name with no wait:
        it is granted while the renamer only waits for the name (queued
        requests do not block it) and refused (1205) once the renamer holds it.
        """
        names = self.names
        for name in renamer_takes_before_table(names.table, (names.ghost,)):
            while True:
                try:
                    self.control.fetch_all("SET STATEMENT lock_wait_timeout = 0 FOR SHOW CREATE TABLE %s" % names.sql(name))
                except Exception as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
                    if error_code(exc) == ER_LOCK_WAIT_TIMEOUT:
                        break
                    raise
                if self.renamer is not None and not self.renamer.is_alive():
                    raise _AttemptFailed("the RENAME ended before the swap was ready: %s" % self._renamer_error())
                self._check(deadline, abort, "waiting for the RENAME to hold %s (another session uses it)" % names.shown(name))
                time.sleep(POLL_SECONDS)

    def _check(self, deadline: float, abort: Callable[[], Optional[DbferryError]], doing: str) -> None:
        reason = abort()
        if reason is not None:
            raise reason
        if time.monotonic() > deadline:
            raise _AttemptFailed("the lock timeout (%s s) passed while %s" % (self.lock_timeout, doing))

    def _undo(self) -> None:
        """Before t is released: end the RENAME for good, put the children back, release t, drop the sentry if it is
        still ours."""
        self._kill_renamer()
        if self.renamer is not None:
            close_quietly(self.renamer.conn)
        if self.locker is not None:
            self._children_back(self.locker)
            try:
                execute(self.locker, "UNLOCK TABLES")
            except Exception:  # noqa: BLE001 - a dead locker session has released its locks  # pylint: disable=broad-exception-caught
                pass
            close_quietly(self.locker)
        self._put_back_after_release()
        present = _existing(self.control, self.names)
        # Only a table with the sentry's mark: if the locker died just after its DROP, the RENAME may have run,
        # and the old name then holds the original table.
        if present.get(self.names.old) == SENTRY_COMMENT:
            self.control.execute("DROP TABLE IF EXISTS %s" % self.names.sql(self.names.old))

    def _swapped(self) -> bool:
        """True when the names show a completed swap: no ghost, and the old name holds a table that is not the sentry."""
        present = _existing(self.control, self.names)
        return self.names.ghost not in present and self.names.table in present \
            and present.get(self.names.old, SENTRY_COMMENT) != SENTRY_COMMENT

    def _renamer_lock_wait(self) -> int:
        """The renamer's lock_wait_timeout: twice the locker's, as gh-ost, so that the RENAME outlasts the locker's
        work; it is killed on a failure anyway."""
        return lock_wait_seconds(2 * self.lock_timeout)

    def _kill_renamer(self) -> None:
        """Kill the renamer's session if it still waits, and see it gone; refuse to go on otherwise."""
        if self.renamer is None or not self.renamer.is_alive():
            return
        try:
            self.control.execute("KILL CONNECTION %d" % self.renamer_id)
        except Exception as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
            if error_code(exc) != ER_NO_SUCH_THREAD:
                raise
        # The server ends a killed metadata lock wait at once (measured: the session is gone when KILL returns); in
        # any case the RENAME gives up by itself after its own lock wait bound, so t is released no sooner than that.
        until = time.monotonic() + self._renamer_lock_wait() + 5
        self.renamer.join(self._renamer_lock_wait() + 5)
        while self.control.fetch_value("SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = %s", (self.renamer_id,)):
            if time.monotonic() > until:
                raise DbferryError("the cut-over's RENAME (connection %s) did not end when killed nor at its lock wait timeout; "
                                   "%s is released now." % (self.renamer_id, self.names.shown(self.names.table)),
                                   obj=self.names.shown(self.names.table),
                                   fix="check that %s is the original table and %s the ghost before running the change again."
                                       % (self.names.shown(self.names.table), self.names.shown(self.names.ghost)))
            time.sleep(POLL_SECONDS)

    def _rename_outcome(self, renamer: _Renamer, deadline: float) -> float:
        """After the release: the RENAME ran (the swap), or it did not and t is the original (another attempt).

        The RENAME may still wait for t there: a session that reads the
        catalog may hold t briefly even under the WRITE lock. Its wait holds
        up every write to t, so at the deadline it is killed if it is still
        waiting (not once it runs); the names then tell whether it ran. Returns the seconds writes to t were held: from the LOCK TABLES
        request to the end of the RENAME, which the writes wait for too.
        """
        renamer.join(max(0.0, deadline - time.monotonic()))
        killed = False
        while renamer.is_alive():
            if self.control.fetch_value("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = %s",
                                        (self.renamer_id,)) == METADATA_LOCK_WAIT:
                self._kill_renamer()
                killed = True
            renamer.join(POLL_SECONDS)
        held = time.monotonic() - self.locked_at
        close_quietly(renamer.conn)
        if renamer.error is None or self._swapped():
            self._release_holder()
            return held
        self._put_back_after_release()
        if killed:
            raise _AttemptFailed("the RENAME did not get %s within the lock timeout (%s s): another session holds the table; "
                                 "the RENAME was ended and the original table left in place" % (
                                     self.names.shown(self.names.table), self.lock_timeout))
        raise _AttemptFailed("the RENAME failed after the release, the original table in place: %s" % self._renamer_error())

    def _renamer_error(self) -> str:
        return _outcome(self.renamer)

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, _AttemptFailed):
            return str(exc)
        if error_code(exc) == ER_LOCK_WAIT_TIMEOUT:
            return "%s was not locked within the lock timeout (%s s)" % (self.names.shown(self.names.table), self.lock_timeout)
        return error_text(exc) if is_database_error(exc) else str(exc) or type(exc).__name__


def _drop_old_table(control: _Control, names: _Names, log: EventLog, warnings: list[str]) -> Optional[str]:
    """Drop the old table after the swap (ok_to_drop_table); return its name if it is still there.

    The swap is done and whole by now, so a DROP that cannot get its lock (a
    transaction that read the original before the swap still holds it) is a
    warning, not a failure of the change.
    """
    try:
        control.execute("DROP TABLE %s" % names.sql(names.old))
    except Exception as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
        if not is_database_error(exc):
            raise
        warnings.append("the old table %s could not be dropped (%s); drop it when no session uses it." % (
            names.shown(names.old), error_text(exc)))
        log.event("cut_over_old_table_kept", table=names.shown(names.old), error=error_text(exc))
        return names.old
    log.event("cut_over_old_table_dropped", table=names.shown(names.old), reason="ok_to_drop_table")
    return None


def swap(spec: ServerSpec, database: str, table: str, ghost: str, old: str, *,
         lock_timeout: float, retries: int,
         wait_applied: Callable[[str, float, Any], None],
         log: EventLog, ok_to_drop_table: bool, initially_drop_old_table: bool,
         postpone_flag: Optional[str] = None, panic_flag: Optional[str] = None,
         stop: Optional[threading.Event] = None, after_rename: Optional[Callable[[], None]] = None) -> CutOverResult:
    """Give ``ghost`` the name ``table``, the original becoming ``old``; at most ``retries`` attempts.

    Each attempt blocks the table for at most about ``lock_timeout``
    seconds. ``wait_applied(position, seconds_left, locker)`` runs under the
    lock and raises TimeoutError (or a transient DbferryError) to end the
    attempt, or another DbferryError to stop the change (e.g. a verification
    difference); the original is in place either way. t is WRITE-locked:
    ``locker``, the session holding the lock, is the only one that can read
    it (and must neither write it nor unlock); the ghost is read from a
    session of the caller's, which must have no transaction open on it when
    wait_applied returns: the RENAME needs it next. The tables that reference
    t are locked with it and re-pointed at the ghost just before the RENAME,
    which carries them to t (foreign_keys.py). ``after_rename`` runs once the
    names are swapped, before the old table is dropped.
    """
    names = _Names(database, table, ghost, old)
    control = _Control(spec, max(CONTROL_LOCK_WAIT, lock_wait_seconds(lock_timeout)))
    try:
        warnings = _clear_old_name(control, names, initially_drop_old_table, log)
        attempt = 0
        while True:
            attempt += 1
            _wait_outside_lock(pause_before(attempt) if attempt > 1 else 0.0, postpone_flag, names, panic_flag, stop, log)
            log.event("cut_over_attempt", attempt=attempt, retries=retries, table=names.shown(table))
            current = _Attempt(spec, control, names, lock_timeout, log, attempt)
            try:
                lock_seconds = current.run(wait_applied, lambda: _abort_reason(names, panic_flag, stop))
                break
            except _AttemptFailed as failed:
                named = control.call(lambda conn: blockers(conn, database, table, exclude=(conn.thread_id(),)))
                log.event("cut_over_attempt_failed", attempt=attempt, table=names.shown(table), reason=str(failed),
                          blockers=named)
                if attempt >= retries:
                    raise DbferryError("the cut-over of %s failed %d time(s), the original table in place; last: %s.%s" % (
                        names.shown(table), attempt, failed,
                        " Sessions that may hold the table: %s." % "; ".join(named) if named else ""),
                        obj=names.shown(table),
                        fix="end or shorten those transactions, or raise cut_over_lock_timeout_seconds or default_retries; "
                            "then run the change again: it resumes.") from failed
        log.event("cut_over_swapped", attempt=attempt, table=names.shown(table), lock_seconds=round(lock_seconds, 3),
                  old_table=names.shown(old), children=current.shown_children())
        kept: Optional[str] = old
        if after_rename is not None:
            after_rename()
        if ok_to_drop_table:
            kept = _drop_old_table(control, names, log, warnings)
        return CutOverResult(attempts=attempt, lock_seconds=lock_seconds, old_table=kept, warnings=warnings,
                             children=current.shown_children())
    finally:
        control.close()
