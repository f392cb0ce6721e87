"""test_on_replica: a change rehearsed on a real GTID replica while the primary takes an application's writes.

The rehearsal copies, applies and verifies on the replica, stops its SQL thread for the last comparison, swaps the
tables and back, and leaves the replica as it was: the table's definition unchanged, no ghost or record, replication
running and, once the load has stopped, the replica's rows equal to the primary's. The primary never sees the change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from ferry_support import DmlLoad, make_load_tables
from integration_support import root_session

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident, quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import parse_alter_config
from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.plan import alter_name
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.runner import run_alter
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import execute, fetch_all, fetch_dicts, fetch_value

ROWS = 3000
ALTER = "MODIFY v BIGINT NOT NULL, ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT 'none'"


@pytest.fixture(scope="module")
def replica(servers: Any) -> Iterator[sandbox.Sandbox]:
    """A GTID replica of the source, with log_slave_updates (its binlog holds what it applies), for this module; in
    gtid_strict_mode, which stops its SQL thread at the primary's next transaction if anything wrote a local GTID."""
    box = sandbox.up(servers.base, ["replica"], options=["log-slave-updates=ON", "gtid-strict-mode=ON"])[0]
    yield box
    sandbox.down(servers.base, ["replica"])


@pytest.fixture(autouse=True)
def replicating(request: pytest.FixtureRequest, servers: Any, db: str) -> None:
    """The replica replicating from the source's position now, with the test's database: every test of the worker writes
    to the source, and one statement of theirs that fails on the replica (a user, a domain of its own) would stop it."""
    if "replica" in request.fixturenames:
        box = request.getfixturevalue("replica")
        with root_session(box) as conn:
            execute(conn, "CREATE DATABASE IF NOT EXISTS %s" % quote_ident(db))
        sandbox.replicate(box, servers.source)


