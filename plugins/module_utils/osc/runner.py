"""An online schema change from start to swap, in the calling process (the module and ``dbferry alter`` call run_alter).

1. The change's named lock (engine/target_lock.py, under its state name):
   one run per table, a second fails at once naming the holder.
2. Idempotence: a table that already has the change is left alone
   (already_applied); preflight (checks.py) refuses before anything is written.
3. Prepare, once, resumable: the state is recorded (phase ``preparing``),
   the ghost created (ghost.py), the column mapping read (plan.py), the start
   position P0 read and recorded (phase ``copying``). A run that finds its
   own recorded state resumes from it.
4. Copy (copy.py) and apply (engine/applier.py through apply_binlog, from the
   recorded position) side by side, with the throttle checks (load, lag,
   throttle query, throttle and panic flag files) and the status.
5. Once copied and caught up: the postpone flag file is waited for; the
   verification (verify.py) compares the whole table by key range, then the
   rows changed during that pass once more (_recheck), and again just before
   the lock, each round putting back the rows missing from the ghost
   (missing.py); the swap
   (cutover.py) blocks the table's writes, waits until every event before its
   lock is applied (wait_applied) and swaps the names. The change's record is
   then marked complete (already_applied reads it).

What the engine's pieces read of a move's configuration (the applier, the
throttle checks, the hooks, the run-time settings) comes from a real
MoveConfig built for the change (``engine_config``), whose source and
target are the one server.
"""

from __future__ import annotations

import hashlib
import math
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

from ..binlog import gtid
from ..binlog.assembler import DdlOnMovedTable
from ..binlog.changes import Transaction
from ..common.errors import DbferryError
from ..common.eventlog import EventLog
from ..common.identifiers import display_table, quote_ident, quote_table
from ..common.retry import is_transient
from ..common.workers import WorkerPool
from ..config.alter_config import AlterConfig
from ..config.move_config import MoveConfig, default_server_id
from ..config.options import BY_KEY
from ..config.tunables import Tunables
from ..controls.hooks import Hooks
from ..cutover.auto_increment import raise_counters
from ..controls.throttle import Throttle
from ..controls.throttle_checks import ThrottleChecks
from ..engine import state
from ..engine.selection import STATE_SCHEMA
from ..engine.applier import apply_binlog
from ..engine.selection import Selection
from ..engine import status as engine_status
from ..engine.status import Status, observe_source
from ..engine.tables import MovedTable
from ..engine.target_lock import TargetLock
from ..preflight.report import WARNING
from ..server.connection import close_quietly, connect, error_code, error_text, execute, fetch_value, is_database_error
from ..server.error_codes import ER_LOCK_WAIT_TIMEOUT
from ..server.flavor import Flavor, detect_flavor, refuse_unsupported_source
from . import foreign_keys
from . import ghost as ghosts
from . import replica
from .checks import NATIVE_CLAUSES, check_alter, refuse_on_errors
from .copy import ChunkCopy, ChunkHook, largest_chunk_rows, recorded_ranges
from .parallel_copy import copy_in_ranges, range_bounds
from .missing import Bound, holders, missing_among, missing_keys, restore, unique_values
from .cutover import SENTRY_COMMENT, blockers, lock_wait_seconds, swap
from ..engine.keys import KeyValue, key_for_output
from .plan import AlterPlan, alter_name, build_plan, original_key, table_names
from .verify import compare_keys, compare_ranges, failure_message, not_written, shown_key

#: How often the status is published and a "progress" line logged at most.
STATUS_SECONDS = 0.5
PROGRESS_LOG_SECONDS = 10.0
#: Rounds of "catch up, compare the differing keys again" before the cut-over: a row that differs after them and was
#: not written meanwhile is a real difference.
RECHECK_ROUNDS = 3
#: Rows to compare under the cut-over's lock at most, when further rounds before it can bring them down.
PENDING_UNDER_LOCK = 1000
#: Keys written while the change waits for its cut-over that are compared at once rather than kept for the comparison
#: before the swap (about 70 MB of them): a wait of hours on a busy table keeps the memory it needs bounded.
KEYS_WHILE_WAITING = 1_000_000
#: The fix of a verification difference.
DIFFERENCE_FIX = ("see the rows named: the new schema does not hold them as the original does (a new UNIQUE key they violate, a "
                  "conversion); correct the ALTER or the rows, then remove the change (state: absent) and run it again.")


@dataclass
class AlterResult:
    """What a change did (the module returns it as is)."""

    changed: bool
    old_create: str
    new_create: str
    mapping: dict[str, str]
    dropped: list[str]
    added: list[str]
    rows_copied: int = 0
    events_applied: int = 0
    seconds: float = 0.0
    cut_over_lock_seconds: Optional[float] = None
    cut_over_attempts: int = 0
    retries: int = 0
    old_table: Optional[str] = None
    instant: Optional[str] = None
    #: test_on_replica: the change was rehearsed on a replica and undone there (the table keeps its schema).
    rehearsal: bool = False
    warnings: list[str] = field(default_factory=list)
    #: What the change does (check mode) or did with the foreign keys from and to the table (osc/foreign_keys.py).
    foreign_keys: list[str] = field(default_factory=list)


def config_digest(config: AlterConfig) -> str:
    """What makes a change this change: the server, the table, the ALTER and the renames (a resume must match it)."""
    server = config.server
    identity = {"server": [server.host, server.port, server.unix_socket], "table": [config.database, config.table],
                "alter": config.alter, "rename_columns": sorted(config.rename_columns.items())}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def engine_config(config: AlterConfig, name: str) -> MoveConfig:
    """The MoveConfig the engine's pieces read (module docstring): source and target are the server; a move's settings
    that an alter has no option for keep their declared defaults (options.py)."""
    def default(key: str) -> Any:
        return BY_KEY[key].default

    return MoveConfig(
        name=name, source=config.server, target=config.server,
        selection=Selection.from_options({"include": [config.database]}, {"include": ["%s.%s" % (config.database, config.table)]}),
        rename_databases={}, rename_tables={},
        batch_rows=config.chunk_size, concurrency=1, read_ahead=0, writers=1, ranges=1,
        range_min_rows=default("copy.range_min_rows"), batch_events=config.dml_batch_size,
        server_id=config.server_id or default_server_id(name),
        heartbeat_seconds=default("binlog.heartbeat_seconds"), stall_seconds=default("binlog.stall_seconds"),
        state_dir=config.state_dir, reuse_target=False, inline=False,
        max_load=config.max_load, critical_load=config.critical_load,
        critical_load_interval_millis=default("critical_load_interval_millis"),
        throttle_control_replicas=config.throttle_control_replicas, max_lag_millis=config.max_lag_millis,
        throttle_query=config.throttle_query, throttle_flag_file=config.throttle_flag_file, panic_flag_file=config.panic_flag_file,
        postpone_cutover_flag_file=config.postpone_cut_over_flag_file, throttle_check_seconds=default("throttle_check_seconds"),
        hooks_path=config.hooks_path, hooks_status_seconds=default("hooks_status_seconds"),
        hooks_timeout_seconds=float(config.hooks_timeout_seconds), digest=config_digest(config))


