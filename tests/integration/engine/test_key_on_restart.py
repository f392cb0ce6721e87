"""A restarted move pages through the key its cursors were recorded with, or refuses.

The key is chosen from the source's catalog at every start (key_choice.py).
A unique key added while the agent was stopped (by a session that did not
log it, so the binlog shows no DDL) can become the choice: the recorded
cursor, a value of the old key, would then bound the new key's column, and
the rows between would never be copied.
"""

from __future__ import annotations

import threading

from ferry_support import FerryThread, assert_same, caught_up_or_refused, move_config
from integration_support import root_session, sql, until

from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import execute, fetch_all


def test_a_move_restarted_after_its_key_choice_changed_refuses_or_copies_every_row(servers, db, tmp_path):
    table = quote_table(db, "t")
    sql(servers.source, "CREATE TABLE %s (a INT NOT NULL, b INT NOT NULL, UNIQUE KEY ub (b))" % table,
        "INSERT INTO %s VALUES %s" % (table, ", ".join("(%d, %d)" % (i, 10 * i) for i in range(1, 21))))
    second = threading.Event()
    release = threading.Event()

    def hook(_table, _rows):
        if second.is_set():
            release.wait(30)
        second.set()

    config = move_config(servers, db, tmp_path / "state", copy={"batch_rows": 5, "concurrency": 1, "read_ahead": 0, "writers": 1})
    ferry = FerryThread(config, copy_hook=hook)
    try:
        until(lambda: _cursor_moved(servers, ferry.config.name), "batch 1 on the target (batch 2 waits in the hook)")
    finally:
        ferry.stop.set()
        release.set()
        ferry.thread.join(60)
    with root_session(servers.source) as conn:  # the new key sorts first: same width, name 'ua' < 'ub'
        execute(conn, "SET SESSION sql_log_bin = 0")
        execute(conn, "ALTER TABLE %s ADD UNIQUE KEY ua (a)" % table)
    if caught_up_or_refused(servers, FerryThread(config), "is not the one move"):
        assert assert_same(servers, db) == 20


def _cursor_moved(servers, move: str) -> bool:
    """Whether the target records a cursor past the start for the move's table."""
    with root_session(servers.target) as conn:
        if not fetch_all(conn, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = '_dbferry' AND TABLE_NAME = 'cursors'"):
            return False
        return bool(fetch_all(conn, "SELECT 1 FROM _dbferry.cursors WHERE move = %s AND last_key IS NOT NULL", (move,)))
