"""run_alter on a real MariaDB sandbox, under an application's writes to the changed table.

Each change ends in an exact comparison: the cut-over is postponed
(postpone_cut_over_flag_file) until the load has stopped, the original's rows
are then read through the expected column mapping, and after the swap the new
table must hold exactly those rows in the mapped columns.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from ferry_support import DmlLoad, make_load_tables
from integration_support import root_session, until
from osc_support import (HOLD_HOOK, AlterThread, alter_options, alter_process, alter_runs, assert_projection, change_under_load,
                         copy_cursor, kill_process, logged, projected_rows, run_until_postponed)

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.runner import AlterResult, noop_alter, remove_alter
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import parse_alter_config
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all, fetch_value

#: Rows of the changed table (make_load_tables: ``a`` and ``b``, keys from -10); the load writes keys up to this too.
ROWS = 3000
ALL = {"id": "id", "v": "v", "s": "s"}


def _change_under_load(servers: Any, db: str, tmp_path: Path, alter: str, mapping: dict[str, str], **options: Any) -> AlterResult:
    """Change table ``a`` (make_load_tables) under ChurnMix's writes: osc_support.change_under_load."""
    make_load_tables(servers, db, ROWS)
    load = DmlLoad(servers, db, connections=2, key_space=ROWS, per_second=100)
    return change_under_load(servers, db, tmp_path, "a", alter, mapping, load.load, ROWS, **options)


def _create_statement(servers: Any, db: str, table: str) -> str:
    with root_session(servers.source) as conn:
        return fetch_all(conn, "SHOW CREATE TABLE %s" % quote_table(db, table))[0][1]


def test_add_column_with_default(servers: Any, db: str, tmp_path: Path) -> None:
    """An added column takes its default; a generated one is computed by the server, never written."""
    result = _change_under_load(servers, db, tmp_path, "ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT 'none', "
                                "ADD COLUMN twice BIGINT AS (v * 2) STORED", ALL)
    assert result.added == ["note"] and result.dropped == []
    with root_session(servers.source) as conn:
        assert fetch_all(conn, "SELECT DISTINCT note FROM %s" % quote_table(db, "a")) == [("none",)]
        assert fetch_value(conn, "SELECT COUNT(*) FROM %s WHERE twice <> v * 2" % quote_table(db, "a")) == 0
    assert "`note` varchar(20) NOT NULL DEFAULT 'none'" in result.new_create


def test_leftover_ghost_is_refused_unless_dropped(servers: Any, db: str, tmp_path: Path) -> None:
    """A _<t>_gho that no recorded change owns is refused, naming it and the fix; initially_drop_ghost_table drops it."""
    make_load_tables(servers, db, 50)
    with root_session(servers.source) as conn:
        conn.cursor().execute("CREATE TABLE %s (id INT PRIMARY KEY)" % quote_table(db, "_a_gho"))
    options = alter_options(servers, db, "a", "ADD COLUMN note TEXT", tmp_path / "state")
    with pytest.raises(DbferryError, match=r"_a_gho") as refused:
        AlterThread(options, tmp_path / "alter.log").finish()
    assert "initially_drop_ghost_table" in refused.value.fix
    result = AlterThread(dict(options, initially_drop_ghost_table=True), tmp_path / "alter.log").finish()
    assert result.changed and result.added == ["note"] and "_a_gho" not in _tables(servers, db)


def test_drop_column(servers: Any, db: str, tmp_path: Path) -> None:
    result = _change_under_load(servers, db, tmp_path, "DROP COLUMN s", {"id": "id", "v": "v"})
    assert result.dropped == ["s"] and result.added == []
    assert "`s`" not in _create_statement(servers, db, "a")


def test_modify_type_widening(servers: Any, db: str, tmp_path: Path) -> None:
    result = _change_under_load(servers, db, tmp_path, "MODIFY v BIGINT NOT NULL, MODIFY s VARCHAR(80)", ALL)
    assert "`v` bigint(20) NOT NULL" in result.new_create and "`s` varchar(80)" in result.new_create


def test_rename_column(servers: Any, db: str, tmp_path: Path) -> None:
    result = _change_under_load(servers, db, tmp_path, "RENAME COLUMN s TO label", {"id": "id", "v": "v", "s": "label"},
                                rename_columns={"s": "label"})
    assert result.dropped == [] and result.added == []


def test_add_index(servers: Any, db: str, tmp_path: Path) -> None:
    _change_under_load(servers, db, tmp_path, "ADD INDEX v_index (v)", ALL)
    assert "KEY `v_index` (`v`)" in _create_statement(servers, db, "a")


