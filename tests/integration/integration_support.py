"""Helpers for integration tests: real servers and a real ansible-playbook.

Modules are run through ansible-playbook; passwords travel in a 0600 vars
file, never on a command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import connect, execute

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: write_test_result, the action that hands a task's result to the test (cheaper than ansible.builtin.copy).
ACTION_PLUGINS = Path(__file__).resolve().parent / "action_plugins"


@dataclass
class Servers:
    source: sandbox.Sandbox
    target: sandbox.Sandbox
    base: str


@contextlib.contextmanager
def root_session(server: sandbox.Sandbox) -> Iterator[Any]:
    conn = connect(server.spec("root"))
    try:
        yield conn
    finally:
        conn.close()


def sql(server: sandbox.Sandbox, *statements: str) -> None:
    """Run statements as root on a sandbox."""
    with root_session(server) as conn:
        for statement in statements:
            execute(conn, statement)


def until(predicate: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll until predicate() is truthy and return it; a bound, not a timing assumption."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("gave up after %s s waiting for %s" % (timeout, what))


@dataclass
class TaskRun:
    rc: int
    output: str
    result: dict[str, Any]

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))


class Ansible:
    """Runs one module task through ansible-playbook and returns its registered result."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".build" / "collections"),
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_HOME": str(self.workdir / "ansible-home"),
            "ANSIBLE_ACTION_PLUGINS": str(ACTION_PLUGINS),
        })
        return env

    @staticmethod
    def bin(name: str) -> Path:
        """A command of the virtualenv that runs the tests."""
        return BIN / name

    def write_vars(self, variables: dict[str, Any]) -> Path:
        path = self.workdir / "vars.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(variables, handle)
        return path

    def run(self, module: str, args: dict[str, Any], variables: dict[str, Any], *,
            check_mode: bool = False, verbosity: int = 0, background: bool = False) -> Any:
        out = self.workdir / "result.json"
        if out.exists():
            out.unlink()
        playbook = [{
            "name": "integration test",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"name": "module under test", module: args, "register": "under_test",
                 "ignore_errors": True, "check_mode": check_mode},
                {"name": "save the result", "write_test_result": {"content": "{{ under_test | to_json }}", "dest": str(out)}},
            ],
        }]
        path = self.workdir / "playbook.yml"
        path.write_text(yaml.safe_dump(playbook, sort_keys=False))
        cmd = [str(BIN / "ansible-playbook"), str(path), "-e", "@" + str(self.write_vars(variables))]
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        if background:
            return subprocess.Popen(cmd, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        proc = subprocess.run(cmd, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
        assert proc.returncode == 0, "ansible-playbook failed outside the module:\n" + proc.stdout
        return TaskRun(proc.returncode, proc.stdout, json.loads(out.read_text()))
