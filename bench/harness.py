"""What every part of `make bench` shares: the servers, the tables, the agent as a process, writers, lag, results.

The engine is measured from the outside, as an operator runs it: each move
is an agent process (``agent.start``, what the ``dbferry.mysql.agent``
module does), so its peak RSS is the kernel's figure for that process
(``VmHWM``), and progress is read where it is durable, from the target's
``_dbferry`` checkpoints, not from anything inside the agent.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import os
import platform
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

from ansible_collections.dbferry.mysql.plugins.module_utils.agent import process as agent
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog import gtid
from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.dev.load import ClientPipe, Load, LoadError, Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.config.move_config import MoveConfig
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import close_quietly, connect, execute, fetch_all, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.common.private import write_private

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

#: On top of the sandbox defaults (flush-log-at-trx-commit=2, sync-binlog=0, ...): room for the source's tables and a
#: target copy in memory, and a redo log that does not force checkpoints in the middle of a bulk load. The baseline and
#: dbferry run between the same two servers, so these settings favour neither.
SERVER_OPTIONS = ("innodb-buffer-pool-size=1G", "innodb-log-file-size=512M")

#: Seconds a table's fill may take (a session's default read timeout is 60 s; 5M rows take minutes on a busy machine).
FILL_TIMEOUT = 1800
#: Seconds a replica may take to apply what the source logged (generous: a timeout only ends a hung run).
REPLICA_TIMEOUT = 900.0
#: The issues' targets (#6; #19 raised inline verification's from 0.8x). Copy figures are ratios to the dump|load baseline.
COPY_RATIO = 1.0
COPY_INLINE_RATIO = 1.0
DRAIN_TXN_PER_SECOND = 15_000
MAX_LAG_SECONDS = 1.0
WINDOW_SECONDS = 0.5
RSS_MB = 300.0

#: The database every benchmark table lives in on the source; each move renames it on the target.
DATABASE = "bench"


class BenchError(Exception):
    """A part could not measure what it should (the agent died, a wait timed out); the run goes on with the next part."""


@dataclass(frozen=True)
class Table:
    """A benchmark table, created and filled server-side from MariaDB's sequence engine (``seq_1_to_N``)."""

    name: str
    ddl: str
    fill: str
    rows: int

    def create(self, conn: Any) -> None:
        """Create the table in DATABASE on the source (anew, when a part's writers changed it: Bench.written) and fill it."""
        execute(conn, "DROP TABLE IF EXISTS %s.`%s`" % (DATABASE, self.name))
        execute(conn, self.ddl.format(db=DATABASE))
        execute(conn, "USE %s" % DATABASE)  # seq_1_to_N tables need a current database
        execute(conn, self.fill.format(db=DATABASE, rows=self.rows))

    def row_bytes(self, conn: Any) -> int:
        """Bytes of data in an average row (the columns' LENGTH summed; numbers and dates as text, as a dump has them).

        Not InnoDB's AVG_ROW_LENGTH: that is an estimate, and for rows of kilobytes mostly says how full the pages are.
        """
        columns = fetch_all(conn, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                            (DATABASE, self.name))
        return int(fetch_value(conn, "SELECT AVG(%s) FROM %s.%s" % (" + ".join("LENGTH(`%s`)" % c for c, in columns), DATABASE, self.name)))


def narrow_table(rows: int, name: str = "t") -> Table:
    """``t`` (or ``name``, the same rows): mixed types, about 160 bytes of data a row, about 200 in InnoDB with the record and page overhead."""
    return Table(name, """CREATE TABLE {db}.%s (
  id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(100) NOT NULL, c DECIMAL(12,2) NOT NULL,
  d DATETIME(6) NOT NULL, e TEXT NOT NULL, f DOUBLE NOT NULL, g TINYINT UNSIGNED NOT NULL) ENGINE=InnoDB""" % name,
                 """INSERT INTO {db}.%s SELECT seq, seq %% 100000, CONCAT('name-', seq, '-', REPEAT('x', seq %% 50)), seq / 7,
  TIMESTAMPADD(MICROSECOND, seq * 1234567, '2020-01-01'), REPEAT(MD5(seq), 2), seq / 3, seq %% 256 FROM seq_1_to_{rows}""" % name, rows)


