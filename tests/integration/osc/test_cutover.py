"""The cut-over's swap on a real server: names and rows, the lock's bound under writes, failures before the
release (a transaction holding the table, a session reading the ghost, the locker killed, the process killed),
and the postpone and panic flags. wait_applied is a stub: these tests are about the swap, not the applier."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from integration_support import ROOT, Servers, root_session, until

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.cutover import NO_PROCESS_NOTE, SENTRY_COMMENT, blockers, swap
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import (
    ServerSpec, close_quietly, connect, error_code, execute, fetch_all, fetch_value,
)

ORIGINAL = ["id", "v"]
SWAPPED = ["id", "v", "extra"]


class RecordingLog(EventLog):
    """An EventLog that keeps its events, for assertions and for stubs that act on them."""

    def __init__(self) -> None:
        super().__init__("alter-test")
        self.events: list[dict[str, Any]] = []

    def event(self, name: str, **fields: Any) -> None:
        self.events.append(dict(fields, event=name))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == name]


class Writer(threading.Thread):
    """An application session inserting into t one row at a time (v = 1000, 1001, ...), timing each insert."""

    def __init__(self, spec: ServerSpec, db: str) -> None:
        super().__init__(daemon=True)
        self.conn = connect(spec)
        self.db = db
        self.stop = threading.Event()
        self.done: list[tuple[int, float, float]] = []   # (v, started, ended)
        self.errors: list[BaseException] = []

    def run(self) -> None:
        value = 1000
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                execute(self.conn, "INSERT INTO `%s`.t (v) VALUES (%d)" % (self.db, value))
            except Exception as exc:  # noqa: BLE001 - the test asserts there are none  # pylint: disable=broad-exception-caught
                self.errors.append(exc)
                return
            self.done.append((value, started, time.monotonic()))
            value += 1
            time.sleep(0.005)

    def finish(self) -> list[int]:
        self.stop.set()
        self.join(30)
        close_quietly(self.conn)
        assert not self.errors, self.errors
        return [done[0] for done in self.done]

    def longest_wait(self) -> float:
        return max(done[2] - done[1] for done in self.done)


def make_pair(conn: Any, db: str, rows: int = 5) -> None:
    """t and its ghost `_t_gho`, which has an extra column and already holds t's rows."""
    execute(conn, "CREATE TABLE `%s`.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT NOT NULL)" % db)
    execute(conn, "CREATE TABLE `%s`._t_gho (id INT PRIMARY KEY AUTO_INCREMENT, v INT NOT NULL, extra INT NOT NULL DEFAULT 7)" % db)
    for value in range(rows):
        execute(conn, "INSERT INTO `%s`.t (v) VALUES (%d)" % (db, value))
    execute(conn, "INSERT INTO `%s`._t_gho (id, v) SELECT id, v FROM `%s`.t" % (db, db))


def tables(conn: Any, db: str) -> list[str]:
    return sorted(row[0] for row in fetch_all(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (db,)))


