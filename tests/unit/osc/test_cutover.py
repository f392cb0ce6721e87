"""The cut-over's pure logic: the pause between attempts, the renamer's lock order, the lock wait bound, and how
a session that may hold the table is found and named."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.osc.cutover import (
    FIRST_PAUSE, LONGEST_PAUSE, MAX_BLOCKERS, MAX_STATEMENT_CHARS, NO_PROCESS_NOTE, blockers, describe_session, lock_wait_seconds,
    mentions_table, pause_before, renamer_takes_before_table,
)


def test_the_pause_doubles_from_the_first_up_to_the_longest() -> None:
    pauses = [pause_before(attempt) for attempt in range(2, 12)]
    assert pauses[:3] == [FIRST_PAUSE, 2 * FIRST_PAUSE, 4 * FIRST_PAUSE]
    assert pauses == sorted(pauses) and max(pauses) == LONGEST_PAUSE
    assert pause_before(60) == LONGEST_PAUSE


@pytest.mark.parametrize("table, first", [
    ("t", ["_t_del", "_t_gho"]),             # '_' sorts before lower-case letters: the common case, the ghost is probed
    ("orders", ["_orders_del", "_orders_gho"]),
    ("Orders", []),                         # upper case and digits sort before '_': the RENAME waits on t first
    ("2024_log", []),
    ("_x", ["__x_del", "__x_gho"]),
    ("__", []),                             # "__\0" < "_____del\0": the zero byte ends the shorter name first
])
def test_the_renamer_takes_its_locks_in_byte_order(table: str, first: list[str]) -> None:
    assert renamer_takes_before_table(table, ["_%s_del" % table, "_%s_gho" % table]) == first


def test_the_renamer_order_compares_utf8_bytes() -> None:
    assert renamer_takes_before_table("é", ["_é_gho"]) == ["_é_gho"]   # 0xC3 > '_'


@pytest.mark.parametrize("seconds, expected", [(0.2, 1), (1, 1), (1.01, 2), (3, 3), (60, 60)])
def test_the_server_takes_whole_seconds_of_lock_wait(seconds: float, expected: int) -> None:
    assert lock_wait_seconds(seconds) == expected


@pytest.mark.parametrize("statement, named", [
    ("SELECT * FROM t WHERE id = 1", True),
    ("update `t` set v = 1", True),
    ("SELECT * FROM db.t", True),
    ("SELECT * FROM t2", False),
    ("SELECT * FROM _t_gho", False),
    ("SELECT t_id FROM other", False),
    (None, False),
])
def test_a_statement_names_the_table_as_a_word(statement: Any, named: bool) -> None:
    assert mentions_table(statement, "t") is named


def test_a_session_is_named_with_its_account_age_and_statement() -> None:
    line = describe_session({"id": 14, "user": "app", "host": "10.0.0.5:4242", "seconds": 0, "trx_seconds": 12, "statement": None})
    assert line == "connection 14 (app@10.0.0.5:4242): transaction open 12 s, idle in its transaction"
    running = describe_session({"id": 9, "user": "etl", "host": "h", "seconds": 40, "trx_seconds": None,
                                "statement": "SELECT  *\n FROM t " + "x" * 500})
    assert running.startswith("connection 9 (etl@h): statement running 40 s, running: SELECT * FROM t xxx")
    assert running.endswith("...") and len(running) < MAX_STATEMENT_CHARS + 80


class Catalog:
    """A connection whose processlist query returns the rows given (the columns blockers() selects)."""

    def __init__(self, rows: list[tuple], error: Any = None, error_on: Any = None) -> None:
        self.rows = rows
        self.error = error
        self.error_on = error_on   # only statements containing this fail (None: every one)
        self.statements: list[str] = []

    def cursor(self) -> "Catalog":
        return self

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def execute(self, sql: str, args: Any = None) -> int:
        if self.error is not None and (self.error_on is None or self.error_on in sql):
            raise self.error
        self.statements.append(sql)
        return len(self.rows)

    def fetchall(self) -> list[tuple]:
        return self.rows


def row(ident: int, trx_seconds: Any, *, command: str = "Sleep", statement: Any = None, state: str = "", db: str = "shop",
        seconds: int = 0) -> tuple:
    return (ident, "app", "h:1", db, command, seconds, state, statement, trx_seconds)


def test_blockers_are_transactions_and_statements_on_the_table_oldest_first() -> None:
    rows = [
        row(1, 5),                                                              # idle in a transaction
        row(2, None, command="Query", statement="SELECT * FROM t", seconds=30),  # a long statement on t
        row(3, None, command="Query", statement="SELECT * FROM u", seconds=99),  # on another table
        row(4, None, command="Query", statement="INSERT INTO t VALUES (1)", state="Waiting for table metadata lock", seconds=2),
        row(5, 60, command="Query", statement="UPDATE t SET v = 1"),             # waits, but in an old transaction
        row(6, None, command="Binlog Dump", seconds=500),
        row(7, 80),                                                             # excluded by the caller
        row(8, None, command="Query", statement="SELECT * FROM t", db="other", seconds=50),  # another schema's t
    ]
    named = blockers(Catalog(rows), "shop", "t", exclude=[7])
    assert [line.split(" ")[1] for line in named] == ["5", "2", "1"]


def test_blockers_are_capped_and_a_failed_listing_is_said() -> None:
    assert len(blockers(Catalog([row(i, i) for i in range(30)]), "shop", "t")) == MAX_BLOCKERS
    assert blockers(Catalog([], error=RuntimeError("no PROCESS privilege")), "shop", "t") == [
        "(the sessions could not be listed: no PROCESS privilege)"]


def test_without_the_process_privilege_the_own_sessions_are_named_and_the_gap_said() -> None:
    """INNODB_TRX is refused without PROCESS (1227): the processlist alone is read, and the last line says what is missing."""
    refused = Exception(1227, "Access denied; you need (at least one of) the PROCESS privilege(s) for this operation")
    rows = [row(2, None, command="Query", statement="SELECT * FROM t", seconds=30), row(3, None)]
    catalog = Catalog(rows, error=refused, error_on="INNODB_TRX")
    assert blockers(catalog, "shop", "t") == [
        "connection 2 (app@h:1): statement running 30 s, running: SELECT * FROM t", NO_PROCESS_NOTE]
    assert "INNODB_TRX" not in catalog.statements[-1]
    other = Exception(1146, "Table 'information_schema.INNODB_TRX' doesn't exist")
    failed = blockers(Catalog(rows, error=other, error_on="INNODB_TRX"), "shop", "t")
    assert len(failed) == 1 and failed[0].startswith("(the sessions could not be listed: ") and "1146" in failed[0]
