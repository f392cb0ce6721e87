"""Helpers for engine tests: configurations, a ferry in a thread, catch-up, exact comparison, DML load."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from integration_support import ROOT, Servers, root_session

from ansible_collections.dbferry.mysql.plugins.module_utils.binlog import gtid
from ansible_collections.dbferry.mysql.plugins.module_utils.config.move_config import parse_config
from ansible_collections.dbferry.mysql.plugins.module_utils.dev.load import Load, ServerSession, Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import connect, execute, fetch_all, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import state
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.ferry import Ferry
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident, quote_table


def move_config(servers: Servers, db: str, state_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A move of database ``db`` from the source sandbox to the target sandbox, as the least-privilege users."""
    data: dict[str, Any] = {
        "name": "m-" + db.replace("_", "-")[:40],
        "source": servers.source.connection_options("ferry_source"),
        "target": servers.target.connection_options("ferry_target"),
        "databases": {"include": [db]},
        "copy": {"batch_rows": 50, "concurrency": 2},
        "apply": {"batch_events": 50},
        "state_dir": str(state_dir),
    }
    data.update(overrides)
    return data


class FerryThread:
    """Runs a Ferry in a background thread, the way `dbferry run` runs it in the foreground."""

    def __init__(self, data: dict[str, Any], **hooks: Any) -> None:
        self.config = parse_config(data)
        Path(self.config.state_dir).mkdir(parents=True, exist_ok=True)
        self.ferry = Ferry(self.config, EventLog(self.config.name, str(Path(self.config.state_dir) / "ferry.log")), **hooks)
        self.stop = threading.Event()
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.ferry.run(self.stop)
        except BaseException as exc:  # noqa: BLE001 - surfaced by finish()  # pylint: disable=broad-exception-caught
            self.error = exc

    def check(self) -> None:
        """Raise the ferry's error once its thread ended: a wait for its progress fails at once, not at its timeout."""
        if not self.thread.is_alive():
            raise AssertionError("the ferry ended: %r" % (self.error,)) from self.error

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the ferry did not stop within 60 s"
        if self.error is not None:
            raise self.error


def caught_up_or_refused(servers: Servers, ferry: FerryThread, why: str, timeout: float = 60.0) -> bool:
    """Wait until ``ferry`` caught up (True), or until the engine refused its move with a DbferryError that says ``why``
    (False: a refusal must say why); stop it either way. Any other end of the move fails the test."""

    def alive() -> None:
        if not ferry.thread.is_alive():
            if isinstance(ferry.error, DbferryError):
                raise ferry.error
            raise AssertionError("the move stopped: %r" % (ferry.error,))

    try:
        wait_caught_up(servers, ferry.config.name, timeout=timeout, alive=alive)
    except DbferryError as exc:
        assert why in str(exc), exc
        return False
    finally:
        ferry.stop.set()
        ferry.thread.join(60)
    return True


def applied_state(servers: Servers, move: str) -> tuple[str, bool]:
    """(applied position, every table copied) as the target's checkpoints say."""
    with root_session(servers.target) as conn:
        # The engine creates its state tables one by one: wait for both that are read here.
        if fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '_dbferry' AND TABLE_NAME IN ('moves', 'cursors')") < 2:
            return "", False
        rows = fetch_all(conn, "SELECT applied_position FROM _dbferry.moves WHERE name = %s AND phase = 'copying'", (move,))
        pending = fetch_value(conn, "SELECT COUNT(*) FROM _dbferry.cursors WHERE move = %s AND NOT done", (move,))
    return (rows[0][0] if rows else ""), bool(rows) and pending == 0


def pending_recopies(servers: Servers, move: str) -> int:
    """Cascaded child rows the move still has to re-copy, as the target records them (engine/applier.py)."""
    with root_session(servers.target) as conn:
        return state.pending_count(conn, move)


def source_position(servers: Servers) -> str:
    with root_session(servers.source) as conn:
        return fetch_value(conn, "SELECT @@GLOBAL.gtid_binlog_pos") or ""


