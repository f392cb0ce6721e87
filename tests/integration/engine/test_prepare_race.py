"""docs/design.md step 1 at the start of a move: the target tables have the shape the source's rows have at P0.

A DDL committed between reading the tables and reading P0 is in no binlog event the move reads (it is before P0),
so nothing else would notice it: the copy would leave out a column added meanwhile, on every row, without a word.
"""

from __future__ import annotations

import pytest
from ferry_support import FerryThread, assert_same, move_config, wait_caught_up
from integration_support import root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import ferry as ferry_module
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_value


def test_a_column_added_between_reading_the_tables_and_p0_undoes_the_start_and_the_next_start_moves_it(servers, db, tmp_path, monkeypatch):
    """The ALTER lands after the target table was made from the old definition and before P0 (deterministically, through
    create_target_tables): the start is refused naming the table, the table it made is dropped, and the next start makes
    it from the new definition and moves the new column's values exactly."""
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB" % db,
        "INSERT INTO `%s`.t SELECT seq, seq FROM `%s`.seq_1_to_500" % (db, db))
    create = ferry_module.create_target_tables

    def create_then_alter(source, target, tables, existing):
        created = create(source, target, tables, existing)
        sql(servers.source, "ALTER TABLE `%s`.t ADD COLUMN w INT NOT NULL DEFAULT 7" % db, "UPDATE `%s`.t SET w = id * 100" % db)
        return created

    monkeypatch.setattr(ferry_module, "create_target_tables", create_then_alter)
    data = move_config(servers, db, tmp_path / "state")
    refused = FerryThread(data)
    with pytest.raises(DbferryError, match=r"table\(s\) %s\.t changed on the source while move %s was preparing" % (db, data["name"])):
        refused.finish()
    with root_session(servers.target) as conn:
        assert fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (db,)) == 0

    monkeypatch.undo()
    ferry = FerryThread(data)
    try:
        wait_caught_up(servers, ferry.config.name)
        assert assert_same(servers, db) == 500
        with root_session(servers.target) as conn:
            assert fetch_value(conn, "SELECT SUM(w) FROM `%s`.t" % db) == 100 * 500 * 501 // 2
    finally:
        ferry.finish()
