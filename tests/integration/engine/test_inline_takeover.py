"""An earlier version's inline state on the target, taken over by this one (engine/state.py begin_inline).

The earlier ``dirty`` table held numeric keys only; this version drops it and
counts the move's tables as no longer covered, so that they are verified by
checksum. The two steps must be ordered so that a stop between them (kill -9,
a lost connection) can never leave the tables covered with their dirty keys
gone: inline verification would then report rows equal that were never
compared since they changed.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import state
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.tables import MovedTable
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import close_quietly, connect, execute

#: The earlier version's inline tables, as it created them (cc48cd3^ engine/state.py), and its state: the copy of d.t
#: finished and hashed to key 5, key 3 marked dirty by a change not re-verified yet.
_EARLIER = (
    "CREATE TABLE _dbferry.inline_moves (move VARCHAR(64) NOT NULL PRIMARY KEY, applied_position TEXT NOT NULL, "
    "tracked_since TEXT NOT NULL) ENGINE=InnoDB",
    "CREATE TABLE _dbferry.inline_tables (move VARCHAR(64) NOT NULL, source_schema VARCHAR(64) NOT NULL, "
    "source_table VARCHAR(64) NOT NULL, hashed_to DECIMAL(20,0) NULL, hashed_done BOOLEAN NOT NULL DEFAULT FALSE, "
    "covered BOOLEAN NOT NULL, checked_from TEXT NULL, PRIMARY KEY (move, source_schema, source_table)) ENGINE=InnoDB",
    "CREATE TABLE _dbferry.dirty (move VARCHAR(64) NOT NULL, source_schema VARCHAR(64) NOT NULL, "
    "source_table VARCHAR(64) NOT NULL, key_value DECIMAL(20,0) NOT NULL, seq BIGINT UNSIGNED NOT NULL DEFAULT 0, "
    "PRIMARY KEY (move, source_schema, source_table, key_value)) ENGINE=InnoDB",
    "UPDATE _dbferry.cursors SET last_key = '5', done = TRUE",
    "INSERT INTO _dbferry.inline_moves VALUES ('m', '0-1-1', '0-1-1')",
    "INSERT INTO _dbferry.inline_tables VALUES ('m', 'd', 't', 5, TRUE, TRUE, NULL)",
    "INSERT INTO _dbferry.dirty VALUES ('m', 'd', 't', 3, 0)",
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