def test_rename_without_rename_columns_is_refused(servers: Any, db: str, tmp_path: Path) -> None:
    """A rename the ALTER makes, left out of rename_columns, would lose the column's values: refused before any write."""
    make_load_tables(servers, db, 10)
    before = _create_statement(servers, db, "a")
    with pytest.raises(DbferryError, match=r"renames column `s` to `label`.*rename_columns: \{s: label\}"):
        AlterThread(alter_options(servers, db, "a", "RENAME COLUMN s TO label", tmp_path / "state"), tmp_path / "alter.log").finish()
    assert _create_statement(servers, db, "a") == before


def test_narrowing_fails_naming_table_key_and_column(servers: Any, db: str, tmp_path: Path) -> None:
    """v holds up to 3 * ROWS: TINYINT cannot. The copy stops naming the table, the column and the row; the original is intact."""
    make_load_tables(servers, db, ROWS)
    before = projected_rows(servers.source, db, "a", list(ALL), "id")
    create = _create_statement(servers, db, "a")
    run = AlterThread(alter_options(servers, db, "a", "MODIFY v TINYINT NOT NULL", tmp_path / "state"), tmp_path / "alter.log")
    with pytest.raises(DbferryError) as failed:
        run.finish()
    message = str(failed.value)
    assert "%s.a" % db in message and "column `v`" in message and "`id` = 43" in message and "Out of range" in message, message
    assert _create_statement(servers, db, "a") == create
    assert projected_rows(servers.source, db, "a", list(ALL), "id") == before
    # The failed change stays recorded, with its ghost, until it is removed (state: absent).
    config = parse_alter_config(alter_options(servers, db, "a", "MODIFY v TINYINT NOT NULL", tmp_path / "state"))
    assert _tables(servers, db) == ["_a_gho", "a", "b"]
    assert remove_alter(config, EventLog("alter")) and not remove_alter(config, EventLog("alter"))
    assert _tables(servers, db) == ["a", "b"] and _copy_cursor(servers, db) == (None, False)


def test_new_unique_key_violated_fails_before_the_swap(servers: Any, db: str, tmp_path: Path) -> None:
    """Rows 5 and 6 share a value of v: the copy keeps row 6 out of the ghost (it collides on the new UNIQUE key), and the
    verification stops the change naming the row and the key, before any swap; the original is intact."""
    make_load_tables(servers, db, 200)
    with root_session(servers.source) as conn:
        conn.cursor().execute("UPDATE %s SET v = 15 WHERE id = 6" % quote_table(db, "a"))
    before = projected_rows(servers.source, db, "a", list(ALL), "id")
    create = _create_statement(servers, db, "a")
    with pytest.raises(DbferryError) as failed:
        AlterThread(alter_options(servers, db, "a", "ADD UNIQUE KEY uv (v)", tmp_path / "state"), tmp_path / "alter.log").finish()
    message = str(failed.value)
    assert "verify found 1 differing row" in message and "id=6 is missing from %s._a_gho" % db in message and "uv" in message, message
    assert _create_statement(servers, db, "a") == create and projected_rows(servers.source, db, "a", list(ALL), "id") == before
    assert "_a_del" not in _tables(servers, db)


def test_new_unique_key_violated_by_a_write_just_before_the_swap(servers: Any, db: str, tmp_path: Path) -> None:
    """After the verification, row 200 takes row 100's value of v: the applier's REPLACE of row 200 evicts row 100 from the
    ghost. The last look before the lock compares the rows written since and those they collide with on the new UNIQUE
    key: the change stops naming row 100, before any swap."""
    make_load_tables(servers, db, 300)
    hooks, state_dir = tmp_path / "hooks", tmp_path / "state"
    hooks.mkdir(mode=0o755)
    (hooks / "on-before-cutover-hold").write_text(HOLD_HOOK)
    (hooks / "on-before-cutover-hold").chmod(0o755)
    run = AlterThread(alter_options(servers, db, "a", "ADD UNIQUE KEY uv (v)", state_dir, hooks_path=str(hooks)), tmp_path / "alter.log")
    until(lambda: (state_dir / "at_cut_over").exists() or not run.thread.is_alive(), "the cut-over to start")
    with root_session(servers.source) as conn:
        conn.cursor().execute("UPDATE %s SET v = 300 WHERE id = 200" % quote_table(db, "a"))  # row 100 has v = 300
    before = projected_rows(servers.source, db, "a", list(ALL), "id")
    (state_dir / "go").touch()
    with pytest.raises(DbferryError) as failed:
        run.finish()
    message = str(failed.value)
    assert "id=100 is missing from %s._a_gho" % db in message and "uv" in message, message
    assert projected_rows(servers.source, db, "a", list(ALL), "id") == before and "_a_del" not in _tables(servers, db)