def wide_table(rows: int) -> Table:
    """``wide``: 25 columns of most kinds, TEXT and BLOB among them, about 3.3 KB of data a row (all in the page, none off-page)."""
    return Table("wide", """CREATE TABLE {db}.wide (
  id BIGINT PRIMARY KEY, n1 INT NOT NULL, n2 INT NOT NULL, n3 BIGINT NOT NULL, n4 SMALLINT NOT NULL, n5 TINYINT NOT NULL,
  s1 VARCHAR(255) NOT NULL, s2 VARCHAR(255) NOT NULL, s3 VARCHAR(255) NOT NULL, s4 VARCHAR(64) NOT NULL, s5 CHAR(32) NOT NULL,
  m1 DECIMAL(18,4) NOT NULL, m2 DECIMAL(10,2) NOT NULL, r1 DOUBLE NOT NULL, r2 FLOAT NOT NULL,
  d1 DATE NOT NULL, d2 DATETIME NOT NULL, d3 TIMESTAMP(3) NOT NULL, flag BOOLEAN NOT NULL, kind ENUM('a','b','c','d') NOT NULL,
  body TEXT NOT NULL, notes MEDIUMTEXT NOT NULL, payload BLOB NOT NULL, extra VARBINARY(255) NOT NULL) ENGINE=InnoDB""",
                 """INSERT INTO {db}.wide SELECT seq, seq % 1000, seq * 7, seq * 1000003, seq % 30000, seq % 100,
  CONCAT('first-', seq, '-', REPEAT('a', seq % 100)), REPEAT(MD5(seq), 6), CONCAT(REPEAT(SHA1(seq), 3), '-', seq), MD5(seq * 3), MD5(seq),
  seq / 9, (seq % 100000) / 3, seq / 11, seq / 13, '2020-01-01' + INTERVAL seq % 3000 DAY,
  '2020-01-01 00:00:00' + INTERVAL seq MINUTE, FROM_UNIXTIME(1600000000 + seq + (seq % 1000) / 1000), seq % 2, ELT(1 + seq % 4, 'a', 'b', 'c', 'd'),
  REPEAT(CONCAT(MD5(seq), ' '), 40), REPEAT(SHA1(seq), 15), REPEAT(UNHEX(SHA2(seq, 256)), 24), UNHEX(SHA2(seq, 512)) FROM seq_1_to_{rows}""", rows)


def number(value: float) -> str:
    """A count or rate for the table: rounded, with thousands separators."""
    return format(round(value), ",")


def sequence(position: str) -> int:
    """A GTID position as one growing number: its sequence numbers summed over domains (the sandboxes write in one)."""
    return sum(seq for _server, seq in gtid.parse(position).values())


