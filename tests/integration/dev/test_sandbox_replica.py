"""dbferry sandbox up --replica-of: a real GTID replica of another sandbox, and its state in sandbox status."""

from __future__ import annotations

import json
import subprocess

from integration_support import ROOT, root_session, sql, until

from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_value

CLI = [str(ROOT / "bin" / "dbferry"), "sandbox"]


def _cli(*args: str) -> list[dict]:
    out = subprocess.run(CLI + list(args), check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def _position(server: sandbox.Sandbox, variable: str) -> str:
    with root_session(server) as conn:
        return fetch_value(conn, "SELECT @@GLOBAL.%s" % variable)


def _status_once_connected(base: str, name: str) -> dict:
    """sandbox status by name, once ``name``'s IO thread is connected; None before."""
    listed = {r["name"]: r for r in _cli("status", "--dir", base)}
    return listed if " io Yes," in listed[name]["replication"] else None


def test_replica_of_replicates_with_its_own_binlog_and_status_shows_it(servers):
    db = "sbreplica_db"  # made after the replica started: it replicates from the primary's position at its start
    try:
        (row,) = _cli("up", "--dir", servers.base, "--name", "sbreplica", "--replica-of", servers.source.name)
        assert row["running"] and row["replication"].startswith("of source: io "), row  # its IO thread may still be connecting
        replica = sandbox.get(servers.base, "sbreplica")
        with root_session(replica) as conn:
            assert int(fetch_value(conn, "SELECT @@GLOBAL.log_slave_updates")) == 1
        sql(servers.source, "CREATE DATABASE `%s`" % db, "CREATE TABLE `%s`.t (id INT PRIMARY KEY)" % db, "INSERT INTO `%s`.t VALUES (1), (2)" % db)
        primary = _position(servers.source, "gtid_binlog_pos")
        # log_slave_updates: the replica's own binlog ends at the primary's position, which a rehearsal reads as its source.
        until(lambda: _position(replica, "gtid_binlog_pos") == primary, "the replica to log the primary's position %s" % primary)
        with root_session(replica) as conn:
            assert fetch_value(conn, "SELECT COUNT(*) FROM `%s`.t" % db) == 2
        listed = until(lambda: _status_once_connected(servers.base, "sbreplica"), "the replica's IO thread to be connected")
        assert listed["sbreplica"]["replication"] == "of source: io Yes, sql Yes, lag 0 s, at %s" % primary
        assert listed["source"]["replication"] == ""
    finally:
        sql(servers.source, "DROP DATABASE IF EXISTS `%s`" % db)
        sandbox.down(servers.base, ["sbreplica"])


def test_replica_of_a_sandbox_that_is_not_there_is_one_clear_error(servers):
    proc = subprocess.run(CLI + ["up", "--dir", servers.base, "--name", "orphan", "--replica-of", "nosuch"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("dbferry: error: sandbox nosuch, which the replica should replicate from, is not recorded in ")
    assert "Fix: start it first: dbferry sandbox up --name nosuch" in proc.stderr
    assert "orphan" not in {s.name for s in sandbox.load(servers.base)}
