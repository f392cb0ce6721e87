"""dbferry.mysql.agent, status, wait and cutover through ansible-playbook, against real sandboxes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time

import pytest

from ferry_support import DmlLoad, assert_same, make_load_tables
from integration_support import ROOT, root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_value


def _vars(servers, state_dir, db):
    return {"src": servers.source.connection_options("ferry_source"), "dst": servers.target.connection_options("ferry_target"),
            "state_dir": str(state_dir), "db": db}


def _agent(ansible, variables, name, check_mode=False, **extra):
    """Start the agent of ``name`` for database ``db`` (``extra`` overrides options)."""
    args = {"name": name, "state_dir": "{{ state_dir }}", "source": "{{ src }}", "target": "{{ dst }}",
            "databases": {"include": ["{{ db }}"]}, "copy": {"batch_rows": 100}}
    args.update(extra)
    return ansible.run("dbferry.mysql.agent", args, variables, check_mode=check_mode)


def _module(ansible, module, variables, name, check_mode=False, **args):
    return ansible.run("dbferry.mysql." + module, dict({"name": name, "state_dir": "{{ state_dir }}"}, **args), variables, check_mode=check_mode)


def test_agent_status_wait_cutover_absent(ansible, servers, db, tmp_path):
    make_load_tables(servers, db, 1000)
    name = "mod-" + db[:40].replace("_", "-")
    state_dir = tmp_path / "state"
    variables = _vars(servers, state_dir, db)

    check = _agent(ansible, variables, name, check_mode=True)
    assert check.result["changed"] is True and not (state_dir / "ferry.lock").exists()

    started = _agent(ansible, variables, name)
    assert started.result["changed"] is True, started.result
    pid = started.result["pid"]
    assert (state_dir / "code").is_dir() and (state_dir / "code/ansible_collections/dbferry/mysql/plugins/module_utils/engine/ferry.py").exists()
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(state_dir / "config.json").st_mode) == 0o600
    with open("/proc/%d/cmdline" % pid, "rb") as handle:  # it runs from the code it was given, nothing else (python -I)
        assert handle.read().split(b"\0")[1:5:3] == [b"-I", str(state_dir / "code").encode()]

    again = _agent(ansible, variables, name)
    assert again.result["changed"] is False and again.result["pid"] == pid

    other = _agent(ansible, variables, name, copy={"batch_rows": 7})
    assert other.failed and "is running (pid %d) with another configuration" % pid in other.result["msg"]

    waited = _module(ansible, "wait", variables, name, max_lag=0, timeout=120)
    assert not waited.failed, waited.result.get("msg")
    assert waited.result["status"]["phase"] == "tailing" and waited.result["samples"]
    assert stat.S_IMODE(os.stat(state_dir / "control.sock").st_mode) == 0o600

    status = _module(ansible, "status", variables, name)
    assert status.result["changed"] is False and status.result["status"]["running"] is True
    assert _module(ansible, "status", variables, name, check_mode=True).result["status"]["running"] is True
    assert not _module(ansible, "wait", variables, name, check_mode=True, max_lag=0, timeout=60).failed
    assert status.result["status"]["tables"]["%s.a" % db]["done"] is True
    assert status.result["status"]["throttled"] is False and status.result["status"]["lag_events"] == 0

    refused = ansible.run("dbferry.mysql.cutover", {"name": name, "state_dir": "{{ state_dir }}", "source": "{{ src }}", "target": "{{ dst }}"},
                          variables)
    assert refused.failed and "is writable; cutover needs it read-only" in refused.result["msg"]

    sql(servers.source, "UPDATE `%s`.a SET v = v + 1 WHERE id < 50" % db, "SET GLOBAL read_only = ON")
    try:
        rehearsal = ansible.run("dbferry.mysql.cutover", {"name": name, "state_dir": "{{ state_dir }}", "source": "{{ src }}",
                                                          "target": "{{ dst }}"}, variables, check_mode=True)
        assert rehearsal.result["changed"] is True and not rehearsal.failed, rehearsal.result.get("msg")
        assert _module(ansible, "status", variables, name).result["status"]["running"] is True  # check mode stopped nothing
        cut = ansible.run("dbferry.mysql.cutover", {"name": name, "state_dir": "{{ state_dir }}", "source": "{{ src }}", "target": "{{ dst }}"},
                          variables, verbosity=3)
    finally:
        sql(servers.source, "SET GLOBAL read_only = OFF")
    assert not cut.failed, cut.result.get("msg")
    assert cut.result["changed"] is True and cut.result["timings"]["total"] >= 0
    assert set(cut.result["timings"]) == {"postponed", "wait_applied", "foreign_keys", "auto_increment", "stop_agent", "record", "total"}
    assert variables["src"]["password"] not in cut.output and variables["dst"]["password"] not in cut.output
    assert_same(servers, db)
    with root_session(servers.target) as conn:
        assert fetch_value(conn, "SELECT phase FROM _dbferry.moves WHERE name = %s", (name,)) == "complete"
    assert _module(ansible, "status", variables, name).result["status"]["phase"] == "complete"
    again = ansible.run("dbferry.mysql.cutover", {"name": name, "state_dir": "{{ state_dir }}", "source": "{{ src }}", "target": "{{ dst }}"},
                        variables)
    assert again.result["changed"] is False

    restart = _agent(ansible, variables, name)
    assert restart.failed and "was cut over already" in restart.result["msg"]

    gone = _module(ansible, "agent", variables, name, state="absent")
    assert gone.result["changed"] is True and not state_dir.exists()
    with root_session(servers.target) as conn:  # its checkpoints are gone (the schema too, when it was the last move)
        if fetch_value(conn, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '_dbferry'"):
            assert fetch_value(conn, "SELECT COUNT(*) FROM _dbferry.moves WHERE name = %s", (name,)) == 0
            assert fetch_value(conn, "SELECT COUNT(*) FROM _dbferry.cursors WHERE move = %s", (name,)) == 0
    assert _module(ansible, "agent", variables, name, state="absent").result["changed"] is False


def test_wait_fails_with_the_error_of_a_dead_agent(ansible, servers, db, tmp_path):
    make_load_tables(servers, db, 200)
    name = "dead-" + db[:40].replace("_", "-")
    variables = _vars(servers, tmp_path / "state", db)
    started = _agent(ansible, variables, name)
    assert started.result["changed"] is True
    os.kill(started.result["pid"], signal.SIGKILL)
    waited = _module(ansible, "wait", variables, name, timeout=30)
    assert waited.failed
    assert "the agent of move %s is not running" % name in waited.result["msg"]
    # a failure the agent finds at start is named: a table that appeared after the move began
    sql(servers.source, "CREATE TABLE `%s`.c (id INT PRIMARY KEY)" % db)
    restarted = _agent(ansible, variables, name)
    assert restarted.failed and "match the selection but were not part of move" in restarted.result["msg"]


def test_stopped_agent_resumes_where_it_stopped(ansible, servers, db, tmp_path):
    make_load_tables(servers, db, 3000)
    name = "stop-" + db[:40].replace("_", "-")
    variables = _vars(servers, tmp_path / "state", db)
    assert _agent(ansible, variables, name).result["changed"] is True
    time.sleep(0.5)
    stopped = _module(ansible, "agent", variables, name, state="stopped")
    assert stopped.result["changed"] is True and stopped.result["pid"] is None
    assert _module(ansible, "agent", variables, name, state="stopped").result["changed"] is False
    log = [json.loads(line) for line in (tmp_path / "state" / "ferry.log").read_text().splitlines()]
    assert log[-1]["event"] == "stopped"
    sql(servers.source, "DELETE FROM `%s`.b WHERE id < 100" % db)
    assert _agent(ansible, variables, name).result["changed"] is True
    assert not _module(ansible, "wait", variables, name, max_lag=0, timeout=120).failed
    assert _module(ansible, "agent", variables, name, state="stopped").result["changed"] is True
    assert_same(servers, db)
    assert _module(ansible, "agent", variables, name, state="absent").result["changed"] is True


def test_the_whole_sequence_while_the_app_writes(ansible, servers, db, tmp_path):
    """preflight, agent, wait, read_only, verify, cutover, in one playbook, under an app's writes; then an exact comparison."""
    make_load_tables(servers, db, 5000)
    # An app's pace (2 x 100 writes/s): a flat-out writer outruns today's applier (see bench/).
    load = DmlLoad(servers, db, connections=2, seed=41, per_second=100)
    result_file = tmp_path / "result.json"
    variables = {
        "dbferry_name": "seq-" + db[:40].replace("_", "-"),
        "dbferry_state_dir": str(tmp_path / "state"),
        "dbferry_source": servers.source.connection_options("ferry_source"),
        "dbferry_target": servers.target.connection_options("ferry_target"),
        "dbferry_source_admin": {"unix_socket": servers.source.socket, "user": "root", "password": servers.source.passwords["root"]},
        "dbferry_databases": {"include": [db]},
        "dbferry_result_file": str(result_file),
    }
    try:
        proc = subprocess.run([str(ansible.bin("ansible-playbook")), str(ROOT / "tests/integration/playbooks/move_sequence.yml"),
                               "-e", "@" + str(ansible.write_vars(variables))], env=ansible.env(), capture_output=True, text=True,
                              timeout=600, check=False)
    finally:
        load.finish()  # its writes were refused since read-only; it retried until now
        sql(servers.source, "SET GLOBAL read_only = OFF")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert load.statements > 100
    results = json.loads(result_file.read_text())
    assert results["cutover"]["changed"] is True
    assert results["read_only"]["changed"] is True
    assert not results["verify"].get("failed")
    for secret in (variables["dbferry_source"]["password"], variables["dbferry_target"]["password"], variables["dbferry_source_admin"]["password"]):
        assert secret not in proc.stdout
    assert assert_same(servers, db) > 5000


