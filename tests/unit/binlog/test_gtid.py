"""GTID position arithmetic (pure logic)."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.binlog import gtid
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError


def test_parse_and_render_round_trip():
    assert gtid.parse("1-7-3, 0-1-42") == {0: (1, 42), 1: (7, 3)}
    assert gtid.render(gtid.parse("1-7-3,0-1-42")) == "0-1-42,1-7-3"
    assert gtid.parse("") == {}


def test_reached_is_per_domain():
    assert gtid.reached("0-1-42,1-7-3", "0-1-40")
    assert gtid.reached("0-1-42", "")
    assert not gtid.reached("0-1-42", "0-1-43")
    assert not gtid.reached("0-1-42", "0-1-40,1-7-1")  # a domain never seen


def test_behind_counts_missing_transactions():
    assert gtid.behind("0-1-40", "0-1-42,1-7-3") == 5
    assert gtid.behind("0-1-42", "0-1-42") == 0


def test_garbage_is_a_clear_error():
    with pytest.raises(DbferryError, match="not a MariaDB GTID position"):
        gtid.parse("mysql-bin.000003:120")
