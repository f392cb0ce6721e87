"""One agent per move, enforced on the target; a complete move's target is never written by the move again;
the agent's binlog server id is its own (issue 13, items 4 and 5). Real sandboxes, engines in threads."""

from __future__ import annotations

import threading

import pymysql
import pytest
from ferry_support import FerryThread, make_load_tables, move_config, wait_caught_up
from integration_support import root_session, sql, until

from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import execute, fetch_all, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.target_lock import TargetLock, lock_name


def _ended_with(ferry: FerryThread) -> BaseException:
    """Wait for a ferry that must stop by itself; return its error."""
    until(lambda: not ferry.thread.is_alive(), "the ferry to stop by itself")
    assert ferry.error is not None, "the ferry stopped without an error"
    return ferry.error


def _recorded(servers, name: str) -> list:
    """The target's _dbferry row of move ``name`` (empty when there is none, or no _dbferry at all)."""
    with root_session(servers.target) as conn:
        if not fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '_dbferry' AND TABLE_NAME = 'moves'"):
            return []
        return fetch_all(conn, "SELECT phase, applied_position FROM _dbferry.moves WHERE name = %s", (name,))


def test_a_second_agent_of_the_move_with_another_state_dir_is_refused(servers, db, tmp_path):
    make_load_tables(servers, db, 300)
    data = move_config(servers, db, tmp_path / "first")
    first = FerryThread(data)
    try:
        wait_caught_up(servers, data["name"])
        second = FerryThread(dict(data, state_dir=str(tmp_path / "second")))
        error = _ended_with(second)
        assert isinstance(error, DbferryError), error
        holder = first.ferry.target_lock.session_id
        assert "another agent of move %s is running" % data["name"] in str(error), str(error)
        assert "held by session %d (ferry_target@" % holder in str(error), str(error)
        # the first one goes on: a source write reaches the target
        sql(servers.source, "UPDATE `%s`.a SET v = -7 WHERE id = 5" % db)
        wait_caught_up(servers, data["name"])
        with root_session(servers.target) as conn:
            assert fetch_value(conn, "SELECT v FROM `%s`.a WHERE id = 5" % db) == -7
    finally:
        first.finish()


def test_a_lost_lock_session_is_taken_again_or_the_agent_stops(servers, db, tmp_path):
    """KILL of the lock's session: the agent takes the lock again on its next tick and goes on. When another session took
    the lock first (the run loop is held in its status callback while that happens), the agent stops writing."""
    make_load_tables(servers, db, 100)
    gate, held = threading.Event(), threading.Event()
    gate.set()

    def on_status(_snapshot):
        held.set()
        gate.wait(60)

    data = move_config(servers, db, tmp_path / "state")
    ferry = FerryThread(data, on_status=on_status)
    try:
        wait_caught_up(servers, data["name"])
        lost = ferry.ferry.target_lock.session_id
        sql(servers.target, "KILL CONNECTION %d" % lost)
        until(lambda: ferry.ferry.target_lock.session_id not in (None, lost), "the lock to be taken again")
        sql(servers.source, "UPDATE `%s`.a SET v = -8 WHERE id = 6" % db)
        wait_caught_up(servers, data["name"])

        gate.clear()
        held.clear()
        until(held.is_set, "the run loop to be held")
        with root_session(servers.target) as conn:  # not an agent: the test takes the lock while the agent cannot look
            execute(conn, "KILL CONNECTION %d" % ferry.ferry.target_lock.session_id)
            assert fetch_value(conn, "SELECT GET_LOCK(%s, 30)", (lock_name(data["name"]),)) == 1
            gate.set()
            error = _ended_with(ferry)
        assert "and the lock could not be taken again" in str(error) and "another agent of move" in str(error), str(error)
    finally:
        gate.set()
        if ferry.thread.is_alive():
            ferry.finish()


