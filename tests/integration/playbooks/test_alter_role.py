"""The dbferry.mysql.alter role: its files agree with each other and with the module (no server), and playbooks/alter.yml
runs changes given as variables, with its on-failure hook when one fails."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import yaml
from integration_support import ROOT, root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all
from ansible_collections.dbferry.mysql.plugins.modules.alter import alter_argument_spec

ROLE = ROOT / "roles" / "alter"
HOOK = ROOT / "tests" / "integration" / "playbooks" / "hooks" / "alter_point.yml"


def _specs() -> dict[str, Any]:
    return yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]


def test_every_module_option_is_a_role_variable_passed_once():
    """change.yml's module defaults give the module every option it takes (but state), each from the role's variable of
    the same name (the login's from dbferry_login); and the role's tasks read only variables its specs declare.

    Why: an option of ALTER_OPTIONS that the role declares (scripts/role_specs.py writes it) but does not pass would be
    silently ignored, the operator's group_vars setting with it."""
    change = yaml.safe_load((ROLE / "tasks" / "change.yml").read_text())[0]
    given = change["module_defaults"]["dbferry.mysql.alter"]
    assert set(given) == set(alter_argument_spec()) - {"state"}
    options = _specs()["main"]["options"]
    for option, value in given.items():
        variable = re.search(r"\b(dbferry_\w+|alter_change)\b", str(value)).group(1)
        if variable == "dbferry_login":
            assert value == "{{ dbferry_login.%s | default(omit) }}" % option.removeprefix("login_"), option
        elif variable != "alter_change" and option not in ("database", "timeout"):
            # copy_concurrency: the move's dbferry_copy_concurrency is another knob (scripts/role_specs.py ALTER_OWN_NAMES)
            assert variable == ("dbferry_alter_" if option == "copy_concurrency" else "dbferry_") + option, "%s is given %s" % (option, value)
    passed = set(re.findall(r"\bdbferry_\w+", yaml.safe_dump(given)))
    generated = {name for name in options if name not in ("dbferry_login", "dbferry_database", "dbferry_alters", "dbferry_alter_timeout",
                                                          "dbferry_report_file") and not name.startswith("dbferry_hook_")}
    assert generated <= passed, "declared but not passed: %s" % (generated - passed)
    every = {name for point in _specs().values() for name in point["options"]}
    text = "".join(path.read_text() for path in sorted(ROLE.glob("tasks/*.yml")))
    read = set(re.findall(r"\bdbferry_\w+", text)) - set(re.findall(r"^\s+(dbferry_\w+):", text, re.M))
    assert read <= every, "read but not declared: %s" % (read - every)


def test_alter_yml_runs_the_changes_in_order_and_the_on_failure_hook_on_a_failed_one(ansible, servers, db, tmp_path):
    """Two changes: the first cuts over (its hooks around the cut-over), the second fails before anything is written
    (a column the first added already); the on-failure hook sees it, the play stops naming it, the table is as it was."""
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, v INT NOT NULL)" % quote_table(db, "t"),
        "INSERT INTO %s SELECT seq, MOD(seq, 3) FROM %s" % (quote_table(db, "t"), quote_table(db, "seq_1_to_500")))
    spec = servers.source.spec("root")
    on_failure = tmp_path / "on_failure.yml"
    on_failure.write_text(yaml.safe_dump([{"name": "Record the failure", "ansible.builtin.lineinfile": {
        "path": str(tmp_path / "hooks.log"), "line": "on_failure {{ dbferry_failure.table }}: {{ dbferry_failure.alter }}",
        "create": True, "mode": "0600"}}]))
    variables = {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "dbferry_login": {"unix_socket": spec.unix_socket, "user": spec.user, "password": spec.password},
        "dbferry_database": db,
        "dbferry_alters": [{"table": "t", "alter": "ADD COLUMN note TEXT"}, {"table": "t", "alter": "ADD COLUMN note INT"}],
        "dbferry_hook_before_cut_over": str(HOOK), "dbferry_hook_after_cut_over": str(HOOK), "dbferry_hook_on_failure": str(on_failure),
        "dbferry_ok_to_drop_table": True, "test_hook_log": str(tmp_path / "hooks.log"),
    }
    cmd = [str(ansible.bin("ansible-playbook")), str(ROOT / "playbooks" / "alter.yml"), "-i", str(ROOT / "examples" / "inventory-migrations"),
           "--vault-password-file", str(ROOT / "examples" / "vault-password.txt"), "-l", "staging", "-e", "@" + str(ansible.write_vars(variables))]
    run = subprocess.run(cmd, env=ansible.env(), capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode != 0, run.stdout[-3000:]
    assert (tmp_path / "hooks.log").read_text().splitlines() == [
        "before_cut_over t: ADD COLUMN note TEXT", "after_cut_over t: ADD COLUMN note TEXT", "on_failure t: ADD COLUMN note INT"]
    assert "change of %s.t (ADD COLUMN note INT) failed at" % db in run.stdout and "Duplicate column name 'note'" in run.stdout
    assert "The original table is intact." in run.stdout
    with root_session(servers.source) as conn:
        assert [row[0] for row in fetch_all(conn, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND "
                                                  "TABLE_NAME = 't' ORDER BY ORDINAL_POSITION", (db,))] == ["id", "v", "note"]
