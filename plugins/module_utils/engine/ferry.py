"""A move from start to "caught up": prepare, then copy and apply until stopped.

First of all, the move's lock on the target is taken, and held until the end
(target_lock.py): one agent per move, whatever its state folder or host.

Prepare (once per move, resumable):
  check that binlog.server_id is the agent's own, not the source's nor a
  replica's (replica_id.py), and that no moved table has a cascading
  foreign key the applier cannot follow (cascades.py) nor one whose name
  its target schema would hold twice (foreign_keys.py), before anything is
  written; then
  record the move on the target (phase ``preparing``), create the target
  tables from the source definitions, read the source position P0, record
  it as the start and applied position (phase ``copying``). P0 is read
  after the tables exist and before any row is read (docs/design.md step 1);
  a table whose definition changed between reading it and P0 undoes the
  start (the tables it made are dropped) and is refused: that DDL is in no
  binlog event after P0.
Run:
  the applier streams every transaction after the applied position; copier
  workers copy the table ranges not done from their cursors. ``stop`` ends both at
  a checkpoint. A restart (after Ctrl-C, kill -9, a lost server) resumes
  from what the target's ``_dbferry`` schema holds. With ``verify.inline`` a
  re-verifier thread runs too (inline.py). A thread of throttle checks holds
  copy and apply, or stops the move, by load, lag and flag files
  (throttle_checks.py); hooks run at the move's events (hooks.py).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator, Optional

from . import state
from .applier import ApplyHook, apply_binlog
from ..binlog.changes import Transaction
from ..config.move_config import MoveConfig
from ..server.connection import close_quietly, connect, error_text, fetch_all, fetch_value
from .copier import CopyHook, TableCopier
from .cascades import CascadePlan, read_followed
from .foreign_keys import refuse_name_conflicts
from .key_ranges import choose_bounds
from .keys import key_for_output
from ..common.errors import DbferryError
from ..common.eventlog import EventLog
from ..common.workers import WorkerPool
from ..server.flavor import Flavor, detect_flavor, refuse_unsupported_source
from ..controls.hooks import Hooks
from ..verify.inline import Reverifier
from ..common.retry import Backoff, is_transient
from .tables import MovedTable, check_target_tables, create_target_tables, drop_target_tables, read_tables, source_definitions
from .selection import unmatched_error
from ..binlog.replica_id import check_server_id
from .status import Status, observe_source
from .target_lock import TargetLock
from ..controls.throttle import PAUSE, Throttle
from ..controls.throttle_checks import ThrottleChecks
from ..config.tunables import Tunables


#: How often a "progress" line goes to the log (the status file is updated twice a second); one goes at each change of
#: phase too, so that a report (dbferry report) of a move shorter than this still has the copy's start and end.
PROGRESS_LOG_SECONDS = 10.0


class Ferry:
    """One move's engine."""

    def __init__(self, config: MoveConfig, log: EventLog, copy_hook: Optional[CopyHook] = None,
                 on_status: Optional[Callable[[dict], None]] = None, apply_hook: Optional[ApplyHook] = None,
                 reverify_hook: Optional[Callable[[], None]] = None) -> None:
        self.config = config
        self.log = log
        self.copy_hook = copy_hook
        self.apply_hook = apply_hook
        #: Called before each re-verifier pass (inline only). Tests hold the re-verifier here.
        self.reverify_hook = reverify_hook
        self.on_status = on_status
        self._last_progress_log = 0.0
        self._last_progress_phase: Optional[str] = None
        #: What holds copy and apply (operator, load checks, flag files), and the batch sizes and limits in force.
        self.throttle = Throttle()
        self.tunables = Tunables.of(config)
        self.status = Status(config.name, config.inline, self.throttle, self.tunables)
        self.hooks = Hooks(config, log)
        self._last_status_hook = 0.0
        self.errors: list[BaseException] = []
        self._halt = threading.Event()
        #: The move's lock on the target, held from the start of run() to its end: one agent per move (target_lock.py).
        self.target_lock = TargetLock(config.target, config.name)
        #: The cascading foreign keys the applier follows (cascades.py), read by prepare().
        self.cascades: Optional[CascadePlan] = None

    # -- prepare -------------------------------------------------------------

    def prepare(self) -> tuple[Flavor, list[MovedTable], state.MoveState]:
        """Create or resume the move's state; return the source flavor, the tables and the state."""
        source = connect(self.config.source)
        target = connect(self.config.target, autocommit=False)
        try:
            flavor = detect_flavor(source)
            refuse_unsupported_source(flavor, "moves")
            if not check_server_id(source, self.config.server_id, self.config.source.describe()):
                self.log.event("server_id_replicas_unchecked", server_id=self.config.server_id,
                               reason="the source user may not list replicas (SHOW SLAVE HOSTS needs REPLICATION MASTER ADMIN)")
            # Every refusal comes before the first write to the target (the state schema included).
            self._check_selection(source)
            tables = read_tables(source, self.config)
            followed = read_followed(source, [(t.schema, t.name) for t in tables])
            self.cascades = CascadePlan(followed, tables, flavor.shared_lock_clause)
            outside = refuse_name_conflicts(source, target, {(t.schema, t.name): (t.target_schema, t.target_name) for t in tables})
            recorded = state.load(target, self.config.name)
            if recorded is not None and recorded.config_digest != self.config.digest:
                raise DbferryError(
                    "move %s was started with another configuration (servers, selection or renames differ)." % self.config.name,
                    obj=self.config.name, fix="run it with the configuration it was started with, or remove the move and start over.")
            if recorded is not None and recorded.phase == state.COMPLETE:
                raise DbferryError("move %s was cut over already." % self.config.name, obj=self.config.name,
                                   fix="remove it (dbferry.mysql.agent state: absent) before moving the same data again.")
            if recorded is None:
                # Refuse unusable target tables before anything is recorded or created (the state schema too).
                existing = check_target_tables(source, target, tables, self.config.reuse_target)
                bounds = self._range_bounds(source, tables)
                state.ensure_schema(target)
                state.create(target, self.config.name, self.config.digest, tables, bounds)
                target.commit()
                self.log.event("prepare", tables=len(tables), reused=[t.source for t in existing],
                               ranges={t.source: len(bounds[(t.schema, t.name)]) + 1 for t in tables if bounds.get((t.schema, t.name))})
            else:
                state.upgrade_schema(target)  # a move started by an earlier version resumes in this version's layout
                target.commit()
                self._check_recorded_tables(tables, recorded, state.read_move_tables(target, self.config.name))
            if recorded is None or recorded.phase == "preparing":
                # Tables made by an interrupted prepare are ours and still empty: reuse them.
                existing = check_target_tables(source, target, tables, reuse_target=True)
                if outside:
                    self.log.event("foreign_keys_outside", keys=["%s on %s -> %s" % (k.name, k.child, k.parent) for k in outside],
                                   note="created naming the parent's source table; not enforced on the target until the cutover checks it")
                definitions = source_definitions(source, tables)
                created = create_target_tables(source, target, tables, existing)
                start = fetch_value(source, flavor.gtid_position_sql) or ""
                self._refuse_tables_changed_before_p0(source, target, tables, definitions, [t for t in tables if t not in existing])
                state.start(target, self.config.name, start)
                target.commit()
                self.log.event("start_position", position=start, created_tables=created)
            recorded = state.load(target, self.config.name)
            if self.config.inline:
                state.begin_inline(target, recorded)
                target.commit()
            return flavor, tables, recorded
        finally:
            close_quietly(source, target)

    def _prepare_reconnecting(self, stop: threading.Event) -> tuple[Flavor, list[MovedTable], state.MoveState]:
        """prepare() and the status's row estimates, tried again after a lost connection (a killed session, a server
        restart), as the copy and the applier are: a move must not die of one KILL in its first second.

        Trying again is safe at any point of prepare(): a move recorded as ``preparing`` takes the tables an interrupted
        try made (still empty) and reads a new start position; one recorded with its start position only resumes.
        """
        backoff = Backoff("preparing move %s" % self.config.name)
        while True:
            try:
                flavor, tables, recorded = self.prepare()
                self._estimate(tables, recorded)
                return flavor, tables, recorded
            except Exception as exc:  # noqa: BLE001 - transient ones are tried again, the rest re-raised
                if not is_transient(exc) or stop.is_set():
                    raise
                self.log.event("prepare_retry", error=error_text(exc))
                backoff.failed(exc)

    def _range_bounds(self, source: Any, tables: list[MovedTable]) -> dict[tuple[str, str], list]:
        """The keys between the ranges of each table big enough to copy in several (key_ranges.py), chosen once: the
        move records them, and its restarts copy the same ranges."""
        estimates = _estimated_rows(source)
        return {(t.schema, t.name): choose_bounds(source, t, self.config.ranges, estimates.get(t.source, 0), self.config.range_min_rows)
                for t in tables}

    def _check_selection(self, source: Any) -> None:
        """Refuse an include entry that matches nothing on the source: the move would move less than it was told, silently."""
        schemas = [row[0] for row in fetch_all(source, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")]
        tables = fetch_all(source, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES")
        unmatched = self.config.selection.unmatched_includes(schemas, tables)
        if unmatched:
            raise unmatched_error(*unmatched[0])

    def _refuse_tables_changed_before_p0(self, source: Any, target: Any, tables: list[MovedTable], definitions: dict[str, str],
                                         created: list[MovedTable]) -> None:
        """Refuse a start whose tables changed on the source between reading them and P0.

        The target tables must have the shape the source's rows have at P0
        (docs/design.md step 1): a DDL committed before P0 is in no binlog
        event the DDL stop sees, so a column added meanwhile would be left out
        of every copied row without a word, and a cascade added meanwhile
        would not have been refused. Compared after P0, by the tables'
        columns (read_tables) and their whole definitions; on a change the
        tables made by this start (ours, empty) are dropped, so that the next
        start makes them again from the new definitions.
        """
        now = read_tables(source, self.config)
        changed = {t.source for t in tables if t not in now} | {t.source for t in now if t not in tables}
        changed |= {name for name, ddl in source_definitions(source, now).items() if definitions.get(name) != ddl}
        if not changed:
            return
        drop_target_tables(target, created)
        self.log.event("tables_changed_before_start", tables=sorted(changed), dropped=[t.target for t in created])
        raise DbferryError("table(s) %s changed on the source while move %s was preparing (a DDL between reading the tables and the "
                           "start position)." % (", ".join(sorted(changed)), self.config.name), obj=", ".join(sorted(changed)),
                           fix="start the move again: nothing was copied, and the target tables this start created were dropped.")

    def _check_recorded_tables(self, tables: list[MovedTable], recorded: state.MoveState, recorded_tables: list[MovedTable]) -> None:
        """Refuse tables the selection matches now that the move did not record when it started, and tables whose key
        (chosen again at every start, key_choice.py) is not the one their cursors were recorded by: a unique key added
        or dropped while the agent was stopped would make a cursor of one key bound another's column, and the rows
        between would never be copied."""
        missing = sorted({t.source for t in tables} - {"%s.%s" % k for k in recorded.cursors})
        if missing:
            raise DbferryError("table(s) %s match the selection but were not part of move %s when it started." % (
                ", ".join(missing), self.config.name), obj=", ".join(missing),
                fix="exclude them with tables.exclude, or start a new move for them.")
        keys = {(t.schema, t.name): t.key for t in recorded_tables}
        changed = [t for t in tables if keys[(t.schema, t.name)] != t.key]
        if changed:
            raise DbferryError("the key of table(s) %s is not the one move %s copies them by (%s): a unique or primary key was added "
                               "or dropped since it started." % (", ".join(t.source for t in changed), self.config.name, "; ".join(
                                   "%s: recorded (%s), now (%s)" % (t.source, ", ".join(keys[(t.schema, t.name)]), ", ".join(t.key))
                                   for t in changed)),
                               obj=", ".join(t.source for t in changed),
                               fix="restore the keys the tables had when the move started, or remove the move and start it again.")

    # -- run -----------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Copy and apply until ``stop`` is set or something fails (then log, publish and raise it)."""
        try:
            self.target_lock.take()  # before anything is written: a second agent of the move stops here
            self._run(stop)
        except BaseException as exc:
            self.status.failed(exc)
            snapshot = self.status.publish(self.config.state_dir)
            self.log.event("failed", error=str(exc))
            self.hooks.fire("on-failure", snapshot, str(exc))
            self.hooks.close()
            raise
        finally:
            self.target_lock.release()
        self.hooks.close()
        self.status.stopped()
        self.status.publish(self.config.state_dir)
        self.log.event("stopped", applied_position=self.status.applied_position)

    def _run(self, stop: threading.Event) -> None:
        self.hooks.check()
        flavor, tables, recorded = self._prepare_reconnecting(stop)
        self.status.applied(recorded.applied_position, None, 0)
        self.log.event("run", applied_position=recorded.applied_position,
                       tables_left=sum(1 for c in recorded.cursors.values() if not c.done))
        self.hooks.fire("on-start", self.status.snapshot())
        self._last_status_hook = time.monotonic()
        # One check before any thread starts: a cause present at start holds (or stops) the move before its first batch.
        checks = ThrottleChecks(self.config, self.throttle, self.tunables, self.log)
        checks.check()
        threads = [self._thread("throttle-checks", checks.run, self._halt),
                   self._thread("applier", self._apply, flavor, tables, recorded.applied_position)]
        # Each range of a table is an item of its own: the copier threads copy ranges of one table at the same time.
        to_copy = [(table, cursor) for table in tables for cursor in recorded.ranges[(table.schema, table.name)] if not cursor.done]
        copiers = WorkerPool("copier", self.config.concurrency, to_copy, lambda pending: self._copy_tables(flavor, pending),
                             stop=self._halt, failed=self.errors.append).start()
        if self.config.inline:
            threads.append(self._thread("reverifier", Reverifier(self.config, flavor, tables, self.status, self._before_reverify).run, self._halt))
        source = None
        try:
            while not (stop.is_set() or self._halt.is_set()):
                self.target_lock.check()  # a lost lock session is taken again, or every writer stops
                try:
                    source = source or connect(self.config.source)
                    self._observe(source, flavor)
                except Exception as exc:  # noqa: BLE001 - status only: reconnect on the next tick
                    if not is_transient(exc):
                        raise
                    close_quietly(source)
                    source = None
                stop.wait(0.5)
        finally:
            self._halt.set()
            for thread in threads:
                thread.join()
            copiers.join()  # raises nothing: its errors are in self.errors
            close_quietly(source)
        if self.errors:
            raise self.errors[0]

    def _thread(self, name: str, target: Any, *args: Any) -> threading.Thread:
        def guarded() -> None:
            try:
                target(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to run(), which stops the move  # pylint: disable=broad-exception-caught
                self.errors.append(exc)
                self._halt.set()

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        return thread

    def _before_reverify(self) -> None:
        """The re-verifier waits while the operator pauses the move; throttling lets it run (its reads are light)."""
        while self.throttle.holds(PAUSE) and not self._halt.wait(0.2):
            pass
        if self.reverify_hook is not None:
            self.reverify_hook()

    def _apply(self, flavor: Flavor, tables: list[MovedTable], position: str) -> None:
        apply_binlog(self.config, flavor, tables, position, self._applied, self.throttle, self.tunables, self._halt,
                     self.apply_hook, self._apply_event, cascades=self.cascades)

    def _apply_event(self, event: str, **fields: Any) -> None:
        """The binlog stream's and applier's events, logged; cascaded rows still to re-copy are shown in the status too
        (verification and the cutover wait for them, and an operator wants to see why)."""
        self.log.event(event, **fields)
        if event == "recopy_pending":
            self.status.recopy_pending_rows(fields["rows"])

    def _applied(self, batch: list[Transaction], changes: int) -> None:
        last = batch[-1]  # the status shows where the applier is: the batch's last transaction, and every change of it
        self.status.applied(last.position, last.timestamp, changes)

    def _copy_tables(self, flavor: Flavor, pending: Iterator[tuple[MovedTable, state.Cursor]]) -> None:
        """One copier thread: copies the table ranges it takes, one at a time, from their cursors."""
        for table, cursor in pending:
            self.log.event("copy_table", table=table.source, range=cursor.range_no,
                           resume_after=None if cursor.last_key is None else key_for_output(cursor.last_key),
                           range_end=None if cursor.range_end is None else key_for_output(cursor.range_end))
            TableCopier(self.config, flavor, table, cursor, self._copied, self.throttle, self.tunables, self.copy_hook,
                        self.status.batch_times).run(self._halt)

    def _copied(self, table: MovedTable, range_no: int, rows: int, done: bool) -> None:
        table_done, completed = self.status.copied(table.source, rows, done, range_no)
        if done:
            self.log.event("range_copied", table=table.source, range=range_no)
        if table_done:
            self.log.event("table_copied", table=table.source, rows=self.status.tables[table.source]["copied"])
        if completed:
            self.log.event("copy_complete")
            self.hooks.fire("on-copy-complete", self.status.snapshot())

    def _estimate(self, tables: list[MovedTable], recorded: state.MoveState) -> None:
        source = connect(self.config.source)
        try:
            estimates = _estimated_rows(source)
        finally:
            close_quietly(source)
        for table in tables:
            ranges = recorded.ranges[(table.schema, table.name)]
            self.status.add_table(table.source, estimates.get(table.source, 0), sum(c.rows_copied for c in ranges), all(c.done for c in ranges),
                                  [(c.rows_copied, c.done) for c in ranges])

    def _observe(self, source: Any, flavor: Flavor) -> None:
        """Read the source's position and clock for the lag figures, and publish the status."""
        observe_source(source, flavor, self.status)
        snapshot = self.status.publish(self.config.state_dir)
        if self.on_status is not None:
            self.on_status(snapshot)
        if time.monotonic() - self._last_status_hook >= self.config.hooks_status_seconds:
            self._last_status_hook = time.monotonic()
            self.hooks.fire("on-status", snapshot)
        if time.monotonic() - self._last_progress_log >= PROGRESS_LOG_SECONDS or snapshot["phase"] != self._last_progress_phase:
            self._last_progress_log = time.monotonic()
            self._last_progress_phase = snapshot["phase"]
            self.log.event("progress", **{k: snapshot[k] for k in (
                "phase", "rows_copied", "rows_estimated", "rows_per_second", "eta_seconds", "lag_seconds", "lag_events", "applied_position")})


def _estimated_rows(source: Any) -> dict[str, int]:
    """``schema.table`` -> the source's estimate of its rows (information_schema: InnoDB's sample, cheap, not exact)."""
    return {("%s.%s" % (s, t)): int(n or 0) for s, t, n in fetch_all(
        source, "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'")}