def wait_caught_up(servers: Servers, move: str, timeout: float = 120.0, alive: Optional[Callable[[], None]] = None) -> None:
    """Wait until every table is copied, the applier has applied the source's position as of now and has no cascaded
    child row left to re-copy; ``alive`` raises when the move ended (FerryThread.check), so a dead move fails at once."""
    wanted = source_position(servers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        position, copied = applied_state(servers, move)
        if copied and gtid.reached(position, wanted) and not pending_recopies(servers, move):
            return
        time.sleep(0.1)
    raise AssertionError("move %s not caught up with %s within %.0f s: %r" % (move, wanted, timeout, applied_state(servers, move)))


def table_rows(server: Any, schema: str, table: str) -> list[tuple]:
    """Every column (invisible ones too) of every row, in key order, exactly.

    HEX() of a value's bytes compares what is stored, not a Python
    conversion. FLOAT is compared as DOUBLE (its text has only 6 digits) and
    ENUM/SET by their number too (the ENUM error value prints as '').
    """
    with root_session(server) as conn:
        columns = fetch_all(
            conn, "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                  "ORDER BY ORDINAL_POSITION", (schema, table))
        exprs = []
        for column, data_type in columns:
            name = quote_ident(column)
            if data_type == "float":
                name = "CAST(%s AS DOUBLE)" % name
            exprs.append("HEX(CAST(%s AS BINARY))" % name)
            if data_type in ("enum", "set"):
                exprs.append("%s + 0" % name)
        return fetch_all(conn, "SELECT %s FROM %s ORDER BY 1" % (", ".join(exprs), quote_table(schema, table)))


def assert_same(servers: Servers, db: str, target_db: Optional[str] = None) -> int:
    """Exact row-by-row comparison of every table of ``db``; returns the number of rows compared."""
    target_db = target_db or db
    with root_session(servers.source) as conn:
        tables = [t for (t,) in fetch_all(
            conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1", (db,))]
    compared = 0
    for table in tables:
        source_rows = table_rows(servers.source, db, table)
        target_rows = table_rows(servers.target, target_db, table)
        if source_rows != target_rows:
            missing = sorted(set(source_rows) - set(target_rows))[:5]
            extra = sorted(set(target_rows) - set(source_rows))[:5]
            raise AssertionError("%s.%s differs: %d source rows, %d target rows; missing on target %r; unexpected on target %r" % (
                db, table, len(source_rows), len(target_rows), missing, extra))
        compared += len(source_rows)
    return compared


def make_load_tables(servers: Servers, db: str, rows: int) -> None:
    """Tables a and b, each with ``rows`` rows (keys from -10), for DmlLoad's ChurnMix."""
    with root_session(servers.source) as conn:
        for table in ("a", "b"):
            execute(conn, "CREATE TABLE %s (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40)) ENGINE=InnoDB" % quote_table(db, table))
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO %s VALUES (%%s, %%s, %%s)" % quote_table(db, table),
                                [(i, i * 3, "row%d" % i) for i in range(-10, rows - 10)])


class ChurnMix:
    """Random writes to tables ``a`` and ``b`` of ``db`` (id INT key, v INT, s VARCHAR; make_load_tables): inserts,
    updates, key changes, deletes, re-inserts of deleted keys, multi-table transactions and rollbacks."""

    def __init__(self, db: str, seed: int, key_space: int) -> None:
        self.rng = random.Random(seed)
        self.tables = (quote_table(db, "a"), quote_table(db, "b"))
        self.key_space = key_space

    def next_transaction(self) -> Transaction:
        rng, (a, b) = self.rng, self.tables
        table = rng.choice(self.tables)
        key = rng.randint(-50, self.key_space)
        op = rng.random()
        if op < 0.3:
            return Transaction(("INSERT IGNORE INTO %s (id, v, s) VALUES (%d, %d, 'ins%d')" % (table, key, rng.randint(0, 9999), key),))
        if op < 0.55:
            return Transaction(("UPDATE %s SET v = v + 1, s = 'upd%d' WHERE id = %d" % (table, rng.randint(0, 99), key),))
        if op < 0.65:
            return Transaction(("UPDATE IGNORE %s SET id = %d WHERE id = %d" % (table, rng.randint(-50, self.key_space), key),))
        if op < 0.8:
            return Transaction(("DELETE FROM %s WHERE id = %d" % (table, key),))
        if op < 0.9:  # multi-table transaction
            return Transaction(("UPDATE %s SET v = v - 1 WHERE id = %d" % (a, key),
                                "INSERT IGNORE INTO %s (id, v, s) VALUES (%d, 1, 'multi')" % (b, key)), rows=2)
        # a transaction that rolls back never reaches the binlog
        return Transaction(("DELETE FROM %s WHERE id BETWEEN %d AND %d" % (table, key, key + 20),), rollback=True)


class DmlLoad:
    """ChurnMix writes from several app connections until stopped (dev/load.py), seeded so a failure can be replayed;
    writes the source refuses while it is read-only, deadlocks and lock wait timeouts are passed over."""

    def __init__(self, servers: Servers, db: str, connections: int = 3, seed: int = 7, key_space: int = 4000,
                 per_second: Optional[float] = None) -> None:
        """``per_second``: each connection's pace; None writes as fast as the source takes it."""
        spec = servers.source.spec("app")
        self.load = Load(lambda _index: ServerSession(spec), [ChurnMix(db, seed + i, key_space) for i in range(connections)],
                         per_second=per_second * connections if per_second else None)

    @property
    def statements(self) -> int:
        """Transactions committed so far."""
        return self.load.counts.written

    def finish(self) -> None:
        assert self.load.finish().written > 0, "the load wrote nothing"


def settle(servers: Servers, load: DmlLoad, move: str, alive: Optional[Callable[[], None]] = None) -> None:
    """DESIGN step 4 for a test: source read-only (the app's writes stop), the
    load ends, the applier catches up with the final position, writable again."""
    with root_session(servers.source) as conn:
        execute(conn, "SET GLOBAL read_only = ON")
    try:
        load.finish()
        wait_caught_up(servers, move, alive=alive)
    finally:
        with root_session(servers.source) as conn:
            execute(conn, "SET GLOBAL read_only = OFF")


def write_config(tmp_path: Path, data: dict[str, Any]) -> str:
    """The move configuration as a 0600 JSON file, for `dbferry run`."""
    path = tmp_path / "move.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    return str(path)


def start_cli(config_path: str, log_path: Path) -> subprocess.Popen:
    """`dbferry run CONFIG` in the background, its output appended to ``log_path``."""
    return subprocess.Popen([str(ROOT / "bin" / "dbferry"), "run", config_path],
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)  # pylint: disable=consider-using-with


def _runs_logged(log_path: Path) -> int:
    """How many times the engine logged that it runs (prepared, copying and applying)."""
    if not log_path.exists():
        return 0
    return sum(1 for line in log_path.read_text().splitlines() if line.startswith("{") and json.loads(line).get("event") == "run")


def kill_and_restart(start: Callable[[], Any], delays: list[float], log_path: Path) -> Any:
    """kill -9 the process ``start()`` returns ``delay`` seconds after it logged that it runs, for each delay;
    then start it once more and return that one. Counting from "run", not from the start, puts every kill
    into copy and apply however slowly a loaded machine starts Python."""
    for delay in delays:
        runs = _runs_logged(log_path)
        proc = start()
        deadline = time.monotonic() + 60
        while _runs_logged(log_path) == runs:
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.05)
        time.sleep(delay)
        assert proc.poll() is None, log_path.read_text()[-3000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return start()


#: Between two reads of information_schema.INNODB_TRX: InnoDB refreshes what it shows only when nobody read it in the
#: last 0.1 s (trx0i_s.cc, can_cache_be_updated), so a tighter loop can see one old answer for as long as it polls.
INNODB_TRX_POLL_SECONDS = 0.2


def wait_for_lock_waits(server: Any, user: str, wanted: int, timeout: float) -> int:
    """Wait until ``wanted`` transactions of ``user``'s sessions on ``server`` wait for a lock (or ``timeout``); return
    how many do."""
    deadline = time.monotonic() + timeout
    while True:
        with root_session(server) as conn:
            waiting = int(fetch_value(conn, "SELECT COUNT(*) FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p "
                                            "ON p.ID = t.trx_mysql_thread_id WHERE p.USER = %s AND t.trx_state = 'LOCK WAIT'", (user,)))
        if waiting >= wanted or time.monotonic() > deadline:
            return waiting
        time.sleep(INNODB_TRX_POLL_SECONDS)


class AppStatement:
    """Runs one statement as the app user in a thread, so a test can see it wait for the copier's locks."""

    def __init__(self, servers: Servers, statement: str) -> None:
        self.statement = statement
        self.done = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(servers,), daemon=True)
        self.thread.start()

    def _run(self, servers: Servers) -> None:
        try:
            conn = connect(servers.source.spec("app"))
            try:
                execute(conn, self.statement)
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
            self.error = exc
        self.done.set()
