"""Rows reach the target unchanged or the move stops saying which row: strict writes on both paths, ENUM and SET by
number, definitions SHOW CREATE TABLE cannot print, and table names that differ only by case or accent.

Every test runs the engine against the real sandboxes and reads the result back from the servers.
"""

from __future__ import annotations

from typing import Any

import pytest
from ferry_support import FerryThread, assert_same, move_config, wait_caught_up
from integration_support import root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.verify import checksum as verify
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec, execute, fetch_all, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident, quote_table


def _failure(ferry: FerryThread) -> DbferryError:
    """The error the engine stopped with (it must stop by itself)."""
    ferry.thread.join(30)
    if ferry.thread.is_alive():
        ferry.stop.set()
        ferry.thread.join(30)
        raise AssertionError("the move did not stop by itself")
    assert isinstance(ferry.error, DbferryError), ferry.error
    return ferry.error


def _caught_up(servers: Any, ferry: FerryThread) -> None:
    """wait_caught_up, which fails at once with the engine's error when the engine stops."""
    def alive() -> None:
        if not ferry.thread.is_alive():
            raise AssertionError("the move stopped: %r" % (ferry.error,))
    wait_caught_up(servers, ferry.config.name, alive=alive)


def _lax(server: Any, *statements: str) -> None:
    """Statements in a non-strict session, as a legacy application writes."""
    with root_session(server) as conn:
        execute(conn, "SET SESSION sql_mode = ''")
        for statement in statements:
            execute(conn, statement)


# ---------------------------------------------------------------------------
# Item 1: nothing is converted silently


def test_unprintable_enum_and_set_members_are_refused_before_anything_is_written(servers, db, tmp_path):
    """SHOW CREATE TABLE prints 4-byte members as '?': the target table would get other members, and the copy would
    write '' for every such value. The move refuses the table before it creates anything on the target."""
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, e ENUM('a','\U0001F600','b'), s SET('x','\U0001F389'), "
                        "v VARCHAR(10) DEFAULT 'ok \U0001F600', q ENUM('yes','?') CHARACTER SET latin1) CHARSET utf8mb4" % quote_table(db, "t"),
        "INSERT INTO %s (id, e, s) VALUES (1, '\U0001F600', 'x,\U0001F389')" % quote_table(db, "t"))
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
    message = str(_failure(ferry))
    assert "%s.t" % db in message and "reuse_target" in message, message
    for column in ("`e`", "`s`", "`v`"):
        assert column in message, message
    assert "`q`" not in message, "latin1 cannot hold a 4-byte character: its '?' is a real '?'"
    with root_session(servers.target) as conn:
        assert not fetch_all(conn, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (db,))
        if fetch_all(conn, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = '_dbferry' AND TABLE_NAME = 'moves'"):
            assert not fetch_all(conn, "SELECT 1 FROM _dbferry.moves WHERE name = %s", (ferry.config.name,)), "the move was recorded"


def test_a_table_created_by_the_operator_is_accepted_and_moved_exactly(servers, db, tmp_path):
    """The fix the refusal names: the operator creates the target table with the real members and sets reuse_target."""
    ddl = "CREATE TABLE %s (id INT PRIMARY KEY, e ENUM('a','\U0001F600','b'), s SET('x','\U0001F389')) CHARSET utf8mb4"
    sql(servers.source, ddl % quote_table(db, "t"), "INSERT INTO %s VALUES (1, '\U0001F600', 'x,\U0001F389'), (2, 'b', '')" % quote_table(db, "t"))
    sql(servers.target, "CREATE DATABASE %s CHARACTER SET utf8mb4" % quote_ident(db), ddl % quote_table(db, "t"))
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", reuse_target=True))
    try:
        _caught_up(servers, ferry)
        sql(servers.source, "INSERT INTO %s VALUES (3, '\U0001F600', '\U0001F389')" % quote_table(db, "t"),
            "UPDATE %s SET e = '\U0001F600' WHERE id = 2" % quote_table(db, "t"))
        _caught_up(servers, ferry)
    finally:
        ferry.finish()
    assert assert_same(servers, db) == 3
    with root_session(servers.target) as conn:
        assert fetch_all(conn, "SELECT id, HEX(e) FROM %s ORDER BY id" % quote_table(db, "t")) == [
            (1, "F09F9880"), (2, "F09F9880"), (3, "F09F9880")]


def test_a_copied_value_the_target_cannot_hold_stops_the_copy_naming_table_and_key(servers, db, tmp_path):
    """INSERT IGNORE turned the strict session's error into a warning and stored a truncated value."""
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(10))" % quote_table(db, "t"),
        "INSERT INTO %s VALUES (1, 'abc'), (2, 'abc'), (3, 'too long!'), (4, 'abc')" % quote_table(db, "t"))
    sql(servers.target, "CREATE DATABASE %s" % quote_ident(db), "CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(3))" % quote_table(db, "t"))
    error = _failure(FerryThread(move_config(servers, db, tmp_path / "state", reuse_target=True, copy={"batch_rows": 10})))
    message = str(error)
    assert "%s.t" % db in message and "`id` = 3" in message and "1406" in message, message
    with root_session(servers.target) as conn:
        assert fetch_value(conn, "SELECT COUNT(*) FROM %s" % quote_table(db, "t")) == 0, "the failed batch was rolled back"