class Bench:
    """One run's two sandboxes, and whatever is started on them, all stopped on the way out, however it ends."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.base = os.path.join(folder, "sandboxes")
        self.filled: set[str] = set()
        self.agents: list[Agent] = []
        self.processes: list[subprocess.Popen] = []
        try:
            self.source, self.target = sandbox.up(self.base, ["source", "target"], options=SERVER_OPTIONS)
            self.source_conn = connect(self.source.spec("root"))
            self.target_conn = connect(self.target.spec("root"))
            execute(self.source_conn, "CREATE DATABASE %s" % DATABASE)
        except BaseException:
            sandbox.down(self.base)
            raise

    def reset(self) -> None:
        """Stop the agents and clients still running (after a failed part, so that the next one runs alone)."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.processes = []
        for move in self.agents:
            move.halt()

    def close(self) -> None:
        """reset(), then stop the servers."""
        try:
            self.reset()
        finally:
            close_quietly(self.source_conn, self.target_conn)
            sandbox.down(self.base)

    def ensure(self, table: Table) -> None:
        """Create and fill ``table`` on the source, once per run."""
        if table.name not in self.filled:
            started = time.perf_counter()
            conn = connect(self.source.spec("root"), read_timeout=FILL_TIMEOUT)
            try:
                table.create(conn)
            finally:
                close_quietly(conn)
            self.filled.add(table.name)
            log("filled %s.%s with %d rows in %.1f s" % (DATABASE, table.name, table.rows, time.perf_counter() - started))

    def written(self, table: Table) -> None:
        """``table``'s rows are about to be changed by a part's writers: the next part that ensures it gets it filled
        afresh (a full run's size and many parts copy ``t`` after apply's writers added rows to it, and check the count)."""
        self.filled.discard(table.name)

    def source_sequence(self) -> int:
        return sequence(fetch_value(self.source_conn, "SELECT @@GLOBAL.gtid_binlog_pos") or "")

    def client_options(self, box: sandbox.Sandbox, user: str) -> str:
        """A 0600 option file for the mariadb command-line clients (no password in a process list).

        root logs in over the socket (the only way the sandbox allows), the others over TCP as an application would.
        """
        path = os.path.join(self.folder, "%s-%s.cnf" % (box.name, user))
        if not os.path.exists(path):
            login = ["socket=%s" % box.socket] if user == "root" else ["host=127.0.0.1", "port=%d" % box.port]
            write_private(path, "\n".join(["[client]", "user=%s" % user, "password=%s" % box.passwords[user]] + login) + "\n")
        return path

    def client(self, box: sandbox.Sandbox, user: str, args: list[str], **popen: Any) -> subprocess.Popen:
        """A ``mariadb`` or ``mariadb-dump`` process (``args[0]``), stopped by close() if still running."""
        process = subprocess.Popen([args[0], "--defaults-extra-file=" + self.client_options(box, user)] + args[1:], **popen)
        self.processes.append(process)
        return process

    def machine(self) -> dict[str, Any]:
        """What the figures were measured on and with: they mean little without it."""
        def git(*args: str) -> bytes:
            return subprocess.run(["git", "-C", str(ROOT)] + list(args), capture_output=True, check=False).stdout

        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
        changes = git("diff", "HEAD", "--", "plugins")
        return {
            "cores": os.cpu_count(),
            "cpu": model,
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "mariadb": fetch_value(self.source_conn, "SELECT VERSION()"),
            "server_options": list(sandbox.BASE_OPTIONS + SERVER_OPTIONS),
            "git_commit": git("rev-parse", "HEAD").decode().strip(),
            # The engine under test is often uncommitted work: this tells two such runs apart.
            "plugins_uncommitted_diff_sha256": hashlib.sha256(changes).hexdigest() if changes else None,
        }


def log(message: str) -> None:
    """Progress for the person waiting, on stderr; the table and the results file are the output."""
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), message), flush=True, file=sys.stderr)


def wait_for(done: Callable[[], bool], timeout: float, what: str, alive: Callable[[], None] = lambda: None, poll: float = 0.05) -> float:
    """Poll ``done`` until true; return the perf_counter time it was seen true. ``alive`` raises when waiting is pointless."""
    deadline = time.monotonic() + timeout
    while not done():
        alive()
        if time.monotonic() > deadline:
            raise BenchError("%s: not within %.0f s" % (what, timeout))
        time.sleep(poll)
    return time.perf_counter()


