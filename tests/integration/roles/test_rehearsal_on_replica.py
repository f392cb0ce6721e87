"""Rehearsals on replicas, on real servers: a move rehearsal from a replica of the source that never touches the
primary, the preflight's refusal of a replica source, and verification of two stopped replicas without a move."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from ferry_support import DmlLoad, assert_same, make_load_tables
from integration_support import root_session, sql, until
from playbook_support import move_variables, run_playbook

from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident
from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover import replica as replica_step
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.selection import Selection
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.run import run_preflight
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import execute, fetch_dicts, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.verify.servers import compare_servers


@pytest.fixture(scope="module")
def replicas(servers) -> Iterator[tuple[sandbox.Sandbox, sandbox.Sandbox]]:
    """A replica of the source and one of the target (dbferry sandbox up --replica-of), for the tests of this file.

    The target's replica leaves out _dbferry: other tests may have made it on the target before the replica started.
    """
    small = ["innodb-buffer-pool-size=32M"]
    (of_source,) = sandbox.up(servers.base, ["rehearsal_src"], options=small, replica_of=servers.source.name)
    try:
        (of_target,) = sandbox.up(servers.base, ["rehearsal_dst"], options=small + ["replicate-wild-ignore-table=_dbferry.%"],
                                  replica_of=servers.target.name)
    except BaseException:
        sandbox.down(servers.base, ["rehearsal_src"])
        raise
    yield of_source, of_target
    sandbox.down(servers.base, ["rehearsal_src", "rehearsal_dst"])


def _value(server: sandbox.Sandbox, query: str) -> Any:
    with root_session(server) as conn:
        return fetch_value(conn, query)


def _replication(server: sandbox.Sandbox) -> dict[str, Any]:
    with root_session(server) as conn:
        return fetch_dicts(conn, "SHOW SLAVE STATUS")[0]


def _caught_up(replica: sandbox.Sandbox, primary: sandbox.Sandbox) -> None:
    wanted = _value(primary, "SELECT @@GLOBAL.gtid_binlog_pos")
    until(lambda: _value(replica, "SELECT @@GLOBAL.gtid_slave_pos") == wanted, "%s to apply %s" % (replica.name, wanted))


def _admin(server: sandbox.Sandbox) -> dict[str, Any]:
    return {"unix_socket": server.socket, "user": "root", "password": server.passwords["root"]}


def test_a_rehearsal_from_a_replica_never_touches_the_primary(ansible, servers, replicas, db, tmp_path: Path):
    replica = replicas[0]
    make_load_tables(servers, db, 1000)
    load = DmlLoad(servers, db, connections=2, seed=11, per_second=40)
    until(lambda: load.statements > 60, "the app's writes on the primary")
    load.finish()
    _caught_up(replica, servers.source)  # the replica replicated the primary's load
    primary_before = _value(servers.source, "SELECT @@GLOBAL.gtid_binlog_pos")
    name = "rr-" + db[:40].replace("_", "-")
    variables = move_variables(servers, db, tmp_path, name, dbferry_source=replica.connection_options("ferry_source"),
                               dbferry_source_admin=_admin(replica), dbferry_source_is_replica=True,
                               **{"dbferry_hook_%s" % point: "" for point in ("before_read_only", "after_read_only", "after_cutover", "on_failure")})
    proc = run_playbook(ansible, "move.yml", variables, "-l", "staging")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    # the primary: not one transaction, still writable
    assert _value(servers.source, "SELECT @@GLOBAL.gtid_binlog_pos") == primary_before
    assert _value(servers.source, "SELECT @@GLOBAL.read_only") == 0
    # the replica was frozen at the primary's position (log_slave_updates keeps its GTIDs) and replicates again, writable as before
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["final_position"] == primary_before, report
    assert report["outcome"] == "rehearsal from a replica, cut over at its final position; the primary untouched"
    assert report["verify"]["result"] == "ok" and report["verify"]["tables"] == 2, report
    assert 0 < report["read_only_window_seconds"] < 60, report  # from the stop of the SQL thread to the cutover done
    state = _replication(replica)
    assert (state["Slave_IO_Running"], state["Slave_SQL_Running"]) == ("Yes", "Yes"), state
    assert _value(replica, "SELECT @@GLOBAL.read_only") == 0
    assert "Stop the replica's SQL threads at a final position" in proc.stdout
    assert "Make the source read-only" not in proc.stdout  # the cutover role did not run
    assert assert_same(servers, db) > 1500  # the rehearsal target holds exactly the primary's rows
    sql(servers.source, "INSERT INTO %s.a VALUES (100000, 1, 'after')" % quote_ident(db))
    _caught_up(replica, servers.source)  # replication goes on after the rehearsal


def _preflight(ansible, source: dict[str, Any], servers, db: str, allow: list[str]) -> Any:
    return ansible.run("dbferry.mysql.preflight", {"source": "{{ src }}", "target": "{{ dst }}", "databases": {"include": [db]},
                                                   "allow": allow},
                       {"src": source, "dst": servers.target.connection_options("ferry_target")})


def _finding(run, name: str) -> dict[str, Any]:
    """A check's finding, from a module run or a report."""
    checks = run.result["checks"] if hasattr(run, "result") else [c.as_dict() for c in run.checks]
    (found,) = [c for c in checks if c["name"] == name]
    return found


