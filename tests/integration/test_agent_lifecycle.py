"""The agent's life at its edges, on real sandboxes: its state folder, its start, its status once it is gone,
a complete move, and the refusals that must come before anything is written."""

from __future__ import annotations

import os
import stat
from typing import Any

import pytest

from ferry_support import make_load_tables, move_config
from integration_support import root_session

from ansible_collections.dbferry.mysql.plugins.module_utils import agent
from ansible_collections.dbferry.mysql.plugins.module_utils.connection import fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.errors import DbferryError


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
