"""The schema change in a detached agent (state: started, then state: cut_over), under an application's writes.

The agent copies, applies and verifies, then keeps applying while it waits for the operator's word; the tests stop the
load while it waits, so the original's rows at the swap are known, and the new table must hold exactly those rows
through the column mapping. The controls of a move (status, pause, set) work on it, and a kill -9 of the agent while it
waits loses nothing: started again, it resumes from its checkpoints.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from ferry_support import DmlLoad, make_load_tables
from integration_support import root_session, until
from osc_support import AlterThread, alter_options, assert_projection, projected_rows

from ansible_collections.dbferry.mysql.plugins.module_utils.agent import alter_agent, process
from ansible_collections.dbferry.mysql.plugins.module_utils.agent.cli import run as cli
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import AlterConfig
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import status
from ansible_collections.dbferry.mysql.plugins.module_utils.osc import runner
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all

ROWS = 3000
ALTER = "MODIFY v BIGINT NOT NULL, ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT 'none'"
ALL = {"id": "id", "v": "v", "s": "s"}
MODULE = "dbferry.mysql.alter"


def _tables(servers: Any, db: str) -> list[str]:
    with root_session(servers.source) as conn:
        return sorted(name for (name,) in fetch_all(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                                                    (db,)))


def _ready(config: AlterConfig) -> bool:
    """The agent is ready and waits for the word: copied, verified, tailing (its status file says so: a kill now leaves
    that status)."""
    snapshot = process.read_status(config.state_dir)
    if snapshot["running"]:
        snapshot = dict(status.read(config.state_dir), running=True)
    if not snapshot["running"] and snapshot["phase"] != "tailing":
        raise AssertionError("the agent ended: %s" % snapshot)
    return snapshot["phase"] == "tailing" and bool(snapshot.get("waiting_for"))


def _events(config: AlterConfig, name: str) -> list[dict[str, Any]]:
    path = Path(config.state_dir) / alter_agent.LOG_FILE
    return [record for record in map(json.loads, path.read_text().splitlines()) if record.get("event") == name]


@pytest.fixture
def started(servers: Any, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Table a under a load, and a function that starts the change's agent on it: (changed, pid, config). The agent's
    folder is the default one, in a home of the test's own (``dbferry status DATABASE.TABLE`` finds it there)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    make_load_tables(servers, db, ROWS)
    load = DmlLoad(servers, db, connections=2, key_space=ROWS, per_second=100)
    configs: list[AlterConfig] = []

    def start(**overrides: Any) -> tuple[bool, int, AlterConfig]:
        alter = overrides.pop("alter", ALTER)
        changed, pid, config = alter_agent.start(dict(alter_options(servers, db, "a", alter, tmp_path, **overrides), state_dir=None))
        configs.append(config)
        return changed, pid, config

    start.load = load  # type: ignore[attr-defined]
    yield start
    for config in configs:
        alter_agent.forget(config, timeout=30)
    if not load.load.stopping.is_set():
        load.finish()


def test_started_waits_for_the_word_then_swaps_exactly(servers: Any, db: str, started: Any, capsys: pytest.CaptureFixture) -> None:
    changed, pid, config = started()
    assert changed and pid > 0
    assert started() == (False, pid, config)  # the same change, running: left alone
    until(lambda: _ready(config), "the agent to be copied, verified and waiting", timeout=120)
    snapshot = process.read_status(config.state_dir)
    assert snapshot["kind"] == "alter" and snapshot["table"] == "%s.a" % db and snapshot["rows_copied"] > ROWS // 2
    assert "cut-over command" in snapshot["waiting_for"][0] and snapshot["cut_over_attempts"] == 0
    assert _tables(servers, db) == ["_a_gho", "a", "b"]
    assert _events(config, "verified")  # verified before it waits: a difference is told before anyone asks for the swap

    # The controls of a move, by the table's name on the command line.
    assert cli(["pause", "%s.a" % db]) == 0 and process.read_status(config.state_dir)["paused"]
    assert cli(["set", "%s.a" % db, "chunk_size=200", "dml_batch_size=20"]) == 0
    assert process.read_status(config.state_dir)["settings"]["batch_rows"] == 200
    assert cli(["resume", "%s.a" % db]) == 0 and not process.read_status(config.state_dir)["paused"]
    capsys.readouterr()
    assert cli(["status", "%s.a" % db]) == 0 and json.loads(capsys.readouterr().out)["phase"] == "tailing"

    applied = process.read_status(config.state_dir)["applied_changes"]
    until(lambda: process.read_status(config.state_dir)["applied_changes"] > applied, "the held change to keep applying")
    started.load.finish()
    expected = projected_rows(servers.source, db, "a", list(ALL), "id")
    result = alter_agent.cut_over(config, timeout=120)
    assert result.changed and result.mapping == ALL and result.added == ["note"] and result.cut_over_attempts >= 1
    assert assert_projection(servers.source, db, expected, "a", ALL, "id") == len(expected)
    assert _tables(servers, db) == ["_a_del", "a", "b"]
    final = process.read_status(config.state_dir)
    assert final["phase"] == "complete" and not final["running"]
    with pytest.raises(DbferryError, match="no agent runs the change of %s.a" % db):
        alter_agent.cut_over(config, timeout=10)


def test_a_killed_agent_started_again_resumes_and_ends_exact(servers: Any, db: str, started: Any) -> None:
    _changed, pid, config = started()
    until(lambda: _ready(config), "the agent to be ready", timeout=120)
    os.kill(pid, signal.SIGKILL)
    until(lambda: not process.read_status(config.state_dir)["running"], "the agent to be gone")
    died = process.read_status(config.state_dir)
    assert died["phase"] == process.DIED and died["last_phase"] == "tailing" and "killed" in died["last_error"]
    time.sleep(0.5)  # the load writes on while nothing applies: the resumed agent has those events to apply
    changed, pid, config = started()
    assert changed
    until(lambda: _ready(config), "the resumed agent to be ready", timeout=120)
    runs = _events(config, "alter_run")
    assert [(r["resumed"], r["copy_done"]) for r in runs] == [(False, False), (True, True)]
    started.load.finish()
    expected = projected_rows(servers.source, db, "a", list(ALL), "id")
    result = alter_agent.cut_over(config, timeout=120)
    assert result.changed and assert_projection(servers.source, db, expected, "a", ALL, "id") == len(expected)


def test_another_change_of_the_table_is_refused_while_one_runs(servers: Any, db: str, started: Any, tmp_path: Path) -> None:
    _changed, pid, config = started()
    other = dict(alter_options(servers, db, "a", "ADD COLUMN other INT", tmp_path), state_dir=None)
    with pytest.raises(DbferryError, match=r"is running \(pid %d\) with another configuration" % pid):
        alter_agent.start(other)
    assert alter_agent.forget(config)
    assert alter_agent.running(config) is None and "_a_gho" in _tables(servers, db)  # stopped at a checkpoint, nothing removed


def test_a_native_change_started_waits_for_the_word_too(servers: Any, db: str, started: Any) -> None:
    """attempt_instant_ddl in an agent: the native ALTER is the change's cut-over, run when state: cut_over asks."""
    _changed, _pid, config = started(alter="ADD COLUMN extra INT", attempt_instant_ddl=True)
    until(lambda: _ready(config), "the agent to wait for the word", timeout=60)
    with root_session(servers.source) as conn:
        assert "`extra`" not in fetch_all(conn, "SHOW CREATE TABLE `%s`.a" % db)[0][1]
    result = alter_agent.cut_over(config, timeout=60)
    assert result.changed and result.instant == "INSTANT" and "`extra` int" in result.new_create


