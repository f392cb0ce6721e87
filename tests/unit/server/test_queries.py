"""What a module's ``queries`` result keeps of the statements it ran, and how it shows them (server/queries.py)."""

from __future__ import annotations

import decimal

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.server import queries


@pytest.fixture(name="recorded")
def _recorded(monkeypatch):
    monkeypatch.setattr(queries, "_RECORDED", None)
    return queries.start()


def test_nothing_is_kept_before_a_module_starts_recording(monkeypatch):
    monkeypatch.setattr(queries, "_RECORDED", None)
    queries.record("SET GLOBAL read_only = ON")
    assert queries.start() == []


def test_changes_are_kept_in_order_and_session_setup_and_own_rows_are_not(recorded):
    for sql in (
        "SET SESSION lock_wait_timeout = 10",
        "SET GLOBAL `read_only` = ON",
        "set session transaction isolation level repeatable read",
        "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SET @slave_connect_state = '0-1-5'",
        "SET @@session.max_statement_time = 1",
        "SET @@GLOBAL.read_only = OFF",
        "UPDATE `_dbferry`.cursors SET last_key = 5 WHERE move = 'm'",
        "INSERT INTO `_dbferry`.moves (name) VALUES ('m')",
        "DELETE FROM `_dbferry`.moves WHERE name = 'm'",
        "DROP DATABASE `_dbferry`",
        "SET STATEMENT lock_wait_timeout = 5 FOR RENAME TABLE `s`.`t` TO `s`.`_t_del`, `s`.`_t_gho` TO `s`.`t`",
        "KILL CONNECTION 7",
    ):
        queries.record(sql)
    assert recorded == [
        "SET GLOBAL `read_only` = ON",
        "SET @@GLOBAL.read_only = OFF",
        "DROP DATABASE `_dbferry`",
        "SET STATEMENT lock_wait_timeout = 5 FOR RENAME TABLE `s`.`t` TO `s`.`_t_del`, `s`.`_t_gho` TO `s`.`t`",
        "KILL CONNECTION 7",
    ]


def test_a_write_to_a_table_named_like_the_state_schema_elsewhere_is_kept(recorded):
    queries.record("INSERT INTO `shop`.`_dbferry` (id) VALUES (1)")
    assert recorded == ["INSERT INTO `shop`.`_dbferry` (id) VALUES (1)"]


@pytest.mark.parametrize(
    "sql, args, expected",
    [
        ("KILL CONNECTION %s", (4242,), "KILL CONNECTION 4242"),
        ("SET GLOBAL x = %s, y = %s, z = %s", [True, 1.5, decimal.Decimal("2.50")], "SET GLOBAL x = 1, y = 1.5, z = 2.50"),
        ("STOP SLAVE %s SQL_THREAD", ("",), "STOP SLAVE ? SQL_THREAD"),
        ("INSERT INTO t (a, b, c) VALUES (%s, %s, %s)", ("secret", b"\x00", None), "INSERT INTO t (a, b, c) VALUES (?, ?, NULL)"),
        ("UPDATE t SET a = %(a)s WHERE id = %(id)s", {"a": "x", "id": 3}, "UPDATE t SET a = ? WHERE id = 3"),
        ("SELECT 'a%%b'", (), "SELECT 'a%b'"),
        ("SELECT 'a%%b'", None, "SELECT 'a%%b'"),
        ("ALTER TABLE t COMMENT %s", "a single argument", "ALTER TABLE t COMMENT ?"),
    ],
)
def test_numbers_are_shown_and_other_arguments_hidden(sql, args, expected):
    assert queries.shown(sql, args) == expected


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("CREATE USER 'app'@'%' IDENTIFIED BY 'pw'", "CREATE USER 'app'@'%' IDENTIFIED BY '********'"),
        ("ALTER USER app IDENTIFIED VIA ed25519 USING PASSWORD('it''s')", "ALTER USER app IDENTIFIED VIA ed25519 USING PASSWORD('********')"),
        ("CREATE USER a IDENTIFIED WITH mysql_native_password BY \"p\\\"w\"", "CREATE USER a IDENTIFIED WITH mysql_native_password BY '********'"),
        ("SET PASSWORD FOR a = PASSWORD('pw')", "SET PASSWORD FOR a = PASSWORD('********')"),
        ("CHANGE MASTER TO MASTER_HOST='db1', MASTER_PASSWORD = 'pw', MASTER_PORT=3306",
         "CHANGE MASTER TO MASTER_HOST='db1', MASTER_PASSWORD = '********', MASTER_PORT=3306"),
        ("CREATE USER a IDENTIFIED BY PASSWORD '*94BDCEBE19083CE2A1F959FD02F964C7AF4CFC29'", "CREATE USER a IDENTIFIED BY PASSWORD '********'"),
    ],
)
def test_password_literals_written_into_a_statement_are_masked(sql, expected):
    assert queries.shown(sql) == expected
