"""Hooks: a real timeout, a bounded queue, and a hooks folder that only we can write (issue 13, items 6 and 15).

The hooks are real shell scripts; the ones that leave a child behind write
its pid to a file, and every test ends the children it caused by those pids.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import pytest
from ferry_support import FerryThread, make_load_tables, move_config
from integration_support import root_session, sql, until

from ansible_collections.dbferry.mysql.plugins.module_utils.config.move_config import parse_config
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.controls.hooks import Hooks

#: A hook that starts a child in a session of its own (so not in the hook's process group), which keeps the
#: hook's stdout open for 30 s, and exits 0 at once.
DETACHING = '#!/bin/sh\nsetsid sleep 30 &\necho $! >> "%s"\necho "started $DBFERRY_EVENT"\n'


def _hook(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def _end_children(pids_file: Path) -> None:
    """End the children the hooks left behind, by the pids they wrote."""
    if pids_file.exists():
        for pid in {int(line) for line in pids_file.read_text().split()}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie of another parent counts as ended)."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _hooks(servers, db, tmp_path: Path, folder: Path, **options) -> Hooks:
    config = parse_config(move_config(servers, db, tmp_path / "state", hooks_path=str(folder), **options))
    os.makedirs(config.state_dir, exist_ok=True)
    return Hooks(config, EventLog(config.name, os.path.join(config.state_dir, "ferry.log")))


def _log(state_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (state_dir / "ferry.log").read_text().splitlines()]


def test_detached_children_neither_hold_the_cutover_nor_the_agent_stop(ansible, servers, db, tmp_path):
    """The issue's case: the source is read-only while on-before-cutover runs; a hook that exits 0 succeeds at once."""
    make_load_tables(servers, db, 200)
    folder, pids = tmp_path / "hooks", tmp_path / "children.txt"
    folder.mkdir()
    for event in ("on-status", "on-before-cutover", "on-success"):
        _hook(folder, event + "-detach", DETACHING % pids)
    state_dir = tmp_path / "state"
    move = {"name": "hk-" + db[:40].replace("_", "-"), "state_dir": str(state_dir)}
    variables = {"src": servers.source.connection_options("ferry_source"), "dst": servers.target.connection_options("ferry_target")}
    try:
        started = ansible.run("dbferry.mysql.agent", dict(move, source="{{ src }}", target="{{ dst }}", databases={"include": [db]},
                                                          hooks_path=str(folder), hooks_status_seconds=1, hooks_timeout_seconds=3), variables)
        assert started.result["changed"] is True, started.result
        waited = ansible.run("dbferry.mysql.wait", dict(move, max_lag=0, timeout=120), variables).result
        assert not waited.get("failed"), waited
        # Several on-status hooks, each leaving a child with the hook's output open.
        until(lambda: sum(e["event"] == "hook" and e["hook_event"] == "on-status" for e in _log(state_dir)) >= 3, "three on-status hooks", 60)
        sql(servers.source, "SET GLOBAL read_only = ON")
        try:
            cut = ansible.run("dbferry.mysql.cutover", dict(move, source="{{ src }}", target="{{ dst }}", stop_timeout=20), variables).result
        finally:
            sql(servers.source, "SET GLOBAL read_only = OFF")
        assert cut.get("changed") is True and cut["hook_failures"] == [], cut
        runs = [e for e in _log(state_dir) if e["event"] == "hook"]
        assert {e["hook_event"] for e in runs} == {"on-status", "on-before-cutover", "on-success"}
        assert [e for e in runs if e["failed"] is not None] == []
        assert all(e["output"].startswith("started ") for e in runs)
    finally:
        _end_children(pids)


def test_a_hook_past_its_timeout_is_killed_with_its_process_group(servers, db, tmp_path):
    folder, pids = tmp_path / "hooks", tmp_path / "children.txt"
    folder.mkdir()
    _hook(folder, "on-before-cutover-hang", '#!/bin/sh\nsleep 300 &\necho $! >> "%s"\necho waiting\nsleep 300\n' % pids)
    hooks = _hooks(servers, db, tmp_path, folder, hooks_timeout_seconds=1)
    try:
        failures = hooks.run("on-before-cutover", {})
        assert failures == ["hook %s: killed after 1 s (hooks_timeout_seconds): waiting" % (folder / "on-before-cutover-hang")]
        (child,) = {int(line) for line in pids.read_text().split()}
        until(lambda: not _alive(child), "the hook's child ended with it", 10)
    finally:
        _end_children(pids)


