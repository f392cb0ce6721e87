"""throttle_query runs read-only, and the source user needs only the privileges a move uses (issue 13, item 19).

The source user here may write, as an operator's monitoring login often can:
the throttle query must still not change anything on the source.
"""

from __future__ import annotations

from ferry_support import move_config
from integration_support import root_session, sql
from preflight_support import only_check, run_preflight, make_shop

from ansible_collections.dbferry.mysql.plugins.module_utils.config.move_config import parse_config
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.controls.throttle import Throttle
from ansible_collections.dbferry.mysql.plugins.module_utils.controls.throttle_checks import ThrottleChecks
from ansible_collections.dbferry.mysql.plugins.module_utils.config.tunables import Tunables


def _checks(servers, db, tmp_path, source):
    config = parse_config(move_config(servers, db, tmp_path / "state", source=source, throttle_query="SELECT 0"))
    (tmp_path / "state").mkdir()
    throttle, tunables = Throttle(), Tunables.of(config)
    return ThrottleChecks(config, throttle, tunables, EventLog(config.name, str(tmp_path / "state" / "ferry.log"))), throttle, tunables


def test_throttle_query_cannot_write_to_the_source(servers, db, tmp_path, make_user):
    sql(servers.source, "CREATE TABLE `%s`.marks (id INT PRIMARY KEY)" % db)
    writer = make_user(servers.source, "t_writer", ["SELECT, INSERT, CREATE, DROP ON `%s`.*" % db])
    checks, throttle, tunables = _checks(servers, db, tmp_path, writer)
    try:
        for query in ("INSERT INTO `%s`.marks VALUES (1)" % db, "CREATE TABLE `%s`.made (id INT)" % db,
                      "DROP TABLE `%s`.marks" % db, "SET SESSION TRANSACTION READ WRITE"):
            tunables.update({"throttle_query": query})
            checks.check()
        tunables.update({"throttle_query": "INSERT INTO `%s`.marks VALUES (2)" % db})
        checks.check()
        assert throttle.reasons() == ["throttle_query failed: (1792) Cannot execute statement in a READ ONLY transaction"]
        tunables.update({"throttle_query": "SELECT COUNT(*) FROM `%s`.marks" % db})
        checks.check()
        assert not throttle.reasons()
    finally:
        checks.source.close()
    with root_session(servers.source) as conn:
        assert fetch_all(conn, "SELECT id FROM `%s`.marks" % db) == []
        assert fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (db,)) == 1


def test_source_user_without_reload_passes_preflight(ansible, servers, db, make_user):
    make_shop(servers, db)
    reader = make_user(servers.source, "t_no_reload", ["REPLICATION SLAVE, BINLOG MONITOR ON *.*", "SELECT ON `%s`.*" % db])
    run = run_preflight(ansible, servers, db, source=reader)
    assert not run.failed, run.result.get("msg")
    assert only_check(run, "source_privileges", "ok")["message"] == (
        "has REPLICATION SLAVE, BINLOG MONITOR, and SELECT on the selected tables (granted and tried).")
