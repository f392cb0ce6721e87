"""The cutover's last writes on the target, on a real server: recording the move complete only over a target that holds
the final position, and raising AUTO_INCREMENT without waiting unbounded for a metadata lock (review of issue 13)."""

from __future__ import annotations

import pytest
from integration_support import root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.cutover import auto_increment
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.cutover import cut_over
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import state
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import execute, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError


def _phase(conn, name: str) -> str:
    conn.commit()
    return fetch_value(conn, "SELECT phase FROM _dbferry.moves WHERE name = %s", (name,))


@pytest.fixture
def recorded_move(servers, db):
    """A move recorded on the target as copying, applied up to 0-1-5; dropped afterwards."""
    name = "record-" + db[-20:]
    with root_session(servers.target) as conn:
        state.ensure_schema(conn)
        state.create(conn, name, "0" * 64, [])
        state.start(conn, name, "0-1-5")
        conn.commit()
    yield name
    with root_session(servers.target) as conn:
        state.drop(conn, name)
        conn.commit()


def test_a_move_is_recorded_complete_only_when_the_target_holds_the_final_position(servers, recorded_move):
    with root_session(servers.target) as conn:
        conn.autocommit(False)
        # An older checkpoint than the final position (a lagging second agent wrote it): refused, nothing recorded.
        with pytest.raises(DbferryError) as refused:
            state.record_complete(conn, recorded_move, "0-1-9")
        assert "applied position went back to 0-1-5, before the final position 0-1-9" in refused.value.message
        assert _phase(conn, recorded_move) == "copying"
        state.record_complete(conn, recorded_move, "0-1-5")
        conn.commit()
        assert _phase(conn, recorded_move) == state.COMPLETE
        # And from then on no checkpoint is written.
        with pytest.raises(DbferryError):
            state.save_position(conn, recorded_move, "0-1-6")
        assert fetch_value(conn, "SELECT applied_position FROM _dbferry.moves WHERE name = %s", (recorded_move,)) == "0-1-5"


def test_the_cutover_does_not_pass_while_cascaded_child_rows_are_still_to_re_copy(servers, recorded_move, tmp_path):
    """A target at the final position with a carried cascade key (engine/applier.py) is not the source's yet: the
    cutover does not record the move complete, and says why."""
    with root_session(servers.source) as conn:
        final = fetch_value(conn, "SELECT @@GLOBAL.gtid_binlog_pos")
    with root_session(servers.target) as conn:
        conn.autocommit(False)
        state.save_position(conn, recorded_move, final)
        state.save_pending(conn, recorded_move, [("shop", "notes", (7,))])
        conn.commit()
    sql(servers.source, "SET GLOBAL read_only = ON")
    try:
        with pytest.raises(DbferryError, match="1 cascaded child row"):
            cut_over(servers.source.spec("root"), servers.target.spec("root"), recorded_move, str(tmp_path), timeout=5, stop_timeout=5,
                     target_writable=False, check_mode=False)
    finally:
        sql(servers.source, "SET GLOBAL read_only = OFF")
    with root_session(servers.target) as conn:
        assert _phase(conn, recorded_move) == "copying"


def test_raising_auto_increment_waits_a_bounded_time_for_a_metadata_lock(servers, db, monkeypatch):
    for server in (servers.source, servers.target):
        sql(server, "CREATE DATABASE IF NOT EXISTS `%s`" % db,
            "CREATE TABLE `%s`.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)" % db)
    sql(servers.source, "INSERT INTO `%s`.t (v) VALUES (1), (2), (3)" % db)
    monkeypatch.setattr(auto_increment, "LOCK_WAIT_SECONDS", 1)
    tables = [(db, "t", db, "t")]
    with root_session(servers.source) as source, root_session(servers.target) as target, root_session(servers.target) as holder:
        execute(holder, "START TRANSACTION")
        execute(holder, "SELECT * FROM `%s`.t" % db)  # an open transaction that read the table holds its metadata lock
        with pytest.raises(DbferryError) as waited:
            auto_increment.raise_counters(source, target, tables)
        assert waited.value.obj == "%s.t" % db
        assert "waited 1 s for the table's metadata lock" in waited.value.message
        execute(holder, "ROLLBACK")
        raised = auto_increment.raise_counters(source, target, tables)
        assert [(b.source_value, b.target_value) for b in raised] == [(4, 1)]
        assert auto_increment.behind(source, target, tables) == []
