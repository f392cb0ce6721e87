"""A move's state folder remembers its servers: a move of the same name against other servers is refused, not resumed."""

from __future__ import annotations

import json

import pytest
from ferry_support import move_config
from integration_support import root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.agent import process as agent
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import servers_seen
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.server.flavor import detect_flavor


def _identity(server):
    with root_session(server) as conn:
        return servers_seen.identity(conn, detect_flavor(conn))


def test_a_state_folder_of_other_servers_is_refused_before_the_agent_starts(servers, db, tmp_path):
    """MariaDB has no server_uuid: server_id, hostname, port and datadir tell the sandboxes apart. A state folder that
    recorded the servers the other way round, and a status that says complete, stops the start before any agent runs
    or the target is written, naming the servers and the fix (not "cut over already", which is about the old servers)."""
    source, target = _identity(servers.source), _identity(servers.target)
    assert set(source) == {"server_id", "hostname", "port", "datadir"} and source != target
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY)" % db)
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    (state_dir / servers_seen.SERVERS_FILE).write_text(json.dumps({"source": target, "target": source}))
    (state_dir / "status.json").write_text(json.dumps({"phase": "complete", "tables": {}}))
    data = move_config(servers, db, state_dir)
    with pytest.raises(DbferryError) as refused:
        agent.start(data)
    message = str(refused.value)
    assert "move %s was started with other servers" % data["name"] in message
    assert "the source was %s:%d" % (target["hostname"], servers.target.port) in message
    # The old move was cut over: abort.yml refuses such a move, so the fix is to remove its folder (or another name).
    assert "another name" in message and "remove it (rm -r %s)" % state_dir in message and "abort" not in message
    assert agent.running_pid(str(state_dir)) is None
    with root_session(servers.target) as conn:
        assert not fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (db,))
