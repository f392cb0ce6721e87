"""Running the collection's playbooks from a test with the example inventory, and reading what they left."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from integration_support import ROOT, root_session

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_value


HOOKS = ROOT / "tests" / "integration" / "playbooks" / "hooks"


def run_playbook(ansible: Any, playbook: str, variables: dict[str, Any], *args: str, timeout: float = 300,
                 inventory: Path = ROOT / "examples" / "inventory") -> subprocess.CompletedProcess:
    """ansible-playbook PLAYBOOK -i INVENTORY ARGS, with ``variables`` as extra vars from a 0600 file."""
    cmd = [str(ansible.bin("ansible-playbook")), str(ROOT / "playbooks" / playbook), "-i", str(inventory),
           "--vault-password-file", str(ROOT / "examples" / "vault-password.txt"), "-e", "@" + str(ansible.write_vars(variables)), *args]
    return subprocess.run(cmd, env=ansible.env(), capture_output=True, text=True, timeout=timeout, check=False)


def move_variables(servers: Any, db: str, tmp_path: Path, name: str, **extra: Any) -> dict[str, Any]:
    """What the test overrides in the example inventory: where the servers are, what moves, where files go."""
    variables = {
        # the example's ferry hosts are this machine, running the modules with the tests' Python
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "dbferry_source": servers.source.connection_options("ferry_source"),
        "dbferry_target": servers.target.connection_options("ferry_target"),
        "dbferry_source_admin": {"unix_socket": servers.source.socket, "user": "root", "password": servers.source.passwords["root"]},
        "dbferry_databases": {"include": [db]},
        "dbferry_name": name,
        "dbferry_state_dir": str(tmp_path / "state"),
        "dbferry_report_file": str(tmp_path / "report.json"),
        "dbferry_copy_batch_rows": 500,
        # A read-only budget is a timing, and a loaded test machine stretches any window: no limit here (test_window.py
        # makes its refusal and its overrun deterministic).
        "dbferry_max_read_only_seconds": 0,
        "test_hook_log": str(tmp_path / "hooks.log"),
    }
    variables.update({"dbferry_hook_%s" % point: str(HOOKS / ("%s.yml" % point))
                      for point in ("before_read_only", "after_read_only", "after_cutover", "on_failure")})
    variables.update(extra)
    return variables


def checkpoints(servers: Any, name: str) -> int:
    with root_session(servers.target) as conn:
        if not fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '_dbferry' AND TABLE_NAME = 'moves'"):
            return 0
        return int(fetch_value(conn, "SELECT COUNT(*) FROM _dbferry.moves WHERE name = %s", (name,)))


def failure_message(output: str) -> str:
    """The msg of the task that failed the play."""
    found = re.findall(r'"msg": "((?:[^"\\]|\\.)*)"', output)
    assert found, output[-3000:]
    return json.loads('"%s"' % found[-1])
