"""The agent's life at its edges, on real sandboxes: its state folder, its start, its status once it is gone,
a complete move, and the refusals that must come before anything is written."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from typing import Any

import pytest

from ferry_support import make_load_tables, move_config, write_config
from integration_support import ROOT, root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.agent import process as agent
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError


@pytest.fixture
def started():
    """Start agents through agent.start; stop each at the end of the test."""
    folders: list[str] = []

    def start(data: dict[str, Any]) -> int:
        folders.append(data["state_dir"])
        _changed, pid, _config = agent.start(data)
        return pid

    yield start
    for folder in folders:
        if os.path.isdir(folder):
            agent.stop(folder, timeout=60)


def _target_has_state_schema(servers) -> bool:
    with root_session(servers.target) as conn:
        return bool(fetch_value(conn, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '_dbferry'"))


# -- item 15: the state folder is not trusted as found -------------------------------------------------------


@pytest.mark.parametrize("how", ["mode 0755", "another owner"])
def test_a_state_folder_others_could_write_to_is_refused(servers, db, tmp_path, how):
    make_load_tables(servers, db, 10)
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    if how == "mode 0755":
        state_dir.chmod(0o755)
        expected = "has mode 0755"
    else:
        os.chown(state_dir, 65534, 65534)
        expected = "belongs to user id 65534"
    with pytest.raises(DbferryError) as refused:
        agent.start(move_config(servers, db, state_dir))
    assert expected in str(refused.value) and str(state_dir) in str(refused.value), refused.value
    assert refused.value.fix
    assert list(state_dir.iterdir()) == []  # nothing written into it: no credentials


def test_a_planted_temporary_file_link_is_not_followed(servers, db, tmp_path, started):
    make_load_tables(servers, db, 10)
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    victim = tmp_path / "elsewhere.txt"
    victim.write_text("untouched\n")
    victim.chmod(0o644)
    for name in ("config.json.tmp", "status.json.tmp"):
        (state_dir / name).symlink_to(victim)
    data = move_config(servers, db, state_dir)
    started(data)
    assert victim.read_text() == "untouched\n"
    assert data["source"]["password"] not in victim.read_text()
    assert stat.S_IMODE(os.stat(state_dir / "config.json").st_mode) == 0o600 and not (state_dir / "config.json").is_symlink()


def test_a_planted_module_in_the_state_folder_does_not_run(servers, db, tmp_path, started):
    make_load_tables(servers, db, 10)
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    marker = tmp_path / "planted-ran"
    for module in ("json", "threading", "pymysql"):  # what the agent imports first
        (state_dir / ("%s.py" % module)).write_text("open(%r, 'a').write(%r)\n" % (str(marker), module))
    pid = started(move_config(servers, db, state_dir))
    assert not marker.exists(), marker.read_text()
    assert os.readlink("/proc/%d/cwd" % pid) == "/"
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        assert handle.read().split(b"\0")[1] == b"-I"
    assert agent.read_status(str(state_dir))["running"] is True


# -- item 13: bad input refused with one message, before anything is written ---------------------------------


def test_a_state_dir_that_is_a_file_is_one_message(ansible, servers, db, tmp_path):
    make_load_tables(servers, db, 10)
    path = tmp_path / "state"
    path.write_text("a file\n")
    variables = {"src": servers.source.connection_options("ferry_source"), "dst": servers.target.connection_options("ferry_target"),
                 "state_dir": str(path), "db": db}
    result = ansible.run("dbferry.mysql.agent", {"name": "m-file", "state_dir": "{{ state_dir }}", "source": "{{ src }}",
                                                 "target": "{{ dst }}", "databases": {"include": ["{{ db }}"]}}, variables)
    assert result.failed
    message = result.result["msg"]
    assert "the state folder %s of move m-file is a file" % path in message and "Fix:" in message, message
    assert "Errno" not in message
    assert path.read_text() == "a file\n"
    below = tmp_path / "state" / "below"
    with pytest.raises(DbferryError) as refused:
        agent.start(move_config(servers, db, below))
    assert "cannot be created" in str(refused.value) and str(below) in str(refused.value)


def _without_state_schema(servers) -> None:
    """Start from a target without _dbferry (the tests of a session run one after another; none is running now)."""
    sql(servers.target, "DROP DATABASE IF EXISTS _dbferry")


def test_an_agent_refusing_a_non_empty_target_writes_nothing_there(servers, db, tmp_path):
    make_load_tables(servers, db, 10)
    sql(servers.target, "CREATE DATABASE `%s`" % db, "CREATE TABLE `%s`.a (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40))" % db,
        "INSERT INTO `%s`.a VALUES (1, 1, 'theirs')" % db)
    _without_state_schema(servers)
    with pytest.raises(DbferryError) as refused:
        agent.start(move_config(servers, db, tmp_path / "state"))
    assert "target table %s.a exists and has rows" % db in str(refused.value), refused.value
    assert not _target_has_state_schema(servers)


def test_an_include_entry_that_matches_nothing_is_refused_before_anything_is_written(ansible, servers, db, tmp_path):
    make_load_tables(servers, db, 10)
    pattern = "%s.ordr_*" % db
    tables = {"include": ["%s.a" % db, pattern]}
    preflight = ansible.run("dbferry.mysql.preflight", {"source": "{{ src }}", "target": "{{ dst }}", "databases": {"include": [db]},
                                                        "tables": tables, "fail_on": "warning"}, _vars(servers, db, tmp_path))
    assert preflight.failed
    found = [c for c in preflight.result["checks"] if c["name"] == "selection" and c["status"] == "error"]
    assert [c["object"] for c in found] == [pattern], preflight.result["checks"]
    assert "pattern %r matches nothing" % pattern in found[0]["message"] and found[0]["fix"], found[0]

    _without_state_schema(servers)
    with pytest.raises(DbferryError) as refused:
        agent.start(move_config(servers, db, tmp_path / "state", tables=tables))
    assert "tables.include pattern %r matches nothing" % pattern in str(refused.value) and refused.value.fix, refused.value
    assert not _target_has_state_schema(servers)
    with root_session(servers.target) as conn:
        assert not fetch_value(conn, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (db,))


# -- items 7, 8, 9: status that says what is true ------------------------------------------------------------


def _vars(servers, db, state_dir) -> dict[str, Any]:
    return {"src": servers.source.connection_options("ferry_source"), "dst": servers.target.connection_options("ferry_target"),
            "state_dir": str(state_dir), "db": db, "admin_password": servers.source.passwords["root"]}


def _agent(ansible, variables, name, **extra):
    args = {"name": name, "state_dir": "{{ state_dir }}", "source": "{{ src }}", "target": "{{ dst }}",
            "databases": {"include": ["{{ db }}"]}, "copy": {"batch_rows": 100}}
    return ansible.run("dbferry.mysql.agent", dict(args, **extra), variables)


def _module(ansible, module, variables, name, **args):
    return ansible.run("dbferry.mysql." + module, dict({"name": name, "state_dir": "{{ state_dir }}"}, **args), variables)


def test_started_returns_once_the_agent_published_its_status_with_its_pid(ansible, servers, db, tmp_path):
    make_load_tables(servers, db, 500)
    name = "up-" + db[:40].replace("_", "-")
    variables = _vars(servers, db, tmp_path / "state")
    started = _agent(ansible, variables, name)
    try:
        assert not started.failed and started.result["changed"] is True, started.result.get("msg")
        pid = started.result["pid"]
        assert isinstance(pid, int) and pid > 0
        assert started.result["status"]["running"] is True and started.result["status"]["pid"] == pid
        assert started.result["status"]["phase"] in ("copying", "tailing"), started.result["status"]
        assert json.loads((tmp_path / "state" / "status.json").read_text())["pid"] == pid  # the agent's own first status
        waited = _module(ansible, "wait", variables, name, max_lag=3600, timeout=60, poll_interval=0.2)
        assert not waited.failed, waited.result.get("msg")
    finally:
        agent.stop(str(tmp_path / "state"))


def test_status_of_a_killed_agent_says_it_is_not_running_and_how_old_it_is(ansible, servers, db, tmp_path):
    make_load_tables(servers, db, 200)
    name = "kill-" + db[:40].replace("_", "-")
    state_dir = tmp_path / "state"
    variables = _vars(servers, db, state_dir)
    started = _agent(ansible, variables, name)
    assert not _module(ansible, "wait", variables, name, max_lag=0, timeout=120).failed
    os.kill(started.result["pid"], signal.SIGKILL)
    while agent.running_pid(str(state_dir)) is not None:  # the kernel frees the lock once the process is reaped
        time.sleep(0.05)
    assert json.loads((state_dir / "status.json").read_text())["phase"] == "tailing"  # what the dead agent said last

    status = _module(ansible, "status", variables, name).result["status"]
    assert status["running"] is False and status["pid"] is None
    assert status["phase"] == "died" and status["last_phase"] == "tailing", status
    assert status["lag_seconds"] is None and status["eta_seconds"] is None and status["rows_per_second"] == 0.0
    assert isinstance(status["stale_seconds"], float) and status["stale_seconds"] >= 0 and status["updated_at"] > 0
    assert "the agent ended without recording why (killed" in status["last_error"], status["last_error"]

    cli = subprocess.run([str(ROOT / "bin" / "dbferry"), "status", name, "--state-dir", str(state_dir)], capture_output=True, text=True,
                         timeout=60, check=True)
    shown = json.loads(cli.stdout)
    assert shown["running"] is False and shown["phase"] == "died" and shown["stale_seconds"] >= 0 and shown["lag_seconds"] is None

    waited = _module(ansible, "wait", variables, name, timeout=60)
    assert waited.failed and "is not running (phase died, its last status" in waited.result["msg"], waited.result["msg"]
    assert waited.result["msg"].count("Fix:") == 1, waited.result["msg"]  # the agent's own, or the wait's: never both
    assert len(waited.result["samples"]) == 1  # at its first look, not after its timeout


def test_a_complete_move_stays_complete(ansible, servers, db, tmp_path):
    make_load_tables(servers, db, 300)
    name = "done-" + db[:40].replace("_", "-")
    state_dir = tmp_path / "state"
    variables = _vars(servers, db, state_dir)
    assert not _agent(ansible, variables, name).failed
    assert not _module(ansible, "wait", variables, name, max_lag=0, timeout=120).failed
    try:
        switched = _module(ansible, "switchover", variables, name, source="{{ src }}", target="{{ dst }}", login_user="root",
                           login_password="{{ admin_password }}", login_unix_socket=servers.source.socket)
        assert not switched.failed, switched.result.get("msg")
    finally:
        sql(servers.source, "SET GLOBAL read_only = OFF")
    complete = json.loads((state_dir / "status.json").read_text())
    assert complete["phase"] == "complete"

    restart = _agent(ansible, variables, name)
    assert restart.failed and "was cut over already" in restart.result["msg"], restart.result["msg"]
    assert json.loads((state_dir / "status.json").read_text()) == complete  # not rewritten as failed
    assert agent.running_pid(str(state_dir)) is None
    config_path = write_config(tmp_path, {"name": name, "source": variables["src"], "target": variables["dst"],
                                          "databases": {"include": [db]}, "state_dir": str(state_dir)})
    cli = subprocess.run([str(ROOT / "bin" / "dbferry"), "run", config_path], capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 2 and "was cut over already" in cli.stderr, cli.stderr
    assert json.loads((state_dir / "status.json").read_text()) == complete
    assert _module(ansible, "status", variables, name).result["status"]["phase"] == "complete"
    assert _module(ansible, "agent", variables, name, state="absent").result["changed"] is True


# -- item 20: a move name is checked wherever it becomes a path ----------------------------------------------


@pytest.mark.parametrize("module", ["status", "wait", "agent", "control"])
def test_the_modules_check_a_move_name_before_it_becomes_a_path(ansible, tmp_path, module):
    args = {"name": "../../outside"}
    if module == "agent":
        args["state"] = "stopped"
    if module == "control":
        args["command"] = "pause"
    result = ansible.run("dbferry.mysql." + module, args, {})
    assert result.failed
    assert "config key name must be 1-64 letters, digits, - or _, got '../../outside'" in result.result["msg"], result.result["msg"]


def _aborted_connections(server) -> list[str]:
    with open(server.error_log, encoding="utf-8", errors="replace") as handle:
        return [line for line in handle if "Aborted connection" in line]


def _dump_threads(server) -> int:
    with root_session(server) as conn:
        return int(fetch_value(conn, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'ferry_source' "
                                     "AND COMMAND LIKE 'Binlog Dump%'"))


def test_a_stopped_agent_leaves_no_aborted_connection_in_the_source_log(servers, db, tmp_path, started):
    """Every session of the agent ends with COM_QUIT, the binlog dump's too (KILLed from a second session first: a dump
    thread reads no COM_QUIT): the source logs no "Aborted connection ... error writing communication packets" (the
    sandboxes run with MariaDB's default log_warnings=2, which logs them)."""
    with root_session(servers.source) as conn:
        assert int(fetch_value(conn, "SELECT @@log_warnings")) >= 2
    make_load_tables(servers, db, 200)
    before = _aborted_connections(servers.source)
    data = move_config(servers, db, tmp_path / "state")
    started(data)
    deadline = time.monotonic() + 60
    while agent.read_status(data["state_dir"])["phase"] != "tailing" or not _dump_threads(servers.source):
        assert time.monotonic() < deadline, agent.read_status(data["state_dir"])
        time.sleep(0.1)
    assert agent.stop(data["state_dir"], timeout=60)
    # A dump thread whose client went away notices it when it next writes: give it an event, then wait until it is gone.
    sql(servers.source, "INSERT INTO `%s`.a (id, v, s) VALUES (100000, 1, 'x')" % db)
    deadline = time.monotonic() + 30
    while _dump_threads(servers.source):
        assert time.monotonic() < deadline, "the agent's binlog dump on the source did not end"
        time.sleep(0.05)
    assert _aborted_connections(servers.source)[len(before):] == []
