"""meta/runtime.yml's action_groups through a real play: module_defaults for each group reaches every module in it, and
every one of them takes the options (a module refuses an option it does not know, so one wrong member fails the play).

One play with a task for each module of the groups but preflight, verify and wait (slower, and they add no group: the unit
test tests/unit/meta/test_action_groups.py reads every member's argument spec), each doing as little as it can: on a move
that does not exist, in check mode, or on an empty table. A task that fails for the move's sake (there is no agent) still
took the options; its message names the move or its state folder, which shows that they arrived.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import yaml
from integration_support import sql

#: The modules run: the task's own options (the rest come from module_defaults), and whether it runs in check mode.
TASKS = [
    ("agent", {"state": "stopped"}, False),
    ("cutover", {}, True),
    ("switchover", {}, True),
    ("status", {"writes_after_cutover": False}, False),
    ("control", {"command": "pause"}, True),
    ("read_only", {"read_only": True}, True),
    ("migration", {"database": "{{ db }}", "versions": ["1"]}, True),
    ("alter", {"database": "{{ db }}", "table": "t", "alter": "ADD COLUMN c INT"}, True),
    ("replica", {"state": "started"}, True),
]


def test_module_defaults_of_each_group_reach_every_member(ansible, servers, db, tmp_path):
    name = "groups-" + db[:40].replace("_", "-")
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY)" % db, "CREATE TABLE `%s`.schema_migrations (version VARCHAR(255) PRIMARY KEY)" % db)
    root = servers.source.passwords["root"]
    play = {
        "name": "module_defaults by group",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {
            "group/dbferry.mysql.move": {"name": name, "source": "{{ src }}", "target": "{{ dst }}", "state_dir": "{{ state_dir }}"},
            "group/dbferry.mysql.move_ref": {"name": name, "state_dir": "{{ state_dir }}"},
            "group/dbferry.mysql.servers": {"source": "{{ src }}", "target": "{{ dst }}"},
            "group/dbferry.mysql.login": {"login_unix_socket": servers.source.socket, "login_user": "root", "login_password": "{{ pw }}"},
        },
        "tasks": [{"name": module, "dbferry.mysql." + module: args, "check_mode": check, "register": module, "ignore_errors": True}
                  for module, args, check in TASKS]
        + [{"name": "save the results", "ansible.builtin.copy": {
            "content": "{{ {%s} | to_json }}" % ", ".join("'%s': %s" % (task[0], task[0]) for task in TASKS),
            "dest": str(tmp_path / "results.json"), "mode": "0600"}}],
    }
    playbook = tmp_path / "groups.yml"
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    variables = {"src": servers.source.connection_options("ferry_source"), "dst": servers.target.connection_options("ferry_target"),
                 "state_dir": str(tmp_path / "state"), "db": db, "pw": root}
    proc = subprocess.run([str(ansible.bin("ansible-playbook")), str(playbook), "-e", "@" + str(ansible.write_vars(variables))],
                          env=ansible.env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results: dict[str, Any] = json.loads((tmp_path / "results.json").read_text())
    failures = {module: result.get("msg") for module, result in results.items() if result.get("failed")}
    # Those that cannot get further without a running move: each names the move or its state folder, so name and state_dir
    # arrived (and the cutover connected to the target, which it reads the move's record from).
    assert failures.pop("cutover").startswith("no move %s is recorded on the target ferry_target@" % name)
    assert failures.pop("control").startswith("nothing running in %s answers" % variables["state_dir"])
    assert failures == {}, failures
    assert results["agent"]["changed"] is False and results["status"]["status"]["phase"] is not None
    # Check mode runs nothing that changes a server, apart from the empty copy alter's check mode makes and drops.
    assert all(results[module]["queries"] == [] for module in ("agent", "cutover", "switchover", "read_only", "migration", "replica"))
    scratch = ("CREATE TABLE `%s`.`_t_chk` LIKE" % db, "ALTER TABLE `%s`.`_t_chk` ADD" % db, "DROP TABLE IF EXISTS `%s`.`_t_chk`" % db)
    assert results["alter"]["queries"] and [q for q in results["alter"]["queries"] if not q.startswith(scratch)] == []
    assert root not in proc.stdout