def test_an_applied_value_the_target_cannot_hold_stops_the_apply_naming_table_and_key(servers, db, tmp_path):
    """The binlog path: today the error is the server's alone ("Data too long for column 'v' at row 2")."""
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(10))" % quote_table(db, "t"),
        "INSERT INTO %s VALUES (1, 'a')" % quote_table(db, "t"))
    sql(servers.target, "CREATE DATABASE %s" % quote_ident(db), "CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(3))" % quote_table(db, "t"))
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", reuse_target=True))
    _caught_up(servers, ferry)
    sql(servers.source, "INSERT INTO %s VALUES (2, 'b'), (7, 'too long!')" % quote_table(db, "t"))
    message = str(_failure(ferry))
    assert "%s.t" % db in message and "`id` = 7" in message and "1406" in message, message


@pytest.mark.parametrize("target_ddl, named", [
    ("CREATE TABLE %s (id INT PRIMARY KEY, e ENUM('b','a'), s SET('x','y'), n INT)", ["`e`", "enum('b','a')", "enum('a','b')"]),
    ("CREATE TABLE %s (id INT PRIMARY KEY, e ENUM('a','b'), s SET('x','y','z'), n INT)", ["`s`", "set('x','y','z')", "set('x','y')"]),
    ("CREATE TABLE %s (id INT PRIMARY KEY, e ENUM('a','b'), s SET('x','y'))", ["no column `n`"]),
], ids=["enum-order", "set-count", "missing-column"])
def test_a_reused_target_table_with_other_members_or_columns_is_refused_before_anything_is_written(servers, db, tmp_path, target_ddl, named):
    """ENUM and SET go by number: a hand-made target with ENUM('b','a') would get 'b' for every 'a', and inline verify,
    which hashes the numbers, would not see it. The move refuses it, naming table, column and both definitions."""
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, e ENUM('a','b'), s SET('x','y'), n INT)" % quote_table(db, "t"),
        "INSERT INTO %s VALUES (1, 'a', 'x', 1)" % quote_table(db, "t"))
    with root_session(servers.target) as conn:
        execute(conn, "DROP DATABASE IF EXISTS _dbferry")  # to see that the refusal comes before the state schema is made
    sql(servers.target, "CREATE DATABASE %s" % quote_ident(db), target_ddl % quote_table(db, "t"))
    error = _failure(FerryThread(move_config(servers, db, tmp_path / "state", reuse_target=True)))
    message = str(error)
    assert "%s.t" % db in message and all(word in message for word in named), message
    assert "ALTER TABLE" in error.fix, error.fix
    with root_session(servers.target) as conn:
        assert not fetch_all(conn, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '_dbferry'"), "_dbferry was created"
        assert fetch_value(conn, "SELECT COUNT(*) FROM %s" % quote_table(db, "t")) == 0


def test_an_invalid_date_a_legacy_session_stored_is_copied_and_applied_as_it_is(servers, db, tmp_path):
    """A session with ALLOW_INVALID_DATES stores '2020-02-30' in a DATE or DATETIME; a strict session without that mode
    refuses to write it, and the copy stopped."""
    table = quote_table(db, "d")
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, d DATE, dt DATETIME(3), n INT)" % table)
    with root_session(servers.source) as conn:
        execute(conn, "SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
        execute(conn, "INSERT INTO %s VALUES (1, '2020-02-30', '2020-02-30 12:34:56.789', 1), (2, '2021-04-31', '2021-04-31 00:00:00', 1)" % table)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
    try:
        _caught_up(servers, ferry)
        with root_session(servers.source) as conn:
            execute(conn, "SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
            execute(conn, "UPDATE %s SET n = n + 1" % table)
            execute(conn, "INSERT INTO %s VALUES (3, '2022-02-31', '2022-02-31 23:59:59.5', 1)" % table)
        _caught_up(servers, ferry)
    finally:
        ferry.finish()
    assert assert_same(servers, db) == 3
    with root_session(servers.target) as conn:
        assert fetch_all(conn, "SELECT id, CAST(d AS CHAR), CAST(dt AS CHAR), n FROM %s ORDER BY id" % table) == [
            (1, "2020-02-30", "2020-02-30 12:34:56.789", 2), (2, "2021-04-31", "2021-04-31 00:00:00.000", 2),
            (3, "2022-02-31", "2022-02-31 23:59:59.500", 1)]


# ---------------------------------------------------------------------------
# Item 2: ENUM and SET travel by number


def test_the_enum_error_value_keeps_index_0_next_to_an_empty_label(servers, db, tmp_path):
    """A lax session stores index 0 for a value that is no label; on ENUM('','x','y') the text '' is label 1.
    Copied, inserted and updated through the binlog, the target must keep index 0 (a text round trip made it 1)."""
    table = quote_table(db, "e0")
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, e ENUM('','x','y'), s SET('a','b'), n INT)" % table)
    _lax(servers.source, "INSERT INTO %s VALUES (1, 'bogus', 'a,b', 1), (2, '', 'b', 1), (3, 'y', '', 1)" % table)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
    try:
        _caught_up(servers, ferry)
        _lax(servers.source, "INSERT INTO %s VALUES (10, 'bogus', 'a', 1), (11, '', '', 1)" % table,
             "UPDATE %s SET n = n + 1 WHERE id IN (1, 3)" % table)
        _caught_up(servers, ferry)
    finally:
        ferry.finish()
    assert assert_same(servers, db) == 5
    with root_session(servers.target) as conn:
        assert fetch_all(conn, "SELECT id, e + 0, s + 0, n FROM %s ORDER BY id" % table) == [
            (1, 0, 3, 2), (2, 1, 2, 1), (3, 3, 0, 2), (10, 0, 1, 1), (11, 1, 0, 1)]


# ---------------------------------------------------------------------------
# Item 14: names are compared byte for byte


@pytest.mark.parametrize("moved, other", [("t", "T"), ("caf\u00e9", "cafe")], ids=["case", "accent"])
def test_a_table_whose_name_differs_only_by_case_or_accent_moves_alone(servers, db, tmp_path, moved, other):
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, mine VARCHAR(10))" % quote_table(db, moved),
        "CREATE TABLE %s (id INT PRIMARY KEY, theirs INT, more INT)" % quote_table(db, other),
        "INSERT INTO %s VALUES (1, 'one'), (2, 'two')" % quote_table(db, moved),
        "INSERT INTO %s VALUES (1, 1, 1)" % quote_table(db, other))
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", tables={"include": ["%s.%s" % (db, moved)]}))
    try:
        _caught_up(servers, ferry)
        sql(servers.source, "INSERT INTO %s VALUES (3, 'three')" % quote_table(db, moved), "INSERT INTO %s VALUES (2, 2, 2)" % quote_table(db, other))
        _caught_up(servers, ferry)
    finally:
        ferry.finish()
    with root_session(servers.target) as conn:
        assert [r[0] for r in fetch_all(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (db,))] == [moved]
        assert fetch_all(conn, "SELECT id, mine FROM %s ORDER BY id" % quote_table(db, moved)) == [(1, "one"), (2, "two"), (3, "three")]