def _lock(config: AlterConfig, name: str) -> TargetLock:
    """The change's named lock, taken; a second run for the same table fails here, naming the session that holds it."""
    try:
        return TargetLock(config.server, name).take()
    except DbferryError as exc:
        raise DbferryError("another run of the change of %s holds its lock: %s" % (display_table(config.database, config.table), exc.message),
                           obj=display_table(config.database, config.table),
                           fix="wait for that run to end (or stop it); a new run resumes the change from its checkpoints.") from None


def _same_as_altered(conn: Any, config: AlterConfig, source: Optional[str] = None) -> bool:
    """Whether the ALTER applied to an empty copy of ``source`` (the table itself by default; ``_<t>_chk``, dropped after)
    gives the table's own definition; False when it does not apply (preflight names why)."""
    scratch = "_%s_chk" % config.table
    current = ghosts.normalized(ghosts.show_create(conn, config.database, config.table), config.table)
    ghosts.drop(conn, config.database, scratch)
    try:
        ghosts.create(conn, config.database, source or config.table, scratch, config.alter)
    except DbferryError:
        return False
    try:
        return ghosts.normalized(ghosts.show_create(conn, config.database, scratch), scratch) == current
    finally:
        ghosts.drop(conn, config.database, scratch)


def _created_after_record(conn: Any, config: AlterConfig) -> bool:
    """Whether the table was made (created, or rebuilt by an ALTER) after the change's record was last written: then the
    record speaks of a table that is gone, and only the table's definition can tell."""
    return bool(fetch_value(conn, "SELECT UNIX_TIMESTAMP(t.CREATE_TIME) > FLOOR(UNIX_TIMESTAMP(m.updated_at)) "
                                  "FROM information_schema.TABLES t JOIN %s.moves m ON m.name = %%s "
                                  "WHERE t.TABLE_SCHEMA = %%s AND t.TABLE_NAME = %%s" % quote_ident(STATE_SCHEMA),
                            (alter_name(config.database, config.table), config.database, config.table)))


def _already_applied(conn: Any, config: AlterConfig, recorded: Optional[state.MoveState], new_create: Optional[str] = None) -> bool:
    """already_applied, with the change's recorded state at hand, and the table's definition with the ALTER applied when
    the preflight made it (checks.Preflight.new_create: no second copy of the table is made for it)."""
    if recorded is not None and recorded.phase == state.COMPLETE and recorded.config_digest == config_digest(config) \
            and not _created_after_record(conn, config):
        return True
    if new_create is not None:
        current = ghosts.show_create(conn, config.database, config.table)
        return ghosts.normalized(new_create, config.table) == ghosts.normalized(current, config.table)
    return _same_as_altered(conn, config)


def already_applied(config: AlterConfig) -> bool:
    """Idempotence: this change was run to its end here (its record says so), or the ALTER applied to an empty copy of the
    table gives the table's own definition (AUTO_INCREMENT aside).

    The record answers for ALTERs that cannot apply twice (ADD or DROP of a column, a rename), as long as the table is the
    one the change made (not created or rebuilt since the record); the definition for a table changed by other means. A
    change that only rebuilds (``FORCE``, ``ENGINE=InnoDB``) therefore always counts as applied: it changes no definition.
    """
    conn = connect(config.server)
    try:
        return _already_applied(conn, config, state.load(conn, alter_name(config.database, config.table)))
    finally:
        close_quietly(conn)


def noop_alter(config: AlterConfig, log: EventLog) -> AlterResult:
    """Check mode, gh-ost's no-op run: preflight, the ghost created with the ALTER, the new definition and the mapping
    reported, the ghost dropped; nothing else is written. Under the change's lock, like a run: its scratch tables are
    the ones a running change's preflight makes and drops."""
    lock = _lock(config, alter_name(config.database, config.table))
    conn = None
    try:
        conn = connect(config.server)
        refuse_unsupported_source(detect_flavor(conn), "online schema changes")
        display = display_table(config.database, config.table)
        recorded = state.load(conn, alter_name(config.database, config.table))
        if ghosts.exists(conn, config.database, config.table) and _already_applied(conn, config, recorded):
            create = ghosts.show_create(conn, config.database, config.table)
            log.event("alter_already_applied", table=display)
            return AlterResult(changed=False, old_create=create, new_create=create, mapping={}, dropped=[], added=[])
        # The preflight tried the ALTER on an empty copy: its new definition and mapping are the answer (no copy made again).
        found = check_alter(conn, config)
        # A ghost this change recorded is its own, which a run resumes: not a leftover (as in a run, _run).
        refuse_on_errors([f for f in found.findings if not (recorded is not None and f.name == "ghost_table")])
        if found.plan is None or found.new_create is None:  # no error found means the copy was altered and mapped
            raise DbferryError("the preflight of %s found no error but did not try the ALTER on an empty copy." % display,
                               obj=display, fix="report this as a bug, with the change's options.")
        ghost, _old = table_names(config.database, config.table)
        old_create = ghosts.show_create(conn, config.database, config.table)
        # A rehearsal leaves the replica as it was: it changes nothing, whatever the ALTER would make.
        changed = not config.test_on_replica and ghosts.normalized(found.new_create, config.table) != ghosts.normalized(
            old_create, config.table)
        log.event("alter_noop", table=display, ghost=ghost, mapping=found.plan.mapping, changed=changed)
        return AlterResult(changed=changed, old_create=old_create, new_create=found.new_create, mapping=dict(found.plan.mapping),
                           dropped=list(found.plan.dropped), added=list(found.plan.added), instant=found.algorithm,
                           warnings=[f.message for f in found.findings if f.status == WARNING], foreign_keys=list(found.foreign_keys))
    finally:
        close_quietly(conn)
        lock.release()


def remove_alter(config: AlterConfig, log: EventLog, check_mode: bool = False) -> bool:
    """``state: absent``: drop the change's ghost, a sentry a cut-over left, and its checkpoints, with the tables that
    reference the ghost pointed at the table again first; True when anything was there.
    ``check_mode`` only looks (without the lock, which a running change holds) and says whether anything would go.

    The change's lock is taken first, so a running change is not pulled from under it (that run is named instead).
    The old table ``_<t>_del`` of a finished change holds the original rows: it is left alone unless it is an empty sentry.
    So is the record of a finished change: it is what tells a later run that the change is applied (already_applied).
    """
    name = alter_name(config.database, config.table)
    ghost, old = table_names(config.database, config.table)
    lock = None if check_mode else _lock(config, name)
    conn = connect(config.server, autocommit=False)
    try:
        recorded = state.load(conn, name)
        unfinished = recorded is not None and recorded.phase != state.COMPLETE
        tables = [table for table in (ghost, old) if ghosts.exists(conn, config.database, table)
                  and (table == ghost or ghosts.comment(conn, config.database, table) == SENTRY_COMMENT)]
        stranded = foreign_keys.child_tables(foreign_keys.children_of(conn, config.database, ghost))
        conn.rollback()
        if not check_mode:
            if stranded:  # a cut-over killed between its re-pointing and its RENAME; at t again before the ghost goes
                foreign_keys.repoint(conn, config.database, ghost, config.table, lock_wait_seconds(config.cut_over_lock_timeout_seconds))
            if unfinished:
                state.drop(conn, name)
                conn.commit()
            for table in tables:
                ghosts.drop(conn, config.database, table)
        removed = unfinished or bool(tables) or bool(stranded)
        log.event("alter_removed", table=display_table(config.database, config.table), removed=removed, check_mode=check_mode,
                  record=unfinished, tables=[display_table(config.database, table) for table in tables],
                  children_put_back=[display_table(*child) for child in stranded])
        return removed
    finally:
        close_quietly(conn)
        if lock is not None:
            lock.release()


