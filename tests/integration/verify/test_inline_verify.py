"""Inline verification (config verify.inline, verify method inline) against real sandboxes.

What inline finds: a wrong value written by the copier (hashed at copy time),
a target row that differs at a dirty key, tables copied before inline was on
(compared by checksum, and the result says so). What it cannot find, by
design: a write to the target behind the move's back to a row no binlog
event touches afterwards; method checksum finds that one.
"""

from __future__ import annotations

import json
import signal
import threading
import time

from ferry_support import (DmlLoad, FerryThread, assert_same, kill_and_restart, make_load_tables, move_config, settle, source_position,
                           start_cli, wait_caught_up, write_config)
from integration_support import root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.verify import checksum as engine
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec, fetch_value

INLINE = {"inline": True}


def _engine(servers, name: str, **options) -> engine.VerifyReport:
    return engine.verify(ServerSpec(**servers.source.connection_options("ferry_source")), ServerSpec(**servers.target.connection_options("ferry_target")),
                         name, **options)


def _dirty(servers, move: str) -> int:
    with root_session(servers.target) as conn:
        return int(fetch_value(conn, "SELECT COUNT(*) FROM _dbferry.dirty WHERE move = %s", (move,)))


def _found(report: engine.VerifyReport) -> list[dict]:
    return [dict(m.as_dict(), table=t.table.name) for t in report.tables for m in t.mismatches]


def _small_table(servers, db: str, rows: int = 200) -> None:
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, v INT, s VARCHAR(20))" % db,
        "INSERT INTO `%s`.t VALUES %s" % (db, ", ".join("(%d, %d, 'r%d')" % (k, k, k) for k in range(rows))))


def test_under_load_inline_compares_only_recently_changed_rows(servers, db, tmp_path):
    make_load_tables(servers, db, 3000)
    load = DmlLoad(servers, db, connections=3, seed=31)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", copy={"batch_rows": 40, "concurrency": 2}, verify=INLINE))
    try:
        wait_caught_up(servers, ferry.config.name, timeout=180, alive=ferry.check)
        time.sleep(1.0)  # writes keep coming while the applier tails and the re-verifier clears them
    finally:
        settle(servers, load, ferry.config.name)
    try:
        total = assert_same(servers, db)
        report = _engine(servers, ferry.config.name, method="inline")
        assert not report.mismatched, report.failure_message()
        result = report.as_dict()
        assert result["method"] == "inline" and {t["method"] for t in result["tables"]} == {"inline"}
        assert result["rows_compared"] < total / 5, (result["rows_compared"], total)
        snapshot = ferry.ferry.status.snapshot()
        assert snapshot["inline_verified_rows"] > 0 and "inline_dirty_rows" in snapshot
        assert load.statements > 200
    finally:
        ferry.finish()


def test_a_wrong_value_written_by_the_copier_is_found(servers, db, tmp_path):
    """The batch hash at copy time catches what the copier wrote wrong; the row stays dirty until verified."""
    _small_table(servers, db)

    def corrupt(table, rows):
        for i, row in enumerate(rows):
            if row[0] == (77,):  # rows are (key values, the row as the source printed it)
                rows[i] = ((77,), b"(77,-1,X'77726F6E67')")  # (77, -1, 'wrong')

    ferry = FerryThread(move_config(servers, db, tmp_path / "state", verify=INLINE), copy_hook=corrupt)
    try:
        wait_caught_up(servers, ferry.config.name)
        report = _engine(servers, ferry.config.name, method="inline")
        assert _found(report) == [{"key": 77, "kind": "differs", "columns": ["v", "s"], "table": "t"}]
        assert report.tables[0].method == "inline" and report.tables[0].rows < 10
    finally:
        ferry.finish()


