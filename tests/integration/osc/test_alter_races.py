"""Races of an online schema change on a real MariaDB sandbox: writes at the exact moment the review found a row lost or a
false stop (a chunk_hook, or the applier's hook, lets the test write there)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Optional

import pytest
from integration_support import root_session, until
from osc_support import AlterThread, alter_options

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import parse_alter_config
from ansible_collections.dbferry.mysql.plugins.module_utils.config.tunables import Tunables
from ansible_collections.dbferry.mysql.plugins.module_utils.controls.throttle import Throttle
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import state
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.applier import apply_binlog
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.tables import MovedTable
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.target_lock import TargetLock
from ansible_collections.dbferry.mysql.plugins.module_utils.osc import runner
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.missing import Bound
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.plan import alter_name
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.runner import _AppliedKeys, already_applied, engine_config, noop_alter, remove_alter
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import connect, execute, fetch_all, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.server.flavor import detect_flavor


def test_every_transaction_of_a_batch_reports_its_keys(servers: Any, db: str, tmp_path: Path) -> None:
    """Finding 1: the applier commits several transactions as one batch; the keys each of them changed are all "written
    since the mark" (the verification compares them again), not only the batch's last transaction's."""
    with root_session(servers.source) as conn:
        for table in ("a", "_a_gho"):
            execute(conn, "CREATE TABLE %s (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB" % quote_table(db, table))
            execute(conn, "INSERT INTO %s VALUES %s" % (quote_table(db, table), ", ".join("(%d, 0)" % i for i in range(1, 61))))
        flavor = detect_flavor(conn)
        start = fetch_value(conn, flavor.gtid_position_sql)
    config = engine_config(parse_alter_config(alter_options(servers, db, "a", "ADD COLUMN w INT", tmp_path, dml_batch_size=100)),
                           alter_name(db, "a"))
    table = MovedTable(db, "a", db, "_a_gho", ("id", "v"), ("id",))
    writer = connect(servers.source.spec("root"), autocommit=False)
    try:
        state.ensure_schema(writer)
        state.create(writer, config.name, config.digest, [table])
        state.start(writer, config.name, start)
        writer.commit()
    finally:
        writer.close()
    held = threading.Event()
    release = threading.Event()

    def hold_first(_batch: list) -> None:  # the first batch waits: the 60 updates behind it gather into few batches
        if not held.is_set():
            held.set()
            release.wait(30)

    applied = _AppliedKeys(("id",))
    halt = threading.Event()
    thread = threading.Thread(target=apply_binlog, args=(config, flavor, [table], start, applied.applied, Throttle(), Tunables.of(config), halt),
                              kwargs={"hook": hold_first, "record_empty": False}, daemon=True)
    thread.start()
    try:
        with root_session(servers.source) as conn:
            for key in range(1, 61):  # one transaction per row (autocommit)
                execute(conn, "UPDATE %s SET v = v + 1 WHERE id = %d" % (quote_table(db, "a"), key))
            until(held.is_set, "the applier's first batch")
            time.sleep(0.5)  # the rest of the updates reach the preparer while the first batch is held
            release.set()
            applied.wait(fetch_value(conn, flavor.gtid_position_sql), 30, halt)
        assert applied.take_keys() == {(key,) for key in range(1, 61)}
    finally:
        release.set()
        halt.set()
        thread.join(30)


def _emails(servers: Any, db: str, rows: int = 20) -> None:
    """Table ``a``: ids 1..rows, email 'e<id>' (no unique key on it yet: the change adds one)."""
    with root_session(servers.source) as conn:
        execute(conn, "CREATE TABLE %s (id INT PRIMARY KEY, email VARCHAR(40) NOT NULL) ENGINE=InnoDB" % quote_table(db, "a"))
        execute(conn, "INSERT INTO %s VALUES %s" % (quote_table(db, "a"), ", ".join("(%d, 'e%d')" % (i, i) for i in range(1, rows + 1))))


def _write(servers: Any, db: str, *statements: str) -> None:
    with root_session(servers.source) as conn:
        for statement in statements:
            execute(conn, statement.replace("{a}", quote_table(db, "a")))


