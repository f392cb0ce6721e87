"""Progress of a long step, live and afterwards, on one small real move: the wait task's progress lines in the
playbook's output, `dbferry status --watch` following the move to its end, and `dbferry report` opened in a headless
browser with its charts. The move is held a few seconds by a throttle flag file, so that there is progress to see."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ferry_support import make_load_tables
from integration_support import ROOT, sql, until

DBFERRY = ROOT / "bin" / "dbferry"


def _playbook(servers, db, name, state_dir: Path, flag: Path) -> list:
    move = {"name": name, "state_dir": str(state_dir)}
    return [{"name": "a small move, throttled at first", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "start the agent", "dbferry.mysql.agent": dict(
            move, source="{{ src }}", target="{{ dst }}", databases={"include": [db]}, copy={"batch_rows": 100},
            throttle_flag_file=str(flag), throttle_check_seconds=0.2)},
        {"name": "wait while it is throttled", "dbferry.mysql.wait": dict(move, max_lag=0, timeout=2, poll_interval=0.2, progress_seconds=1),
         "ignore_errors": True},
        {"name": "unthrottle", "ansible.builtin.file": {"path": str(flag), "state": "absent"}},
        {"name": "wait until caught up", "dbferry.mysql.wait": dict(move, max_lag=0, timeout=60, poll_interval=0.2, progress_seconds=1)},
        {"name": "switch over", "dbferry.mysql.switchover": dict(
            move, source="{{ src }}", target="{{ dst }}", login_user="root", login_password="{{ admin_password }}",
            login_unix_socket=servers.source.socket)},
    ]}]


def _dump_dom(page: Path, profile: Path) -> str:
    """The page as a headless Chromium renders it (the DOM after parsing, what a browser shows)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on this machine: scripts/setup.sh --test installs Debian's chromium; without it the report page is not opened")
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=%s" % profile, "--dump-dom",
                           page.as_uri()], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "<svg" in done.stdout, done.stderr[-2000:]
    return done.stdout


def _series(dom: str, name: str) -> int:
    """How many points the chart's polyline of ``name`` has."""
    found = re.search(r'<polyline[^>]*data-series="%s"[^>]*points="([^"]*)"' % name, dom)
    assert found, "no %s line in the report" % name
    return len(found.group(1).split())


def test_progress_lines_watch_and_report_of_a_small_move(ansible, servers, db, tmp_path):
    make_load_tables(servers, db, 300)
    name = "progress-" + db[:30].replace("_", "-")
    state_dir, flag = tmp_path / "state", tmp_path / "throttle.flag"
    flag.touch()
    (tmp_path / "play.yml").write_text(yaml.safe_dump(_playbook(servers, db, name, state_dir, flag), sort_keys=False))
    variables = ansible.write_vars({"src": servers.source.connection_options("ferry_source"), "dst": servers.target.connection_options("ferry_target"),
                                    "admin_password": servers.source.passwords["root"]})
    play = subprocess.Popen([str(ansible.bin("ansible-playbook")), str(tmp_path / "play.yml"), "-e", "@%s" % variables], env=ansible.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watcher = None
    try:
        until(lambda: (state_dir / "status.json").exists() or play.poll() is not None, "the agent's first status")
        # stdout is a pipe: JSON lines, one a look, until the cutover stops the agent
        watcher = subprocess.Popen([str(DBFERRY), "status", name, "--state-dir", str(state_dir), "--watch", "--interval", "0.2"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        output = play.communicate(timeout=180)[0]
        assert play.returncode == 0, output[-5000:]
        watched, errors = watcher.communicate(timeout=30)
    finally:
        sql(servers.source, "SET GLOBAL read_only = OFF")
        for proc in (play, watcher):
            if proc is not None and proc.poll() is None:
                proc.kill()

    # the held wait printed progress lines, each saying why the move is held, and returned them
    printed = [line for line in output.splitlines() if line.startswith("[localhost] %s: " % name)]
    assert printed, output[-5000:]
    assert "throttled: throttle_flag_file: %s exists" % flag in printed[0] and "None" not in printed[0], printed
    held = json.loads(re.search(r"^fatal: \[localhost\]: FAILED! => (\{.*\})$", output, re.M).group(1))
    assert "has not caught up after" in held["msg"] and "the move is throttled" in held["msg"], held["msg"]
    assert re.match(r"%s: copying, 0 / \d+ rows \(0\.0%%\), 0 rows/s, ETA unknown, lag " % name, held["progress"][0]), held["progress"]
    assert held["samples"] and held["waited"] > 2  # the whole task's wait, over the module's calls

    # the watch followed the move until the cutover stopped its agent, and exited 0 (complete)
    assert watcher.returncode == 0, errors
    looks = [json.loads(line) for line in watched.splitlines()]
    assert len(looks) >= 2 and any(look["throttled"] for look in looks)
    assert looks[-1]["phase"] in ("stopped", "complete") and looks[-1]["running"] is False  # stopped by the cutover, maybe recorded complete already

    # the report: one page, its charts drawn from the log, read back from what the browser rendered
    made = subprocess.run([str(DBFERRY), "report", name, "--state-dir", str(state_dir)], capture_output=True, text=True, timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    page = state_dir / "report.html"
    assert json.loads(made.stdout)["written"] == str(page)
    assert not re.search(r'<(script|link)\b|src="http', page.read_text())  # self-contained
    dom = _dump_dom(page, tmp_path / "chromium")
    assert _series(dom, "rows_per_second") > 1 and _series(dom, "lag_seconds") > 1 and _series(dom, "rows_copied") > 1
    assert 'data-held="throttle_flag_file: %s exists"' % flag in dom
    window = re.search(r'<svg[^>]*data-chart="window".*?</svg>', dom, re.S)
    assert window, "no chart of the read-only window"
    steps = re.findall(r'<rect[^>]*data-step="([^"]+)"', window.group(0))
    assert steps[:2] == ["read_only", "verify"] and {"wait_applied", "stop_agent", "record"} <= set(steps), steps
