"""dbferry sandbox vars and sandbox sql: the README's five-minute path without pasted Python, on the session's sandboxes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from integration_support import ROOT, BIN

CLI = [str(ROOT / "bin" / "dbferry"), "sandbox"]


def _cli(*args: str) -> list[dict]:
    out = subprocess.run(CLI + list(args), check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_vars_write_an_inventory_and_the_logins_where_git_ignores_them(servers, db, tmp_path):
    """vars writes conn.json, admin.json and inventory.yml (0600) into the sandboxes' folder; sql makes the demo data; the
    README's preflight command then runs with that inventory and no Ansible warning (no implicit localhost)."""
    base = servers.base
    _cli("sql", "--dir", base, "source", "CREATE TABLE `%s`.t (id INT PRIMARY KEY, v VARCHAR(20))" % db,
         "INSERT INTO `%s`.t SELECT seq, CONCAT('row ', seq) FROM `%s`.seq_1_to_100" % (db, db))
    assert _cli("sql", "--dir", base, "source", "SELECT COUNT(*) AS n FROM `%s`.t" % db) == [{"n": 100}]
    written = {row["holds"]: row["written"] for row in _cli("vars", "--dir", base, "--source", "source", "--target", "target",
                                                            "--move", "shop-move")}
    assert written == {what: os.path.join(base, name) for what, name in
                       (("connections", "conn.json"), ("admin", "admin.json"), ("inventory", "inventory.yml"))}
    for path in written.values():
        assert oct(os.stat(path).st_mode & 0o777) == "0o600", path
    connections = json.loads(Path(written["connections"]).read_text())
    assert connections["dbferry_source"]["port"] == servers.source.port and connections["dbferry_target"]["user"] == "ferry_target"
    admin = json.loads(Path(written["admin"]).read_text())["dbferry_source_admin"]
    assert admin == {"unix_socket": servers.source.socket, "user": "root", "password": servers.source.passwords["root"]}
    # .sandbox/ is what a checkout's `dbferry sandbox` uses by default, and git ignores it
    ignored = subprocess.run(["git", "check-ignore", "-q", ".sandbox/conn.json"], cwd=ROOT, check=False)
    assert ignored.returncode == 0

    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / "preflight.yml"), "-i", written["inventory"],
                           "-l", "shop-move", "-e", "@" + written["connections"], "-e", json.dumps({"dbferry_databases": {"include": [db]}})],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "shop-move" in proc.stdout and "WARNING" not in proc.stdout + proc.stderr, proc.stderr + proc.stdout[-3000:]