def test_switchover_reads_only_verifies_and_cuts_over_in_one_task(ansible, servers, db, tmp_path):
    """dbferry.mysql.switchover: check mode touches nothing; a verification that fails makes the source writable
    again and leaves the agent tailing; once the target is right again, one run cuts over and reports the window."""
    name, variables, args = _switchover_move(ansible, servers, db, tmp_path, "swo")
    try:
        check = ansible.run("dbferry.mysql.switchover", args, variables, check_mode=True)
        assert not check.failed and check.result["changed"] is True, check.result
        assert "verify" not in check.result and _read_only(servers) == 0

        sql(servers.target, "UPDATE `%s`.a SET v = -1 WHERE id = 500" % db)  # behind the agent's back: only checksum sees it
        failed = ansible.run("dbferry.mysql.switchover", dict(args, verify_method="checksum"), variables)
        assert failed.failed and failed.result["failed_step"] == "verify", failed.result
        assert failed.result["msg"].startswith("switchover stopped at verify: verify found 1 differing row(s)"), failed.result["msg"]
        assert "500" in failed.result["msg"] and "is writable again, as before this task; the move goes on tailing" in failed.result["msg"]
        assert failed.result["source_writable_again"] is True and failed.result["read_only"]["changed"] is True
        assert _read_only(servers) == 0 and _module(ansible, "status", variables, name).result["status"]["running"] is True

        sql(servers.source, "UPDATE `%s`.a SET v = v + 1 WHERE id = 500" % db)  # the applier brings the row back in line, dirty
        switched = ansible.run("dbferry.mysql.switchover", args, variables, verbosity=3)
        assert not switched.failed, switched.result.get("msg")
        assert _read_only(servers) == 1
    finally:
        sql(servers.source, "SET GLOBAL read_only = OFF")
    result = switched.result
    assert result["changed"] is True and result["verify"]["method"] == "inline" and result["verify"]["tables"][0]["mismatches"] == []
    assert result["window"]["summary"].startswith("expected read-only window") and result["window"]["prepared"]["unvouched"] == {}
    assert result["final_position"] == result["cutover"]["final_position"] == result["read_only"]["position"]
    assert 0 < result["window_seconds"] < result["finished_at"]
    for secret in (variables["admin_password"], variables["src"]["password"], variables["dst"]["password"]):
        assert secret not in switched.output and secret not in failed.output
    assert_same(servers, db)
    with root_session(servers.target) as conn:
        assert fetch_value(conn, "SELECT phase FROM _dbferry.moves WHERE name = %s", (name,)) == "complete"
    status = _module(ansible, "status", variables, name).result["status"]
    assert status["phase"] == "complete" and status["running"] is False and status["applied_position"] == result["final_position"]
    again = ansible.run("dbferry.mysql.switchover", args, variables)  # complete: the source is not touched
    assert not again.failed and again.result["changed"] is False and "cut over already" in again.result["message"]
    assert _read_only(servers) == 0
    assert _module(ansible, "agent", variables, name, state="absent").result["changed"] is True


