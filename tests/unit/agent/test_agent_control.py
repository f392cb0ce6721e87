"""Reaching a move's agent on the ferry host: its run lock, its control socket, its name (no database server involved:
real files, locks, sockets and processes)."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.agent import process as agent
from ansible_collections.dbferry.mysql.plugins.module_utils.agent import cli
from ansible_collections.dbferry.mysql.plugins.module_utils.controls import control_socket as control
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.agent.runlock import LOCK_FILE


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    return folder


def test_stop_never_signals_a_pid_that_is_not_written_yet(state_dir, monkeypatch):
    """An agent holds its lock for an instant before its pid is in the file: stop must not os.kill(-1), which
    signals every process of this user; it asks again until the pid is there."""
    real_kill = os.kill
    signalled: list[tuple[int, int]] = []

    def kill(pid: int, signum: int) -> None:
        signalled.append((pid, signum))
        if pid > 0:  # only the test's own child below is ever really signalled
            real_kill(pid, signum)

    monkeypatch.setattr(agent.os, "kill", kill)
    lock = open(state_dir / LOCK_FILE, "a+", encoding="utf-8")  # pylint: disable=consider-using-with
    fcntl.flock(lock, fcntl.LOCK_EX)  # held, no pid written: what an agent looks like in that instant
    with pytest.raises(DbferryError, match="did not stop"):
        agent.stop(str(state_dir), timeout=0.5)
    assert signalled == []

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # pylint: disable=consider-using-with
    lock.write(str(child.pid))
    lock.flush()

    def release_when_gone() -> None:
        child.wait()
        lock.close()

    threading.Thread(target=release_when_gone, daemon=True).start()
    try:
        assert agent.stop(str(state_dir), timeout=60) is True
    finally:
        if child.poll() is None:
            child.kill()
    assert signalled == [(child.pid, signal.SIGTERM)] and child.returncode == -signal.SIGTERM


def test_an_idle_client_blocks_nobody_and_is_dropped(state_dir, monkeypatch):
    monkeypatch.setattr(control, "CLIENT_TIMEOUT_SECONDS", 0.5)
    server = control.ControlServer(str(state_dir), {"pause": lambda request: {"changed": True, "cmd": request["cmd"]}})
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        idle.connect(str(state_dir / control.SOCKET_NAME))  # connects, says nothing
        assert control.request(str(state_dir), "pause", timeout=5) == {"changed": True, "cmd": "pause"}
        idle.settimeout(30)
        assert idle.recv(1) == b""  # closed by the server once its time to ask was up
    finally:
        idle.close()
        server.close()


@pytest.mark.parametrize("argv", [["status", "../../outside"], ["pause", "../../outside"], ["status", "../../outside", "--state-dir", "/tmp"]])
def test_the_command_line_checks_a_move_name_before_it_becomes_a_path(tmp_path, monkeypatch, capsys, argv):
    home = tmp_path / "home"
    outside = home / ".dbferry" / "moves" / ".." / ".." / "outside"
    os.makedirs(outside)
    (outside / "status.json").write_text('{"move": "planted", "phase": "tailing", "tables": {}}')
    monkeypatch.setenv("HOME", str(home))
    assert cli.run(argv) == 2
    err = capsys.readouterr().err
    assert "config key name must be 1-64 letters, digits, - or _, got '../../outside'" in err, err