class Agent:
    """One move, run by its agent process, observed through the target's ``_dbferry`` checkpoints and /proc."""

    def __init__(self, bench: Bench, name: str, tables: list[Table], inline: bool = False, copy: Optional[dict[str, Any]] = None) -> None:
        self.bench = bench
        self.name = name
        #: Each move writes to a database of its own on the target, dropped by remove().
        self.target_db = name.replace("-", "_")
        self.raw = {"name": name, "source": bench.source.connection_options("ferry_source"),
                    "target": bench.target.connection_options("ferry_target"), "databases": {"include": [DATABASE]},
                    "tables": {"include": ["%s.%s" % (DATABASE, t.name) for t in tables]},
                    "rename": {"databases": {DATABASE: self.target_db}},
                    "state_dir": os.path.join(bench.folder, "moves", name), "verify": {"inline": inline}}
        if copy:  # copy options other than the defaults (the ranges part's one range)
            self.raw["copy"] = copy
        self.config: Optional[MoveConfig] = None
        self.pid = 0
        bench.agents.append(self)

    @property
    def state_dir(self) -> str:
        return self.raw["state_dir"]

    def start(self) -> float:
        """Start the agent process (a new one resumes the move); return the perf_counter time just before."""
        started = time.perf_counter()
        _changed, self.pid, self.config = agent.start(self.raw, timeout=120)
        return started

    def alive(self) -> None:
        """Raise with the agent's last error when its process is gone."""
        if agent.running_pid(self.state_dir) is None:
            raise BenchError("the agent of move %s stopped: %s" % (self.name, agent.last_error(self.state_dir)))

    def peak_rss_mb(self) -> float:
        """The peak resident set so far (VmHWM) of the agent plus that of each process it started (the binlog reader), in MB of 10^6 bytes.

        A sum of peaks: an upper bound of what the move held at any one time.
        """
        return tree_peak_rss_mb(self.pid)

    def batch_lock_ms(self, timeout: float = 30.0) -> dict[str, Any]:
        """The agent's figures of how long its copy batches held their locks (status ``copy_batch_lock_ms``), from its
        first status published after the copy ended: the one that counts the last batches."""
        seen: dict[str, Any] = {}

        def published() -> bool:
            seen.update(agent.read_status(self.state_dir))
            return seen.get("phase") == "tailing" and "copy_batch_lock_ms" in seen
        wait_for(published, timeout, "move %s to publish its status after the copy" % self.name, self.alive)
        return seen["copy_batch_lock_ms"]

    def copied(self) -> bool:
        """Every table's copy cursor says done (committed on the target)."""
        return not fetch_value(self.bench.target_conn, "SELECT COUNT(*) FROM _dbferry.cursors WHERE move = %s AND NOT done", (self.name,))

    def rows_copied(self) -> int:
        return int(fetch_value(self.bench.target_conn, "SELECT SUM(rows_copied) FROM _dbferry.cursors WHERE move = %s", (self.name,)))

    def applied(self, conn: Any = None) -> int:
        """The applied position the target holds, as a sequence number (see sequence())."""
        position = fetch_value(conn or self.bench.target_conn, "SELECT applied_position FROM _dbferry.moves WHERE name = %s", (self.name,))
        return sequence(position or "")

    def wait_copied(self, timeout: float) -> float:
        return wait_for(self.copied, timeout, "copy of move %s" % self.name, self.alive)

    def wait_applied(self, wanted: int, timeout: float) -> float:
        return wait_for(lambda: self.applied() >= wanted, timeout, "move %s applying up to %d" % (self.name, wanted), self.alive)

    def stop(self) -> None:
        """Stop at a checkpoint, as the agent module does (the control socket)."""
        agent.stop(self.state_dir, timeout=120)

    def remove(self) -> None:
        """Stop, drop the move's checkpoints and state folder, and the database it wrote on the target."""
        agent.remove(self.state_dir, timeout=120)
        execute(self.bench.target_conn, "DROP DATABASE IF EXISTS `%s`" % self.target_db)
        self.bench.agents.remove(self)

    def halt(self) -> None:
        """Clean-up after a failure: stop the process whatever it is doing, by its pid."""
        pid = agent.running_pid(self.state_dir)
        if pid is None:
            return
        try:
            agent.stop(self.state_dir, timeout=30)
        except Exception:  # noqa: BLE001 - any failure here ends in the kill below  # pylint: disable=broad-exception-caught
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def dump_load(bench: Bench, table: Table) -> float:
    """Seconds for ``mariadb-dump --single-transaction bench TABLE | mariadb`` into another database on the target.

    root over each server's socket: the only account with what a dump and its LOCK TABLES need.
    """
    execute(bench.target_conn, "CREATE DATABASE baseline")
    try:
        started = time.perf_counter()
        dump = bench.client(bench.source, "root", ["mariadb-dump", "--single-transaction", DATABASE, table.name], stdout=subprocess.PIPE)
        load = bench.client(bench.target, "root", ["mariadb", "baseline"], stdin=dump.stdout)
        dump.stdout.close()
        if dump.wait() != 0 or load.wait() != 0:
            raise BenchError("mariadb-dump | mariadb failed (exit %s, %s)" % (dump.returncode, load.returncode))
        seconds = time.perf_counter() - started
        loaded = fetch_value(bench.target_conn, "SELECT COUNT(*) FROM baseline.`%s`" % table.name)
        if loaded != table.rows:
            raise BenchError("the baseline loaded %s rows of %d" % (loaded, table.rows))
        return seconds
    finally:
        execute(bench.target_conn, "DROP DATABASE baseline")