def test_a_target_row_that_differs_at_a_dirty_key_is_found(servers, db, tmp_path):
    """The re-verifier is held: a source change makes key 5 dirty; once applied, the target's row 5 is changed behind the move's back."""
    _small_table(servers, db)
    hold = threading.Event()
    held = threading.Event()

    def reverify():
        if hold.is_set():
            held.set()
            while hold.is_set():
                time.sleep(0.05)

    ferry = FerryThread(move_config(servers, db, tmp_path / "state", verify=INLINE), reverify_hook=reverify)
    try:
        wait_caught_up(servers, ferry.config.name)
        hold.set()
        assert held.wait(30)
        sql(servers.source, "UPDATE `%s`.t SET v = 1000 WHERE id = 5" % db)
        wait_caught_up(servers, ferry.config.name)
        assert _dirty(servers, ferry.config.name) >= 1
        sql(servers.target, "UPDATE `%s`.t SET s = 'behind' WHERE id = 5" % db)
        report = _engine(servers, ferry.config.name, method="inline")
        assert _found(report) == [{"key": 5, "kind": "differs", "columns": ["s"], "table": "t"}]
    finally:
        hold.clear()
        ferry.finish()


def test_a_target_write_behind_the_moves_back_to_a_clean_row_needs_checksum(servers, db, tmp_path):
    """Out of inline's reach by design (no binlog event marks the row): inline passes, checksum names the row."""
    _small_table(servers, db)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", verify=INLINE))
    try:
        wait_caught_up(servers, ferry.config.name)
        sql(servers.target, "UPDATE `%s`.t SET v = -5 WHERE id = 150" % db)
        assert not _engine(servers, ferry.config.name, method="inline").mismatched
        checksum = _engine(servers, ferry.config.name, method="checksum")
        assert _found(checksum) == [{"key": 150, "kind": "differs", "columns": ["v"], "table": "t"}]
    finally:
        ferry.finish()


def test_tables_copied_without_inline_fall_back_to_checksum(servers, db, tmp_path):
    """Until a pass while the source is writable vouches for them (test_window.py)."""
    _small_table(servers, db)
    data = move_config(servers, db, tmp_path / "state", verify={"inline": False})
    ferry = FerryThread(data)
    wait_caught_up(servers, ferry.config.name)
    ferry.finish()
    ferry = FerryThread(dict(data, verify=INLINE))
    try:
        sql(servers.source, "UPDATE `%s`.t SET v = 7 WHERE id = 9" % db)
        wait_caught_up(servers, ferry.config.name)
        sql(servers.target, "UPDATE `%s`.t SET v = -5 WHERE id = 150" % db)
        report = _engine(servers, ferry.config.name, method="inline")
        table = report.tables[0]
        assert table.method == "checksum" and table.rows == 200 and "verify.inline" in table.note
        assert _found(report) == [{"key": 150, "kind": "differs", "columns": ["v"], "table": "t"}]
    finally:
        ferry.finish()


def test_kill_9_with_inline_then_resume(servers, db, tmp_path):
    """kill -9 of `dbferry run` with inline on, under load: the dirty set survives in _dbferry; inline and exact comparison pass."""
    make_load_tables(servers, db, 2000)
    data = move_config(servers, db, tmp_path / "state", copy={"batch_rows": 30, "concurrency": 2}, apply={"batch_events": 20}, verify=INLINE)
    config_path = write_config(tmp_path, data)
    load = DmlLoad(servers, db, connections=2, seed=41)
    log_path = tmp_path / "run.log"
    proc = None
    try:
        proc = kill_and_restart(lambda: start_cli(config_path, log_path), [2.0, 3.0, 2.5], log_path)

        def alive():
            assert proc.poll() is None, log_path.read_text()[-3000:]

        wait_caught_up(servers, data["name"], timeout=180, alive=alive)
    finally:
        settle(servers, load, data["name"])
    try:
        assert assert_same(servers, db) > 1000
        report = _engine(servers, data["name"], method="inline", position=source_position(servers))
        assert not report.mismatched, report.failure_message()
        assert {t.method for t in report.tables} == {"inline"}, [t.note for t in report.tables]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log_path.read_text()[-3000:]
    events = [json.loads(line)["event"] for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert events.count("run") >= 3 and events[-1] == "stopped"
