"""dbferry.mysql.alter through ansible-playbook against a real MariaDB sandbox.

The change under an application's writes ends in an exact comparison: the
cut-over is postponed (postpone_cut_over_flag_file) until the load has
stopped, so the old table, kept as _<t>_del, holds the last rows the
application wrote before the swap, and the new table must hold exactly those
rows through the column mapping (osc_support.assert_projection), with the
added column at its default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import pytest
from ferry_support import DmlLoad, make_load_tables
from integration_support import root_session, until
from osc_support import assert_projection, projected_rows

from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident, quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.plan import alter_name
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all, fetch_value

MODULE = "dbferry.mysql.alter"
ADD_COLUMN = "ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT 'none', ADD INDEX (v)"


def _args(servers: Any, db: str, **options: Any) -> dict[str, Any]:
    """The module's arguments, as root over the server's socket; the password travels in the vars file."""
    args = {"login_unix_socket": servers.source.socket, "login_user": "root", "login_password": "{{ pw }}", "database": db, "table": "a"}
    args.update(options)
    return args


def _run(ansible: Any, servers: Any, db: str, *, check_mode: bool = False, verbosity: int = 0, background: bool = False,
         **options: Any) -> Any:
    return ansible.run(MODULE, _args(servers, db, **options), {"pw": servers.source.passwords["root"]},
                       check_mode=check_mode, verbosity=verbosity, background=background)


def _finish(ansible: Any, proc: Any) -> dict[str, Any]:
    """Wait for a background run and return the registered result."""
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, output
    return json.loads((ansible.workdir / "result.json").read_text())


def _value(servers: Any, query: str, args: Any = None) -> Any:
    with root_session(servers.source) as conn:
        return fetch_value(conn, query, args)


def _tables(servers: Any, db: str) -> list[str]:
    with root_session(servers.source) as conn:
        return [name for (name,) in fetch_all(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s ORDER BY 1",
                                              (db,))]


def _create_table(servers: Any, db: str) -> str:
    with root_session(servers.source) as conn:
        return fetch_all(conn, "SHOW CREATE TABLE %s" % quote_table(db, "a"))[0][1]


def _recorded(servers: Any, db: str) -> Optional[str]:
    """The phase of the change's record in _dbferry (a finished change stays recorded, complete); None without one."""
    if not _value(servers, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '_dbferry' AND TABLE_NAME = 'moves'"):
        return None
    return _value(servers, "SELECT phase FROM _dbferry.moves WHERE name = %s", (alter_name(db, "a"),))


def _copied(servers: Any, db: str) -> bool:
    """Whether the change's copy is done (its cursor in _dbferry)."""
    if not _recorded(servers, db):
        return False
    return bool(_value(servers, "SELECT COUNT(*) FROM _dbferry.cursors WHERE move = %s AND done", (alter_name(db, "a"),)))


def _rows(servers: Any, db: str, table: str, columns: str) -> list[tuple]:
    with root_session(servers.source) as conn:
        return fetch_all(conn, "SELECT %s FROM %s ORDER BY id" % (columns, quote_table(db, table)))


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A home of the test's own: the change keeps its status in ~/.dbferry/alters/<database>.<table>."""
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def table_a(servers: Any, db: str) -> str:
    """Tables a (the one changed) and b, 3000 rows each, that DmlLoad writes to."""
    make_load_tables(servers, db, 3000)
    return "a"


def test_add_column_under_load_is_exact_and_a_second_run_changes_nothing(ansible: Any, servers: Any, db: str, tmp_path: Path) -> None:
    make_load_tables(servers, db, 20000)
    before = _create_table(servers, db)
    postpone = tmp_path / "postpone"
    postpone.touch()
    load = DmlLoad(servers, db, key_space=20500)
    try:
        until(lambda: load.statements > 50, "the load to write")  # the copy starts under the load
        proc = _run(ansible, servers, db, alter=ADD_COLUMN, chunk_size=100, postpone_cut_over_flag_file=str(postpone), background=True)
        until(lambda: _copied(servers, db) or proc.poll() is not None, "the copy to finish", timeout=240)
        until(lambda: load.statements > 300 or proc.poll() is not None, "the load to write through the binlog tail", timeout=120)
    finally:
        load.finish()
    postpone.unlink()  # the application has stopped: the old table's last rows are final
    result = _finish(ansible, proc)
    assert result["changed"] is True and not result.get("failed"), result
    assert result["old_create"] == before
    assert "`note` varchar(20) NOT NULL DEFAULT 'none'" in result["new_create"]
    assert result["new_create"] == _create_table(servers, db)
    assert result["mapping"] == {"id": "id", "v": "v", "s": "s"}
    assert (result["added"], result["dropped"]) == (["note"], [])
    assert result["rows_copied"] > 0 and result["events_applied"] > 0
    assert result["old_table"] == "%s._a_del" % db and result["cut_over_attempts"] >= 1 and result["cut_over_lock_seconds"] is not None
    assert result["diff"] == {"before": before, "after": result["new_create"], "before_header": "%s.a (now)" % db,
                              "after_header": "%s.a (changed)" % db}
    old_rows = projected_rows(servers.source, db, "_a_del", ["id", "v", "s"], "id")
    assert assert_projection(servers.source, db, old_rows, "a", result["mapping"], "id") > 15000
    assert {note for (note,) in _rows(servers, db, "a", "note")} == {"none"}
    assert sorted(_tables(servers, db)) == ["_a_del", "a", "b"] and _recorded(servers, db) == "complete"
    assert json.loads((tmp_path / ".dbferry" / "alters" / ("%s.a" % db) / "status.json").read_text())["table"] == "%s.a" % db
    # queries: the ghost's DDL and the cut-over's swap, not the ~200 chunks' copy nor their checkpoints in _dbferry
    ghost = "`%s`.`_a_gho`" % db
    queries = result["queries"]
    assert any(q.startswith("CREATE TABLE %s LIKE" % ghost) for q in queries) and any(q.startswith("ALTER TABLE %s ADD" % ghost) for q in queries)
    assert any("RENAME TABLE" in q for q in queries), queries
    assert len(queries) < 50 and not [q for q in queries if "`_dbferry`." in q and q.split()[0] in ("INSERT", "UPDATE", "DELETE")], queries
    assert not [q for q in queries if q.startswith("INSERT INTO %s" % ghost) and "SELECT" in q], queries

    again = _run(ansible, servers, db, alter=ADD_COLUMN)
    assert again.result["changed"] is False and not again.failed, again.output
    checked = _run(ansible, servers, db, check_mode=True, alter=ADD_COLUMN)
    assert checked.result["changed"] is False and "diff" not in checked.result and not checked.failed, checked.output
    assert _create_table(servers, db) == result["new_create"]
    assert sorted(_tables(servers, db)) == ["_a_del", "a", "b"]


def test_check_mode_changes_nothing_and_returns_the_new_schema_as_diff(ansible: Any, servers: Any, db: str, table_a: str) -> None:
    before = _create_table(servers, db)
    rows = _rows(servers, db, "a", "*")
    run = _run(ansible, servers, db, check_mode=True, alter="ADD COLUMN note TEXT, DROP COLUMN s")
    result = run.result
    assert result["changed"] is True and not run.failed, run.output
    assert result["diff"]["before"] == before == result["old_create"]
    assert result["diff"]["after"] == result["new_create"]
    assert "`note` text" in result["new_create"] and "`s`" not in result["new_create"]
    assert result["mapping"] == {"id": "id", "v": "v"}
    assert (result["added"], result["dropped"]) == (["note"], ["s"])
    assert result["rows_copied"] == 0
    assert _create_table(servers, db) == before and _rows(servers, db, "a", "*") == rows
    assert _tables(servers, db) == ["a", "b"]
    assert _recorded(servers, db) is None


def test_absent_removes_what_a_stopped_change_left(ansible: Any, servers: Any, db: str, table_a: str, tmp_path: Path) -> None:
    panic = tmp_path / "panic"
    panic.touch()
    stopped = _run(ansible, servers, db, alter=ADD_COLUMN, panic_flag_file=str(panic))
    assert stopped.failed and "panic" in stopped.result["msg"], stopped.output
    assert "_a_gho" in _tables(servers, db) and _recorded(servers, db) == "copying"

    removed = _run(ansible, servers, db, state="absent")
    assert removed.result["changed"] is True and not removed.failed, removed.output
    assert _tables(servers, db) == ["a", "b"] and _recorded(servers, db) is None
    again = _run(ansible, servers, db, state="absent")
    assert again.result["changed"] is False and not again.failed, again.output


@pytest.mark.parametrize("options,named", [
    ({"table": "no_such_table", "alter": ADD_COLUMN}, "no_such_table"),
    ({"alter": ""}, "alter"),
    ({"alter": ADD_COLUMN, "chunk_size": 5}, "chunk_size"),
    ({"alter": "ADD COLUMN broken NOSUCHTYPE"}, "NOSUCHTYPE"),
], ids=["unknown-table", "empty-alter", "bad-chunk-size", "alter-does-not-apply"])
def test_bad_input_fails_with_one_message_before_anything_is_created(ansible: Any, servers: Any, db: str, table_a: str,
                                                                     options: dict[str, Any], named: str) -> None:
    before = _create_table(servers, db)
    run = _run(ansible, servers, db, **options)
    message = run.result["msg"]
    assert run.failed and "\n" not in message and named in message, run.output
    assert "Traceback (most recent call last)" not in run.output
    assert _tables(servers, db) == ["a", "b"] and _create_table(servers, db) == before
    assert _recorded(servers, db) is None


def test_the_password_is_never_in_the_output(ansible: Any, servers: Any, db: str, table_a: str) -> None:
    password = servers.source.passwords["root"]
    run = _run(ansible, servers, db, check_mode=True, verbosity=3, alter=ADD_COLUMN,
               throttle_control_replicas=[{"host": "127.0.0.1", "port": servers.source.port, "password": "{{ pw }}"}])
    assert not run.failed, run.output
    assert password not in run.output
    assert password not in json.dumps(run.result)
    assert quote_ident("note") in run.result["new_create"]


def test_a_stopped_change_is_resumed_by_the_next_run(ansible: Any, servers: Any, db: str, table_a: str, tmp_path: Path) -> None:
    panic = tmp_path / "panic"
    panic.touch()
    stopped = _run(ansible, servers, db, alter=ADD_COLUMN, panic_flag_file=str(panic))
    assert stopped.failed and _recorded(servers, db) == "copying", stopped.output
    old_rows = projected_rows(servers.source, db, "a", ["id", "v", "s"], "id")
    panic.unlink()
    resumed = _run(ansible, servers, db, alter=ADD_COLUMN, panic_flag_file=str(panic), ok_to_drop_table=True)
    assert resumed.result["changed"] is True and not resumed.failed, resumed.output
    assert resumed.result["old_table"] is None and _tables(servers, db) == ["a", "b"] and _recorded(servers, db) == "complete"
    assert assert_projection(servers.source, db, old_rows, "a", resumed.result["mapping"], "id") == 3000