def _options(server: sandbox.Sandbox, db: str, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    spec = server.spec("root")
    return dict({"server": {"user": spec.user, "password": spec.password, "unix_socket": spec.unix_socket}, "database": db,
                 "table": "a", "alter": ALTER, "chunk_size": 100, "state_dir": str(tmp_path / "state"), "test_on_replica": True},
                **overrides)


def _caught_up(primary: sandbox.Sandbox, replica_box: sandbox.Sandbox) -> None:
    with root_session(primary) as conn:
        position = fetch_value(conn, "SELECT @@GLOBAL.gtid_binlog_pos")
    with root_session(replica_box) as conn:
        if fetch_value(conn, "SELECT MASTER_GTID_WAIT(%s, 60)", (position,)) != 0:
            status = (fetch_dicts(conn, "SHOW SLAVE STATUS") or [{}])[0]
            shown = {k: status.get(k) for k in ("Slave_IO_Running", "Slave_SQL_Running", "Last_IO_Error", "Last_SQL_Error", "Gtid_IO_Pos")}
            waits = fetch_all(conn, "SELECT ID, USER, COMMAND, TIME, STATE, INFO FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Sleep'")
            pytest.fail("the replica did not reach %s in 60 s: %s; sessions: %s" % (position, shown, waits))


def _state(server: sandbox.Sandbox, db: str) -> dict[str, Any]:
    with root_session(server) as conn:
        tables = sorted(name for (name,) in fetch_all(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (db,)))
        recorded = fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '_dbferry' AND TABLE_NAME = 'moves'") and \
            fetch_value(conn, "SELECT COUNT(*) FROM _dbferry.moves WHERE name = %s", (alter_name(db, "a"),))
        return {"tables": tables, "create": fetch_all(conn, "SHOW CREATE TABLE %s" % quote_table(db, "a"))[0][1], "recorded": bool(recorded),
                "rows": fetch_all(conn, "SELECT * FROM %s ORDER BY id" % quote_table(db, "a"))}


def test_a_rehearsal_on_a_replica_leaves_it_and_the_primary_as_they_were(servers: Any, db: str, tmp_path: Path,
                                                                         replica: sandbox.Sandbox) -> None:
    make_load_tables(servers, db, ROWS)
    _caught_up(servers.source, replica)
    primary_before, replica_before = _state(servers.source, db), _state(replica, db)
    load = DmlLoad(servers, db, connections=2, key_space=ROWS, per_second=100)
    try:
        result = run_alter(parse_alter_config(_options(replica, db, tmp_path)), EventLog("alter", str(tmp_path / "alter.log")))
    finally:
        load.finish()
    assert result.rehearsal and not result.changed and result.rows_copied > ROWS // 2 and result.events_applied > 0
    assert "`note` varchar(20) NOT NULL DEFAULT 'none'" in result.new_create and "bigint" in result.new_create
    assert result.old_create == replica_before["create"]
    log = (tmp_path / "alter.log").read_text()
    assert '"replica_sql_thread_stopped"' in log and '"replica_sql_thread_started"' in log and '"rehearsal_complete"' in log
    _caught_up(servers.source, replica)
    primary_after, replica_after = _state(servers.source, db), _state(replica, db)
    assert replica_after["tables"] == ["a", "b"] and replica_after["create"] == replica_before["create"] and not replica_after["recorded"]
    assert primary_after["tables"] == ["a", "b"] and primary_after["create"] == primary_before["create"] and not primary_after["recorded"]
    assert replica_after["rows"] == primary_after["rows"]  # replication ran on, and applied everything after the rehearsal
    _replicating_only_the_primary(servers.source, replica)


def _replicating_only_the_primary(primary: sandbox.Sandbox, replica_box: sandbox.Sandbox) -> None:
    """Replication runs, and every GTID in the replica's binlog is the primary's: the rehearsal logged nothing there."""
    with root_session(primary) as conn:
        primary_id = fetch_value(conn, "SELECT @@GLOBAL.server_id")
    with root_session(replica_box) as conn:
        status = fetch_dicts(conn, "SHOW ALL SLAVES STATUS")[0]
        binlog_state = fetch_value(conn, "SELECT @@GLOBAL.gtid_binlog_state")
    assert status["Slave_SQL_Running"] == "Yes" and status["Slave_IO_Running"] == "Yes", status
    assert {gtid.split("-")[1] for gtid in binlog_state.split(",") if gtid} <= {str(primary_id)}, binlog_state


def test_a_failed_rehearsal_leaves_nothing_and_the_real_change_then_replicates(servers: Any, db: str, tmp_path: Path,
                                                                               replica: sandbox.Sandbox) -> None:
    """A rehearsal that fails (a new UNIQUE key that two rows break) drops its ghost and record and restarts replication;
    the same change's real run on the primary, once the rows are fixed, then replicates to the replica."""
    make_load_tables(servers, db, 100)
    with root_session(servers.source) as conn:
        execute(conn, "UPDATE %s SET s = 'twice' WHERE id IN (1, 2)" % quote_table(db, "a"))
    _caught_up(servers.source, replica)
    before = _state(replica, db)
    unique = "ADD UNIQUE KEY us (s)"
    with pytest.raises(DbferryError, match="`us`|unique key"):
        run_alter(parse_alter_config(_options(replica, db, tmp_path, alter=unique)), EventLog("alter", str(tmp_path / "failed.log")))
    assert _state(replica, db) == before
    _replicating_only_the_primary(servers.source, replica)
    with root_session(servers.source) as conn:
        execute(conn, "UPDATE %s SET s = 'once' WHERE id = 2" % quote_table(db, "a"))
    real = run_alter(parse_alter_config(dict(_options(servers.source, db, tmp_path, alter=unique), test_on_replica=False,
                                             state_dir=str(tmp_path / "real"))), EventLog("alter"))
    assert real.changed and not real.rehearsal
    _caught_up(servers.source, replica)
    assert _state(replica, db)["create"] == _state(servers.source, db)["create"] and "UNIQUE KEY `us`" in real.new_create
    _replicating_only_the_primary(servers.source, replica)


def test_a_rehearsal_never_runs_the_alter_natively(servers: Any, db: str, tmp_path: Path, replica: sandbox.Sandbox) -> None:
    """attempt_instant_ddl in a rehearsal: the ALTER is rehearsed by the copy, never run on the replica for real."""
    make_load_tables(servers, db, 100)
    _caught_up(servers.source, replica)
    before = _state(replica, db)
    result = run_alter(parse_alter_config(_options(replica, db, tmp_path, alter="ADD COLUMN extra INT", attempt_instant_ddl=True)),
                       EventLog("alter"))
    assert result.rehearsal and not result.changed and "`extra` int" in result.new_create
    assert _state(replica, db) == before
    _replicating_only_the_primary(servers.source, replica)


def test_a_rehearsal_on_a_server_that_is_not_a_replica_is_refused_before_anything_is_written(servers: Any, db: str,
                                                                                             tmp_path: Path) -> None:
    make_load_tables(servers, db, 10)
    before = _state(servers.source, db)
    with pytest.raises(DbferryError, match="not a replica"):
        run_alter(parse_alter_config(_options(servers.source, db, tmp_path)), EventLog("alter"))
    assert _state(servers.source, db) == before


def test_a_refused_rehearsal_leaves_a_ghost_it_did_not_make(servers: Any, db: str, tmp_path: Path, replica: sandbox.Sandbox) -> None:
    """A _<t>_gho on the replica that no change recorded is someone else's: the preflight refuses it, and the failed
    rehearsal's clean-up leaves it where it is."""
    make_load_tables(servers, db, 10)
    _caught_up(servers.source, replica)
    with root_session(replica) as conn:
        execute(conn, "SET SESSION sql_log_bin = 0")  # made on the replica alone, as an earlier tool would leave it
        execute(conn, "CREATE TABLE %s (id INT PRIMARY KEY)" % quote_table(db, "_a_gho"))
    with pytest.raises(DbferryError, match="_a_gho"):
        run_alter(parse_alter_config(_options(replica, db, tmp_path)), EventLog("alter"))
    assert _state(replica, db)["tables"] == ["_a_gho", "a", "b"]
    _replicating_only_the_primary(servers.source, replica)