def test_a_lock_session_the_client_gave_up_on_is_killed_and_the_lock_taken_again(servers, db):
    """The lock's session times out on the client (a read timeout on a loaded target) while the server still runs it,
    holding the lock: check() kills that session, which is its own, and takes the lock again instead of stopping the
    move as if another agent held it (the CI failure of 2026-12-04: "lost its lock" in a change nobody else ran)."""
    lock = TargetLock(servers.target.spec("root"), "lost-client-" + db).take()
    lost = lock.session_id
    try:
        lock.conn._sock.settimeout(1)  # pylint: disable=protected-access
        with pytest.raises(pymysql.err.OperationalError):
            fetch_value(lock.conn, "SELECT SLEEP(30)")  # the client gives up after 1 s; the server sleeps on
        with root_session(servers.target) as conn:
            assert fetch_value(conn, "SELECT IS_USED_LOCK(%s)", (lock.name,)) == lost
            lock.check()
            assert lock.session_id != lost
            assert fetch_value(conn, "SELECT IS_USED_LOCK(%s)", (lock.name,)) == lock.session_id
            assert not fetch_all(conn, "SELECT ID FROM information_schema.PROCESSLIST WHERE ID = %s", (lost,))
    finally:
        lock.release()


def test_an_agent_writes_nothing_once_the_move_is_complete(servers, db, tmp_path):
    """The move is recorded complete while an agent still runs (as a cutover by another agent would): the application's
    write on the target stays, the source's later write is not applied, and the agent stops."""
    make_load_tables(servers, db, 100)
    data = move_config(servers, db, tmp_path / "state")
    ferry = FerryThread(data)
    try:
        wait_caught_up(servers, data["name"])
        applied = _recorded(servers, data["name"])[0][1]
        sql(servers.target, "UPDATE _dbferry.moves SET phase = 'complete' WHERE name = '%s'" % data["name"],
            "UPDATE `%s`.a SET v = 4242 WHERE id = 7" % db)
        sql(servers.source, "UPDATE `%s`.a SET v = -9 WHERE id = 7" % db)
        error = _ended_with(ferry)
    finally:
        if ferry.thread.is_alive():
            ferry.finish()
    assert "move %s is complete (cut over)" % data["name"] in str(error), str(error)
    # An agent started on the complete move (another state folder: no run lock in its way) refuses before writing.
    again = _ended_with(FerryThread(dict(data, state_dir=str(tmp_path / "again"))))
    assert "move %s was cut over already" % data["name"] in str(again), str(again)
    with root_session(servers.target) as conn:
        assert fetch_value(conn, "SELECT v FROM `%s`.a WHERE id = 7" % db) == 4242
    assert _recorded(servers, data["name"]) == [("complete", applied)]


def _refused_before_writing(servers, db, tmp_path, data) -> str:
    """Run a ferry that must refuse at start; check it wrote nothing to the target; return its message."""
    error = _ended_with(FerryThread(data))
    assert isinstance(error, DbferryError), error
    assert _recorded(servers, data["name"]) == []
    with root_session(servers.target) as conn:
        assert fetch_value(conn, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (db,)) == 0
    return str(error)


def test_the_source_server_id_is_refused_before_anything_is_written(servers, db, tmp_path):
    make_load_tables(servers, db, 10)
    with root_session(servers.source) as conn:
        own = int(fetch_value(conn, "SELECT @@GLOBAL.server_id"))
    message = _refused_before_writing(servers, db, tmp_path, move_config(servers, db, tmp_path / "state", binlog={"server_id": own}))
    assert "binlog.server_id %d is the server_id of the source" % own in message and "Fix: set binlog.server_id to another" in message


@pytest.fixture
def replica(servers):
    """A third sandbox that replicates from the source (real MariaDB replication)."""
    (server,) = sandbox.up(servers.base, ["idreplica"], options=["innodb-buffer-pool-size=32M"])
    sandbox.replicate(server, servers.source)
    yield server
    sandbox.down(servers.base, ["idreplica"])


def test_a_replica_server_id_is_refused_when_the_login_may_list_replicas(servers, replica, db, tmp_path, make_user):
    make_load_tables(servers, db, 10)
    login = make_user(servers.source, "t_ids", ["SELECT, REPLICATION SLAVE, BINLOG MONITOR, REPLICATION MASTER ADMIN ON *.*"])
    until(lambda: _registered(servers, replica.server_id), "the replica to register with the source")
    data = move_config(servers, db, tmp_path / "state", source=login, binlog={"server_id": replica.server_id})
    message = _refused_before_writing(servers, db, tmp_path, data)
    assert "binlog.server_id %d is the server_id of a replica of the source" % replica.server_id in message, message


def _registered(servers, server_id: int) -> bool:
    with root_session(servers.source) as conn:
        return any(int(row[0]) == server_id for row in fetch_all(conn, "SHOW SLAVE HOSTS"))