def columns(conn: Any, db: str, table: str) -> list[str]:
    return [row[0] for row in fetch_all(conn, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s"
                                              " AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (db, table))]


def values(conn: Any, db: str, table: str) -> list[int]:
    return [row[0] for row in fetch_all(conn, "SELECT v FROM `%s`.`%s` ORDER BY v" % (db, table))]


def assert_original_in_place(conn: Any, db: str, rows: int = 5) -> None:
    """t is the original (its columns, its rows), the ghost is untouched, no sentry is left, and t takes writes."""
    assert tables(conn, db) == ["_t_gho", "t"]
    assert columns(conn, db, "t") == ORIGINAL and columns(conn, db, "_t_gho") == SWAPPED
    assert values(conn, db, "t")[:rows] == list(range(rows))
    execute(conn, "INSERT INTO `%s`.t (v) VALUES (-1)" % db)


def applied_at_once(position: str, seconds_left: float, locker: Any) -> None:
    assert position and seconds_left > 0


def run_swap(servers: Servers, db: str, log: RecordingLog, **options: Any) -> Any:
    settings: dict[str, Any] = dict(lock_timeout=2, retries=3, wait_applied=applied_at_once, log=log, ok_to_drop_table=False,
                                    initially_drop_old_table=False)
    settings.update(options)
    return swap(servers.source.spec("root"), db, "t", "_t_gho", "_t_del", **settings)


class Pending(threading.Thread):
    """Statements sent in order from a session of their own, one expected to wait; the first error (if any) is kept."""

    def __init__(self, spec: ServerSpec, *statements: str) -> None:
        super().__init__(daemon=True)
        self.conn = connect(spec)
        self.statements = statements
        self.error: Any = None
        self.start()

    def run(self) -> None:
        try:
            for statement in self.statements:
                execute(self.conn, statement)
        except Exception as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
            self.error = exc

    def waiting(self, server_conn: Any) -> bool:
        return fetch_value(server_conn, "SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = %s",
                           (self.conn.thread_id(),)) == "Waiting for table metadata lock"

    def outcome(self) -> Any:
        self.join(30)
        close_quietly(self.conn)
        return self.error


def refusal(conn: Any, statement: str) -> int:
    """The server's error number for ``statement``, 0 when it ran."""
    try:
        fetch_all(conn, statement)
    except Exception as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
        return error_code(exc)
    return 0


def reads_then_writes(db: str) -> tuple[str, ...]:
    """An application transaction that reads a row of t, then writes it (finding 6's)."""
    return ("BEGIN", "SELECT v FROM `%s`.t WHERE id = 1" % db, "UPDATE `%s`.t SET v = 100 WHERE id = 1" % db, "COMMIT")


def test_mariadb_the_server_behaviour_the_swap_relies_on(servers: Servers, db: str) -> None:
    """Measured, not assumed: RENAME is refused under LOCK TABLES; t WRITE-locked is read by the locker alone, which
    cannot read the ghost; a waiting RENAME goes before waiting reads and writes, which then find the new table; a
    locker gone after the sentry's DROP lets the RENAME complete; the probe tells a RENAME that waits for the ghost from
    one that holds it."""
    spec = servers.source.spec("root")
    rename = "RENAME TABLE `%s`.t TO `%s`._t_del, `%s`._t_gho TO `%s`.t" % (db, db, db, db)
    probe = "SET STATEMENT lock_wait_timeout = 0 FOR SHOW CREATE TABLE `%s`._t_gho" % db
    with root_session(servers.source) as conn:
        make_pair(conn, db)
        locker, reader = connect(spec), connect(spec)
        try:
            execute(locker, "CREATE TABLE `%s`._t_del (id INT PRIMARY KEY)" % db)
            execute(locker, "LOCK TABLES `%s`.t WRITE, `%s`._t_del WRITE" % (db, db))
            assert refusal(locker, "RENAME TABLE `%s`._t_del TO `%s`._t_x" % (db, db)) == 1192
            assert refusal(locker, "SELECT 1 FROM `%s`._t_gho" % db) == 1100   # not locked: read from another session
            assert fetch_value(locker, "SELECT COUNT(*) FROM `%s`.t" % db) == 5   # the locker reads t
            write = Pending(spec, "INSERT INTO `%s`.t (v) VALUES (555)" % db)
            until(lambda: write.waiting(conn), "the write to wait")
            app = Pending(spec, *reads_then_writes(db))
            until(lambda: app.waiting(conn), "the application's read to wait")   # no other session reads t
            renamer = Pending(spec, rename)
            until(lambda: renamer.waiting(conn), "the RENAME to wait")
            execute(reader, "BEGIN")
            fetch_all(reader, "SELECT COUNT(*) FROM `%s`._t_gho" % db)
            execute(locker, "DROP TABLE `%s`._t_del" % db)
            assert refusal(conn, probe) == 0   # granted: the RENAME only waits for the ghost, which the reader holds
            execute(reader, "COMMIT")
            until(lambda: refusal(conn, probe) == 1205, "the RENAME to hold the ghost")
            execute(conn, "KILL CONNECTION %d" % locker.thread_id())   # the locker gone before its UNLOCK
            assert renamer.outcome() is None and write.outcome() is None and app.outcome() is None
        finally:
            close_quietly(locker, reader)
        assert columns(conn, db, "t") == SWAPPED and values(conn, db, "t") == [1, 2, 3, 4, 100, 555]
        assert values(conn, db, "_t_del") == list(range(5))


def test_mariadb_a_read_lock_would_let_a_reading_writer_deadlock_the_rename(servers: Servers, db: str) -> None:
    """Why t is WRITE-locked: under a READ lock, a transaction reads t, waits to write it, and a RENAME queued then
    makes a cycle (it waits for the reader's lock, the reader's write waits behind it): the application gets 1213."""
    spec = servers.source.spec("root")
    with root_session(servers.source) as conn:
        make_pair(conn, db)
        locker = connect(spec)
        try:
            execute(locker, "LOCK TABLES `%s`.t READ" % db)
            app = Pending(spec, *reads_then_writes(db))
            until(lambda: app.waiting(conn), "the application's write to wait")
            renamer = Pending(spec, "RENAME TABLE `%s`.t TO `%s`._t_del, `%s`._t_gho TO `%s`.t" % (db, db, db, db))
            until(lambda: not app.is_alive(), "the deadlock")
            execute(locker, "UNLOCK TABLES")
            assert error_code(app.outcome()) == 1213 and renamer.outcome() is None
        finally:
            close_quietly(locker)


@pytest.mark.parametrize("drop", [False, True])
def test_clean_swap_keeps_or_drops_the_old_table(servers: Servers, db: str, drop: bool) -> None:
    log = RecordingLog()
    with root_session(servers.source) as conn:
        make_pair(conn, db)
        result = run_swap(servers, db, log, ok_to_drop_table=drop)
        assert result.attempts == 1 and 0 < result.lock_seconds < 2 and result.warnings == []
        assert columns(conn, db, "t") == SWAPPED
        assert fetch_all(conn, "SELECT id, v, extra FROM `%s`.t ORDER BY id" % db) == [(i + 1, i, 7) for i in range(5)]
        if drop:
            assert result.old_table is None and tables(conn, db) == ["t"]
        else:
            assert result.old_table == "_t_del" and tables(conn, db) == ["_t_del", "t"]
            assert columns(conn, db, "_t_del") == ORIGINAL
            assert values(conn, db, "_t_del") == list(range(5))
    assert [event["attempt"] for event in log.named("cut_over_swapped")] == [1]


def test_a_name_that_sorts_before_the_sentry_swaps_too(servers: Servers, db: str) -> None:
    """For `Orders` the RENAME waits on the table's own lock first (upper case sorts before '_'): no ghost probe."""
    with root_session(servers.source) as conn:
        execute(conn, "CREATE TABLE `%s`.Orders (id INT PRIMARY KEY)" % db)
        execute(conn, "CREATE TABLE `%s`._Orders_gho (id INT PRIMARY KEY, extra INT NOT NULL DEFAULT 7)" % db)
        execute(conn, "INSERT INTO `%s`.Orders VALUES (1), (2)" % db)
        execute(conn, "INSERT INTO `%s`._Orders_gho (id) VALUES (1), (2)" % db)
        result = swap(servers.source.spec("root"), db, "Orders", "_Orders_gho", "_Orders_del", lock_timeout=2, retries=1,
                      wait_applied=applied_at_once, log=RecordingLog(), ok_to_drop_table=False, initially_drop_old_table=False)
        assert result.attempts == 1 and tables(conn, db) == ["Orders", "_Orders_del"]
        assert fetch_all(conn, "SELECT id, extra FROM `%s`.Orders ORDER BY id" % db) == [(1, 7), (2, 7)]


def test_writes_land_on_one_side_of_the_swap_and_wait_at_most_the_lock(servers: Servers, db: str) -> None:
    """A write waiting on the lock lands in the new table (the RENAME goes first); each write is in exactly one table."""
    log = RecordingLog()

    def slow_apply(position: str, seconds_left: float, locker: Any) -> None:
        time.sleep(0.4)

    with root_session(servers.source) as conn:
        make_pair(conn, db)
        writer = Writer(servers.source.spec("app"), db)
        writer.start()
        until(lambda: len(writer.done) >= 20, "the writer's first inserts")
        result = run_swap(servers, db, log, wait_applied=slow_apply, lock_timeout=2)
        until(lambda: len(writer.done) >= 20 + 40, "inserts after the swap")
        written = writer.finish()
        old, new = values(conn, db, "_t_del")[5:], values(conn, db, "t")[5:]
    assert sorted(old + new) == written, "a write was lost or doubled"
    assert old and new and max(old) < min(new), "writes before the swap are in the old table, after it in the new one"
    slowest = max(writer.done, key=lambda done: done[2] - done[1])
    assert slowest[0] in new and 0.4 <= writer.longest_wait() <= result.lock_seconds + 0.2
    assert result.attempts == 1 and result.lock_seconds < 1.0


def test_a_transaction_begun_under_the_lock_reads_and_writes_the_new_table(servers: Servers, db: str) -> None:
    """Finding 6: an application transaction begun while t is locked (BEGIN; SELECT; UPDATE) waits, then runs on the
    new table, no deadlock; wait_applied reads t through the locker."""
    app: list[Pending] = []

    def app_begins_under_the_lock(position: str, seconds_left: float, locker: Any) -> None:
        assert fetch_value(locker, "SELECT COUNT(*) FROM `%s`.t" % db) == 5
        app.append(Pending(servers.source.spec("app"), *reads_then_writes(db)))
        with root_session(servers.source) as watcher:
            until(lambda: app[0].waiting(watcher), "the application's transaction to wait")

    with root_session(servers.source) as conn:
        make_pair(conn, db)
        result = run_swap(servers, db, RecordingLog(), wait_applied=app_begins_under_the_lock)
        assert app[0].outcome() is None
        assert result.attempts == 1 and columns(conn, db, "t") == SWAPPED
        assert fetch_all(conn, "SELECT id, v, extra FROM `%s`.t ORDER BY id" % db) == [(1, 100, 7)] + [(i + 1, i, 7) for i in range(1, 5)]
        assert values(conn, db, "_t_del") == list(range(5))


@pytest.mark.parametrize("holds, reason", [
    ("UPDATE `%s`.t SET v = v WHERE id = 1", "not locked within the lock timeout"),   # the LOCK TABLES waits
    ("SELECT v FROM `%s`.t WHERE id = 1", "not locked within the lock timeout"),      # for a reader too (WRITE)
])
def test_a_transaction_holding_the_table_times_out_every_attempt(servers: Servers, db: str, holds: str, reason: str) -> None:
    """Each attempt gives up after the timeout, writes wait at most that long and then succeed, the blocker is named."""
    log = RecordingLog()
    with root_session(servers.source) as conn:
        make_pair(conn, db)
        holder = connect(servers.source.spec("app"))
        try:
            execute(holder, "BEGIN")
            fetch_all(holder, holds % db)
            writer = Writer(servers.source.spec("app"), db)
            writer.start()
            started = time.monotonic()
            with pytest.raises(DbferryError) as failed:
                run_swap(servers, db, log, lock_timeout=1, retries=2)
            spent = time.monotonic() - started
            until(lambda: writer.done and writer.done[-1][2] > time.monotonic() - 0.1, "a write after the attempts")
            written = writer.finish()
            assert_original_in_place(conn, db)
            assert values(conn, db, "t") == sorted([-1] + list(range(5)) + written)
        finally:
            close_quietly(holder)
    message = str(failed.value)
    assert "failed 2 time(s)" in message and "connection %d (app@" % holder.thread_id() in message
    assert "transaction open" in message and "original table in place" in message
    failures = log.named("cut_over_attempt_failed")
    assert [event["attempt"] for event in failures] == [1, 2]
    assert all(reason in event["reason"] for event in failures)
    assert all(any("connection %d" % holder.thread_id() in line for line in event["blockers"]) for event in failures)
    assert writer.longest_wait() < 1.5, "writes waited longer than the lock timeout"
    assert spent < 2 * 1.5 + 1.0, "two attempts and one pause"


def test_blockers_name_every_session_with_process_and_the_own_ones_without(servers: Servers, db: str, make_user: Any) -> None:
    """With PROCESS, another login's open transaction is named; without it the server shows only the login's own sessions
    (a statement of its own on t is named) and refuses the transactions: the last line says so."""
    options = make_user(servers.source, "osc_noprocess", ["SELECT ON `%s`.*" % db])
    with root_session(servers.source) as conn:
        make_pair(conn, db)
        # Sessions that other tests on this server left open (and their transactions) are not this test's business, and
        # the list names only the oldest few: leave them out.
        earlier = [row[0] for row in fetch_all(conn, "SELECT ID FROM information_schema.PROCESSLIST")]
        holder = connect(servers.source.spec("app"))
        own, own_statement = connect(ServerSpec(config_file=None, **options)), None
        try:
            execute(holder, "BEGIN")
            # A write: MariaDB lists a transaction that has only read in INNODB_TRX in some runs and not in others
            # (a reader is named when the server lists it); one that wrote is always listed.
            execute(holder, "UPDATE `%s`.t SET v = v + 1 WHERE id = 1" % db)
            own_statement = Pending(ServerSpec(config_file=None, **options), "SELECT SLEEP(3), v FROM `%s`.t WHERE id = 1" % db)
            until(lambda: fetch_value(conn, "SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = %s",
                                      (own_statement.conn.thread_id(),)) == "User sleep", "the login's own statement")
            # InnoDB refreshes what INNODB_TRX shows only when nobody read it in the last 0.1 s (so asking in a tight loop
            # would never see a new transaction): look a few times, 0.3 s apart.
            holder_line = "connection %d (app@" % holder.thread_id()
            for _attempt in range(20):
                time.sleep(0.3)
                everyone = blockers(conn, db, "t", exclude=earlier)
                if any(holder_line in line and "transaction open" in line for line in everyone):
                    break
            assert any(holder_line in line and "transaction open" in line for line in everyone), everyone
            assert any("connection %d (osc_noprocess@" % own_statement.conn.thread_id() in line for line in everyone)
            assert NO_PROCESS_NOTE not in everyone
            seen = blockers(own, db, "t")
            assert seen[-1] == NO_PROCESS_NOTE and len(seen) == 2
            assert "connection %d (osc_noprocess@" % own_statement.conn.thread_id() in seen[0] and "SLEEP(3)" in seen[0]
        finally:
            close_quietly(holder, own)
            if own_statement is not None:
                own_statement.outcome()


def test_a_session_reading_the_ghost_never_lets_writes_in_before_the_rename(servers: Servers, db: str) -> None:
    """gh-ost issue 887: t is released only once the RENAME holds the ghost; until then the attempt is undone."""
    log = RecordingLog()
    with root_session(servers.source) as conn:
        make_pair(conn, db)
        reader = connect(servers.source.spec("root"))
        writer = Writer(servers.source.spec("app"), db)
        try:
            execute(reader, "BEGIN")
            fetch_all(reader, "SELECT COUNT(*) FROM `%s`._t_gho" % db)
            writer.start()
            with pytest.raises(DbferryError):
                run_swap(servers, db, log, lock_timeout=1, retries=1)
            assert "another session used %s._t_gho" % db in log.named("cut_over_attempt_failed")[0]["reason"]
            until(lambda: len(writer.done) >= 10, "writes after the attempt")
            execute(reader, "COMMIT")
            assert columns(conn, db, "t") == ORIGINAL and tables(conn, db) == ["_t_gho", "t"]
            written_so_far = [done[0] for done in writer.done]
            assert set(written_so_far) <= set(values(conn, db, "t")), "every write is in the original"
            result = run_swap(servers, db, RecordingLog(), lock_timeout=1, retries=1)
            written = writer.finish()
        finally:
            close_quietly(reader)
        assert result.attempts == 1 and columns(conn, db, "t") == SWAPPED
        assert sorted(values(conn, db, "_t_del")[5:] + values(conn, db, "t")[5:]) == written


def test_a_slow_apply_is_retried_and_a_verification_difference_stops_at_once(servers: Servers, db: str) -> None:
    """wait_applied's TimeoutError ends an attempt (another follows); its DbferryError ends the cut-over, undone."""
    calls: list[float] = []

    def late_once(position: str, seconds_left: float, locker: Any) -> None:
        calls.append(seconds_left)
        if len(calls) == 1:
            raise TimeoutError("the applier is behind")

    def differs(position: str, seconds_left: float, locker: Any) -> None:
        raise DbferryError("db.t key 3 differs in column v", obj="db.t", fix="see the verification")

    with root_session(servers.source) as conn:
        make_pair(conn, db)
        log = RecordingLog()
        with pytest.raises(DbferryError, match="key 3 differs"):
            run_swap(servers, db, log, wait_applied=differs)
        assert_original_in_place(conn, db)
        assert len(log.named("cut_over_attempt")) == 1 and not log.named("cut_over_attempt_failed")
        log = RecordingLog()
        result = run_swap(servers, db, log, wait_applied=late_once)
        assert result.attempts == 2 and columns(conn, db, "t") == SWAPPED
    assert "the applier is behind" in log.named("cut_over_attempt_failed")[0]["reason"]
    assert all(0 < left <= 2 for left in calls)


def test_the_locker_killed_in_the_middle_leaves_the_original(servers: Servers, db: str) -> None:
    log = RecordingLog()

    def kill_locker(position: str, seconds_left: float, locker: Any) -> None:
        with root_session(servers.source) as killer:
            execute(killer, "KILL CONNECTION %d" % log.named("cut_over_locked")[-1]["locker_connection"])

    with root_session(servers.source) as conn:
        make_pair(conn, db)
        with pytest.raises(DbferryError):
            run_swap(servers, db, log, wait_applied=kill_locker, retries=1)
        assert_original_in_place(conn, db)
        assert not fetch_value(conn, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'RENAME TABLE%'")
        # The next attempt, with the same tables, swaps.
        assert run_swap(servers, db, RecordingLog()).attempts == 1 and columns(conn, db, "t") == SWAPPED


KILLED_SWAP = """
import sys, time
from pathlib import Path
from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.cutover import swap

base, db, signal_file, moment = sys.argv[1:]

def applied(position, seconds_left, locker):
    Path(signal_file).write_text(position)
    if moment == "applying":
        time.sleep(60)

swap(sandbox.get(base, "source").spec("root"), db, "t", "_t_gho", "_t_del", lock_timeout=60, retries=1, wait_applied=applied,
     log=EventLog("alter-test"), ok_to_drop_table=False, initially_drop_old_table=False)
"""

RENAMES = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'RENAME TABLE%'"


@pytest.mark.parametrize("moment", ["applying", "renaming"])
def test_kill_9_while_the_table_is_locked_leaves_the_original_and_the_next_swap_reports_the_sentry(
        servers: Servers, db: str, tmp_path: Path, moment: str) -> None:
    """Killed in wait_applied (no RENAME sent yet), or with the RENAME waiting while a session reads the ghost (the
    swap waits for it with the sentry in place): the locker's locks go, the RENAME fails on the sentry."""
    script, locked = tmp_path / "swap.py", tmp_path / "locked"
    script.write_text(KILLED_SWAP)
    env = dict(os.environ, PYTHONPATH=str(ROOT / ".build" / "collections"))
    with root_session(servers.source) as conn:
        make_pair(conn, db)
        reader = connect(servers.source.spec("root"))
        if moment == "renaming":
            execute(reader, "BEGIN")
            fetch_all(reader, "SELECT COUNT(*) FROM `%s`._t_gho" % db)
        process = subprocess.Popen([sys.executable, str(script), servers.base, db, str(locked), moment], env=env)
        try:
            until(locked.exists, "the swap to hold the lock", timeout=30)
            if moment == "renaming":
                until(lambda: fetch_value(conn, RENAMES) == 1, "the RENAME to wait")
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait(30)
            # Written while the RENAME may still wait (on the ghost): it must land in the original and stay there.
            execute(conn, "INSERT INTO `%s`.t (v) VALUES (-1)" % db)
            execute(reader, "COMMIT")
            close_quietly(reader)
        until(lambda: not fetch_value(conn, RENAMES), "the RENAME to fail on the sentry")
        assert columns(conn, db, "t") == ORIGINAL and values(conn, db, "t") == [-1] + list(range(5))
        assert fetch_value(conn, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = '_t_del'",
                           (db,)) == SENTRY_COMMENT
        log = RecordingLog()
        result = run_swap(servers, db, log)
        assert result.attempts == 1 and columns(conn, db, "t") == SWAPPED and columns(conn, db, "_t_del") == ORIGINAL
    assert len(result.warnings) == 1 and "sentry of a cut-over that was interrupted" in result.warnings[0]
    assert log.named("cut_over_leftover_sentry")


def test_an_old_table_of_an_earlier_change_is_kept_unless_initially_dropped(servers: Servers, db: str) -> None:
    with root_session(servers.source) as conn:
        make_pair(conn, db)
        execute(conn, "CREATE TABLE `%s`._t_del (id INT PRIMARY KEY)" % db)
        with pytest.raises(DbferryError, match="initially_drop_old_table"):
            run_swap(servers, db, RecordingLog())
        assert tables(conn, db) == ["_t_del", "_t_gho", "t"]
        result = run_swap(servers, db, RecordingLog(), initially_drop_old_table=True)
        assert result.warnings and columns(conn, db, "t") == SWAPPED and columns(conn, db, "_t_del") == ORIGINAL


def test_a_sentry_held_by_a_running_cut_over_is_refused_not_waited_for(servers: Servers, db: str) -> None:
    """Another cut-over in its wait for the applier holds its sentry and has sent no RENAME yet: named at once."""
    with root_session(servers.source) as conn:
        make_pair(conn, db)
        execute(conn, "CREATE TABLE `%s`._t_del (id INT NOT NULL PRIMARY KEY) COMMENT='%s'" % (db, SENTRY_COMMENT))
        other = connect(servers.source.spec("root"))
        try:
            execute(other, "LOCK TABLES `%s`.t WRITE, `%s`._t_del WRITE" % (db, db))
            started = time.monotonic()
            with pytest.raises(DbferryError, match="another cut-over of %s.t is running" % db):
                run_swap(servers, db, RecordingLog(), initially_drop_old_table=True)
            assert time.monotonic() - started < 5
        finally:
            close_quietly(other)
        assert tables(conn, db) == ["_t_del", "_t_gho", "t"] and columns(conn, db, "t") == ORIGINAL


def in_thread(call: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``call`` in a thread; the returned function joins it and returns its result or raises its error."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join() -> Any:
        thread.join(30)
        assert not thread.is_alive()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]
    return join


def test_postpone_waits_with_nothing_locked_then_swaps(servers: Servers, db: str, tmp_path: Path) -> None:
    postpone, log = tmp_path / "postpone", RecordingLog()
    postpone.touch()
    with root_session(servers.source) as conn:
        make_pair(conn, db)
        join = in_thread(lambda: run_swap(servers, db, log, postpone_flag=str(postpone)))
        until(lambda: log.named("cut_over_postponed"), "the postponement")
        time.sleep(0.3)
        execute(conn, "INSERT INTO `%s`.t (v) VALUES (-1)" % db)
        assert tables(conn, db) == ["_t_gho", "t"] and not log.named("cut_over_attempt")
        postpone.unlink()
        assert join().attempts == 1 and columns(conn, db, "t") == SWAPPED
    assert log.named("cut_over_postpone_lifted")


@pytest.mark.parametrize("when", ["postponed", "locked"])
def test_panic_stops_at_once_with_the_original_in_place(servers: Servers, db: str, tmp_path: Path, when: str) -> None:
    postpone, panic, log = tmp_path / "postpone", tmp_path / "panic", RecordingLog()
    if when == "postponed":
        postpone.touch()

    def panic_under_lock(position: str, seconds_left: float, locker: Any) -> None:
        panic.touch()

    with root_session(servers.source) as conn:
        make_pair(conn, db)
        join = in_thread(lambda: run_swap(servers, db, log, postpone_flag=str(postpone), panic_flag=str(panic),
                                          wait_applied=panic_under_lock, lock_timeout=30))
        if when == "postponed":
            until(lambda: log.named("cut_over_postponed"), "the postponement")
            panic.touch()
        started = time.monotonic()
        with pytest.raises(DbferryError, match="panic flag file"):
            join()
        assert time.monotonic() - started < 2
        assert_original_in_place(conn, db)
    assert len(log.named("cut_over_attempt")) == (1 if when == "locked" else 0)


def test_stop_ends_a_postponed_cut_over(servers: Servers, db: str, tmp_path: Path) -> None:
    postpone, log, stop = tmp_path / "postpone", RecordingLog(), threading.Event()
    postpone.touch()
    with root_session(servers.source) as conn:
        make_pair(conn, db)
        join = in_thread(lambda: run_swap(servers, db, log, postpone_flag=str(postpone), stop=stop))
        until(lambda: log.named("cut_over_postponed"), "the postponement")
        stop.set()
        with pytest.raises(DbferryError, match="stopped before the swap"):
            join()
        assert_original_in_place(conn, db)


def test_a_missing_ghost_is_refused_naming_it(servers: Servers, db: str) -> None:
    with root_session(servers.source) as conn:
        make_pair(conn, db)
        execute(conn, "DROP TABLE `%s`._t_gho" % db)
        with pytest.raises(DbferryError, match="_t_gho does not exist"):
            run_swap(servers, db, RecordingLog())