def test_check_mode_changes_nothing(servers: Any, db: str, tmp_path: Path) -> None:
    """noop_alter (check mode) reports the new definition and the mapping from a ghost it drops again."""
    make_load_tables(servers, db, 100)
    create = _create_statement(servers, db, "a")
    config = parse_alter_config(alter_options(servers, db, "a", "DROP COLUMN s, ADD COLUMN note TEXT", tmp_path / "state"))
    result = noop_alter(config, EventLog("alter"))
    assert result.changed and result.mapping == {"id": "id", "v": "v"} and result.dropped == ["s"] and result.added == ["note"]
    assert result.old_create == create and result.new_create.startswith("CREATE TABLE `a`") and "`note` text" in result.new_create
    assert "`s`" not in result.new_create and result.rows_copied == 0
    assert _create_statement(servers, db, "a") == create and _tables(servers, db) == ["a", "b"]
    assert not remove_alter(config, EventLog("alter"))


def test_panic_flag_during_copy_stops_at_once(servers: Any, db: str, tmp_path: Path) -> None:
    """The panic flag file appears during the copy: the change stops, the original in place and unchanged."""
    make_load_tables(servers, db, ROWS)
    before = projected_rows(servers.source, db, "a", list(ALL), "id")
    panic = tmp_path / "panic"

    def hook(low: Any, _high: tuple) -> None:
        if low is not None and low[0] > ROWS // 3 and not panic.exists():
            panic.touch()
            time.sleep(1.0)  # twice the throttle checks' interval: the next chunk does not start

    run = AlterThread(alter_options(servers, db, "a", "ADD COLUMN note TEXT", tmp_path / "state", panic_flag_file=str(panic)),
                      tmp_path / "alter.log", chunk_hook=hook)
    with pytest.raises(DbferryError, match="panic flag file"):
        run.finish()
    assert projected_rows(servers.source, db, "a", list(ALL), "id") == before
    last_key, done = _copy_cursor(servers, db)
    assert ROWS // 3 < last_key < ROWS and not done


def _tables(servers: Any, db: str) -> list[str]:
    with root_session(servers.source) as conn:
        return sorted(name for (name,) in fetch_all(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                                                    (db,)))


def _copy_cursor(servers: Any, db: str) -> tuple[Any, bool]:
    """Table a's copy cursor, its one key value (None: none yet), and whether its copy is done."""
    last_key, done = copy_cursor(servers, db, "a")
    return None if last_key is None else last_key[0], done


def test_kill_during_copy_and_tail_then_resume(servers: Any, db: str, tmp_path: Path) -> None:
    """kill -9 of a process running the change in the middle of its copy, then of the next one while it tails the binlog
    (copied, cut-over postponed); a third run resumes from the checkpoints (the copy's cursor, the applied position) and
    ends exact, under the load all along."""
    make_load_tables(servers, db, ROWS)
    load = DmlLoad(servers, db, connections=2, key_space=ROWS, per_second=100)
    alter = "MODIFY v BIGINT NOT NULL, ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT 'none'"
    flag = tmp_path / "postpone"
    flag.touch()
    options = alter_options(servers, db, "a", alter, tmp_path / "state", postpone_cut_over_flag_file=str(flag))
    killed_log = tmp_path / "killed.log"
    proc = alter_process(dict(options, chunk_size=10), tmp_path)
    try:
        until(lambda: (_copy_cursor(servers, db)[0] or -100) > ROWS // 4 or proc.poll() is not None, "the copy to be under way")
        kill_process(proc, tmp_path)
        last_key, done = _copy_cursor(servers, db)
        assert last_key is not None and last_key < ROWS and not done
        proc = alter_process(options, tmp_path)
        until(lambda: logged(killed_log, "cut_over_postponed") or proc.poll() is not None, "the second run to tail the binlog")
        time.sleep(0.5)  # tailing under the load
        kill_process(proc, tmp_path)
    finally:
        if proc.poll() is None:
            proc.kill()
    runs = alter_runs(killed_log)
    assert [(r["resumed"], r["copy_done"]) for r in runs] == [(False, False), (True, False)] and runs[1]["copy_after"] >= last_key
    assert _copy_cursor(servers, db)[1]
    time.sleep(0.5)  # the load writes on while no change runs: the resumed applier has those events to apply
    run, resumed = run_until_postponed(options, tmp_path, load, "the third run to tail the binlog")
    assert resumed[0]["resumed"] and resumed[0]["copy_done"] and resumed[0]["applied_position"] != runs[1]["applied_position"]
    expected = projected_rows(servers.source, db, "a", list(ALL), "id")
    flag.unlink()
    result = run.finish()
    assert result.added == ["note"]
    assert assert_projection(servers.source, db, expected, "a", ALL, "id") == len(expected)