def test_a_row_evicted_by_a_passing_duplicate_comes_back(servers: Any, db: str, tmp_path: Path, monkeypatch: Any) -> None:
    """Finding 2: just before the cut-over's lock, row 1 takes row 15's email for a moment (legal: the original has no
    unique key on it), then one of its own. The applier's REPLACE of row 1 with 'e15' evicts row 15 from the ghost; the
    next event of row 1 does not bring it back. The new table must still hold row 15."""
    _emails(servers, db)
    real_swap = runner.swap

    def swap_after_a_passing_duplicate(*args: Any, **kwargs: Any) -> Any:
        _write(servers, db, "UPDATE {a} SET email = 'e15' WHERE id = 1", "UPDATE {a} SET email = 'new1' WHERE id = 1")
        return real_swap(*args, **kwargs)

    monkeypatch.setattr(runner, "swap", swap_after_a_passing_duplicate)
    result = AlterThread(alter_options(servers, db, "a", "ADD UNIQUE KEY email (email)", tmp_path / "state", chunk_size=10),
                         tmp_path / "alter.log").finish()
    assert result.changed
    with root_session(servers.source) as conn:
        assert fetch_all(conn, "SELECT id, email FROM %s WHERE id IN (1, 15) ORDER BY id" % quote_table(db, "a")) == [(1, "new1"), (15, "e15")]
        assert fetch_value(conn, "SELECT COUNT(*) FROM %s" % quote_table(db, "a")) == 20


def test_a_row_the_copy_skipped_for_a_stale_duplicate_comes_back(servers: Any, db: str, tmp_path: Path) -> None:
    """Finding 3: rows 1 and 15 share an email; row 1 gets another just before the copy's second chunk, after the first
    one copied it. The chunk keeps the ghost's row 1 (its ON DUPLICATE KEY UPDATE) and so skips row 15; the event that
    repairs row 1 later is not row 15's. The new table must hold row 15 (the verification stopped the change for good).
    (verify: false with a new unique key is refused by preflight.)"""
    _emails(servers, db)
    _write(servers, db, "UPDATE {a} SET email = 'dup' WHERE id IN (1, 15)")

    def fix_row_1(low: Optional[tuple], _high: tuple) -> None:
        if low == (10,):
            _write(servers, db, "UPDATE {a} SET email = 'fixed' WHERE id = 1")

    result = AlterThread(alter_options(servers, db, "a", "ADD UNIQUE KEY email (email)", tmp_path / "state", chunk_size=10),
                         tmp_path / "alter.log", chunk_hook=fix_row_1).finish()
    assert result.changed
    with root_session(servers.source) as conn:
        assert fetch_all(conn, "SELECT id, email FROM %s WHERE id IN (1, 15) ORDER BY id" % quote_table(db, "a")) == [(1, "fixed"), (15, "dup")]
        assert fetch_value(conn, "SELECT COUNT(*) FROM %s" % quote_table(db, "a")) == 20


def test_a_duplicate_the_original_holds_at_the_swap_stops_it_naming_the_rows(servers: Any, db: str, tmp_path: Path) -> None:
    """The one case a row may not come back: the original itself holds two rows with the new unique key's values when the
    table is locked. The change stops there, naming them, and the original stays."""
    _emails(servers, db)
    real_swap = runner.swap

    def swap_with_a_duplicate(*args: Any, **kwargs: Any) -> Any:
        _write(servers, db, "UPDATE {a} SET email = 'e15' WHERE id = 1")
        return real_swap(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "swap", swap_with_a_duplicate)
        with pytest.raises(DbferryError) as failed:
            AlterThread(alter_options(servers, db, "a", "ADD UNIQUE KEY email (email)", tmp_path / "state", chunk_size=10),
                        tmp_path / "alter.log").finish()
    assert "15" in failed.value.message and "email" in failed.value.message
    with root_session(servers.source) as conn:
        assert fetch_value(conn, "SELECT COUNT(*) FROM %s" % quote_table(db, "a")) == 20
        assert "UNIQUE" not in fetch_all(conn, "SHOW CREATE TABLE %s" % quote_table(db, "a"))[0][1]


