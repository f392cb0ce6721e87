"""dbferry sandbox: real servers up, status and down, and down's safety."""

from __future__ import annotations

import json
import os
import subprocess

from integration_support import ROOT

from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import connect, fetch_all

CLI = [str(ROOT / "bin" / "dbferry"), "sandbox"]


def _cli(*args: str) -> list[dict]:
    out = subprocess.run(CLI + list(args), check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_up_status_down(tmp_path):
    base = str(tmp_path / "sb")
    rows = _cli("up", "--dir", base, "--count", "2")
    assert [r["name"] for r in rows] == ["s1", "s2"] and all(r["running"] for r in rows)
    assert oct(os.stat(os.path.join(base, "sandboxes.json")).st_mode & 0o777) == "0o600"
    s1, s2 = sandbox.get(base, "s1"), sandbox.get(base, "s2")
    assert s1.server_id != s2.server_id
    conn = connect(s1.spec("ferry_source"))
    try:
        variables = dict(fetch_all(conn, "SHOW GLOBAL VARIABLES WHERE Variable_name IN "
                                         "('log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata', 'bind_address')"))
    finally:
        conn.close()
    assert variables == {"log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL",
                         "binlog_row_metadata": "FULL", "bind_address": "127.0.0.1"}
    # up again keeps what runs
    assert [r["pid"] for r in _cli("up", "--dir", base, "--count", "2")] == [s1.pid, s2.pid]
    _cli("vars", "--dir", base)  # conn.json, admin.json, inventory.yml: down removes them with the rest (passwords)
    assert {r["name"] for r in _cli("down", "--dir", base)} == {"s1", "s2"}
    assert not s1.is_running() and not s2.is_running()
    assert not os.path.exists(base)


def test_down_never_signals_a_process_it_did_not_start(tmp_path):
    """A recorded pid that now belongs to another program (pid reuse) is left alone."""
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        base = tmp_path / "sb"
        folder = base / "ghost"
        (folder / "data").mkdir(parents=True)
        record = sandbox.Sandbox("ghost", str(folder), 1, str(folder / "s.sock"), 1, bystander.pid)
        (base / sandbox.STATE_FILE).write_text(json.dumps({"sandboxes": [record.__dict__]}))
        assert sandbox.down(str(base)) == ["ghost"]
        assert bystander.poll() is None, "down() signalled a process that is not its mariadbd"
        assert not folder.exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_bad_server_option_is_one_clear_error_and_leaves_nothing(tmp_path):
    base = str(tmp_path / "sb")
    for _attempt in range(2):  # the second try meets no leftovers of the first
        proc = subprocess.run(CLI + ["up", "--dir", base, "--name", "bad", "--option", "no-such-option=1"],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 2
        assert proc.stderr.startswith("dbferry: error: sandbox bad: mariadbd exited")
        assert "unknown variable 'no-such-option=1'" in proc.stderr
        assert "Fix: check the --option values" in proc.stderr
        assert not os.path.exists(os.path.join(base, "bad"))
