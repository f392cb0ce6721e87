"""A target whose ``_dbferry`` an earlier version made, when keys were DECIMAL(20,0) numbers (engine/state.py).

A sandbox of its own per test: each gives ``_dbferry`` the old shape, which the shared sandboxes' other moves must not
meet. The take-over of an earlier version's inline state (begin_inline) drops its numeric ``dirty`` table and counts
the move's tables as no longer covered, so that they are verified by checksum; the two steps are ordered so that a stop
between them can never leave the tables covered with their dirty keys gone.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest


from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import state
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.tables import MovedTable
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import close_quietly, connect, execute, fetch_all

#: The inline tables as the version before keys of any type made them.
OLD_INLINE_TABLES = (
    "CREATE TABLE _dbferry.inline_moves (move VARCHAR(64) NOT NULL PRIMARY KEY, applied_position TEXT NOT NULL, "
    "tracked_since TEXT NOT NULL) ENGINE=InnoDB",
    "CREATE TABLE _dbferry.inline_tables (move VARCHAR(64) NOT NULL, source_schema VARCHAR(64) NOT NULL, "
    "source_table VARCHAR(64) NOT NULL, hashed_to DECIMAL(20,0) NULL, hashed_done BOOLEAN NOT NULL DEFAULT FALSE, "
    "covered BOOLEAN NOT NULL, checked_from TEXT NULL, PRIMARY KEY (move, source_schema, source_table)) ENGINE=InnoDB",
    "CREATE TABLE _dbferry.dirty (move VARCHAR(64) NOT NULL, source_schema VARCHAR(64) NOT NULL, "
    "source_table VARCHAR(64) NOT NULL, key_value DECIMAL(20,0) NOT NULL, seq BIGINT UNSIGNED NOT NULL DEFAULT 0, "
    "PRIMARY KEY (move, source_schema, source_table, key_value)) ENGINE=InnoDB",
)

#: The tables as the version before keys of any type made them, and a move's state in them.
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
    *OLD_INLINE_TABLES,
    "INSERT INTO _dbferry.moves (name, config_digest, start_position, applied_position, phase) "
    "VALUES ('m', 'd', '0-1-5', '0-1-9', 'copying')",
    "INSERT INTO _dbferry.cursors VALUES ('m', 'shop', 'a', 'shop', 'a', 'id', 123, FALSE, 123), "
    "('m', 'shop', 'b', 'shop', 'b', 'id', NULL, TRUE, 0)",
    "INSERT INTO _dbferry.inline_moves VALUES ('m', '0-1-9', '0-1-5')",
    "INSERT INTO _dbferry.inline_tables VALUES ('m', 'shop', 'a', 123, FALSE, TRUE, NULL), ('m', 'shop', 'b', NULL, TRUE, TRUE, NULL)",
    "INSERT INTO _dbferry.dirty VALUES ('m', 'shop', 'b', 7, 0)",
)


@pytest.fixture
def target(tmp_path: Any) -> Iterator[Any]:
    """A server of its own: the test puts an earlier version's tables into ``_dbferry``, which the others share."""
    base = str(tmp_path / "sandbox")
    server, = sandbox.up(base, ["target"])
    conn = connect(server.spec("root"), autocommit=False)
    try:
        yield conn
    finally:
        close_quietly(conn)
        sandbox.down(base)


def test_an_earlier_versions_move_resumes_and_its_inline_marks_give_way_to_a_checksum(target: Any) -> None:
    """Its cursors read back as one-column keys and a copy goes on after them; its numeric dirty set cannot hold
    other keys, so it is dropped and no table counts as covered (verified by checksum: slower, never wrong)."""
    for statement in OLD_STATE:
        execute(target, statement)
    target.commit()
    assert state.inline_state(target, "m") is None  # before the upgrade: no dirty set to trust
    state.ensure_schema(target)
    recorded = state.load(target, "m")
    assert recorded is not None
    assert recorded.cursors[("shop", "a")].last_key == (123,) and recorded.cursors[("shop", "b")].done
    assert [t.key for t in state.read_move_tables(target, "m")] == [("id",), ("id",)]
    table = MovedTable("shop", "a", "shop", "a", ("id", "v"), ("id",))
    state.save_cursor(target, "m", table, (150,), False, 27)
    state.begin_inline(target, recorded)
    state.mark_dirty(target, "m", [("shop", "a", (140,))])
    target.commit()
    assert state.load(target, "m").cursors[("shop", "a")].last_key == (150,)
    assert [(row.table, row.key) for row in state.dirty_after(target, "m", None, 10)] == [("a", (140,))]
    inline = state.inline_state(target, "m")
    assert inline is not None and inline.covered == frozenset()
    assert fetch_all(target, "SELECT COUNT(*) FROM _dbferry.inline_tables WHERE covered") == [(0,)]


#: The earlier version's inline tables, as it created them (cc48cd3^ engine/state.py), and its state: the copy of d.t
#: finished and hashed to key 5, key 3 marked dirty by a change not re-verified yet.
_EARLIER = (
    *OLD_INLINE_TABLES,
    "UPDATE _dbferry.cursors SET last_key = '5', done = TRUE",
    "INSERT INTO _dbferry.inline_moves VALUES ('m', '0-1-1', '0-1-1')",
    "INSERT INTO _dbferry.inline_tables VALUES ('m', 'd', 't', 5, TRUE, TRUE, NULL)",
    "INSERT INTO _dbferry.dirty VALUES ('m', 'd', 't', 3, 0)",
)


def test_a_stop_while_taking_over_an_earlier_dirty_table_never_leaves_its_tables_covered(target):
    table = MovedTable("d", "t", "d", "t", ("id",), ("id",), ("int",))
    state.ensure_schema(target)
    state.create(target, "m", "digest", [table])
    state.start(target, "m", "0-1-1")
    for statement in _EARLIER:
        execute(target, statement)
    target.commit()
    # The stop, between the take-over's statements: the one that uncovers the tables fails.
    execute(target, "CREATE TRIGGER _dbferry.stop BEFORE UPDATE ON _dbferry.inline_tables FOR EACH ROW "
                    "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'stopped here'")
    with pytest.raises(Exception, match="stopped here"):
        state.begin_inline(target, state.load(target, "m"))
    target.rollback()
    execute(target, "DROP TRIGGER _dbferry.stop")
    state.begin_inline(target, state.load(target, "m"))  # the restart
    target.commit()
    recorded = state.inline_state(target, "m")
    assert recorded is None or ("d", "t") not in recorded.covered, "d.t counts as covered, but its dirty key 3 was dropped"
