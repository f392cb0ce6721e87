"""Part 4, alter: an online schema change of a 1M-row table by dbferry, next to the server's own ALTER and pt-osc.

One table, ``bench.orders`` (about 200 B a row in InnoDB), and a GTID replica of the source (a third sandbox).
Two changes: ``MODIFY amount DECIMAL(14,2)`` (from DECIMAL(10,2): the server can only do it with ALGORITHM=COPY,
which blocks every write for the whole copy) and ``ADD COLUMN`` (INSTANT on MariaDB 10.11). Each is made
idle, then under a paced load of 4 application connections writing 400 single-row transactions/s to the table,
by each of:

  ALTER TABLE          the server's own, with the least locking algorithm it accepts (INSTANT, INPLACE with
                       LOCK=NONE, else COPY: the first it does not refuse);
  pt-osc               ``pt-online-schema-change --execute`` (Debian's percona-toolkit), its defaults, watching the
                       replica's lag (``--check-slave-lag``);
  dbferry              ``osc.runner.run_alter`` in a Python process of its own (its peak RSS is that process's),
                       the replica as a throttle control replica (max_lag_millis 1500), the old table dropped;
  dbferry instant      ADD COLUMN only: the same with ``attempt_instant_ddl: true``.

gh-ost has no Debian package and is not installed here: its figures are the issue's (#14).

Before every run the table is made afresh on both servers (outside the binlog, from the sequence engine, the same
rows on each), so each change starts from the same table. Measured per run, from just before the change starts
to its end (for dbferry and pt-osc the process's start to its exit): seconds, rows/s (the table's rows over
that time); the replica's largest lag (harness.lags: how long the replica took to reach the source's position of
each 0.1 s sample; a native ALTER reaches the replica as one statement, run after the source's has ended); under
load: the longest stretch in which no application write completed, the 99th percentile of the write latency
(from when the pace wanted the write sent, so a write held up by a blocked one counts its wait too), the writes
done while the change ran over those offered, and the application's errors by kind. The baseline: the same load
for BASELINE_SECONDS with no change running.

Targets (issue 14), for dbferry: copy >= 170,000 rows/s idle; writes blocked <= 0.3 s (the longest stall of a
loaded run, the cut-over's block included); p99 <= 2x the baseline's; no application error; replica lag <=
max_lag_millis; ADD COLUMN found INSTANT by preflight, and done in milliseconds with attempt_instant_ddl; peak RSS
<= 300 MB. The other tools' lines are references and carry no verdict.

Run as a script with ``--dbferry`` it is that dbferry process: the alter's configuration as JSON on stdin, the
result as JSON on stdout.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Optional

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import parse_alter_config
from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.dev.load import Load, ServerSession, Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.checks import NATIVE_CLAUSES
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.runner import run_alter
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import close_quietly, connect, error_code, execute, \
    fetch_value, is_database_error
from ansible_collections.dbferry.mysql.plugins.module_utils.server.error_codes import ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
from harness import DATABASE, REPLICA_TIMEOUT, RSS_MB, Bench, BenchError, Figure, LagSampler, Options, Replica, Table, lags, log, number, \
    tree_peak_rss_mb, wait_for

TABLE = "orders"
WRITERS = 4
WRITES_PER_SECOND = 400.0
#: The load runs this long before a change starts (its connections open and settle) and after it ends.
SETTLE_SECONDS = 2.0
AFTER_SECONDS = 1.0
#: The app's figures of a change are of at least this long from its start: a change of milliseconds (INSTANT) is
#: then judged on some 400 writes, not on none.
MIN_WINDOW_SECONDS = 1.0
BASELINE_SECONDS = 10.0
#: Generous: every change takes seconds at 1M rows; a timeout only ends a hung run.
CHANGE_TIMEOUT = 900.0

#: The issue's targets (#14).
COPY_ROWS_PER_SECOND = 170_000
BLOCKED_SECONDS = 0.3
P99_RATIO = 2.0
MAX_LAG_MILLIS = 1500
INSTANT_SECONDS = 0.1

#: MariaDB's refusals of an ALGORITHM or LOCK clause the change cannot have (the statement does nothing).
ER_ALTER_OPERATION_NOT_SUPPORTED = 1845
ER_ALTER_OPERATION_NOT_SUPPORTED_REASON = 1846
#: The server's ALTER, tried with each clause in turn until one is accepted: the least locking it can do. The online
#: ones are those dbferry's preflight tries (and attempt_instant_ddl runs); without a clause, the server copies.
SERVER_CLAUSES = tuple(NATIVE_CLAUSES.items()) + (("COPY", ""),)
#: An error message in the table is cut to this; the results file has it whole.
ERROR_CHARS = 150

#: What a change leaves behind when it fails half-way (dbferry's ghost and sentry, pt-osc's new and old tables).
LEFTOVERS = ("_%s_gho", "_%s_del", "_%s_new", "_%s_old")

GH_OST = "gh-ost: no Debian package, not installed here; the issue's figures: 169k rows/s idle, 1.0 s blocked at cut-over"


@dataclass(frozen=True)
class Change:
    """One of the two schema changes, and how to tell from information_schema that the table has it."""

    label: str
    spec: str
    #: A column of the new schema and its COLUMN_TYPE.
    column: str
    column_type: str


CHANGES = (Change("MODIFY (COPY)", "MODIFY amount DECIMAL(14,2) NOT NULL", "amount", "decimal(14,2)"),
           Change("ADD COLUMN", "ADD COLUMN description TEXT", "description", "text"))


def orders_table(rows: int) -> Table:
    """``orders``: mixed types with a DECIMAL(10,2) amount, about 170 bytes of data a row, about 200 in InnoDB."""
    return Table(TABLE, """CREATE TABLE {db}.orders (
  id BIGINT PRIMARY KEY, customer INT NOT NULL, status VARCHAR(20) NOT NULL, amount DECIMAL(10,2) NOT NULL,
  created DATETIME(6) NOT NULL, updated DATETIME(6) NOT NULL, sku CHAR(32) NOT NULL, note VARCHAR(200) NOT NULL) ENGINE=InnoDB""",
                 """INSERT INTO {db}.orders SELECT seq, seq % 50000, ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'returned'), (seq % 100000) / 7,
  TIMESTAMPADD(MICROSECOND, seq * 1234567, '2020-01-01'), TIMESTAMPADD(MICROSECOND, seq * 2345678, '2020-01-01'), MD5(seq),
  CONCAT(REPEAT(MD5(seq * 3), 2), ' ', REPEAT('x', seq % 50)) FROM seq_1_to_{rows}""", rows)


class OrderWrites:
    """One application connection's writes to ``bench.orders``, each one row in its own transaction, seeded.

    60 % UPDATE of the amount (the column the first change retypes), 20 % INSERT, 20 % DELETE of a row it inserted.
    The columns are named, so the statements stay valid after ADD COLUMN. Connection ``index`` of ``connections``
    owns the keys ``index + 1 (mod connections)``, so the connections never wait on each other: a lock wait or a
    deadlock is the change's.
    """

    def __init__(self, rows: int, index: int, connections: int) -> None:
        self.rng = random.Random(index)
        self.owned = range(index + 1, rows + 1, connections)
        self.inserted: list[int] = []
        self.next_key = rows + 1 + index
        self.step = connections

    def next_transaction(self) -> Transaction:
        pick = self.rng.random()
        if pick < 0.6:
            statement = "UPDATE %s.orders SET amount = amount + 1.25, updated = NOW(6) WHERE id = %d" % (DATABASE, self.rng.choice(self.owned))
        elif pick < 0.8 or not self.inserted:
            key, self.next_key = self.next_key, self.next_key + self.step
            self.inserted.append(key)
            statement = ("INSERT INTO %s.orders (id, customer, status, amount, created, updated, sku, note) "
                         "VALUES (%d, %d, 'new', %d.50, NOW(6), NOW(6), MD5(%d), 'written under the change')" % (DATABASE, key, key % 50000, key % 9999, key))
        else:
            key = self.inserted.pop(self.rng.randrange(len(self.inserted)))
            statement = "DELETE FROM %s.orders WHERE id = %d" % (DATABASE, key)
        return Transaction((statement,))


@dataclass(frozen=True)
class Write:
    """One application write: when the pace wanted it sent, when the server answered, and its error code (0: done)."""

    due: float
    done: float
    error: int

    @property
    def latency(self) -> float:
        return self.done - self.due


class PacedSession:
    """An application connection on its own fixed schedule that records every write (dev/load.py's Session).

    The wait is counted from when the schedule wanted the write sent, not from when it was: a write held up behind
    a blocked one waited too (an application's users do not stop arriving). A server error is recorded and the
    connection goes on with its next write, as an application retries: the errors are a figure here, not a failure.
    """

    def __init__(self, box: sandbox.Sandbox, period: float, writes: list[Write]) -> None:
        self.session = ServerSession(box.spec("app"))
        self.period = period
        self.writes = writes
        self.due = time.perf_counter()

    def run(self, transaction: Transaction) -> None:
        time.sleep(max(0.0, self.due - time.perf_counter()))
        due, self.due = self.due, self.due + self.period
        code = 0
        try:
            self.session.run(transaction)
        except Exception as exc:  # noqa: BLE001 - only a server error is a result  # pylint: disable=broad-exception-caught
            if not is_database_error(exc):
                raise
            code = error_code(exc) or -1
        self.writes.append(Write(due, time.perf_counter(), code))

    def close(self) -> None:
        self.session.close()


class AppLoad:
    """WRITERS connections of OrderWrites at WRITES_PER_SECOND in all, as the ``app`` user over TCP, until stop()."""

    def __init__(self, bench: Bench, rows: int) -> None:
        self.each: list[list[Write]] = [[] for _index in range(WRITERS)]
        period = WRITERS / WRITES_PER_SECOND
        self.load = Load(lambda index: PacedSession(bench.source, period, self.each[index]),
                         [OrderWrites(rows, index, WRITERS) for index in range(WRITERS)])

    def stop(self) -> list[Write]:
        """Stop the connections; every write they made, in order of completion."""
        self.load.finish()
        return sorted((write for writes in self.each for write in writes), key=lambda write: write.done)


@dataclass
class AppFigures:
    """What the application saw of a window of time."""

    writes: int
    offered: int
    p99_ms: float
    longest_stall_seconds: float
    deadlocks: int = 0
    lock_waits: int = 0
    #: Other errors, by error code.
    other_errors: dict[int, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.deadlocks + self.lock_waits + sum(self.other_errors.values())

    def describe_errors(self) -> str:
        others = ", ".join("%d x %d" % (count, code) for code, count in sorted(self.other_errors.items()))
        return "%d (deadlocks %d, lock waits %d%s)" % (self.errors, self.deadlocks, self.lock_waits, ", other: " + others if others else "")


def app_figures(writes: list[Write], start: float, end: float) -> AppFigures:
    """The writes due in [start, end): their p99 latency (the slowest when fewer than 100), their errors, how many
    completed; and the longest stretch overlapping [start, end] with no write completed (to the first completion
    after ``end`` when a block outlasts the change, as a native ALTER's does)."""
    due = [w for w in writes if start <= w.due < end]
    latencies = sorted(w.latency for w in due)
    p99 = latencies[-(-len(latencies) * 99 // 100) - 1] if latencies else 0.0
    done = [w.done for w in writes if not w.error]
    after = next((t for t in done if t > end), end)
    points = [start] + [t for t in done if start < t <= end] + [after]
    figures = AppFigures(writes=sum(1 for w in writes if not w.error and start <= w.done < end), offered=round((end - start) * WRITES_PER_SECOND),
                         p99_ms=p99 * 1000, longest_stall_seconds=max(b - a for a, b in zip(points, points[1:])))
    for write in due:
        if write.error == ER_LOCK_DEADLOCK:
            figures.deadlocks += 1
        elif write.error == ER_LOCK_WAIT_TIMEOUT:
            figures.lock_waits += 1
        elif write.error:
            figures.other_errors[write.error] = figures.other_errors.get(write.error, 0) + 1
    return figures


def reset_table(bench: Bench, replica: Replica, table: Table) -> None:
    """``orders`` afresh on the source and on the replica, outside the binlog (each server fills its own, the same rows),
    with what an earlier change left behind dropped: every run starts from the same table, and the replica is not
    made to replay a million rows first."""
    replica.wait_caught_up(bench)

    def fill(box: sandbox.Sandbox) -> None:
        conn = connect(box.spec("root"), read_timeout=int(REPLICA_TIMEOUT))
        try:
            execute(conn, "SET SESSION sql_log_bin = 0")
            execute(conn, "CREATE DATABASE IF NOT EXISTS %s" % DATABASE)
            execute(conn, "DROP DATABASE IF EXISTS _dbferry")  # the checkpoints of the previous dbferry run
            for name in (TABLE,) + tuple(pattern % TABLE for pattern in LEFTOVERS):
                execute(conn, "DROP TABLE IF EXISTS %s.`%s`" % (DATABASE, name))
            table.create(conn)
        finally:
            close_quietly(conn)

    errors: list[BaseException] = []

    def fill_noting(box: sandbox.Sandbox) -> None:
        try:
            fill(box)
        except BaseException as exc:  # noqa: BLE001 - raised below, in the caller's thread  # pylint: disable=broad-exception-caught
            errors.append(exc)

    threads = [threading.Thread(target=fill_noting, args=(box,)) for box in (bench.source, replica.box)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise BenchError("making %s afresh failed: %s" % (TABLE, errors[0]))


def has_change(bench: Bench, change: Change) -> bool:
    """Whether ``orders`` on the source has the new schema (a tool that said it succeeded did make the change)."""
    found = fetch_value(bench.source_conn, "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                        "AND COLUMN_NAME = %s", (DATABASE, TABLE, change.column))
    return found == change.column_type


class Tool:
    """One way to make a change. run() makes it and returns what the tool reports beyond the time."""

    name = ""
    #: Why the tool cannot run here (the line says "skipped: ..."), or None.
    missing: Optional[str] = None

    def run(self, bench: Bench, replica: Replica, change: Change) -> dict[str, Any]:
        raise NotImplementedError


class NativeAlter(Tool):
    """The server's own ALTER TABLE, with the least locking algorithm it accepts for the change."""

    name = "ALTER TABLE"

    def run(self, bench: Bench, replica: Replica, change: Change) -> dict[str, Any]:
        conn = connect(bench.source.spec("root"), read_timeout=int(CHANGE_TIMEOUT))
        try:
            for algorithm, clause in SERVER_CLAUSES:
                try:
                    execute(conn, "ALTER TABLE %s.%s %s%s" % (DATABASE, TABLE, change.spec, ", " + clause if clause else ""))
                except Exception as exc:  # noqa: BLE001 - a refused clause: the next one  # pylint: disable=broad-exception-caught
                    if error_code(exc) not in (ER_ALTER_OPERATION_NOT_SUPPORTED, ER_ALTER_OPERATION_NOT_SUPPORTED_REASON):
                        raise
                    continue
                return {"algorithm": algorithm}
        finally:
            close_quietly(conn)
        raise BenchError("the server refused every ALGORITHM for %s" % change.spec)


class PtOnlineSchemaChange(Tool):
    """``pt-online-schema-change --execute``: triggers on the table copy the app's writes into its new table."""

    name = "pt-osc"

    def __init__(self) -> None:
        self.path = shutil.which("pt-online-schema-change")
        if self.path is None:
            self.missing = ("pt-online-schema-change not installed: `scripts/setup.sh --bench` installs Debian's percona-toolkit "
                            "(or apt-get install percona-toolkit)")

    def run(self, bench: Bench, replica: Replica, change: Change) -> dict[str, Any]:
        # Logins in option files, not on the command line (a process list shows it): root over the source's socket,
        # ferry_source (SLAVE MONITOR: replicate() grants it) over TCP on the replica, whose lag it watches.
        source = "D=%s,t=%s,F=%s" % (DATABASE, TABLE, bench.client_options(bench.source, "root"))
        lag = "h=127.0.0.1,P=%d,F=%s" % (replica.box.port, bench.client_options(replica.box, "ferry_source"))
        output = os.path.join(bench.folder, "pt-osc.log")
        with open(output, "wb") as handle:
            process = subprocess.Popen([self.path, "--execute", "--noversion-check", "--alter", change.spec, "--recursion-method=none",
                                        "--check-slave-lag", lag, source], stdout=handle, stderr=subprocess.STDOUT)
            bench.processes.append(process)
            try:
                status = process.wait(CHANGE_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise BenchError("pt-online-schema-change did not end within %.0f s" % CHANGE_TIMEOUT) from None
        if status != 0:
            raise BenchError("pt-online-schema-change failed (exit %d): %s" % (status, _tail(output)))
        return {}


class Dbferry(Tool):
    """``osc.runner.run_alter`` in a Python process of its own (this script with ``--dbferry``), watched from /proc."""

    def __init__(self, instant: bool = False, copy_concurrency: int = 1, nice_ratio: float = 0.0) -> None:
        self.instant = instant
        self.copy_concurrency = copy_concurrency
        self.nice_ratio = nice_ratio
        self.name = "dbferry" + "".join(", %s" % option for option in (
            "attempt_instant_ddl" if instant else "", "copy_concurrency %d" % copy_concurrency if copy_concurrency != 1 else "",
            "nice_ratio %g" % nice_ratio if nice_ratio else "") if option)

    def config(self, bench: Bench, replica: Replica, change: Change) -> dict[str, Any]:
        """The alter's options as a user gives them (the module's names): root over the socket, the replica as the
        throttle control replica, the old table dropped after the swap; everything else its default."""
        source = bench.source.spec("root")
        return {"login_user": "root", "login_password": source.password, "login_unix_socket": source.unix_socket,
                "database": DATABASE, "table": TABLE, "alter": change.spec, "ok_to_drop_table": True, "attempt_instant_ddl": self.instant,
                "throttle_control_replicas": [replica.box.connection_options("ferry_source")], "max_lag_millis": MAX_LAG_MILLIS,
                "copy_concurrency": self.copy_concurrency, "nice_ratio": self.nice_ratio}

    def run(self, bench: Bench, replica: Replica, change: Change) -> dict[str, Any]:
        events = os.path.join(bench.folder, "dbferry-alter.log")
        with open(events, "wb") as handle:
            # The configuration holds a password: it goes through stdin, never the command line.
            process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--dbferry"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=handle)
            bench.processes.append(process)
            process.stdin.write(json.dumps(self.config(bench, replica, change)).encode())
            process.stdin.close()
            peak = 0.0
            deadline = time.monotonic() + CHANGE_TIMEOUT
            # VmHWM only grows, so the last reading before the process ends is its peak (and the child's own
            # getrusage figure below covers the moments after that reading).
            while process.poll() is None:
                try:
                    peak = max(peak, tree_peak_rss_mb(process.pid))
                except (OSError, BenchError):
                    pass  # it ended between poll() and the reading (gone, or a zombie without memory)
                if time.monotonic() > deadline:
                    raise BenchError("dbferry's alter did not end within %.0f s" % CHANGE_TIMEOUT)
                time.sleep(0.05)
            out = process.stdout.read()
        if process.returncode != 0:
            raise BenchError("dbferry failed (exit %d): %s" % (process.returncode, _tail(events)))
        result = json.loads(out.splitlines()[-1])
        result["peak_rss_mb"] = round(max(peak, result.pop("self_max_rss_mb")), 1)
        result["phase_spans"] = phase_spans(events)
        result["phase_seconds"] = {name: round(end - start, 3) for name, (start, end) in result["phase_spans"].items()}
        return result


#: The change's phases, each from its first event to the next phase's (the events run_alter logs).
PHASES = (("copy", "alter_run"), ("tail and verify", "copy_complete"), ("cut-over", "cut_over_start"), ("", "alter_complete"))


def phase_spans(events: str) -> dict[str, tuple[float, float]]:
    """When each of PHASES began and ended (time.time()) in the event log of one change (a phase it did not log is left
    out): where its time went, and which writes of the load each phase saw."""
    seen: dict[str, float] = {}
    with open(events, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("{"):
                event = json.loads(line)
                seen.setdefault(event.get("event"), datetime.fromisoformat(event["ts"]).timestamp())
    return {name: (seen[start], seen[end]) for (name, start), (_next, end) in zip(PHASES, PHASES[1:]) if start in seen and end in seen}


def _tail(path: str) -> str:
    """The last line a failed tool wrote: its error (a traceback's last line), not its progress."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = [line.strip() for line in handle if line.strip()]
    return lines[-1] if lines else "(no output)"


@dataclass
class Run:
    """One change made by one tool, idle or under load."""

    change: str
    tool: str
    loaded: bool
    seconds: float = 0.0
    rows_per_second: float = 0.0
    max_replica_lag_seconds: Optional[float] = None
    app: Optional[AppFigures] = None
    #: Under load, dbferry's: the p99 of the writes due in each phase of the change at least MIN_WINDOW_SECONDS long.
    phase_p99_ms: dict[str, float] = field(default_factory=dict)
    tool_report: dict[str, Any] = field(default_factory=dict)
    skipped: Optional[str] = None
    error: Optional[str] = None


def measure_run(bench: Bench, replica: Replica, table: Table, change: Change, tool: Tool, loaded: bool) -> Run:
    """``change`` by ``tool`` on a fresh table, under the app's load when ``loaded``; the replica's lag all along."""
    run = Run(change.label, tool.name, loaded)
    if tool.missing:
        run.skipped = tool.missing
        return run
    reset_table(bench, replica, table)
    load = AppLoad(bench, table.rows) if loaded else None
    writes: list[Write] = []
    sampler: Optional[LagSampler] = None
    try:
        if load:
            time.sleep(SETTLE_SECONDS)
        sampler = LagSampler(bench, replica, on=replica.box)
        started = time.perf_counter()
        run.tool_report = tool.run(bench, replica, change)
        ended = time.perf_counter()
        if load:
            time.sleep(AFTER_SECONDS)
            writes, load = load.stop(), None
        final = bench.source_sequence()
        wait_for(lambda: sampler.reached(final) is not None, REPLICA_TIMEOUT, "the replica catching up after %s" % tool.name, replica.check)
        samples = sampler.stop()
    finally:  # after a failure: the connections and the sampler's thread end here
        if load:
            load.stop()
        if sampler and not sampler.stopping.is_set():
            sampler.stopping.set()
            sampler.thread.join()
    if not has_change(bench, change):
        raise BenchError("%s ended but %s.%s does not have %s" % (tool.name, DATABASE, TABLE, change.spec))
    run.seconds = ended - started
    run.rows_per_second = table.rows / run.seconds
    lag = [value for sample, value in zip(samples, lags(samples)) if value is not None and sample.at >= started]
    run.max_replica_lag_seconds = max(lag, default=0.0)
    if writes:
        run.app = app_figures(writes, started, max(ended, started + MIN_WINDOW_SECONDS))
        # The writes' times are perf_counter()'s, the phases' the event log's clock: one offset maps them.
        offset = time.time() - time.perf_counter()
        run.phase_p99_ms = {name: round(app_figures(writes, start - offset, end - offset).p99_ms, 1)
                            for name, (start, end) in run.tool_report.get("phase_spans", {}).items() if end - start >= MIN_WINDOW_SECONDS}
    seen = ", stall %.2f s, p99 %.1f ms, errors %d" % (run.app.longest_stall_seconds, run.app.p99_ms, run.app.errors) if run.app else ""
    log("%s, %s, %s: %.2f s, replica lag %.2f s%s" % (change.label, tool.name, "load" if loaded else "idle", run.seconds, run.max_replica_lag_seconds, seen))
    return run


def measure_baseline(bench: Bench, replica: Replica, table: Table) -> tuple[AppFigures, int]:
    """The load alone on a fresh table for BASELINE_SECONDS: the p99 a change is held to; and the table's bytes a row."""
    reset_table(bench, replica, table)
    row_bytes = table.row_bytes(bench.source_conn)  # before any change: ADD COLUMN's NULLs have no length
    load = AppLoad(bench, table.rows)
    try:
        time.sleep(SETTLE_SECONDS)
        started = time.perf_counter()
        time.sleep(BASELINE_SECONDS)
        ended = time.perf_counter()
    finally:
        writes = load.stop()
    figures = app_figures(writes, started, ended)
    log("baseline: %d writes in %.0f s, p99 %.1f ms, longest stall %.3f s" % (figures.writes, BASELINE_SECONDS, figures.p99_ms, figures.longest_stall_seconds))
    return figures, row_bytes


def _summary(run: Run, baseline: AppFigures) -> Figure:
    """The line of one run, every tool alike: its figures, no verdict."""
    what = "alter %s, %s: %s" % (run.change, "load" if run.loaded else "idle", run.tool)
    if run.skipped:
        return Figure(what, "skipped", run.skipped)
    if run.error:
        return Figure(what, "ERROR", run.error if len(run.error) <= ERROR_CHARS else run.error[:ERROR_CHARS - 3] + "...")
    # No rows/s for a change that copied none (an INSTANT one): the figure would be the table's size over milliseconds.
    copied = run.tool_report.get("algorithm") != "INSTANT" and run.tool_report.get("rows_copied") != 0
    rate = "%s rows/s, " % number(run.rows_per_second) if copied else ""
    figure = "%.3f s, %sreplica lag %.2f s" % (run.seconds, rate, run.max_replica_lag_seconds)
    reference = ", ".join("%s %s" % (key, run.tool_report[key]) for key in ("algorithm", "instant") if run.tool_report.get(key))
    if run.app:
        figure += "; stall %.2f s, p99 %s ms, errors %d" % (run.app.longest_stall_seconds, _ms(run.app.p99_ms), run.app.errors)
        reference = ", ".join(filter(None, ["%d%% of the writes done" % round(100 * run.app.writes / max(1, run.app.offered)),
                                            "baseline p99 %s ms" % _ms(baseline.p99_ms), reference]))
    return Figure(what, figure, reference)


def _ms(value: float) -> str:
    return "%.1f" % value if value < 100 else number(value)


def _verdicts(run: Run, baseline: AppFigures) -> list[Figure]:
    """dbferry's lines against the issue's targets, for a run that measured."""
    if run.skipped or run.error:
        return []
    what = "  dbferry %s, %s:" % (run.change, "load" if run.loaded else "idle")
    lines: list[Figure] = []
    instant = run.tool.endswith("attempt_instant_ddl")
    # The runner's own time (the result's ``seconds``): the process's also has Python's start and the imports.
    inside = run.tool_report["seconds"]
    if instant:
        lines.append(Figure(what + " attempt_instant_ddl", "%.3f s" % inside, "done as %s; the process %.2f s" % (run.tool_report.get("instant"), run.seconds),
                            target="<= %.1f s" % INSTANT_SECONDS, met=inside <= INSTANT_SECONDS))
    elif not run.loaded:
        # The copy phase is judged (gh-ost's 169k rows/s is a copy with nothing after it); the verification that gh-ost
        # does not do, and the whole change, are shown on lines of their own.
        phases = run.tool_report.get("phase_seconds", {})
        rows = run.tool_report["rows_copied"]
        copy_rate = rows / phases["copy"] if phases.get("copy") else run.rows_per_second
        lines.append(Figure(what + " copy rate", "%s rows/s" % number(copy_rate), "copy phase %.2f s of %s rows" % (phases.get("copy", 0.0), number(rows)),
                            round(copy_rate / COPY_ROWS_PER_SECOND, 2), ">= %s rows/s" % number(COPY_ROWS_PER_SECOND),
                            copy_rate >= COPY_ROWS_PER_SECOND))
        lines.append(Figure(what + " whole change", "%s rows/s" % number(run.rows_per_second), "the process %.2f s, run_alter %.2f s (%s)" % (
            run.seconds, inside, ", ".join("%s %.2f s" % item for item in phases.items()))))
        if run.change == "ADD COLUMN":
            found = run.tool_report.get("instant")
            lines.append(Figure(what + " preflight", "found %s" % (found or "no native way"), target="INSTANT found", met=found == "INSTANT"))
    if run.app:
        lock = run.tool_report.get("cut_over_lock_seconds")
        lines.append(Figure(what + " writes blocked", "%.3f s" % run.app.longest_stall_seconds,
                            "longest stretch with no write done%s" % (", cut-over lock %.3f s" % lock if lock is not None else ""),
                            target="<= %.1f s" % BLOCKED_SECONDS, met=run.app.longest_stall_seconds <= BLOCKED_SECONDS))
        ratio = run.app.p99_ms / baseline.p99_ms if baseline.p99_ms else None
        phases = "".join("; %s %s ms" % (name, _ms(value)) for name, value in run.phase_p99_ms.items())
        lines.append(Figure(what + " p99 write latency", "%s ms" % _ms(run.app.p99_ms), "baseline %s ms%s" % (_ms(baseline.p99_ms), phases),
                            None if ratio is None else round(ratio, 2), "<= %.1fx baseline" % P99_RATIO, ratio is not None and ratio <= P99_RATIO))
        lines.append(Figure(what + " app errors", run.app.describe_errors(), "baseline %d" % baseline.errors, target="0", met=run.app.errors == 0))
    lines.append(Figure(what + " replica lag", "%.2f s" % run.max_replica_lag_seconds, "sampled every 0.1 s",
                        target="<= %d ms (max_lag_millis)" % MAX_LAG_MILLIS, met=run.max_replica_lag_seconds * 1000 <= MAX_LAG_MILLIS))
    return lines


def measure(bench: Bench, options: Options) -> tuple[list[Figure], dict[str, Any]]:
    table = orders_table(options.rows)
    replica = Replica(bench)
    try:
        baseline, row_bytes = measure_baseline(bench, replica, table)
        runs: list[Run] = []
        for change in CHANGES:
            tools: list[Tool] = [NativeAlter(), PtOnlineSchemaChange(), Dbferry(), Dbferry(copy_concurrency=2), Dbferry(nice_ratio=1.0)] + (
                [Dbferry(instant=True)] if change.label == "ADD COLUMN" else [])
            for loaded in (False, True):
                for tool in tools:
                    try:
                        runs.append(measure_run(bench, replica, table, change, tool, loaded))
                    except Exception as exc:  # noqa: BLE001 - the line says ERROR, the next run goes on  # pylint: disable=broad-exception-caught
                        log("%s by %s failed: %s" % (change.label, tool.name, exc))
                        bench.reset()
                        runs.append(Run(change.label, tool.name, loaded, error=str(exc)))
    finally:
        replica.close()
    figures = [Figure("alter: %s rows, %s B/row, %d conns at %.0f writes/s" % (number(table.rows), number(row_bytes), WRITERS, WRITES_PER_SECOND),
                      "baseline p99 %s ms, errors %d" % (_ms(baseline.p99_ms), baseline.errors), "the load alone, %.0f s" % BASELINE_SECONDS)]
    for run in runs:
        figures.append(_summary(run, baseline))
        if run.tool.startswith("dbferry"):
            figures += _verdicts(run, baseline)
    figures.append(Figure("alter: gh-ost", "skipped", GH_OST))
    peaks = [run.tool_report["peak_rss_mb"] for run in runs if "peak_rss_mb" in run.tool_report]
    if peaks:
        figures.append(Figure("dbferry alter peak RSS", "%.0f MB" % max(peaks), "largest VmHWM of %d alter process(es)" % len(peaks),
                              target="<= %.0f MB" % RSS_MB, met=max(peaks) <= RSS_MB))
    failed = [run for run in runs if run.error]
    data = {"rows": table.rows, "row_bytes": row_bytes, "writers": WRITERS, "writes_per_second": WRITES_PER_SECOND,
            "baseline": dict(asdict(baseline), errors=baseline.errors), "gh_ost": GH_OST,
            "runs": [dict(asdict(run), app=dict(asdict(run.app), errors=run.app.errors) if run.app else None) for run in runs]}
    if failed:
        data["error"] = "%d run(s) failed" % len(failed)
    return figures, data


def run_dbferry() -> int:
    """The dbferry process: the alter's configuration as JSON on stdin; its result, and this process's peak RSS, as JSON on stdout."""
    events = EventLog("bench-alter", echo=sys.stderr)
    try:
        result = asdict(run_alter(parse_alter_config(json.load(sys.stdin)), events))
    except DbferryError as exc:  # the engine's own refusal: its message and fix, as the last line for the table
        print("DbferryError: %s" % exc, file=sys.stderr)
        return 1
    # ru_maxrss: kilobytes on Linux. The peak of this process until now, which /proc readings may have missed at the end.
    result["self_max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--dbferry"]:
        sys.exit("usage: %s --dbferry < alter-config.json (bench/run.py runs it)" % sys.argv[0])
    sys.exit(run_dbferry())