def test_preflight_refuses_a_replica_source_unless_rehearsing(ansible, servers, replicas, db):
    replica = replicas[0]
    sql(servers.source, "CREATE TABLE %s.t (id INT PRIMARY KEY)" % quote_ident(db))
    _caught_up(replica, servers.source)
    source = replica.connection_options("ferry_source")
    refused = _preflight(ansible, source, servers, db, [])
    assert refused.failed
    found = _finding(refused, "source_replica")
    assert found["status"] == "error" and found["object"] == "ferry_source@127.0.0.1:%d" % replica.port
    assert found["message"].startswith("ferry_source@127.0.0.1:%d is a replica (it replicates from 127.0.0.1:%d): its binlog can miss"
                                       % (replica.port, servers.source.port)), found
    assert "dbferry_source_is_replica: true" in found["fix"]
    # The rest in this process (the module's path is the one above, and the rehearsal's): what the move role asks for
    # dbferry_source_is_replica passes on the replica, and is refused on the primary, which replicates from no one.
    selection = Selection.from_options({"include": [db]})
    rehearsal = run_preflight(replica.spec("ferry_source"), servers.target.spec("ferry_target"), selection, allow=["source_replica"])
    assert not rehearsal.failures("error"), rehearsal.lines()
    assert _finding(rehearsal, "source_replica")["allowed"] and _finding(rehearsal, "rehearsal_replica")["status"] == "ok"
    primary = run_preflight(servers.source.spec("ferry_source"), servers.target.spec("ferry_target"), selection, allow=["source_replica"])
    found = _finding(primary, "rehearsal_replica")
    assert found["status"] == "error" and "replicates from no one" in found["message"] and not found["allowed"]
    assert primary.failures("error")


def test_verify_two_stopped_replicas_without_a_move(ansible, servers, replicas, db):
    of_source, of_target = replicas
    for server in (servers.source, servers.target):  # as after a move: the same rows on both sides
        sql(server, "CREATE DATABASE IF NOT EXISTS %s" % quote_ident(db),
            "CREATE TABLE %s.t (id INT PRIMARY KEY, v VARCHAR(20), f DOUBLE)" % quote_ident(db),
            "INSERT INTO %s.t SELECT seq, CONCAT('v', seq), seq / 7 FROM %s.seq_1_to_3000" % (quote_ident(db), quote_ident(db)))
    _caught_up(of_source, servers.source)
    _caught_up(of_target, servers.target)
    for replica in replicas:
        sql(replica, "STOP SLAVE")
    try:
        positions = [_value(r, "SELECT @@GLOBAL.gtid_current_pos") for r in replicas]
        variables = {"src": of_source.connection_options("ferry_source"), "dst": of_target.connection_options("ferry_target")}
        args = {"source": "{{ src }}", "target": "{{ dst }}", "databases": [db], "position": positions[0], "target_position": positions[1],
                "chunk_rows": 500}
        same = ansible.run("dbferry.mysql.verify", args, variables, check_mode=True)
        assert not same.failed and not same.result["changed"], same.result.get("msg")
        assert [(t["table"], t["rows"], t["mismatches"]) for t in same.result["tables"]] == [("%s.t" % db, 3000, [])]
        assert (same.result["position"], same.result["applied_position"]) == tuple(positions)
        sql(of_target, "UPDATE %s.t SET v = 'changed' WHERE id = 1234" % quote_ident(db))
        differs = ansible.run("dbferry.mysql.verify", dict(args, target_position=None), variables)
        assert differs.failed
        assert differs.result["msg"].startswith("verify found 1 differing row(s) in 1 table(s) (%s.t): %s.t `id` = 1234 differs in v." % (db, db))
        with pytest.raises(DbferryError) as elsewhere:  # the target moved on from the given position (in this process: quicker)
            compare_servers(of_source.spec("ferry_source"), of_target.spec("ferry_target"), Selection.from_options({"include": [db]}),
                            source_position=positions[0], target_position=positions[1], chunk_rows=500, parallel=2)
        assert str(elsewhere.value).startswith("the target ferry_target@127.0.0.1:%d is at " % of_target.port)
        assert "not at the given position %s" % positions[1] in str(elsewhere.value)
    finally:
        for replica in replicas:
            sql(replica, "START SLAVE")


def test_the_replica_stop_refuses_a_primary_and_undoes_itself_when_a_local_write_stays_open(servers, replicas, db):
    replica = replicas[0]
    with pytest.raises(DbferryError, match="replicates from no one, so it is no replica to rehearse on"):
        replica_step.stop(servers.source.spec())
    sql(servers.source, "CREATE TABLE %s.w (id INT PRIMARY KEY)" % quote_ident(db))
    _caught_up(replica, servers.source)
    with root_session(replica) as writer:  # a local session on the replica, in a write transaction it does not end
        execute(writer, "BEGIN")
        execute(writer, "INSERT INTO %s.w VALUES (1)" % quote_ident(db))
        with pytest.raises(DbferryError, match="these local sessions still have uncommitted writes"):
            replica_step.stop(replica.spec(), wait_for_writes=0.3, ignore_users=("root",))
        execute(writer, "ROLLBACK")
    # undone: replicating again, writable as before
    assert _replication(replica)["Slave_SQL_Running"] == "Yes" and _value(replica, "SELECT @@GLOBAL.read_only") == 0
    stopped = replica_step.stop(replica.spec(), ignore_users=("root",))
    try:
        assert stopped.stopped == [""] and not stopped.read_only_before
        assert stopped.position == _value(servers.source, "SELECT @@GLOBAL.gtid_binlog_pos")
        assert _replication(replica)["Slave_SQL_Running"] == "No" and _value(replica, "SELECT @@GLOBAL.read_only") == 1
    finally:
        assert replica_step.start(replica.spec(), stopped.stopped, stopped.read_only_before)["started"] == [""]
    assert _replication(replica)["Slave_SQL_Running"] == "Yes" and _value(replica, "SELECT @@GLOBAL.read_only") == 0