def test_a_run_that_lost_its_lock_stops_before_the_swap(servers: Any, db: str, tmp_path: Path) -> None:
    """Finding 7: the session of the change's named lock is killed and another run takes the lock; the first run must
    stop (it may not go on to swap while the other resumes the change), the original in place."""
    _emails(servers, db, rows=400)
    copying = threading.Event()

    def slow_chunk(_low: Optional[tuple], _high: tuple) -> None:
        copying.set()
        time.sleep(0.05)

    run = AlterThread(alter_options(servers, db, "a", "ADD COLUMN w INT", tmp_path / "state", chunk_size=10), tmp_path / "alter.log",
                      chunk_hook=slow_chunk)
    name = TargetLock(servers.source.spec("root"), alter_name(db, "a")).name
    with root_session(servers.source) as conn:
        until(copying.is_set, "the copy")  # the lock is taken (and its session done with) before the copy starts
        holder = fetch_value(conn, "SELECT IS_USED_LOCK(%s)", (name,))
        execute(conn, "KILL %d" % int(holder))
        assert fetch_value(conn, "SELECT GET_LOCK(%s, 5)", (name,)) == 1  # the other run
        with pytest.raises(DbferryError) as failed:
            run.finish(timeout=60)
        assert "lost its lock" in failed.value.message
        execute(conn, "DO RELEASE_LOCK(%s)", (name,))
        assert "`w`" not in fetch_all(conn, "SHOW CREATE TABLE %s" % quote_table(db, "a"))[0][1]


def test_a_failure_after_the_swap_is_told_as_such(servers: Any, db: str, tmp_path: Path, monkeypatch: Any) -> None:
    """Finding 10: once the names are swapped, the applier always fails on the RENAME it reads; a later failure (here:
    recording the change complete) must be told as it is, with the swap done, not replaced by the applier's error."""
    _emails(servers, db)

    def lost(*_args: Any) -> None:
        raise OSError("connection lost")

    monkeypatch.setattr(runner.state, "record_complete", lost)
    with pytest.raises(DbferryError) as failed:
        AlterThread(alter_options(servers, db, "a", "ADD COLUMN w INT", tmp_path / "state", chunk_size=10), tmp_path / "alter.log").finish()
    assert "is done" in failed.value.message and "connection lost" in failed.value.message, failed.value.message
    with root_session(servers.source) as conn:
        assert "`w`" in fetch_all(conn, "SHOW CREATE TABLE %s" % quote_table(db, "a"))[0][1]


def test_auto_increment_is_raised_under_the_lock(servers: Any, db: str, tmp_path: Path, monkeypatch: Any) -> None:
    """Finding 12: ids given out (and rolled back) just before the cut-over's lock, after the last look, must not be
    given out again by the new table."""
    with root_session(servers.source) as conn:
        execute(conn, "CREATE TABLE %s (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB" % quote_table(db, "a"))
        execute(conn, "INSERT INTO %s (v) VALUES %s" % (quote_table(db, "a"), ", ".join(["(1)"] * 20)))
    real_swap = runner.swap

    def swap_after_an_id_came_and_went(*args: Any, **kwargs: Any) -> Any:
        # Rolled back: the ids are given out, and nothing of them reaches the binlog.
        _write(servers, db, "BEGIN", "INSERT INTO {a} (v) VALUES %s" % ", ".join(["(1)"] * 30), "ROLLBACK")
        return real_swap(*args, **kwargs)

    monkeypatch.setattr(runner, "swap", swap_after_an_id_came_and_went)
    assert AlterThread(alter_options(servers, db, "a", "ADD COLUMN w INT", tmp_path / "state", chunk_size=10), tmp_path / "alter.log").finish().changed
    _write(servers, db, "INSERT INTO {a} (v) VALUES (2)")
    with root_session(servers.source) as conn:
        assert fetch_value(conn, "SELECT MAX(id) FROM %s" % quote_table(db, "a")) > 50


def test_a_statement_under_the_lock_ends_at_the_time_left(servers: Any) -> None:
    """Finding 5: every statement under the cut-over's lock carries the time left as its max_statement_time, and none
    starts once that time is gone."""
    bound = Bound(0.5)
    with root_session(servers.source) as conn:
        started = time.monotonic()
        with pytest.raises(Exception) as ended:
            fetch_value(conn, bound.sql("SELECT SLEEP(5)"))
        assert time.monotonic() - started < 2 and "max_statement_time" in str(ended.value)
    time.sleep(0.5)
    with pytest.raises(TimeoutError):
        bound.sql("SELECT 1")