class _AppliedKeys:
    """The applier's progress as the change needs it: the position applied (committed, in order) and the keys of the
    original table changed since a mark, for the verification of what changed after a pass."""

    def __init__(self, key: tuple[str, ...], unique: Callable[[dict[str, Any]], list[tuple[int, tuple]]] = lambda _image: []) -> None:
        #: The change's key columns, as the original names them (the binlog's images do too).
        self.key = key
        #: The new unique keys' values of a row image (missing.unique_values of the plan).
        self.unique = unique
        self.changed = threading.Condition()
        self.position = ""
        self.events = 0
        #: The key values of the row images, as the binlog carries them: the server tells which rows they are at
        #: (verify.not_written, the IN lists of compare_keys), never Python's equality.
        self.keys: set[KeyValue] = set()
        #: Per new unique key, the values applied rows had since a mark: the ghost rows with those values were evicted.
        self.values: dict[int, set] = {}

    def applied(self, batch: list[Transaction], changes: int) -> None:
        """The applier's callback: the transactions of ``batch``, and every one before them, are committed into the ghost.
        The keys of every transaction of the batch count, not only the last's: each is a row written since the mark."""
        with self.changed:
            for txn in batch:
                for change in txn.changes:
                    for image in (change.before, change.after):
                        key = None if image is None else tuple(image.get(column) for column in self.key)
                        if key is not None and None not in key:
                            self.keys.add(key)
                    if change.after is not None:
                        for index, values in self.unique(change.after):
                            self.values.setdefault(index, set()).add(values)
            self.position = batch[-1].position
            self.events += changes
            self.changed.notify_all()

    def count(self) -> int:
        """Keys changed, and new unique keys' values applied, since the last mark: what holds memory while a change waits."""
        with self.changed:
            return len(self.keys) + sum(len(values) for values in self.values.values())

    def take_keys(self) -> set[KeyValue]:
        """The keys changed since the last call, and a new mark."""
        with self.changed:
            keys, self.keys = self.keys, set()
            return keys

    def take_values(self) -> dict[int, set]:
        """The new unique keys' values applied since the last call, and a new mark."""
        with self.changed:
            values, self.values = self.values, {}
            return values

    def wait(self, position: str, seconds: float, halt: threading.Event) -> None:
        """Return once ``position`` is applied; TimeoutError after ``seconds``, DbferryError when the change halts."""
        deadline = time.monotonic() + seconds
        with self.changed:
            while not gtid.reached(self.position, position):
                left = deadline - time.monotonic()
                if halt.is_set():
                    raise DbferryError("the change stopped while waiting for its applier.", obj="applier",
                                       fix="see the change's log for the error that stopped it; run it again, it resumes.")
                if left <= 0:
                    raise TimeoutError("the applier had not applied position %s after %.1f s (applied: %s)" % (
                        position, seconds, self.position or "nothing yet"))
                self.changed.wait(min(left, 0.1))


class _AttemptCounter:
    """The change's log as the swap writes to it, counting its attempts for the status as they start."""

    def __init__(self, log: EventLog, run: "AlterRun") -> None:
        self.log = log
        self.run = run

    def event(self, name: str, **fields: Any) -> None:
        if name == "cut_over_attempt":
            self.run.cut_over_attempts = fields.get("attempt", self.run.cut_over_attempts + 1)
        self.log.event(name, **fields)
        if name == "cut_over_attempt_failed":  # the lock is released: the ghost lags again, without the table's foreign keys
            self.run.ghost_foreign_keys_off()


