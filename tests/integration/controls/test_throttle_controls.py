"""Throttling, operator controls, flag files and hooks, with real causes on real sandboxes.

Load is raised with sleeping queries, flag files are created and removed,
replica lag comes from a real replica whose SQL thread is stopped. Each test
asserts that the copy stands still while held and that the status says why,
then that the move completes with an exact comparison.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from typing import Any, Callable, Optional

import pytest
from ferry_support import DmlLoad, FerryThread, applied_state, assert_same, make_load_tables, move_config, settle, wait_caught_up
from integration_support import ROOT, root_session, sql, until

from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import status
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import close_quietly, connect, execute, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError

#: Fast checks and small batches: every test here stays within seconds.
FAST = {"throttle_check_seconds": 0.1, "copy": {"batch_rows": 20, "concurrency": 1}}


def assert_held(snapshot: Callable[[], dict], cause: str, seconds: float = 1.0) -> dict:
    """The move is throttled by ``cause`` and copies nothing for ``seconds``; return the last status."""
    def held() -> Optional[dict]:
        now = snapshot()
        return now if cause in (now["throttle_reason"] or "") else None

    until(held, "throttled by " + cause, 30)
    time.sleep(0.3)  # a batch that passed the throttle before the hold began still ends
    first = snapshot()
    assert first["throttled"] is True and cause in first["throttle_reason"]
    time.sleep(seconds)
    last = snapshot()
    assert last["rows_copied"] == first["rows_copied"] and not all(t["done"] for t in last["tables"].values()), (first, last)
    return last


class Sleepers:
    """``count`` app sessions each running SELECT SLEEP: Threads_running on the source goes up by ``count``."""

    def __init__(self, server: sandbox.Sandbox, count: int) -> None:
        self.server = server
        self.conns = [connect(server.spec("app")) for _sleeper in range(count)]
        self.threads = [threading.Thread(target=self._sleep, args=(conn,), daemon=True) for conn in self.conns]
        for thread in self.threads:
            thread.start()
        with root_session(server) as conn:
            until(lambda: fetch_value(
                conn, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(60)%%'") >= count, "sleepers running")

    @staticmethod
    def _sleep(conn: Any) -> None:
        try:
            fetch_value(conn, "SELECT SLEEP(60)")
        except Exception:  # noqa: BLE001 - killed at the end of the test  # pylint: disable=broad-exception-caught
            pass

    def end(self) -> None:
        with root_session(self.server) as conn:
            for sleeper in self.conns:
                execute(conn, "KILL QUERY %d" % sleeper.thread_id())
        for thread in self.threads:
            thread.join(10)
        close_quietly(*self.conns)


def read_log(state_dir) -> list[dict]:
    return [json.loads(line) for line in (state_dir / "ferry.log").read_text().splitlines()]


def test_max_load_holds_the_copy_while_queries_run(servers, db, tmp_path):
    make_load_tables(servers, db, 600)
    sleepers = Sleepers(servers.source, 12)
    try:
        ferry = FerryThread(move_config(servers, db, tmp_path / "state", max_load="Threads_running=8", **FAST))
        held = assert_held(ferry.ferry.status.snapshot, "max_load: Threads_running=")
        assert "> 8" in held["throttle_reason"] and held["settings"]["max_load"] == "Threads_running=8"
    finally:
        sleepers.end()
    wait_caught_up(servers, ferry.config.name, timeout=60)
    assert ferry.ferry.status.snapshot()["throttled"] is False
    ferry.finish()
    assert assert_same(servers, db) == 1200
    events = [e["event"] for e in read_log(tmp_path / "state")]
    assert events.index("throttled") < events.index("throttle_released") < events.index("copy_complete")


def test_critical_load_stops_the_move_after_its_interval(servers, db, tmp_path):
    make_load_tables(servers, db, 300)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "on-failure-record").write_text('#!/bin/sh\necho "$DBFERRY_EVENT $DBFERRY_PHASE $DBFERRY_ERROR" > failure.txt\n')
    (hooks / "on-failure-record").chmod(0o755)
    sleepers = Sleepers(servers.source, 12)
    try:
        started = time.monotonic()
        ferry = FerryThread(move_config(servers, db, tmp_path / "state", critical_load="Threads_running=8",
                                        critical_load_interval_millis=600, hooks_path=str(hooks), **FAST))
        ferry.thread.join(30)
    finally:
        sleepers.end()
    assert not ferry.thread.is_alive() and isinstance(ferry.error, DbferryError)
    assert time.monotonic() - started >= 0.6
    assert "critical_load exceeded on the source: Threads_running=" in str(ferry.error) and "(still, after" in str(ferry.error)
    published = status.read(str(tmp_path / "state"))
    assert published["phase"] == "failed" and "critical_load exceeded" in published["last_error"]
    assert published["rows_copied"] == 0  # held from the first check on, then stopped
    assert (tmp_path / "state" / "failure.txt").read_text().startswith("on-failure failed critical_load exceeded on the source")
    resumed = FerryThread(move_config(servers, db, tmp_path / "state", **FAST))
    wait_caught_up(servers, resumed.config.name, timeout=60)
    resumed.finish()
    assert assert_same(servers, db) == 600


def test_flag_files_throttle_and_panic_then_resume_under_writes(servers, db, tmp_path):
    make_load_tables(servers, db, 1500)
    throttle_flag, panic_flag = tmp_path / "throttle.flag", tmp_path / "panic.flag"
    throttle_flag.touch()
    data = move_config(servers, db, tmp_path / "state", throttle_flag_file=str(throttle_flag), panic_flag_file=str(panic_flag), **FAST)
    load = DmlLoad(servers, db, connections=2, seed=17, per_second=40)
    ferry = FerryThread(data, copy_hook=lambda _table, _rows: time.sleep(0.01))
    assert_held(ferry.ferry.status.snapshot, "throttle_flag_file: %s exists" % throttle_flag)
    throttle_flag.unlink()
    until(lambda: ferry.ferry.status.snapshot()["rows_copied"] > 200, "copying again")
    panic_flag.touch()
    ferry.thread.join(30)
    assert isinstance(ferry.error, DbferryError) and "panic flag file %s exists" % panic_flag in str(ferry.error)
    published = status.read(data["state_dir"])
    assert published["phase"] == "failed" and "panic flag file" in published["last_error"]
    position, copied = applied_state(servers, ferry.config.name)
    assert position and not copied  # the checkpoints are intact: applied up to a position, copy half-way
    with root_session(servers.target) as conn:
        assert 0 < fetch_value(conn, "SELECT SUM(rows_copied) FROM _dbferry.cursors WHERE move = %s", (ferry.config.name,)) < 3000
    # Still there: a restart stops again at once.
    again = FerryThread(data)
    again.thread.join(30)
    assert "panic flag file" in str(again.error)
    panic_flag.unlink()
    resumed = FerryThread(data)
    settle(servers, load, resumed.config.name)
    resumed.finish()
    assert assert_same(servers, db) > 0


@pytest.fixture(scope="module")
def replica(servers):
    """A third sandbox that replicates from the source (real MariaDB replication)."""
    (server,) = sandbox.up(servers.base, ["replica"], options=["innodb-buffer-pool-size=32M"])
    sandbox.replicate(server, servers.source)
    yield server
    sandbox.down(servers.base, ["replica"])


def test_replica_with_stopped_sql_thread_holds_the_move(servers, replica, db, tmp_path):
    make_load_tables(servers, db, 600)
    with root_session(replica) as conn:
        until(lambda: fetch_value(
            conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (db,)) == 2, "the replica has the tables")
        execute(conn, "STOP SLAVE SQL_THREAD")
    replica_options = replica.connection_options("ferry_source")
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", throttle_control_replicas=[replica_options], max_lag_millis=1000, **FAST))
    held = assert_held(ferry.ferry.status.snapshot, "Seconds_Behind_Master is NULL")
    assert "replica_lag: ferry_source@127.0.0.1:%d" % replica.port in held["throttle_reason"] and "SQL thread No" in held["throttle_reason"]
    assert replica_options["password"] not in (tmp_path / "state" / "ferry.log").read_text()
    sql(replica, "START SLAVE SQL_THREAD")
    wait_caught_up(servers, ferry.config.name, timeout=60)
    ferry.finish()
    assert assert_same(servers, db) == 1200


HOOK = """#!/bin/sh
echo "$DBFERRY_EVENT|$DBFERRY_MOVE|$DBFERRY_PHASE|$DBFERRY_ROWS_COPIED|$DBFERRY_ROWS_ESTIMATED|$DBFERRY_LAG_SECONDS|\
$DBFERRY_APPLIED_POSITION|$DBFERRY_STATE_DIR|$DBFERRY_ERROR" >> "%s"
env >> "%s"
"""


def _dbferry(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "bin" / "dbferry")] + list(args), capture_output=True, text=True, timeout=60, check=False)


def test_control_module_cli_postponed_cutover_and_hooks(ansible, servers, db, tmp_path):
    make_load_tables(servers, db, 1000)
    name = "ctl-" + db[:40].replace("_", "-")
    state_dir = tmp_path / "state"
    hooks, events, environ = tmp_path / "hooks", tmp_path / "events.txt", tmp_path / "environ.txt"
    hooks.mkdir()
    for event in ("on-start", "on-copy-complete", "on-status", "on-before-cutover", "on-after-cutover", "on-success"):
        (hooks / (event + "-record")).write_text(HOOK % (events, environ))
        (hooks / (event + "-record")).chmod(0o755)
    (hooks / "on-start-not-executable").write_text("#!/bin/sh\nexit 1\n")
    throttle_flag, postpone_flag = tmp_path / "throttle.flag", tmp_path / "postpone.flag"
    throttle_flag.touch()
    postpone_flag.touch()
    variables = {"src": servers.source.connection_options("ferry_source"), "dst": servers.target.connection_options("ferry_target")}
    move = {"name": name, "state_dir": str(state_dir)}
    started = ansible.run("dbferry.mysql.agent", dict(move, source="{{ src }}", target="{{ dst }}", databases={"include": [db]},
                                                      copy={"batch_rows": 20}, throttle_check_seconds=0.1, hooks_path=str(hooks),
                                                      hooks_status_seconds=1, throttle_flag_file=str(throttle_flag),
                                                      postpone_cutover_flag_file=str(postpone_flag)), variables)
    assert started.result["changed"] is True, started.result

    def control(command, check_mode=False, **args):
        return ansible.run("dbferry.mysql.control", dict(move, command=command, **args), variables, check_mode=check_mode).result

    paused = control("pause")
    assert paused["changed"] is True and paused["paused"] is True and "pause: paused by the operator" in paused["throttle_reason"]
    assert control("pause")["changed"] is False
    throttle_flag.unlink()  # the operator's pause still holds the move

    def live():
        return json.loads(_dbferry("status", name, "--state-dir", str(state_dir)).stdout)

    held = assert_held(live, "pause: paused by the operator")
    assert held["paused"] is True and "throttle_flag_file" not in held["throttle_reason"]
    rehearsal = control("resume", check_mode=True)
    assert rehearsal["changed"] is True and rehearsal["paused"] is True

    cli = _dbferry("set", name, "--state-dir", str(state_dir), "batch_rows=7", "max_load=Threads_running=500")
    assert cli.returncode == 0, cli.stderr
    assert [json.loads(line) for line in cli.stdout.splitlines()] == [
        {"setting": "batch_rows", "old": 20, "new": 7}, {"setting": "max_load", "old": "", "new": "Threads_running=500"}]
    bad = _dbferry("set", name, "--state-dir", str(state_dir), "batch_rowz=7")
    assert bad.returncode == 2 and "batch_rowz cannot be set while a move runs" in bad.stderr and "settable: batch_rows" in bad.stderr
    out_of_range = _dbferry("set", name, "--state-dir", str(state_dir), "batch_rows=0")
    assert out_of_range.returncode == 2 and "copy.batch_rows must be a whole number from 1 to 100000" in out_of_range.stderr
    retuned = control("set", settings={"batch_rows": 100, "max_load": ""})
    assert retuned["changes"] == {"batch_rows": [7, 100], "max_load": ["Threads_running=500", ""]} and retuned["settings"]["batch_rows"] == 100

    throttled = _dbferry("throttle", name, "--state-dir", str(state_dir))
    assert throttled.returncode == 0 and json.loads(throttled.stdout)["throttled_by_operator"] is True
    assert json.loads(_dbferry("resume", name, "--state-dir", str(state_dir)).stdout)["changed"] is True
    assert_held(live, "operator: throttled by the operator")  # resumed, but still throttled
    assert control("unthrottle")["changed"] is True

    waited = ansible.run("dbferry.mysql.wait", dict(move, max_lag=0, timeout=2), variables).result
    assert waited["failed"] and "the cutover is postponed while %s exists" % postpone_flag in waited["msg"]
    assert waited["status"]["phase"] == "tailing" and waited["status"]["throttled"] is False
    sql(servers.source, "SET GLOBAL read_only = ON")
    try:
        cutover_args = dict(move, source="{{ src }}", target="{{ dst }}", postpone_timeout=1)
        gave_up = ansible.run("dbferry.mysql.cutover", cutover_args, variables).result
        assert gave_up["failed"] and "the cutover was postponed by %s" % postpone_flag in gave_up["msg"] and "gave up waiting" in gave_up["msg"]
        postpone_flag.unlink()
        cut = ansible.run("dbferry.mysql.cutover", cutover_args, variables).result
    finally:
        sql(servers.source, "SET GLOBAL read_only = OFF")
    assert cut["changed"] is True and cut["hook_failures"] == [], cut
    assert_same(servers, db)

    lines = [line.split("|") for line in events.read_text().splitlines()]
    order = [line[0] for line in lines if line[0] != "on-status"]
    assert order == ["on-start", "on-copy-complete", "on-before-cutover", "on-after-cutover", "on-success"], order
    assert "on-status" in [line[0] for line in lines]
    by_event = {line[0]: line for line in lines}
    assert all(line[1] == name and line[7] == str(state_dir) and line[8] == "" for line in lines)
    assert by_event["on-copy-complete"][3] == "2000" and by_event["on-copy-complete"][2] == "tailing"
    assert by_event["on-success"][2] == "complete" and by_event["on-success"][6]
    for secret in (variables["src"]["password"], variables["dst"]["password"]):
        assert secret not in environ.read_text() and secret not in (state_dir / "ferry.log").read_text()
    log = read_log(state_dir)
    assert any(e["event"] == "hook_skipped" and e["hook"].endswith("on-start-not-executable") for e in log)
    assert [e["command"] for e in log if e["event"] == "operator"] == ["pause", "set", "set", "throttle", "resume", "unthrottle"]
    assert ansible.run("dbferry.mysql.agent", dict(move, state="absent"), variables).result["changed"] is True
    gone = control("pause")
    assert gone["failed"] and "needs a running move" in gone["msg"]