def test_tables_whose_names_differ_only_by_case_or_accent_move_and_verify_side_by_side(servers, db, tmp_path):
    """All four at once: each keeps its own columns, rows, cursor in _dbferry and verification."""
    names = ("T", "t", "cafe", "caf\u00e9")
    for i, name in enumerate(names):
        sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, c%d INT)" % (quote_table(db, name), i),
            "INSERT INTO %s VALUES %s" % (quote_table(db, name), ", ".join("(%d, %d)" % (k, i) for k in range(1, i + 2))))
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
    try:
        _caught_up(servers, ferry)
        sql(servers.source, *("UPDATE %s SET c%d = c%d + 10 WHERE id = 1" % (quote_table(db, name), i, i) for i, name in enumerate(names)))
        _caught_up(servers, ferry)
        report = verify.verify(ServerSpec(**servers.source.connection_options("ferry_source")),
                               ServerSpec(**servers.target.connection_options("ferry_target")), ferry.config.name)
    finally:
        ferry.finish()
    assert not report.mismatched, report.failure_message()
    assert sorted((t.table.source, t.rows) for t in report.tables) == sorted(("%s.%s" % (db, n), i + 1) for i, n in enumerate(names))
    assert assert_same(servers, db) == 1 + 2 + 3 + 4


def test_a_table_name_outside_latin1_moves_to_a_latin1_target(servers, db, tmp_path):
    """_dbferry records table names; created in a latin1 server default, it could not hold \u540d\u524d."""
    name = "\u540d\u524d"
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(10)) CHARSET utf8mb4" % quote_table(db, name),
        "INSERT INTO %s VALUES (1, '\u5024')" % quote_table(db, name))
    with root_session(servers.target) as conn:
        charset, collation = fetch_all(conn, "SELECT @@GLOBAL.character_set_server, @@GLOBAL.collation_server")[0]
        # _dbferry is created with the first move into the target; earlier tests' moves are over.
        execute(conn, "DROP DATABASE IF EXISTS _dbferry")
        execute(conn, "SET GLOBAL character_set_server = latin1, GLOBAL collation_server = latin1_swedish_ci")
    try:
        ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
        try:
            _caught_up(servers, ferry)
            sql(servers.source, "INSERT INTO %s VALUES (2, '\u5024\u5024')" % quote_table(db, name))
            _caught_up(servers, ferry)
        finally:
            ferry.finish()
    finally:
        sql(servers.target, "SET GLOBAL character_set_server = %s, GLOBAL collation_server = %s" % (charset, collation))
    assert assert_same(servers, db) == 2
    with root_session(servers.target) as conn:
        assert fetch_value(conn, "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '_dbferry'") == "utf8mb4"