class RowMix:
    """The changes one writer connection makes to ``bench.t`` (or ``table``, of the same columns): each statement changes exactly one row and never fails.

    60 % UPDATE, 20 % INSERT, 20 % DELETE. Connection ``index`` of ``connections`` owns the original keys
    ``index + 1 (mod connections)`` and the keys it inserts, so connections never wait on each other's rows; it deletes
    only rows it inserted (else it inserts), so the original rows stay for the next part. Seeded: every run writes the
    same statements.
    """

    def __init__(self, rows: int, index: int, connections: int, table: str = "t") -> None:
        self.table = table
        self.rng = random.Random(index)
        self.originals = range(index + 1, rows + 1, connections)
        self.inserted: list[int] = []
        self.next_key = rows + 1 + index
        self.step = connections

    def change(self) -> str:
        pick = self.rng.random()
        if pick < 0.6:
            key = self.rng.choice(self.originals)
            return "UPDATE `%s` SET a = a + 1, f = f * 1.0001, d = NOW(6) WHERE id = %d" % (self.table, key)
        if pick < 0.8 or not self.inserted:
            key, self.next_key = self.next_key, self.next_key + self.step
            self.inserted.append(key)
            return "INSERT INTO `%s` VALUES (%d, %d, 'new-%d', %d.25, NOW(6), MD5(%d), %d.5, %d)" % (
                self.table, key, key % 100000, key, key % 9999, key, key, key % 256)
        index = self.rng.randrange(len(self.inserted))
        self.inserted[index], key = self.inserted[-1], self.inserted[index]
        self.inserted.pop()
        return "DELETE FROM `%s` WHERE id = %d" % (self.table, key)

    def transaction(self, size: int) -> Transaction:
        """One transaction of ``size`` changes: a lone autocommit statement for 1."""
        return Transaction(tuple(self.change() for _row in range(size)), rows=size)


class SizedMix:
    """A RowMix's transactions for one writer run, of ``sizes`` rows each (drawn uniformly, seeded by connection)."""

    def __init__(self, mix: RowMix, sizes: tuple[int, int], index: int) -> None:
        self.mix = mix
        self.sizes = sizes
        self.rng = random.Random(1000 + index)

    def next_transaction(self) -> Transaction:
        return self.mix.transaction(self.rng.randint(*self.sizes))


@dataclass
class Written:
    """What a FlatOutWriter's connections committed."""

    seconds: float
    transactions: int
    rows: int

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 2), "transactions": self.transactions, "rows": self.rows,
                "transactions_per_second": round(self.transactions / self.seconds), "rows_per_second": round(self.rows / self.seconds)}


