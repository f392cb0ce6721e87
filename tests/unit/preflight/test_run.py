"""run_preflight refuses an allow entry that names no acceptable check before it connects anywhere (pure logic)."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.selection import Selection
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.run import run_preflight
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec


def test_an_unacceptable_allow_entry_is_refused_with_the_choices():
    # Port 1 is closed: reaching a server would fail differently, so the refusal comes first.
    spec = ServerSpec(host="127.0.0.1", port=1, user="ferry", config_file=None)
    with pytest.raises(DbferryError) as raised:
        run_preflight(spec, spec, Selection.from_options({"include": ["shop"]}), allow=["views", "primary_key", "nonsense"])
    assert raised.value.message == "allow names check(s) that cannot be accepted: nonsense, primary_key."
    assert raised.value.obj == "allow"
    assert raised.value.fix == "allow takes only: binlog_retention, foreign_keys, triggers, views, target_not_empty, target_version, source_replica."