class AlterRun:
    """One run of a change: prepare or resume, copy and apply, verify, swap.

    ``hold_cut_over``: once copied, caught up and verified, the run keeps applying the binlog and waits for
    ``ask_cut_over`` (an agent started with ``state: started``, told by ``state: cut_over``) before it swaps.
    """

    def __init__(self, config: AlterConfig, log: EventLog, stop: threading.Event, chunk_hook: Optional[ChunkHook] = None,
                 hold_cut_over: bool = False) -> None:
        self.config = config
        self.log = log
        self.stop = stop
        self.chunk_hook = chunk_hook
        self.display = display_table(config.database, config.table)
        self.name = alter_name(config.database, config.table)
        self.ghost, self.old = table_names(config.database, config.table)
        #: Ends every thread of the run: set by stop, by the first error of a thread, and at the end.
        self.halt = threading.Event()
        self.throttle = Throttle()
        self.engine = engine_config(config, self.name)
        self.tunables = Tunables.of(self.engine)
        self.status = Status(self.name, False, self.throttle, self.tunables)
        self.hooks = Hooks(self.engine, log)
        self.phase = "preparing"
        self.started = time.monotonic()
        #: exact_rowcount's count of the table's rows, once made.
        self.exact_rows: Optional[int] = None
        #: The swap's attempts so far (the status shows them; cutover.py logs each).
        self.cut_over_attempts = 0
        #: When the on-status hooks were last fired (every hooks_status_seconds, from the start).
        self.last_status_hook = time.monotonic()
        #: The change's named lock, once taken (run): checked while the run goes on (_check_lock).
        self.lock: Optional[TargetLock] = None
        #: The names are swapped: what fails from here is told as a failure after a done change.
        self.swapped = False
        #: What the run did with the foreign keys from and to the table, for its result.
        self.foreign_keys_done: list[str] = []
        #: Set when the run may cut over once ready: at once, unless held for the operator's word (ask_cut_over).
        self.cut_over_asked = threading.Event()
        if not hold_cut_over:
            self.cut_over_asked.set()
        #: What the ready change waits for before its cut-over (the status shows it): the operator's word, a flag file.
        self.waiting_for: list[str] = []
        #: test_on_replica: the replica's SQL thread was stopped by this run (started again however the run ends).
        self.replica_stopped = False

    def ask_cut_over(self) -> None:
        """The operator's word to cut over (``state: cut_over``): the change swaps as soon as it is ready, or at once when
        it is waiting for this; logged the first time."""
        if not self.cut_over_asked.is_set():
            self.cut_over_asked.set()
            self.log.event("cut_over_asked", table=self.display)

    # -- prepare -------------------------------------------------------------

    def prepare(self, conn: Any, writer: Any, flavor: Flavor, resuming: bool) -> AlterPlan:
        """Create the ghost and record the change (P0 read after the ghost exists), or resume the recorded one."""
        config = self.config
        if not resuming:
            recorded = state.load(writer, self.name)
            if recorded is not None:  # ours, from a prepare that did not finish: its ghost is unfinished too
                ghosts.drop(conn, config.database, self.ghost)
                state.drop(writer, self.name)
                writer.commit()
            elif ghosts.exists(conn, config.database, self.ghost):
                if not config.initially_drop_ghost_table:
                    raise DbferryError("table %s exists, and no change of %s recorded it: a ghost left over from another run or tool?" % (
                        display_table(config.database, self.ghost), self.display), obj=display_table(config.database, self.ghost),
                        fix="drop it (DROP TABLE %s) if it is a leftover, or set initially_drop_ghost_table: true." % quote_table(
                            config.database, self.ghost))
                ghosts.drop(conn, config.database, self.ghost)
                self.log.event("ghost_dropped", table=display_table(config.database, self.ghost), reason="initially_drop_ghost_table")
            key = original_key(conn, config.database, config.table)  # the plan's, unless the new schema drops that key
            state.ensure_schema(writer)
            # Recorded before the ghost exists: a ghost found with a record in phase "preparing" is ours to drop.
            state.create(writer, self.name, self.engine.digest, [
                MovedTable(config.database, config.table, config.database, self.ghost, (), key)])
            writer.commit()
            ghosts.create(conn, config.database, config.table, self.ghost, config.alter)
        else:  # a run killed in a cut-over attempt may have left the table's foreign keys on the ghost
            state.upgrade_schema(writer)  # an earlier version's change resumes in this version's layout
            writer.commit()
            self._ghost_foreign_keys_dropped(conn)
        plan = build_plan(conn, config.database, config.table, self.ghost, self.old, config.alter, config.rename_columns)
        if not resuming:
            # The ranges of the copy's key (plan.key: the ghost had to exist to know it), recorded with the start.
            table = plan.moved_table()
            bounds = range_bounds(conn, table, config.copy_concurrency, self._estimate(conn))
            if bounds:
                state.recut_ranges(writer, self.name, table, bounds)
            start = fetch_value(conn, flavor.gtid_position_sql) or ""
            state.start(writer, self.name, start)
            writer.commit()
            self.log.event("alter_prepared", table=self.display, ghost=plan.ghost, start_position=start, mapping=plan.mapping,
                           dropped=list(plan.dropped), added=list(plan.added), generated=list(plan.generated))
        return plan

    # -- run -----------------------------------------------------------------

    def run(self) -> AlterResult:
        lock = self.lock = _lock(self.config, self.name)  # before anything is written: a second run of the change stops here
        conn = writer = None
        try:
            conn = connect(self.config.server)
            writer = connect(self.config.server, autocommit=False)
            result = self._run(conn, writer)
            if self.replica_stopped:
                self._restart_replica()
            self.phase = "complete"
            if os.path.isdir(self.config.state_dir):  # the last word, whichever way it ended (swapped, native, already applied)
                engine_status.write(self.config.state_dir, self.snapshot())
            return result
        except BaseException as exc:
            self.status.failed(exc)
            self.log.event("alter_failed", table=self.display, phase=self.phase, error=str(exc))
            self.phase = "failed"
            snapshot = self.snapshot()
            if os.path.isdir(self.config.state_dir):
                engine_status.write(self.config.state_dir, snapshot)
            self.hooks.fire("on-failure", snapshot, str(exc))
            raise
        finally:
            self.halt.set()
            if self.config.test_on_replica and self.phase != "complete":  # a failed rehearsal: nothing of it is kept
                try:
                    self._forget_rehearsal()
                except Exception as exc:  # noqa: BLE001 - the run's own error is the one raised; this one is logged  # pylint: disable=broad-exception-caught
                    self.log.event("rehearsal_cleanup_failed", table=self.display, error=str(exc),
                                   fix="run the task with state: absent and test_on_replica: true on the replica.")
            if self.replica_stopped:  # the run failed while the replica's SQL thread was stopped
                try:
                    self._restart_replica()
                except Exception as exc:  # noqa: BLE001 - the run's own error is the one raised; this one is logged  # pylint: disable=broad-exception-caught
                    self.log.event("replica_restart_failed", table=self.display, error=str(exc),
                                   fix="run START SLAVE SQL_THREAD on the replica; it lags until then.")
            self.hooks.close()
            lock.release()
            close_quietly(conn, writer)

    def _restart_replica(self) -> None:
        """test_on_replica: the replica's SQL thread started again, on a session of its own (the run's may be what failed)."""
        session = connect(self.config.server)
        try:
            replica.start_sql_thread(session, self.log, self.display)
            self.replica_stopped = False
        finally:
            close_quietly(session)

    def _run(self, conn: Any, writer: Any) -> AlterResult:
        config = self.config
        flavor = detect_flavor(conn)
        refuse_unsupported_source(flavor, "online schema changes")
        if not ghosts.exists(conn, config.database, config.table):
            raise DbferryError("table %s does not exist." % self.display, obj=self.display, fix="check database and table (names are case-sensitive).")
        self._children_back(conn)
        old_create = ghosts.show_create(conn, config.database, config.table)
        recorded = state.load(writer, self.name)
        writer.rollback()
        if self._swapped_before(conn, recorded):  # a run that ended between its RENAME and its record
            self._repoint_children(conn)  # it may have ended before the children were re-pointed too
            state.record_complete(writer, self.name, "")
            writer.commit()
            self.log.event("alter_swap_found_done", table=self.display, old_table=display_table(config.database, self.old))
            return AlterResult(changed=False, old_create=old_create, new_create=old_create, mapping={}, dropped=[], added=[],
                               old_table=display_table(config.database, self.old),
                               warnings=["the change had swapped the names before its run ended; recorded complete now. %s holds the "
                                         "original rows." % display_table(config.database, self.old)],
                               foreign_keys=list(self.foreign_keys_done))
        # The preflight first: its empty copy also tells whether the table has the change already (one copy, not two: each
        # is DDL that the replicas run too); what it refuses is refused only for a change still to make.
        found = check_alter(conn, config)
        if _already_applied(conn, config, recorded, found.new_create):
            self.log.event("alter_already_applied", table=self.display)
            return AlterResult(changed=False, old_create=old_create, new_create=old_create, mapping={}, dropped=[], added=[])
        if recorded is not None and recorded.phase == state.COMPLETE:  # the record of an earlier, other change of the table
            state.drop(writer, self.name)
            writer.commit()
            recorded = None
        if recorded is not None and recorded.config_digest != self.engine.digest:
            raise DbferryError("another change of %s is recorded (another ALTER or other renames), not finished." % self.display,
                               obj=self.display, fix="run that change to its end with its own options, or remove it (state: absent) first.")
        resuming = recorded is not None and recorded.phase == "copying" and ghosts.exists(conn, config.database, self.ghost)
        # A ghost this change recorded is its own (resumed, or dropped and made again by prepare), not a leftover.
        findings = [f for f in found.findings if not (recorded is not None and f.name == "ghost_table")]
        refuse_on_errors(findings)
        warnings = [f.message for f in findings if f.status == WARNING]
        instant = found.algorithm
        os.makedirs(config.state_dir, mode=0o700, exist_ok=True)  # the status goes there, and hooks run in it
        if instant and config.attempt_instant_ddl and not resuming and not config.test_on_replica:
            # The native ALTER is this change's cut-over: held (state: started), it waits for the word as a copy would.
            self.phase = "tailing"
            self._wait_for_cut_over(_AppliedKeys(()), set(), lambda keys: keys)
            return self._native(conn, old_create, instant, warnings)
        self.hooks.check()
        plan = self.prepare(conn, writer, flavor, resuming)
        recorded = state.load(writer, self.name)
        writer.rollback()
        cursor = recorded.cursors[(config.database, config.table)]
        self.status.add_table(self.display, self._estimate(conn), cursor.rows_copied, cursor.done)
        if config.exact_rowcount and not config.concurrent_rowcount:
            engine_status.write(config.state_dir, self.snapshot())  # started before the count, which may take long
            self.exact_rows = self._count()
        applied = _AppliedKeys(plan.key, lambda image: unique_values(plan, image))
        applied.position = recorded.applied_position
        self.log.event("alter_run", table=self.display, resumed=resuming, applied_position=recorded.applied_position,
                       copy_after=None if cursor.last_key is None else key_for_output(cursor.last_key), copy_done=cursor.done)
        self.hooks.fire("on-start", self.snapshot())
        checks = ThrottleChecks(self.engine, self.throttle, self.tunables, self.log)
        checks.check()  # a cause present at start holds (or stops) the change before its first chunk
        pool = WorkerPool("alter", 3, [
            lambda: apply_binlog(self.engine, flavor, [plan.moved_table()], recorded.applied_position, self._applied(applied),
                                 self.throttle, self.tunables, self.halt, on_event=self.log.event, record_empty=False),
            lambda: checks.run(self.halt),
            lambda: self._publish_loop(flavor),
        ], _run_each, stop=self.halt).start()
        try:
            result = self._copy_verify_swap(conn, flavor, plan, applied, old_create)
        except BaseException:
            self.halt.set()
            if self.swapped:  # the applier's error now is the RENAME it met in the binlog, never the one to tell
                for thread in pool.threads:
                    thread.join()
                raise
            pool.join()  # the error that halted the run (a panic flag, a failed applier) is the one to tell, if any
            raise
        self.halt.set()
        for thread in pool.threads:
            thread.join()
        for error in pool.errors:  # the swap is done: the applier that met the RENAME in the binlog, and the like
            if isinstance(error, DdlOnMovedTable) and self._is_the_swap(error.statement):
                self.log.event("applier_met_the_swap", table=self.display)  # how it ends: not an error to worry anyone
            else:
                self.log.event("after_swap", table=self.display, error=str(error))
        if result.rehearsal:
            self._swap_back(conn, plan)
        result.warnings[:0] = warnings
        result.instant = instant
        return result

    def _is_the_swap(self, statement: str) -> bool:
        """Whether ``statement`` (DDL the applier met) is this change's swap: a RENAME of the table and its ghost."""
        folded = statement.casefold()
        return folded.lstrip().startswith("rename") and all(
            quote_ident(name).casefold() in folded for name in (self.config.table, self.ghost))

    def ghost_foreign_keys_off(self) -> None:
        """After a failed cut-over attempt: the foreign keys it gave the ghost dropped, on a session of their own (the
        runner's may be what failed)."""
        session = connect(self.config.server)
        try:
            self._ghost_foreign_keys_dropped(session)
        finally:
            close_quietly(session)

    def _ghost_foreign_keys_dropped(self, conn: Any) -> None:
        dropped = foreign_keys.drop_from_ghost(conn, self.config.database, self.ghost)
        if dropped:
            self.log.event("ghost_foreign_keys_dropped", table=self.display, names=dropped)

    def _after_rename(self, conn: Any) -> None:
        """The names are swapped (what fails from here fails after a done change); a child the cut-over did not lock
        (its constraint added during the change) followed t to ``_<t>_del``, and is re-pointed."""
        self.swapped = True
        self._repoint_children(conn)

    def _children_back(self, conn: Any) -> None:
        """Children left referencing the ghost (a run killed between the cut-over's re-pointing and its RENAME) pointed
        at t again, before anything else: t takes writes again, and the ghost is dropped or lags."""
        back = foreign_keys.repoint(conn, self.config.database, self.ghost, self.config.table,
                                    lock_wait_seconds(self.config.cut_over_lock_timeout_seconds))
        if back:
            self.log.event("foreign_keys_put_back", table=self.display, children=back, ghost=display_table(self.config.database, self.ghost))

    def _repoint_children(self, conn: Any) -> None:
        """After the swap: the tables that still reference ``_<t>_del`` (they followed t in the RENAME) reference the new t."""
        try:
            children = foreign_keys.repoint(conn, self.config.database, self.old, self.config.table,
                                            lock_wait_seconds(self.config.cut_over_lock_timeout_seconds))
        except Exception as exc:  # noqa: BLE001 - told with what is done  # pylint: disable=broad-exception-caught
            if not is_database_error(exc):
                raise
            raise DbferryError("the names of %s are swapped, but re-pointing the tables that reference it failed (%s): they still "
                               "reference %s." % (self.display, error_text(exc), display_table(self.config.database, self.old)),
                               obj=self.display, fix="end the transactions that hold those tables, then run the change again: it "
                               "finds the swap done and re-points them.") from exc
        if children:
            self.log.event("foreign_keys_repointed", table=self.display, children=children)
            self._repointed(children)

    def _repointed(self, children: list[str]) -> None:
        """The result's word on children now referencing the new table."""
        self.foreign_keys_done.append("the foreign keys of %s re-pointed at the new table." % ", ".join(children))

    def _swapped_before(self, conn: Any, recorded: Optional[state.MoveState]) -> bool:
        """Whether a run of this change swapped the names and ended before recording it (a kill between the RENAME and the
        record): the record is unfinished, the ghost is gone, ``_<t>_del`` is a real table (not the empty sentry) and the
        ALTER applied to it gives the table's definition. Without this a new run would take ``_<t>_del``, the only copy of
        the original rows, for a leftover."""
        config = self.config
        return (recorded is not None and recorded.phase != state.COMPLETE and recorded.config_digest == self.engine.digest
                and not ghosts.exists(conn, config.database, self.ghost) and ghosts.exists(conn, config.database, self.old)
                and ghosts.comment(conn, config.database, self.old) != SENTRY_COMMENT
                and _same_as_altered(conn, config, self.old))

    def _copy_verify_swap(self, conn: Any, flavor: Flavor, plan: AlterPlan, applied: _AppliedKeys, old_create: str) -> AlterResult:
        config = self.config
        self.phase = "copying"

        def chunk_copy(range_no: int) -> ChunkCopy:
            # a range's end is not the copy's: copy_in_ranges tells the end once every range is done
            return ChunkCopy(config.server, plan, self.throttle, self.tunables, lambda rows, _done: self._copied(rows, False),
                             self.chunk_hook, config.nice_ratio, range_no)

        copied = copy_in_ranges(recorded_ranges(conn, plan), config.copy_concurrency, chunk_copy, self._copied, self.halt)
        if not copied:
            raise self._stopped()
        self.log.event("copy_complete", table=self.display, rows=self.status.tables[self.display]["copied"])
        self.hooks.fire("on-copy-complete", self.snapshot())
        # Verified before any wait for the cut-over: a difference is told at once, not when the operator asks for the swap,
        # and the swap that follows the word compares only what changed meanwhile (_recheck).
        self.phase = "verifying" if config.verify else "tailing"
        self._catch_up(conn, flavor, applied)
        pending: set[KeyValue] = set()
        #: Per new unique key, the values of rows applied since the last search of the whole table for missing rows.
        evicted: dict[int, set] = {}
        if config.verify:
            self.throttle.wait(self.halt)  # no verification while the change is held (load, lag, flag file)
            pending = self._verify(conn, flavor, plan, applied)
        self.phase = "tailing"  # ready: what dbferry.mysql.wait waits for

        def settle(keys: set[KeyValue]) -> set[KeyValue]:
            """A wait of hours on a busy table: compare what was written so far (and let go of the rows that match)."""
            self.log.event("recheck_while_waiting", table=self.display, keys=len(keys) + applied.count())
            return self._recheck(conn, flavor, plan, applied, keys)

        pending = self._wait_for_cut_over(applied, pending, settle)
        self.throttle.wait(self.halt)  # no cut-over while the change is held
        self.phase = "cutting over"
        vetoes = self.hooks.run("on-before-cutover", self.snapshot())
        if vetoes:
            raise DbferryError("the cut-over of %s did not start: %s" % (self.display, "; ".join(vetoes)), obj=self.display,
                               fix="correct what the on-before-cutover hook reports (or remove the hook), then run the change again; "
                                   "it resumes.")
        # The last look before the lock, as late as can be: the rows written since the verification, and the rows missing
        # from the ghost put back (missing.py); rounds again while too many rows are left for the lock's short time.
        pending = self._recheck(conn, flavor, plan, applied, pending)
        for _round in range(RECHECK_ROUNDS):
            if len(pending) <= PENDING_UNDER_LOCK:
                break
            pending = self._recheck(conn, flavor, plan, applied, pending)
        if config.test_on_replica:
            return self._rehearsed(conn, flavor, plan, applied, pending, old_create)
        self.log.event("cut_over_start", table=self.display, rows_to_compare_under_lock=len(pending))

        def wait_applied(position: str, seconds: float, locker: Optional[Any] = None) -> None:
            """Under the cut-over's lock (nothing writes t): the applier brings the ghost up to ``position``; the rows
            missing from the ghost among those written since the last look, and those holding a new unique key's values
            an applied row had (it may have evicted them), are put back; the AUTO_INCREMENT is raised; the rows written
            since the last look and those put back are compared: a difference now is final. Everything within
            ``seconds`` (missing.Bound: the attempt fails, undone, rather than hold the table longer).

            ``locker``, when given, is the session holding the lock: a WRITE-locked t reads only through it, and the
            ghost (not locked) through the runner's own session."""
            bound = Bound(seconds)
            applied.wait(position, seconds, self.halt)
            original = conn if locker is None else locker
            pending.update(applied.take_keys())  # kept for the next attempt if this one fails
            for values in applied.take_values().items():
                evicted.setdefault(values[0], set()).update(values[1])
            sessions = [conn] if original is conn else [conn, original]
            try:
                for session in sessions:  # the statements of verify.py and auto_increment.py too
                    execute(session, "SET SESSION max_statement_time = %.3f" % bound.left())
                suspects = pending | holders(original, plan, evicted, bound)
                still = restore(original, conn, plan, missing_among(original, conn, plan, suspects, bound), bound)
                # The binlog carries rows, not counters: ids the table gave out to rows that are gone again must not come
                # back. Raised now, with every write to t applied and none to come before the swap.
                raised = raise_counters(original, conn, [(config.database, config.table, config.database, plan.ghost)])
                if raised:
                    self.log.event("auto_increment_raised", table=self.display, raised=[b.as_dict() for b in raised])
                found = compare_keys(original, plan, suspects if config.verify else still, ghost_conn=conn)
                if not found:  # the ghost now equals t, which nothing writes: its constraints hold and are checked from here on
                    added = foreign_keys.add_to_ghost(conn, config.database, config.table, plan.ghost)
                    if added:
                        self.log.event("ghost_foreign_keys_added", table=self.display, names=added)
                        self.foreign_keys_done.append("foreign key(s) %s added to the new table." % ", ".join(quote_ident(n) for n in added))
            finally:
                for session in sessions:
                    execute(session, "SET SESSION max_statement_time = 0")
            if found:
                raise DbferryError(failure_message(plan, found), obj=self.display, fix=DIFFERENCE_FIX)

        self._check_lock()  # the last moment another run could have taken the change over
        swapped = swap(config.server, config.database, config.table, plan.ghost, plan.old,
                       lock_timeout=config.cut_over_lock_timeout_seconds, retries=config.default_retries, wait_applied=wait_applied,
                       log=_AttemptCounter(self.log, self), ok_to_drop_table=config.ok_to_drop_table, initially_drop_old_table=config.initially_drop_old_table,
                       postpone_flag=config.postpone_cut_over_flag_file, panic_flag=config.panic_flag_file, stop=self.stop,
                       after_rename=lambda: self._after_rename(conn))
        self.swapped = True
        self.phase = "complete"
        if swapped.children:
            self._repointed(swapped.children)
        writer = None
        try:
            writer = connect(config.server, autocommit=False)
            # The record stays, complete (already_applied reads it): no checkpoint of this change commits after it
            # (state.refuse_if_complete), and no final position is asked for, since the swap itself was the last word.
            state.record_complete(writer, self.name, "")
            writer.commit()
        except Exception as exc:  # noqa: BLE001 - told with what is done  # pylint: disable=broad-exception-caught
            raise DbferryError("the change of %s is done: the new table has the name and the original is %s; only recording it "
                               "complete failed: %s" % (self.display, display_table(config.database, swapped.old_table)
                                                        if swapped.old_table else "dropped", exc), obj=self.display,
                               fix="nothing to undo: the table has its new schema; remove the change's record with state: absent "
                                   "(it keeps the old table).") from exc
        finally:
            close_quietly(writer)
        new_create = ghosts.show_create(conn, config.database, config.table)
        seconds = time.monotonic() - self.started
        self.log.event("alter_complete", table=self.display, seconds=round(seconds, 3), attempts=swapped.attempts,
                       lock_seconds=round(swapped.lock_seconds, 3), old_table=swapped.old_table)
        self.hooks.fire("on-after-cutover", self.snapshot())
        self.hooks.fire("on-success", self.snapshot())
        return AlterResult(changed=True, old_create=old_create, new_create=new_create, mapping=dict(plan.mapping), dropped=list(plan.dropped),
                           added=list(plan.added), rows_copied=self.status.tables[self.display]["copied"], events_applied=applied.events,
                           seconds=seconds, cut_over_lock_seconds=swapped.lock_seconds, cut_over_attempts=swapped.attempts,
                           retries=swapped.attempts - 1,
                           old_table=None if swapped.old_table is None else display_table(config.database, swapped.old_table),
                           warnings=list(swapped.warnings), foreign_keys=list(self.foreign_keys_done))

    def _rehearsed(self, conn: Any, flavor: Flavor, plan: AlterPlan, applied: _AppliedKeys, pending: set[KeyValue],
                   old_create: str) -> AlterResult:
        """test_on_replica (osc/replica.py): the replica's SQL thread stopped instead of the table locked, the applier
        brought to the replica's final position, the last comparison made; the swap and back follow once the applier has
        stopped (_swap_back), since it would meet the RENAMEs in the binlog."""
        self.phase = "cutting over"
        replica.stop_sql_thread(conn, self.log, self.display)
        self.replica_stopped = True
        # Nothing writes the table now: the position is final. Bounded, the replica's replication being stopped meanwhile.
        try:
            applied.wait(fetch_value(conn, flavor.gtid_position_sql) or "", replica.CATCH_UP_SECONDS, self.halt)
        except TimeoutError as exc:
            raise DbferryError("the rehearsal's applier did not reach the stopped replica's position within %d s: %s (throttled: %s)." % (
                replica.CATCH_UP_SECONDS, exc, "; ".join(self.throttle.reasons()) or "no"), obj=self.display,
                fix="rehearse when the change is not throttled (a throttle replica that is this replica lags while it is "
                    "stopped: leave it out of throttle_control_replicas).") from None
        pending = self._recheck(conn, flavor, plan, applied, pending)
        if pending:
            raise DbferryError("%d row(s) of %s still differ from the ghost, or are missing from it, with the replica's SQL thread "
                               "stopped (%s): a new UNIQUE key they violate, or another writer on the replica." % (
                                   len(pending), self.display, "; ".join(shown_key(plan.key, k) for k in sorted(pending, key=repr)[:5])),
                               obj=self.display,
                               fix="check those rows against the new schema's unique keys; rehearse on a replica that takes no "
                                   "writes but its SQL thread's.")
        new_create = ghosts.as_named(ghosts.show_create(conn, self.config.database, plan.ghost), plan.ghost, self.config.table)
        return AlterResult(changed=False, old_create=old_create, new_create=new_create, mapping=dict(plan.mapping),
                           dropped=list(plan.dropped), added=list(plan.added), rows_copied=self.status.tables[self.display]["copied"],
                           events_applied=applied.events, seconds=time.monotonic() - self.started, rehearsal=True)

    def _swap_back(self, conn: Any, plan: AlterPlan) -> None:
        """The rehearsal's end: the tables swapped and swapped back in one statement, then the ghost and record dropped."""
        config = self.config
        replica.swap_and_back(conn, config.database, config.table, plan.ghost, plan.old, config.cut_over_lock_timeout_seconds,
                              config.default_retries, self.log)
        self._forget_rehearsal()
        self.log.event("rehearsal_complete", table=self.display, seconds=round(time.monotonic() - self.started, 3))

    def _forget_rehearsal(self) -> None:
        """The rehearsal's ghost and record dropped from the replica, however it ended: left there, the same change's real
        run on the primary would replicate a CREATE of the same ghost and an INSERT of the same record into them, and stop
        the replica's SQL thread. Only what the change recorded: its record is written before its ghost exists (prepare), so
        a ghost with no record is someone else's (the preflight refused it), and stays."""
        session = connect(self.config.server, autocommit=False)
        try:
            if state.load(session, self.name) is None:
                return
            ghosts.drop(session, self.config.database, self.ghost)
            state.drop(session, self.name)
            session.commit()
        finally:
            close_quietly(session)

    def _native(self, conn: Any, old_create: str, algorithm: str, warnings: list[str]) -> AlterResult:
        """attempt_instant_ddl: the server runs the ALTER itself, without a copy (gh-ost's --attempt-instant-ddl)."""
        config = self.config
        statement = "ALTER TABLE %s %s, %s" % (quote_table(config.database, config.table), config.alter, NATIVE_CLAUSES[algorithm])
        # Waiting for the table's metadata lock (an open transaction that read it holds it), the ALTER holds every write of
        # the application behind it: that wait is bounded as the swap's lock is, and retried as the swap is.
        for attempt in range(1, config.default_retries + 2):
            try:
                execute(conn, "SET STATEMENT lock_wait_timeout = %d FOR %s" % (config.cut_over_lock_timeout_seconds, statement))
                break
            except Exception as exc:  # noqa: BLE001 - a lock wait timeout is retried, the rest raised
                if not (is_database_error(exc) and error_code(exc) == ER_LOCK_WAIT_TIMEOUT):
                    raise
                if attempt > config.default_retries:
                    raise DbferryError("the %s ALTER of %s did not get the table's metadata lock within %d s, %d time(s): %s" % (
                        algorithm, self.display, config.cut_over_lock_timeout_seconds, attempt, "; ".join(blockers(
                            conn, config.database, config.table)) or "no session named"), obj=self.display,
                        fix="end the long transactions on the table, or raise cut_over_lock_timeout_seconds or default_retries; "
                            "or set attempt_instant_ddl: false to copy it online.") from None
                self.log.event("alter_native_retry", table=self.display, attempt=attempt, error=str(exc))
                if self.stop.wait(min(attempt, 5)):
                    raise self._stopped() from None
        seconds = time.monotonic() - self.started
        self.log.event("alter_native", table=self.display, algorithm=algorithm, seconds=round(seconds, 3))
        return AlterResult(changed=True, old_create=old_create, new_create=ghosts.show_create(conn, config.database, config.table),
                           mapping={}, dropped=[], added=[], seconds=seconds, instant=algorithm, warnings=warnings)

    def _catch_up(self, conn: Any, flavor: Flavor, applied: _AppliedKeys) -> None:
        """Wait until the applier has applied the server's position as of now, however long it is throttled: a stuck
        applier stops the run by its own error."""
        position = fetch_value(conn, flavor.gtid_position_sql) or ""
        applied.wait(position, math.inf, self.halt)

    def _wait_for_cut_over(self, applied: _AppliedKeys, pending: set[KeyValue],
                           settle: Callable[[set[KeyValue]], set[KeyValue]]) -> set[KeyValue]:
        """Apply goes on while the postpone flag file exists or the operator's word is awaited (hold_cut_over); the swap
        waits for both, and the status says which it waits for. Return the keys still to compare.

        Every key applied meanwhile is kept for the comparison before the swap; once there are KEYS_WHILE_WAITING of them
        they are compared (``settle``), so that a long wait on a busy table holds the keys still differing, not every key
        ever written."""
        flag = self.config.postpone_cut_over_flag_file
        logged: list[str] = []
        while True:
            if len(pending) + applied.count() > KEYS_WHILE_WAITING:
                pending = settle(pending)
            self.waiting_for = ([] if self.cut_over_asked.is_set() else [
                "the cut-over command (dbferry.mysql.alter state: cut_over, or dbferry cut-over)"]) + (
                ["the removal of the postpone flag file %s" % flag] if flag and os.path.exists(flag) else [])
            if self.waiting_for != logged:
                self.log.event("cut_over_postponed" if self.waiting_for else "cut_over_postpone_lifted", table=self.display,
                               waiting_for=self.waiting_for)
                logged = self.waiting_for
                engine_status.write(self.config.state_dir, self.snapshot())  # at once: the last status says it waits
            if not self.waiting_for:
                return pending
            if self.halt.wait(0.2):
                raise self._stopped()

    def _verify(self, conn: Any, flavor: Flavor, plan: AlterPlan, applied: _AppliedKeys) -> set[KeyValue]:
        """The whole table by key range, then the rows that differed or were written meanwhile (_recheck); return the keys
        still to compare."""
        started = time.monotonic()
        applied.take_keys()  # the mark: rows written from here are compared again
        ghost_session = connect(self.config.server)
        try:
            found = compare_ranges(conn, plan, chunk_rows=largest_chunk_rows(self.tunables.batch_rows), stop=self.halt,
                                   catch_up=lambda: self._catch_up(conn, flavor, applied), ghost_conn=ghost_session)
        finally:
            close_quietly(ghost_session)
        pending = self._recheck(conn, flavor, plan, applied, {m.key for m in found})
        self.log.event("verified", table=self.display, seconds=round(time.monotonic() - started, 3), rows_to_check_again=len(pending))
        return pending

    def _recheck(self, conn: Any, flavor: Flavor, plan: AlterPlan, applied: _AppliedKeys, pending: set[KeyValue]) -> set[KeyValue]:
        """Compare, in rounds, the rows at ``pending``, those written since the last mark, and those that share a new UNIQUE
        key's values with them (the applier's REPLACE of one evicts the others from the ghost), each round once the applier
        has caught up. A row that differs and was not written during its round is a real difference: the change stops.
        Return the keys still to compare (rows written all the time), which only the cut-over's lock can settle."""
        pending = set(pending)
        for _round in range(RECHECK_ROUNDS):
            pending |= applied.take_keys()
            self._catch_up(conn, flavor, applied)
            applied.take_values()  # the mark: an eviction applied from here is looked for under the lock (missing.holders)
            if not self.config.verify:
                applied.take_keys()  # the mark: the search of the whole table below covers every row written before it
                return set(self._restore_missing(plan))
            # Still missing after the restore: the original has, or had a moment ago, another row with its new unique key's
            # values; only the look under the lock, where nothing moves, says which.
            missing = set(self._restore_missing(plan))
            pending |= missing
            if not pending:
                break
            found = compare_keys(conn, plan, pending)
            # Every write the comparison saw is applied once the applier has caught up with a position read after it.
            self._catch_up(conn, flavor, applied)
            written = applied.take_keys()
            settled = not_written(conn, plan, found, written | missing)
            if settled:
                raise DbferryError(failure_message(plan, settled), obj=self.display, fix=DIFFERENCE_FIX)
            pending = {m.key for m in found} | written
        return pending

    def _restore_missing(self, plan: AlterPlan) -> list[KeyValue]:
        """Put back the rows of the original missing from the ghost (missing.py), from a session of its own whose shared
        locks last from each row's read to its write; return the keys still missing.

        A ghost without a unique key besides its primary key loses no row (missing.py: only such a key makes the copy skip a
        row, or a REPLACE evict one): no search, which is a scan of both tables a round."""
        if not plan.unique_keys:
            return []
        session = connect(self.config.server, autocommit=False)
        try:
            keys = missing_keys(session, plan)
            session.rollback()
            still = restore(session, session, plan, keys)
            if keys:
                self.log.event("rows_restored", table=self.display, missing=len(keys), still_missing=len(still))
            return still
        finally:
            close_quietly(session)

    # -- helpers -------------------------------------------------------------

    def _applied(self, applied: _AppliedKeys) -> Callable[[list[Transaction], int], None]:
        def note(batch: list[Transaction], changes: int) -> None:
            applied.applied(batch, changes)
            self.status.applied(batch[-1].position, batch[-1].timestamp, changes)
        return note

    def _copied(self, rows: int, done: bool) -> None:
        self.status.copied(self.display, rows, done)

    def _estimate(self, conn: Any) -> int:
        """The statistics' row estimate (exact_rowcount counts them, _count)."""
        return int(fetch_value(conn, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                               (self.config.database, self.config.table)) or 0)

    def _count(self) -> int:
        """exact_rowcount: the table's rows, counted on a session of its own (concurrent_rowcount: while the copy runs)."""
        conn = connect(self.config.server)
        try:
            return int(fetch_value(conn, "SELECT COUNT(*) FROM %s" % quote_table(self.config.database, self.config.table)) or 0)
        finally:
            close_quietly(conn)

    def snapshot(self) -> dict[str, Any]:
        """The engine's status, with the change's phase and, once counted, the exact row count as the estimate."""
        snapshot = self.status.snapshot()
        snapshot.update(kind="alter", phase=self.phase, table=self.display, cut_over_attempts=self.cut_over_attempts,
                        waiting_for=list(self.waiting_for), state_dir=self.config.state_dir)
        if self.exact_rows is not None:
            estimated = max(self.exact_rows, snapshot["rows_copied"])
            rate = snapshot["rows_per_second"]
            snapshot.update(rows_estimated=estimated, eta_seconds=round((estimated - snapshot["rows_copied"]) / rate) if rate > 0 else None)
        return snapshot

    def _publish_loop(self, flavor: Flavor) -> None:
        """Publish the status (status.json in state_dir) with the lag behind the server, and log progress, until the run
        ends; a stop asked ends the run."""
        if self.config.exact_rowcount and self.exact_rows is None:
            self.exact_rows = self._count()
        last_log = 0.0
        observer = None
        try:
            while not self.halt.wait(STATUS_SECONDS):
                if self.stop.is_set():
                    self.halt.set()
                self._check_lock()
                try:
                    observer = observer or connect(self.config.server)
                    observe_source(observer, flavor, self.status)
                except Exception as exc:  # noqa: BLE001 - status only: reconnect on the next tick
                    if not is_transient(exc):
                        raise
                    close_quietly(observer)
                    observer = None
                last_log = self._publish(last_log)
        finally:
            close_quietly(observer)

    def _publish(self, last_log: float) -> float:
        """Write status.json; log a progress line when the last one is PROGRESS_LOG_SECONDS old; return when it was."""
        snapshot = self.snapshot()
        engine_status.write(self.config.state_dir, snapshot)
        if time.monotonic() - self.last_status_hook >= self.engine.hooks_status_seconds:
            self.last_status_hook = time.monotonic()
            self.hooks.fire("on-status", snapshot)
        if time.monotonic() - last_log < PROGRESS_LOG_SECONDS:
            return last_log
        self.log.event("progress", **{k: snapshot.get(k) for k in (
            "phase", "rows_copied", "rows_estimated", "rows_per_second", "eta_seconds", "lag_seconds", "lag_events", "throttle_reason")})
        return time.monotonic()

    def _check_lock(self) -> None:
        """The change's named lock is still this run's (taken again if only its session was lost); otherwise this run
        stops: a second run that took it may be resuming the change, and two must never swap one table."""
        if self.lock is None:
            return
        try:
            self.lock.check()
        except DbferryError as exc:
            raise DbferryError("the change of %s lost its lock, so this run stops (another run may hold the change): %s" % (
                self.display, exc.message), obj=self.display,
                fix="let the run that holds the lock finish the change, or stop it and run the change again.") from None

    def _stopped(self) -> DbferryError:
        return DbferryError("the change of %s stopped at a checkpoint; the original table is in place." % self.display, obj=self.display,
                            fix="run it again: it resumes from its checkpoints (or remove it with state: absent).")


def _run_each(items: Iterator[Callable[[], None]]) -> None:
    for item in items:
        item()


def run_alter(config: AlterConfig, log: EventLog, *, stop: Optional[threading.Event] = None,
              chunk_hook: Optional[ChunkHook] = None) -> AlterResult:
    """Run the change of ``config`` to its end (the module docstring's steps); resumes a recorded one.

    ``stop`` ends it at a checkpoint (DbferryError), the original in place; ``chunk_hook`` is the tests' hold on the copy.
    """
    return AlterRun(config, log, stop or threading.Event(), chunk_hook).run()
