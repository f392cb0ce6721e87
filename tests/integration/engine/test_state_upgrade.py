"""A target whose ``_dbferry`` an earlier version made, when keys were DECIMAL(20,0) numbers (engine/state.py).

A sandbox of its own: the test gives ``_dbferry`` the old shape, which the shared sandboxes' other moves must not meet.
"""

from __future__ import annotations

from pathlib import Path

from integration_support import root_session

from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import state
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.tables import MovedTable
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import execute, fetch_all

#: The tables as the version before keys of any type made them.
OLD_STATE = (
    "CREATE DATABASE _dbferry CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
    "CREATE TABLE _dbferry.moves (name VARCHAR(64) NOT NULL PRIMARY KEY, config_digest CHAR(64) NOT NULL, "
    "start_position TEXT NOT NULL, applied_position TEXT NOT NULL, phase VARCHAR(32) NOT NULL, "
    "created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), "
    "updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
    "CREATE TABLE _dbferry.cursors (move VARCHAR(64) NOT NULL, source_schema VARCHAR(64) NOT NULL, "
    "source_table VARCHAR(64) NOT NULL, target_schema VARCHAR(64) NOT NULL, target_table VARCHAR(64) NOT NULL, "
    "key_column VARCHAR(64) NOT NULL, last_key DECIMAL(20,0) NULL, done BOOLEAN NOT NULL DEFAULT FALSE, "
    "rows_copied BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (move, source_schema, source_table)) ENGINE=InnoDB",
    "CREATE TABLE _dbferry.inline_moves (move VARCHAR(64) NOT NULL PRIMARY KEY, applied_position TEXT NOT NULL, "
    "tracked_since TEXT NOT NULL) ENGINE=InnoDB",
    "CREATE TABLE _dbferry.inline_tables (move VARCHAR(64) NOT NULL, source_schema VARCHAR(64) NOT NULL, "
    "source_table VARCHAR(64) NOT NULL, hashed_to DECIMAL(20,0) NULL, hashed_done BOOLEAN NOT NULL DEFAULT FALSE, "
    "covered BOOLEAN NOT NULL, checked_from TEXT NULL, PRIMARY KEY (move, source_schema, source_table)) ENGINE=InnoDB",
    "CREATE TABLE _dbferry.dirty (move VARCHAR(64) NOT NULL, source_schema VARCHAR(64) NOT NULL, "
    "source_table VARCHAR(64) NOT NULL, key_value DECIMAL(20,0) NOT NULL, seq BIGINT UNSIGNED NOT NULL DEFAULT 0, "
    "PRIMARY KEY (move, source_schema, source_table, key_value)) ENGINE=InnoDB",
    "INSERT INTO _dbferry.moves (name, config_digest, start_position, applied_position, phase) "
    "VALUES ('m', 'd', '0-1-5', '0-1-9', 'copying')",
    "INSERT INTO _dbferry.cursors VALUES ('m', 'shop', 'a', 'shop', 'a', 'id', 123, FALSE, 123), "
    "('m', 'shop', 'b', 'shop', 'b', 'id', NULL, TRUE, 0)",
    "INSERT INTO _dbferry.inline_moves VALUES ('m', '0-1-9', '0-1-5')",
    "INSERT INTO _dbferry.inline_tables VALUES ('m', 'shop', 'a', 123, FALSE, TRUE, NULL), ('m', 'shop', 'b', NULL, TRUE, TRUE, NULL)",
    "INSERT INTO _dbferry.dirty VALUES ('m', 'shop', 'b', 7, 0)",
)


def test_an_earlier_versions_move_resumes_and_its_inline_marks_give_way_to_a_checksum(tmp_path: Path) -> None:
    """Its cursors read back as one-column keys and a copy goes on after them; its numeric dirty set cannot hold
    other keys, so it is dropped and no table counts as covered (verified by checksum: slower, never wrong)."""
    base = str(tmp_path / "sandboxes")
    old, = sandbox.up(base, ["old"])
    try:
        with root_session(old) as conn:
            for statement in OLD_STATE:
                execute(conn, statement)
            conn.commit()
            assert state.inline_state(conn, "m") is None  # before the upgrade: no dirty set to trust
            state.ensure_schema(conn)
            recorded = state.load(conn, "m")
            assert recorded is not None
            assert recorded.cursors[("shop", "a")].last_key == (123,) and recorded.cursors[("shop", "b")].done
            assert [t.key for t in state.read_move_tables(conn, "m")] == [("id",), ("id",)]
            table = MovedTable("shop", "a", "shop", "a", ("id", "v"), ("id",))
            state.save_cursor(conn, "m", table, (150,), False, 27)
            state.begin_inline(conn, recorded)
            state.mark_dirty(conn, "m", [("shop", "a", (140,))])
            conn.commit()
            assert state.load(conn, "m").cursors[("shop", "a")].last_key == (150,)
            assert [(row.table, row.key) for row in state.dirty_after(conn, "m", None, 10)] == [("a", (140,))]
            inline = state.inline_state(conn, "m")
            assert inline is not None and inline.covered == frozenset()
            assert fetch_all(conn, "SELECT COUNT(*) FROM _dbferry.inline_tables WHERE covered") == [(0,)]
    finally:
        sandbox.down(base)
