"""servers.json: a move's state folder records its servers once and refuses others (pure bookkeeping, no server)."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import servers_seen


def test_the_first_start_records_the_servers_and_a_later_one_with_them_passes(tmp_path):
    """Pure bookkeeping: the first check writes servers.json (0600), the same servers pass again, a new target is refused."""
    seen = {"source": {"server_uuid": "a"}, "target": {"server_uuid": "b"}}
    servers_seen.check(str(tmp_path), "m", seen)
    assert oct((tmp_path / servers_seen.SERVERS_FILE).stat().st_mode & 0o777) == "0o600"
    servers_seen.check(str(tmp_path), "m", seen)
    with pytest.raises(DbferryError, match="the target was server_uuid b, now it is server_uuid c"):
        servers_seen.check(str(tmp_path), "m", dict(seen, target={"server_uuid": "c"}))


def test_the_fix_for_a_move_that_was_cut_over_is_not_abort(tmp_path):
    """abort.yml refuses a move that was cut over: the fix must not send the operator there (a DBA went in that circle)."""
    seen = {"source": {"server_uuid": "a"}, "target": {"server_uuid": "b"}}
    servers_seen.check(str(tmp_path), "m", seen)
    with pytest.raises(DbferryError, match="abort the old move first") as running:
        servers_seen.check(str(tmp_path), "m", dict(seen, source={"server_uuid": "c"}))
    (tmp_path / "status.json").write_text('{"phase": "complete"}')
    with pytest.raises(DbferryError, match=r"remove it \(rm -r %s\)" % tmp_path) as complete:
        servers_seen.check(str(tmp_path), "m", dict(seen, source={"server_uuid": "c"}))
    assert "abort" not in complete.value.fix and "another name" in running.value.fix
