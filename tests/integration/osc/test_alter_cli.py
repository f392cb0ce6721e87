"""`dbferry alter` against a real MariaDB sandbox: one change end to end, one failure.

The password is in a 0600 option file (--login-config-file), never on the
command line; progress is JSON lines on stdout (not a terminal here) and
the result is the last of them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from ferry_support import make_load_tables
from integration_support import ROOT, root_session

from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all


def _option_file(servers: Any, tmp_path: Path) -> str:
    path = tmp_path / "root.cnf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("[client]\nuser=root\npassword=%s\n" % servers.source.passwords["root"])
    return str(path)


def _dbferry_alter(servers: Any, tmp_path: Path, db: str, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "MYSQL_PWD"}
    return subprocess.run([str(ROOT / "bin" / "dbferry"), "alter", "--login-unix-socket", servers.source.socket,
                           "--login-config-file", _option_file(servers, tmp_path), "--state-dir", str(tmp_path / "state"),
                           "--database", db, *args],
                          capture_output=True, text=True, timeout=300, check=False, env=env)


def _rows(servers: Any, db: str, table: str, columns: str) -> list[tuple]:
    with root_session(servers.source) as conn:
        return fetch_all(conn, "SELECT %s FROM %s ORDER BY id" % (columns, quote_table(db, table)))


def _tables(servers: Any, db: str) -> list[str]:
    with root_session(servers.source) as conn:
        return [name for (name,) in fetch_all(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s ORDER BY 1",
                                              (db,))]


def test_alter_end_to_end_prints_progress_and_the_result(servers: Any, db: str, tmp_path: Path) -> None:
    make_load_tables(servers, db, 1500)
    before = _rows(servers, db, "a", "id, v, s")
    done = _dbferry_alter(servers, tmp_path, db, "--table", "a", "--alter", "ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT 'none', DROP COLUMN s",
                          "--chunk-size", "100", "--ok-to-drop-table")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) > 1 and all("event" in line for line in lines)
    result = lines[-1]
    assert result["event"] == "result" and result["changed"] is True, result
    assert result["rows_copied"] == 1500 and result["old_table"] is None
    assert (result["added"], result["dropped"]) == (["note"], ["s"])
    assert _rows(servers, db, "a", "id, v") == [row[:2] for row in before]
    assert {note for (note,) in _rows(servers, db, "a", "note")} == {"none"}
    assert _tables(servers, db) == ["a", "b"]
    assert servers.source.passwords["root"] not in done.stdout + done.stderr


def test_a_failure_is_one_line_and_a_non_zero_status(servers: Any, db: str, tmp_path: Path) -> None:
    make_load_tables(servers, db, 10)
    failed = _dbferry_alter(servers, tmp_path, db, "--table", "no_such_table", "--alter", "ADD COLUMN note TEXT")
    assert failed.returncode == 2
    assert failed.stderr.startswith("dbferry: error: ") and failed.stderr.count("\n") == 1, failed.stderr
    assert "no_such_table" in failed.stderr
    assert _tables(servers, db) == ["a", "b"]