def test_a_run_ended_between_swap_and_record_is_found_done(servers: Any, db: str, tmp_path: Path, monkeypatch: Any) -> None:
    """Finding 11: a run that ends (killed) after its RENAME and before it records the change complete; the next run
    must see the swap done (the original rows are in ``_a_del``), record it, and not tell to drop ``_a_del``."""
    _emails(servers, db)
    options = alter_options(servers, db, "a", "ADD COLUMN w INT", tmp_path / "state", chunk_size=10)
    real_record = runner.state.record_complete

    def killed(*_args: Any) -> None:
        raise KeyboardInterrupt  # no handler of the run's may record anything: as a kill -9 there

    monkeypatch.setattr(runner.state, "record_complete", killed)
    with pytest.raises(KeyboardInterrupt):
        AlterThread(options, tmp_path / "alter.log").finish()
    monkeypatch.setattr(runner.state, "record_complete", real_record)
    again = AlterThread(options, tmp_path / "again.log").finish()
    assert not again.changed and again.old_table == "%s._a_del" % db
    with root_session(servers.source) as conn:
        assert fetch_all(conn, "SELECT phase FROM _dbferry.moves WHERE name = %s", (alter_name(db, "a"),)) == [("complete",)]
        assert fetch_value(conn, "SELECT COUNT(*) FROM %s" % quote_table(db, "_a_del")) == 20
    assert not AlterThread(options, tmp_path / "third.log").finish().changed


def test_a_native_alter_waits_for_the_table_no_longer_than_the_cut_over_would(servers: Any, db: str, tmp_path: Path) -> None:
    """Finding 8: attempt_instant_ddl's ALTER behind an open transaction that read the table (which holds every write of
    the application behind the ALTER) waits cut_over_lock_timeout_seconds per attempt, default_retries times, then stops
    naming the wait; the transaction's session is left alone."""
    _emails(servers, db)
    with root_session(servers.source) as reader:
        execute(reader, "BEGIN")
        fetch_value(reader, "SELECT COUNT(*) FROM %s" % quote_table(db, "a"))
        started = time.monotonic()
        with pytest.raises(DbferryError) as failed:
            AlterThread(alter_options(servers, db, "a", "ADD COLUMN w INT", tmp_path / "state", attempt_instant_ddl=True,
                                      cut_over_lock_timeout_seconds=1, default_retries=1), tmp_path / "alter.log").finish(timeout=30)
        assert time.monotonic() - started < 15 and "metadata lock" in failed.value.message
        execute(reader, "ROLLBACK")


def test_a_table_made_again_after_the_change_is_not_taken_for_changed(servers: Any, db: str, tmp_path: Path) -> None:
    """Finding 9: the change's record says complete, but the table was dropped and made again without the change since:
    the record speaks of a table that is gone; the change must run again."""
    _emails(servers, db)
    options = alter_options(servers, db, "a", "ADD COLUMN w INT", tmp_path / "state", chunk_size=10, ok_to_drop_table=True)
    assert AlterThread(options, tmp_path / "alter.log").finish().changed
    time.sleep(1.1)  # CREATE_TIME counts seconds
    _write(servers, db, "DROP TABLE {a}")
    _emails(servers, db)
    assert not already_applied(parse_alter_config(options))
    assert AlterThread(options, tmp_path / "again.log").finish().changed
    with root_session(servers.source) as conn:
        assert "`w`" in fetch_all(conn, "SHOW CREATE TABLE %s" % quote_table(db, "a"))[0][1]


def test_absent_in_check_mode_says_what_it_would_remove(servers: Any, db: str, tmp_path: Path) -> None:
    """Finding 13: state absent in check mode reports whether anything would be removed, and removes nothing."""
    _emails(servers, db)
    _write(servers, db, "CREATE TABLE %s LIKE {a}" % quote_table(db, "_a_gho"))
    config = parse_alter_config(alter_options(servers, db, "a", "FORCE", tmp_path / "state"))
    log = EventLog("alter", str(tmp_path / "alter.log"))
    assert remove_alter(config, log, check_mode=True)
    with root_session(servers.source) as conn:
        assert fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = '_a_gho'", (db,)) == 1
    assert remove_alter(config, log)
    assert not remove_alter(config, log, check_mode=True)


def test_check_mode_waits_for_no_running_change(servers: Any, db: str, tmp_path: Path) -> None:
    """Finding 13: check mode makes and drops the same scratch table as a running change's preflight, so it takes the
    change's lock: while another run holds it, check mode fails naming that run and touches nothing."""
    _emails(servers, db)
    config = parse_alter_config(alter_options(servers, db, "a", "ADD COLUMN w INT", tmp_path / "state"))
    lock = TargetLock(servers.source.spec("root"), alter_name(db, "a")).take()
    try:
        with pytest.raises(DbferryError) as failed:
            noop_alter(config, EventLog("alter"))
        assert "holds its lock" in failed.value.message
    finally:
        lock.release()
    assert noop_alter(config, EventLog("alter")).changed
