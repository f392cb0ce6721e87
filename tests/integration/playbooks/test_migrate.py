"""playbooks/migrate.yml against a sandbox through the example inventory (examples/inventory-migrations), with only the
server, the database, the folder and the test's paths given as extra vars: migrations applied online under the app's
writes and recorded in the application's migration table, a second run that changes nothing, --check, dbferry_online
false through the environment, the settings' layers, and a bad file refused before anything is written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from ferry_support import DmlLoad, make_load_tables
from integration_support import ROOT, root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all, fetch_value

HOOK = ROOT / "tests" / "integration" / "playbooks" / "hooks" / "alter_point.yml"

MIGRATIONS = {
    "20240101000001_add_note.sql": "-- the app writes a and b meanwhile\nALTER TABLE a ADD COLUMN note VARCHAR(20) NULL DEFAULT 'x;y';\n",
    "20240101000002_index_b.sql": "CREATE TABLE IF NOT EXISTS `c;d` (id INT PRIMARY KEY); /* plain SQL */\n"
                                  "ALTER TABLE `b` ADD INDEX v_idx (v), MODIFY s VARCHAR(60);\n",
    "20240101000003_index_note.sql": "ALTER TABLE a ADD INDEX note_idx (note)",
}


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "README.md").write_text("not a migration")
    return folder


def _migrate(ansible: Any, variables: dict[str, Any], *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """ansible-playbook playbooks/migrate.yml -i examples/inventory-migrations -l staging ARGS, the variables as -e @file."""
    cmd = [str(ansible.bin("ansible-playbook")), str(ROOT / "playbooks" / "migrate.yml"), "-i", str(ROOT / "examples" / "inventory-migrations"),
           "--vault-password-file", str(ROOT / "examples" / "vault-password.txt"), "-l", "staging",
           "-e", "@" + str(ansible.write_vars(variables)), *args]
    return subprocess.run(cmd, env=dict(ansible.env(), **(env or {})), capture_output=True, text=True, timeout=300, check=False)


def _variables(servers: Any, db: str, tmp_path: Path, folder: Path, **extra: Any) -> dict[str, Any]:
    spec = servers.source.spec("root")
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "dbferry_login": {"unix_socket": spec.unix_socket, "user": spec.user, "password": spec.password},
        "dbferry_database": db,
        "dbferry_migrations_dir": str(folder),
        "dbferry_report_file": str(tmp_path / "report.json"),
        "dbferry_throttle_flag_file": str(tmp_path / "throttle.flag"),
        "dbferry_panic_flag_file": str(tmp_path / "panic.flag"),
        "dbferry_hook_before_cut_over": str(HOOK),
        "dbferry_hook_after_cut_over": str(HOOK),
        "test_hook_log": str(tmp_path / "hooks.log"),
    }
    variables.update(extra)
    return variables


def _recap(output: str) -> dict[str, int]:
    found = re.search(r"shop-db-staging\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert found, output[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, found.groups())))


def _recorded(servers: Any, db: str) -> list[str]:
    with root_session(servers.source) as conn:
        return [row[0] for row in fetch_all(conn, "SELECT version FROM %s ORDER BY version" % quote_table(db, "schema_migrations"))]


def _columns(servers: Any, db: str, table: str) -> list[str]:
    with root_session(servers.source) as conn:
        return [row[0] for row in fetch_all(conn, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                                                  "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (db, table))]


def _indexes(servers: Any, db: str, table: str) -> set[str]:
    with root_session(servers.source) as conn:
        return {row[0] for row in fetch_all(conn, "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s "
                                                  "AND TABLE_NAME = %s", (db, table))}


def _app_tables(servers: Any, db: str) -> None:
    """Tables a and b for the load, and the application's migration table with a version of its own tool's."""
    make_load_tables(servers, db, 3000)
    sql(servers.source, "CREATE TABLE %s (version VARCHAR(255) PRIMARY KEY)" % quote_table(db, "schema_migrations"),
        "INSERT INTO %s VALUES ('20231231000000')" % quote_table(db, "schema_migrations"))


def test_three_migrations_online_under_writes_then_a_second_run_changes_nothing(ansible, servers, db, tmp_path):
    """Each ALTER runs online (its hooks around its cut-over, in order) while the app writes to both tables; each
    migration's version is recorded after it; the plain statement runs as written; a second run changes nothing."""
    _app_tables(servers, db)
    variables = _variables(servers, db, tmp_path, _folder(tmp_path, MIGRATIONS), dbferry_chunk_size=100)
    load = DmlLoad(servers, db, connections=2, seed=11, per_second=40)
    try:
        before = load.statements
        run = _migrate(ansible, variables)
        during = load.statements - before
    finally:
        load.finish()
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert during > 20, "the app did not write while the migrations ran"
    assert _recorded(servers, db) == ["20231231000000", "20240101000001", "20240101000002", "20240101000003"]
    assert _columns(servers, db, "a") == ["id", "v", "s", "note"]
    assert {"v_idx"} <= _indexes(servers, db, "b") and {"note_idx"} <= _indexes(servers, db, "a")
    changes = ["a: ADD COLUMN note VARCHAR(20) NULL DEFAULT 'x;y'", "b: ADD INDEX v_idx (v), MODIFY s VARCHAR(60)", "a: ADD INDEX note_idx (note)"]
    expected = [point + " " + change for change in changes for point in ("before_cut_over", "after_cut_over")]
    assert (tmp_path / "hooks.log").read_text().splitlines() == expected
    with root_session(servers.source) as conn:
        assert fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ('c;d', '_b_del')",
                           (db,)) == 2
        assert fetch_value(conn, "SELECT COUNT(*) FROM %s WHERE note IS NULL" % quote_table(db, "a")) == 0
    assert "3 pending" in run.stdout

    again = _migrate(ansible, variables)
    assert again.returncode == 0, again.stdout[-5000:]
    assert _recap(again.stdout)["changed"] == 0 and "0 pending" in again.stdout
    assert len((tmp_path / "hooks.log").read_text().splitlines()) == 6