def _module(ansible: Any, servers: Any, db: str, module: str = MODULE, **args: Any) -> Any:
    base = {"login_unix_socket": servers.source.socket, "login_user": "root", "login_password": "{{ pw }}", "database": db, "table": "a"}
    if module != MODULE:
        base = {}
    return ansible.run(module, dict(base, **args), {"pw": servers.source.passwords["root"]})


def test_the_module_starts_waits_and_cuts_over(ansible: Any, servers: Any, db: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """state: started, dbferry.mysql.wait, state: cut_over: the runbook of the module's EXAMPLES; and state: present on a
    running agent cuts it over rather than starting the change twice."""
    monkeypatch.setenv("HOME", str(tmp_path))
    make_load_tables(servers, db, ROWS)
    load = DmlLoad(servers, db, connections=2, key_space=ROWS, per_second=100)
    try:
        first = _module(ansible, servers, db, alter=ALTER, chunk_size=100, state="started")
        assert first.result["changed"] and not first.failed and first.result["pid"], first.output
        state_dir = first.result["state_dir"]
        assert state_dir == str(tmp_path / ".dbferry" / "alters" / ("%s.a" % db))
        again = _module(ansible, servers, db, alter=ALTER + ";\n", chunk_size=100, state="started")  # the same ALTER, as YAML may end it
        assert again.result["changed"] is False and again.result["pid"] == first.result["pid"], again.output
        waited = _module(ansible, servers, db, "dbferry.mysql.wait", name="orders", state_dir=state_dir, timeout=120, poll_interval=0.2)
        assert not waited.failed and waited.result["status"]["phase"] == "tailing", waited.output
        assert _tables(servers, db) == ["_a_gho", "a", "b"]
    finally:
        load.finish()
    expected = projected_rows(servers.source, db, "a", list(ALL), "id")
    done = _module(ansible, servers, db, alter=ALTER, chunk_size=100)  # state: present, on the running agent
    assert done.result["changed"] and not done.failed, done.output
    assert done.result["old_table"] == "%s._a_del" % db and done.result["rows_copied"] > 0 and "diff" in done.result
    assert assert_projection(servers.source, db, expected, "a", ALL, "id") == len(expected)
    cut = _module(ansible, servers, db, alter=ALTER, state="cut_over")
    assert cut.result["changed"] is False and not cut.failed, cut.output


def test_the_module_refuses_a_cut_over_with_nothing_running_and_absent_stops_the_agent(
        ansible: Any, servers: Any, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    make_load_tables(servers, db, ROWS)
    nothing = _module(ansible, servers, db, alter=ALTER, state="cut_over")
    assert nothing.failed and "no agent runs the change of %s.a" % db in nothing.result["msg"], nothing.output
    flag = tmp_path / "postpone"
    flag.touch()
    first = _module(ansible, servers, db, alter=ALTER, state="started", postpone_cut_over_flag_file=str(flag))
    assert first.result["changed"], first.output
    removed = _module(ansible, servers, db, state="absent")
    assert removed.result["changed"] and not removed.failed, removed.output
    assert _tables(servers, db) == ["a", "b"]
    assert not process.read_status(first.result["state_dir"])["running"]  # its run lock is free: the agent has ended


@pytest.mark.parametrize("verify", [True, False])
def test_a_long_wait_compares_as_it_goes_and_ends_exact(servers: Any, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        verify: bool) -> None:
    """The keys written while a change waits for its cut-over are compared once there are many (KEYS_WHILE_WAITING, made
    small here), not all kept until the swap; the change still ends exact."""
    monkeypatch.setattr(runner, "KEYS_WHILE_WAITING", 20)
    make_load_tables(servers, db, ROWS)
    load = DmlLoad(servers, db, connections=2, key_space=ROWS, per_second=100)
    flag = tmp_path / "postpone"
    flag.touch()
    log_path = tmp_path / "alter.log"
    run = AlterThread(alter_options(servers, db, "a", ALTER, tmp_path / "state", postpone_cut_over_flag_file=str(flag), verify=verify),
                      log_path)
    recheck = '"recheck_while_waiting"'
    until(lambda: log_path.exists() and log_path.read_text().count(recheck) >= 2 or not run.thread.is_alive(),
          "two comparisons while the change waits", timeout=120)
    load.finish()
    assert run.thread.is_alive(), run.error
    expected = projected_rows(servers.source, db, "a", list(ALL), "id")
    flag.unlink()
    result = run.finish()
    assert result.changed and assert_projection(servers.source, db, expected, "a", ALL, "id") == len(expected)
