"""The cut-over's swap on a real server: names, rows, bounds, failures before the release, flags."""

from __future__ import annotations

from typing import Any

import pytest
from integration_support import Servers, root_session

from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.cutover import swap
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import execute, fetch_all


class RecordingLog(EventLog):
    """An EventLog that keeps its events, for assertions and for stubs that act on them."""

    def __init__(self) -> None:
        super().__init__("alter-test")
        self.events: list[dict[str, Any]] = []

    def event(self, name: str, **fields: Any) -> None:
        self.events.append(dict(fields, event=name))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == name]


def make_pair(conn: Any, db: str, rows: int = 5) -> None:
    """t and its ghost `_t_gho`, which has an extra column and already holds t's rows."""
    execute(conn, "CREATE TABLE `%s`.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT NOT NULL)" % db)
    execute(conn, "CREATE TABLE `%s`._t_gho (id INT PRIMARY KEY AUTO_INCREMENT, v INT NOT NULL, extra INT NOT NULL DEFAULT 7)" % db)
    for value in range(rows):
        execute(conn, "INSERT INTO `%s`.t (v) VALUES (%d)" % (db, value))
    execute(conn, "INSERT INTO `%s`._t_gho (id, v) SELECT id, v FROM `%s`.t" % (db, db))


def tables(conn: Any, db: str) -> list[str]:
    return sorted(row[0] for row in fetch_all(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (db,)))


def columns(conn: Any, db: str, table: str) -> list[str]:
    return [row[0] for row in fetch_all(conn, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s"
                                              " AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (db, table))]


def applied_at_once(position: str, seconds_left: float) -> None:
    assert position and seconds_left > 0


def run_swap(servers: Servers, db: str, log: RecordingLog, **options: Any) -> Any:
    settings = dict(lock_timeout=2, retries=3, wait_applied=applied_at_once, log=log, ok_to_drop_table=False,
                    initially_drop_old_table=False)
    settings.update(options)
    return swap(servers.source.spec("root"), db, "t", "_t_gho", "_t_del", **settings)


@pytest.mark.parametrize("drop", [False, True])
def test_clean_swap_keeps_or_drops_the_old_table(servers: Servers, db: str, drop: bool) -> None:
    log = RecordingLog()
    with root_session(servers.source) as conn:
        make_pair(conn, db)
        result = run_swap(servers, db, log, ok_to_drop_table=drop)
        assert result.attempts == 1 and 0 < result.lock_seconds < 2
        assert columns(conn, db, "t") == ["id", "v", "extra"]
        assert fetch_all(conn, "SELECT id, v, extra FROM `%s`.t ORDER BY id" % db) == [(i + 1, i, 7) for i in range(5)]
        if drop:
            assert result.old_table is None and tables(conn, db) == ["t"]
        else:
            assert result.old_table == "_t_del" and tables(conn, db) == ["_t_del", "t"]
            assert columns(conn, db, "_t_del") == ["id", "v"]
            assert fetch_all(conn, "SELECT id, v FROM `%s`._t_del ORDER BY id" % db) == [(i + 1, i) for i in range(5)]
    assert [event["attempt"] for event in log.named("cut_over_swapped")] == [1]