@pytest.mark.parametrize("module", ["switchover", "cutover"])
def test_the_source_stays_read_only_past_the_point_of_no_return(ansible, servers, db, tmp_path, module):
    """A cutover that fails after the move was recorded complete (here: target_writable without the privilege to set
    the target's read_only, which the sandbox's ferry_target user lacks) must not make the source writable again:
    writes belong on the target from then on. The switchover restores nothing; the cutover module (the cutover role's
    three-task path) says so in source_kept_read_only, which the role's rescue obeys."""
    name, variables, args = _switchover_move(ansible, servers, db, tmp_path, module[:3] + "p")
    try:
        if module == "cutover":
            sql(servers.source, "SET GLOBAL read_only = ON")
            args = {k: v for k, v in args.items() if k in ("name", "state_dir", "source", "target")}
        failed = ansible.run("dbferry.mysql." + module, dict(args, target_writable=True), variables)
        assert failed.failed and "recorded complete" in failed.result["source_kept_read_only"], failed.result
        if module == "switchover":
            assert failed.result["failed_step"] == "cutover", failed.result
            assert "stays READ-ONLY on purpose: the move is recorded complete" in failed.result["msg"], failed.result["msg"]
            assert failed.result["source_writable_again"] is False
        assert _read_only(servers) == 1
    finally:
        sql(servers.source, "SET GLOBAL read_only = OFF")
    assert _module(ansible, "agent", variables, name, state="absent").result["changed"] is True


def _switchover_move(ansible, servers, db, tmp_path, prefix):
    """A move of ``db`` with inline verification, caught up; its name, the variables and the switchover's arguments."""
    make_load_tables(servers, db, 1000)
    name = prefix + "-" + db[:40].replace("_", "-")
    variables = dict(_vars(servers, tmp_path / "state", db), admin_password=servers.source.passwords["root"])
    args = {"name": name, "state_dir": "{{ state_dir }}", "source": "{{ src }}", "target": "{{ dst }}", "login_user": "root",
            "login_password": "{{ admin_password }}", "login_unix_socket": servers.source.socket, "verify_method": "inline",
            "max_read_only_seconds": 0}  # no budget: a loaded test machine stretches any window (test_window.py tests the budget)
    assert not _agent(ansible, variables, name, verify={"inline": True}).failed
    assert not _module(ansible, "wait", variables, name, max_lag=0, timeout=120).failed
    return name, variables, args


def _read_only(servers) -> int:
    with root_session(servers.source) as conn:
        return int(fetch_value(conn, "SELECT @@GLOBAL.read_only"))