class FlatOutWriter:
    """Connections writing to the source as fast as it takes them, one ``mariadb`` client each, as the ``app`` user over TCP.

    A Load (dev/load.py) of ClientPipe sessions: each client runs its statements one by one, a round trip each, as an
    application does, and Python only has to stay ahead of it. ``sizes`` bounds the rows per transaction (drawn
    uniformly); ``limit`` ends the writing after that many transactions in all, else finish() does.
    """

    def __init__(self, bench: Bench, mixes: list[RowMix], sizes: tuple[int, int], limit: Optional[int] = None) -> None:
        self.bench = bench
        self.first = bench.source_sequence()
        self.started = time.perf_counter()
        self.clients = [bench.client(bench.source, "app", ["mariadb", "--batch", DATABASE], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
                        for _mix in mixes]
        self.load = Load(lambda index: ClientPipe(self.clients[index].stdin), [SizedMix(mix, sizes, i) for i, mix in enumerate(mixes)],
                         transactions=limit)

    def finish(self) -> Written:
        """Stop writing (a limited writer: once its transactions are written), wait for the clients, count the commits."""
        try:
            sent = self.load.finish()
        except LoadError as exc:  # a client stopped reading: its exit status says why
            self._wait_clients()
            raise BenchError("the writers failed: %s" % exc) from None
        self._wait_clients()
        seconds = time.perf_counter() - self.started
        committed = self.bench.source_sequence() - self.first
        if committed != sent.written:
            raise BenchError("the writers sent %d transactions but the source logged %d" % (sent.written, committed))
        return Written(seconds, committed, sent.rows)

    def _wait_clients(self) -> None:
        """Wait for each client to run what its pipe holds and exit; raise when one failed."""
        for client in self.clients:
            if client.wait() != 0:
                raise BenchError("a writer's mariadb client failed (exit %d)" % client.returncode)


@dataclass
class Sample:
    """Positions seen at one moment: the source's, then the target's applied one, as sequence numbers."""

    at: float
    source: int
    applied: int


def lags(samples: list[Sample]) -> list[Optional[float]]:
    """For each sample, how long the applier took to reach the source position seen then (None: not reached yet).

    The lag of the sample at t is t' - t for the first sample t' >= t whose applied position includes the source
    position seen at t: the gap in the binlog, in time, at the sampling interval's resolution; not the age of the
    last applied event's timestamp, which the binlog has in whole seconds.
    """
    applied = [s.applied for s in samples]
    result: list[Optional[float]] = []
    for index, sample in enumerate(samples):
        # Applied positions only grow, so the first sample that reaches is found by bisection.
        reached = bisect.bisect_left(applied, sample.source, lo=index)
        result.append(samples[reached].at - sample.at if reached < len(samples) else None)
    return result


class Follower(Protocol):
    """What applies the source's transactions somewhere else: a move's agent (Agent), or a replica (alter.py)."""

    def applied(self, conn: Any) -> int:
        """The applied position, as a sequence number (see sequence()), read on ``conn``, a session on ``LagSampler.on``."""


class LagSampler:
    """The source's and the applied position every ``interval`` seconds, in a thread, on connections of its own.

    ``on``: the server ``move`` applies to and reports its position on; the target unless given (a replica).
    """

    def __init__(self, bench: Bench, move: Follower, interval: float = 0.1, on: Optional[sandbox.Sandbox] = None) -> None:
        self.bench = bench
        self.move = move
        self.on = on or bench.target
        self.interval = interval
        self.samples: list[Sample] = []
        self.stopping = threading.Event()
        self.error: Optional[BaseException] = None
        self.sampled = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        # The first sample must come before anything is written, or the writes before it would go unmeasured.
        self.sampled.wait()
        self._check()

    def _run(self) -> None:
        source = target = None
        try:
            source, target = connect(self.bench.source.spec("root")), connect(self.on.spec("root"))
            while not self.stopping.is_set():
                at = time.perf_counter()
                position = sequence(fetch_value(source, "SELECT @@GLOBAL.gtid_binlog_pos") or "")
                self.samples.append(Sample(at, position, self.move.applied(target)))
                self.sampled.set()
                self.stopping.wait(max(0.0, at + self.interval - time.perf_counter()))
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread by _check()  # pylint: disable=broad-exception-caught
            self.error = exc
        finally:
            self.sampled.set()
            close_quietly(source, target)

    def _check(self) -> None:
        if self.error is not None:
            raise BenchError("lag sampling failed: %s" % self.error)

    def behind(self) -> float:
        """Seconds since the oldest sample whose source position the latest sample does not show applied (0: none)."""
        self._check()
        samples = list(self.samples)
        if not samples:
            return 0.0
        latest = samples[-1]
        oldest = next((s for s in samples if s.source > latest.applied), latest)
        return latest.at - oldest.at

    def reached(self, wanted: int) -> Optional[float]:
        """When a sample first showed ``wanted`` applied, or None."""
        self._check()
        return next((s.at for s in self.samples if s.applied >= wanted), None)

    def stop(self) -> list[Sample]:
        self.stopping.set()
        self.thread.join()
        self._check()
        return self.samples


class Replica:
    """A third sandbox replicating the source with GTIDs (dev/sandbox.py replicate()), from the source's position when made;
    its applied position for LagSampler. close() stops it.

    ``options``: server options on top of SERVER_OPTIONS (a parallel replica's).
    """

    def __init__(self, bench: Bench, name: str = "replica", options: tuple[str, ...] = ()) -> None:
        self.bench = bench
        self.name = name
        self.box = sandbox.up(bench.base, [name], options=SERVER_OPTIONS + options)[0]
        try:
            sandbox.replicate(self.box, bench.source)
            self.conn = connect(self.box.spec("root"))
        except BaseException:
            sandbox.down(bench.base, [name])
            raise

    def applied(self, conn: Any) -> int:
        """The source's transactions the replica has committed (gtid_slave_pos), as a sequence number."""
        return sequence(fetch_value(conn, "SELECT @@GLOBAL.gtid_slave_pos") or "")

    def fetched(self) -> int:
        """The source's transactions the replica's IO thread has written to its relay log (Gtid_IO_Pos), as a sequence number."""
        return sequence(self.status().get("Gtid_IO_Pos") or "")

    def check(self, sql_thread: bool = True) -> None:
        """Raise with the replication threads' errors when one of them stopped (the IO thread only, unless ``sql_thread``)."""
        status = self.status()
        threads = ("Slave_IO_Running", "Slave_SQL_Running") if sql_thread else ("Slave_IO_Running",)
        if any(status.get(thread) != "Yes" for thread in threads) or status.get("Last_SQL_Error"):
            raise BenchError("replication stopped: %s %s" % (status.get("Last_IO_Error"), status.get("Last_SQL_Error")))

    def status(self) -> dict[str, Any]:
        """SHOW SLAVE STATUS as a dict (empty when the server replicates nothing)."""
        with self.conn.cursor() as cursor:
            cursor.execute("SHOW SLAVE STATUS")
            row = cursor.fetchone()
            return dict(zip((column[0] for column in cursor.description), row)) if row else {}

    def wait_caught_up(self, bench: Bench) -> None:
        """Until the replica has applied everything the source has logged."""
        wanted = bench.source_sequence()
        wait_for(lambda: self.applied(self.conn) >= wanted, REPLICA_TIMEOUT, "the replica applying up to %d" % wanted, self.check)

    def close(self) -> None:
        """Stop the replica's server (and its session)."""
        close_quietly(self.conn)
        sandbox.down(self.bench.base, [self.name])


@dataclass(frozen=True)
class Options:
    """How big a run is; the defaults are the issue's (#6), smaller ones are for a quick look."""

    rows: int = 1_000_000
    #: The rows of the ranges part's one big table (``--rows`` sets it too).
    ranges_rows: int = 5_000_000
    write_seconds: float = 60.0
    #: Each copy measurement (baseline included) is taken this many times, interleaved, and the fastest kept.
    repeat: int = 1

    @property
    def wide_rows(self) -> int:
        return max(1000, self.rows // 10)

    @property
    def backlog(self) -> int:
        """Single-row transactions written while the agent is stopped: 300,000 for 1M rows."""
        return max(3000, self.rows * 3 // 10)


@dataclass
class Figure:
    """One line of the printed table: what was measured, the figure, its reference, the ratio, the target and the verdict."""

    what: str
    figure: str
    reference: str = ""
    ratio: Optional[float] = None
    target: str = ""
    met: Optional[bool] = None


def tree_peak_rss_mb(pid: int) -> float:
    """The peak resident set so far (VmHWM) of ``pid`` plus that of each live process below it, in MB of 10^6 bytes.

    A sum of peaks: an upper bound of what the process and its helpers held at any one time.
    """
    return _peak_rss_mb(pid) + sum(_peak_rss_mb(child, missing_ok=True) for child in _descendants(pid))


def _peak_rss_mb(pid: int, missing_ok: bool = False) -> float:
    """VmHWM of ``pid``; 0 for a child that ended meanwhile (``missing_ok``)."""
    try:
        lines = Path("/proc/%d/status" % pid).read_text().splitlines()
    except OSError:
        if missing_ok:
            return 0.0
        raise
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    if missing_ok:
        return 0.0  # a zombie has no memory left
    raise BenchError("no VmHWM for pid %d" % pid)


def _descendants(pid: int) -> list[int]:
    """The live processes below ``pid`` (children of all its threads, then theirs); one that ends meanwhile is skipped."""
    found: list[int] = []
    try:
        tasks = list(Path("/proc/%d/task" % pid).iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += [int(child)] + _descendants(int(child))
    return found


def rss_figure(what: str, peaks: list[float]) -> Figure:
    """A part's memory line: the largest peak RSS among its agent processes, against the issue's target."""
    worst = max(peaks)
    return Figure(what, "%.0f MB" % worst, "largest VmHWM of %d agent(s), with their readers" % len(peaks), target="<= %.0f MB" % RSS_MB,
                  met=worst <= RSS_MB)