def test_the_hook_queue_is_bounded_and_stopping_skips_waiting_status_hooks(servers, db, tmp_path):
    folder, runs = tmp_path / "hooks", tmp_path / "runs.txt"
    folder.mkdir()
    # The on-status hook runs until its timeout kills it, so the events fired meanwhile queue behind it.
    _hook(folder, "on-status-slow", '#!/bin/sh\necho "$DBFERRY_EVENT" >> "%s"\nsleep 60\n' % runs)
    _hook(folder, "on-failure-record", '#!/bin/sh\necho "$DBFERRY_EVENT" >> "%s"\n' % runs)
    hooks = _hooks(servers, db, tmp_path, folder, hooks_timeout_seconds=5)
    hooks.fire("on-status", {})
    until(runs.exists, "the first on-status hook runs", 10)
    for _fired in range(50):
        hooks.fire("on-status", {})
    hooks.fire("on-failure", {}, "boom")
    hooks.close()
    # One on-status ran; the 50 fired while it ran took one place in the queue, which stopping skipped; on-failure ran.
    assert runs.read_text().split() == ["on-status", "on-failure"]
    assert [e["failed"] for e in _log(tmp_path / "state") if e["event"] == "hook"] == ["killed after 5 s (hooks_timeout_seconds)", None]


def test_hooks_folder_and_files_must_be_ours_and_not_writable_by_others(servers, db, tmp_path):
    folder = tmp_path / "hooks"
    folder.mkdir()
    marker = tmp_path / "ran.txt"
    hook = _hook(folder, "on-start-x", '#!/bin/sh\necho ran >> "%s"\n' % marker)
    hooks = _hooks(servers, db, tmp_path, folder)
    hooks.check()

    folder.chmod(0o777)
    with pytest.raises(DbferryError) as error:
        hooks.check()
    assert "hooks_path %s is writable by group or others (mode 777)" % folder in error.value.message
    assert error.value.obj == str(folder) and "chmod go-w" in error.value.fix
    assert hooks.run("on-start", {}) == ["hook %s: not run: hooks_path %s is writable by group or others (mode 777)" % (hook, folder)]
    folder.chmod(0o755)

    hook.chmod(0o757)
    with pytest.raises(DbferryError) as error:
        hooks.check()
    assert "hook %s is writable by group or others (mode 757)" % hook in error.value.message
    hook.chmod(0o755)

    if os.geteuid() != 0:
        return  # giving a file to another user needs root; the checks above ran
    os.chown(hook, 65534, 65534)  # another user's file (nobody)
    with pytest.raises(DbferryError) as error:
        hooks.check()
    assert "hook %s is owned by uid 65534, not by uid %d (this user) or root" % (hook, os.geteuid()) in error.value.message
    assert "chown" in error.value.fix
    assert hooks.run("on-start", {}) == ["hook %s: not run: hook %s is owned by uid 65534, not by uid %d (this user) or root" % (
        hook, hook, os.geteuid())]
    assert not marker.exists()


def test_a_move_with_an_unsafe_hooks_folder_stops_before_anything_is_written(servers, db, tmp_path):
    make_load_tables(servers, db, 20)
    folder, marker = tmp_path / "hooks", tmp_path / "ran.txt"
    folder.mkdir()
    _hook(folder, "on-failure-x", '#!/bin/sh\necho ran >> "%s"\n' % marker)
    folder.chmod(0o775)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", hooks_path=str(folder)))
    ferry.thread.join(60)
    assert isinstance(ferry.error, DbferryError)
    assert ferry.error.message == "hooks are not safe to run: hooks_path %s is writable by group or others (mode 775)." % folder
    assert not marker.exists()  # the on-failure hook of that folder did not run either
    with root_session(servers.target) as conn:
        assert fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (db,)) == 0
        moves = fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '_dbferry' AND TABLE_NAME = 'moves'")
        assert not moves or fetch_value(conn, "SELECT COUNT(*) FROM _dbferry.moves WHERE name = %s", (ferry.config.name,)) == 0