def test_check_lists_pending_with_new_create_then_offline_from_the_environment(ansible, servers, db, tmp_path):
    """--check prints each setting with its layer and each pending migration with its table's new CREATE TABLE, and
    changes nothing; DBFERRY_ONLINE=0 then runs the same files as plain statements (no ghost, no hook, no old table
    left), recorded as the online run records them."""
    _app_tables(servers, db)
    variables = _variables(servers, db, tmp_path, _folder(tmp_path, MIGRATIONS))
    env = {"DBFERRY_CHUNK_SIZE": "150", "DBFERRY_MAX_LOAD": "Threads_running=40"}
    variables["dbferry_max_load"] = "Threads_running=30"  # -e beats the environment
    check = _migrate(ansible, variables, "--check", env=env)
    assert check.returncode == 0, check.stdout[-5000:] + check.stderr[-2000:]
    for line in ("dbferry_chunk_size = 150  (environment DBFERRY_CHUNK_SIZE)",
                 "dbferry_max_load = Threads_running=30  (-e)",
                 "dbferry_critical_load = Threads_running=200  (group_vars/all)",
                 "dbferry_dml_batch_size = 50  (group_vars/staging)",
                 "dbferry_default_retries = 60  (role defaults)",
                 "dbferry_online = true  (role defaults)"):
        assert line in check.stdout, line + "\n" + check.stdout[:6000]
    assert spec_password(servers) not in check.stdout
    assert re.search(r"dbferry_login = \{.*password.*\*{8}.*\}  \(-e\)", check.stdout)
    assert "3 pending" in check.stdout and "listed only (check mode)" in check.stdout
    assert "`note` varchar(20) DEFAULT 'x;y'" in check.stdout and "KEY `v_idx` (`v`)" in check.stdout
    assert "not shown, the ALTER fails on the table as it is now" in check.stdout  # the third needs the first's column
    assert _recorded(servers, db) == ["20231231000000"] and _columns(servers, db, "a") == ["id", "v", "s"]

    offline = _migrate(ansible, variables, env=dict(env, DBFERRY_ONLINE="0"))
    assert offline.returncode == 0, offline.stdout[-5000:]
    assert "dbferry_online = false  (environment DBFERRY_ONLINE)" in offline.stdout
    assert "every statement as written" in offline.stdout
    assert _recorded(servers, db) == ["20231231000000", "20240101000001", "20240101000002", "20240101000003"]
    assert _columns(servers, db, "a") == ["id", "v", "s", "note"] and {"v_idx"} <= _indexes(servers, db, "b")
    assert not (tmp_path / "hooks.log").exists()
    with root_session(servers.source) as conn:
        assert fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME LIKE '\\_%%'",
                           (db,)) == 0


def spec_password(servers: Any) -> str:
    return servers.source.spec("root").password


def test_a_bad_file_stops_the_run_before_anything_is_written(ansible, servers, db, tmp_path):
    """One file that cannot be cut safely: the run fails naming it, its line and the fix; the good migration before it
    is not applied."""
    _app_tables(servers, db)
    folder = _folder(tmp_path, {"1_good.sql": "ALTER TABLE a ADD COLUMN note INT", "2_bad.sql": "SELECT 1;\nUPDATE a SET s = 'open;\n"})
    run = _migrate(ansible, _variables(servers, db, tmp_path, folder))
    assert run.returncode != 0
    assert "2_bad.sql line 2: a string opened here is never closed." in run.stdout and "Fix: close it" in run.stdout
    assert _recorded(servers, db) == ["20231231000000"] and _columns(servers, db, "a") == ["id", "v", "s"]
