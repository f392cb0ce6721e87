"""A replica source: refused for a move, required for a rehearsal from a replica (pure logic; the servers' answers are integration tests)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.replica import REHEARSAL_REPLICA, SOURCE_REPLICA, replica_findings
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.report import ERROR, OK, WARNING

PRIMARY = ["from 10.0.0.1:3306"]


def _statuses(found):
    return [(name, status) for name, status, _message, _fix in found]


def test_a_primary_moves():
    assert replica_findings("ferry@db1:3306", [], 0, True, rehearsal=False) == [(SOURCE_REPLICA, OK, "ferry@db1:3306 is no replica.", "")]


def test_a_replica_is_refused_naming_the_server_its_primary_and_the_fix():
    ((name, status, message, fix),) = replica_findings("ferry@r1:3306", PRIMARY, 1, True, rehearsal=False)
    assert (name, status) == (SOURCE_REPLICA, ERROR)
    assert message.startswith("ferry@r1:3306 is a replica (it replicates from 10.0.0.1:3306): its binlog can miss writes")
    assert fix == "point the source at the primary; to rehearse from this replica without touching the primary, set " \
                  "dbferry_source_is_replica: true (the move role; it allows source_replica)."


def test_without_the_privilege_to_list_connections_running_threads_tell():
    ((_name, status, message, _fix),) = replica_findings("ferry@r1:3306", None, 1, True, rehearsal=False)
    assert status == ERROR and "1 replication thread(s) running (Slaves_running; SHOW ALL SLAVES STATUS was refused)" in message
    assert _statuses(replica_findings("ferry@db1:3306", None, 0, True, rehearsal=False)) == [(SOURCE_REPLICA, OK)]


def test_a_rehearsal_needs_a_replica_that_logs_what_it_applies():
    assert _statuses(replica_findings("r", PRIMARY, 1, True, rehearsal=True)) == [(SOURCE_REPLICA, WARNING), (REHEARSAL_REPLICA, OK)]
    no_log = replica_findings("r", PRIMARY, 1, False, rehearsal=True)
    assert _statuses(no_log) == [(SOURCE_REPLICA, WARNING), (REHEARSAL_REPLICA, ERROR)]
    assert "log_slave_updates must be ON" in no_log[1][2] and no_log[1][3].startswith("add log_slave_updates=ON")
    primary = replica_findings("db1", [], 0, True, rehearsal=True)
    assert _statuses(primary) == [(SOURCE_REPLICA, OK), (REHEARSAL_REPLICA, ERROR)]
    assert primary[1][2] == "dbferry_source_is_replica is set, but db1 replicates from no one, so stopping replication would not freeze it."
