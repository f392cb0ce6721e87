"""Comparing a table with its ghost on a real server: equal through type changes, different where a value changed,
and a row missing from the ghost named with the unique key it collides on."""

from __future__ import annotations

from typing import Any, Iterator, Optional

import pytest
from integration_support import root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.osc.plan import AlterPlan, build_plan
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.missing import missing_among
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.verify import compare_keys, compare_ranges, failure_message, not_written
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import execute
from ansible_collections.dbferry.mysql.plugins.module_utils.verify.checksum import DIFFERS, EXTRA, MISSING, Mismatch


def ghost_of(conn: Any, servers: Any, db: str, alter: str, renames: Optional[dict] = None) -> AlterPlan:
    """Build t's ghost as the change does (CREATE LIKE, ALTER, copy keeping a ghost row a copied one collides with)."""
    sql(servers.source, "CREATE TABLE `%s`._t_gho LIKE `%s`.t" % (db, db), "ALTER TABLE `%s`._t_gho %s" % (db, alter))
    plan = build_plan(conn, db, "t", "_t_gho", "_t_del", alter, renames or {})
    sql(servers.source, "INSERT INTO `%s`._t_gho (%s) SELECT %s FROM `%s`.t ORDER BY id ON DUPLICATE KEY UPDATE _t_gho.id = _t_gho.id" % (
        db, ", ".join("`%s`" % plan.mapping[c] for c in plan.mapping), ", ".join("`%s`" % c for c in plan.mapping), db))
    return plan


@pytest.fixture
def conn(servers: Any) -> Iterator[Any]:
    with root_session(servers.source) as session:
        yield session


CHANGES = {
    "int to bigint": ("v INT", "(1, -5), (2, 2147483647), (3, NULL)", "MODIFY v BIGINT"),
    "decimal wider": ("v DECIMAL(10,2)", "(1, 12.50), (2, -99999999.99), (3, 0)", "MODIFY v DECIMAL(14,2)"),
    "decimal scale": ("v DECIMAL(10,2)", "(1, 12.50), (2, 100), (3, -0.05)", "MODIFY v DECIMAL(12,4)"),
    "int to decimal": ("v INT", "(1, 100), (2, -7), (3, 0)", "MODIFY v DECIMAL(12,2)"),
    "varchar longer": ("v VARCHAR(50)", "(1, 'abc'), (2, ''), (3, 'trailing ')", "MODIFY v VARCHAR(100)"),
    "utf8mb3 to utf8mb4": ("v VARCHAR(20) CHARACTER SET utf8mb3", "(1, 'é'), (2, 'Straße'), (3, '日本')",
                           "MODIFY v VARCHAR(20) CHARACTER SET utf8mb4"),
    "latin1 text to utf8mb4": ("v TEXT CHARACTER SET latin1", "(1, 'café'), (2, 'Ünïcode'), (3, NULL)",
                               "MODIFY v TEXT CHARACTER SET utf8mb4"),
    "enum grows": ("v ENUM('new','paid')", "(1, 'new'), (2, 'paid'), (3, NULL)", "MODIFY v ENUM('new','paid','shipped')"),
    # a number or time becoming text digests as text on both sides (not as a printed number on one)
    "int to varchar": ("v INT", "(1, 42), (2, -7), (3, NULL)", "MODIFY v VARCHAR(10)"),
    "datetime to varchar": ("v DATETIME", "(1, '2024-02-29 13:14:15'), (2, '1000-01-01 00:00:00'), (3, NULL)", "MODIFY v VARCHAR(32)"),
    "int to text": ("v INT", "(1, 42), (2, 0), (3, NULL)", "MODIFY v TEXT"),
    "double to varchar": ("v DOUBLE", "(1, 1.5), (2, -2), (3, NULL)", "MODIFY v VARCHAR(40)"),
    "decimal to varchar": ("v DECIMAL(10,2)", "(1, 12.50), (2, -3), (3, NULL)", "MODIFY v VARCHAR(20)"),
    # more fraction digits: 13:14:15 reads as 13:14:15.000000
    "datetime to datetime(6)": ("v DATETIME", "(1, '2024-02-29 13:14:15'), (2, '1000-01-01 00:00:00'), (3, NULL)", "MODIFY v DATETIME(6)"),
    "time(1) to time(3)": ("v TIME(1)", "(1, '-12:00:00.5'), (2, '838:59:59'), (3, NULL)", "MODIFY v TIME(3)"),
    # a day becomes its midnight
    "date to datetime": ("v DATE", "(1, '2024-02-29'), (2, '1000-01-01'), (3, NULL)", "MODIFY v DATETIME"),
    "date to datetime(6)": ("v DATE", "(1, '2024-02-29'), (2, '9999-12-31'), (3, NULL)", "MODIFY v DATETIME(6)"),
    "date to timestamp": ("v DATE", "(1, '2024-02-29'), (2, '1999-12-31'), (3, NULL)", "MODIFY v TIMESTAMP(3) NULL"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_value_kept_through_a_type_change_compares_equal(conn: Any, servers: Any, db: str, change: str) -> None:
    column, rows, alter = CHANGES[change]
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, %s, gone INT) CHARACTER SET utf8mb4" % (db, column),
        "INSERT INTO `%s`.t (id, v) VALUES %s" % (db, rows))
    plan = ghost_of(conn, servers, db, alter + ", DROP COLUMN gone, ADD COLUMN added INT DEFAULT 7")
    assert compare_ranges(conn, plan, chunk_rows=2) == []
    assert compare_keys(conn, plan, [(1,), (2,), (3,), (4,)]) == []
    sql(servers.source, "UPDATE `%s`._t_gho SET v = NULL WHERE id = 2" % db)
    assert compare_ranges(conn, plan, chunk_rows=2) == [Mismatch((2,), DIFFERS, ("v",))]
    assert compare_keys(conn, plan, [(2,), (1,)]) == [Mismatch((2,), DIFFERS, ("v",))]


def test_a_date_made_a_datetime_is_its_midnight_and_nothing_else(conn: Any, servers: Any, db: str) -> None:
    """The original's DATE is read as its midnight: a ghost row of the same day at another time differs."""
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, v DATE)" % db, "INSERT INTO `%s`.t VALUES (1, '2024-02-29'), (2, '2024-03-01')" % db)
    plan = ghost_of(conn, servers, db, "MODIFY v DATETIME(6)")
    assert compare_ranges(conn, plan) == []
    sql(servers.source, "UPDATE `%s`._t_gho SET v = '2024-02-29 00:00:00.000001' WHERE id = 1" % db)
    assert compare_ranges(conn, plan) == [Mismatch((1,), DIFFERS, ("v",))]
    assert compare_keys(conn, plan, [(1,), (2,)]) == [Mismatch((1,), DIFFERS, ("v",))]


def test_renamed_columns_compare_by_their_new_name(conn: Any, servers: Any, db: str) -> None:
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, amount INT, note VARCHAR(10))" % db,
        "INSERT INTO `%s`.t VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c')" % db)
    plan = ghost_of(conn, servers, db, "RENAME COLUMN amount TO total", {"amount": "total"})
    assert compare_ranges(conn, plan) == []
    sql(servers.source, "UPDATE `%s`._t_gho SET total = 21 WHERE id = 2" % db, "DELETE FROM `%s`._t_gho WHERE id = 3" % db,
        "INSERT INTO `%s`._t_gho VALUES (9, 90, 'z')" % db)
    found = compare_ranges(conn, plan, chunk_rows=1)
    assert found == [Mismatch((2,), DIFFERS, ("amount",)), Mismatch((3,), MISSING), Mismatch((9,), EXTRA)]
    # the same rows by key (a row only in the ghost comes where the server's order puts it among the original's)
    assert sorted(compare_keys(conn, plan, [(3,), (9,), (2,)]), key=lambda m: m.key) == found
    message = failure_message(plan, found)
    assert "%s.t id=2 differs from %s._t_gho in amount (total in the ghost)" % (db, db) in message
    assert "%s.t id=3 is missing from %s._t_gho" % (db, db) in message


def test_a_row_dropped_by_a_new_unique_key_names_the_collision(conn: Any, servers: Any, db: str) -> None:
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, email VARCHAR(50), name VARCHAR(10)) "
                        "CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci" % db,
        "INSERT INTO `%s`.t VALUES (1, 'ann@example.com', 'a'), (2, 'bob@example.com', 'b'), (3, 'ANN@example.com', 'c')" % db)
    plan = ghost_of(conn, servers, db, "ADD UNIQUE KEY uniq_email (email)")
    found = compare_ranges(conn, plan)
    assert [(m.key, m.kind, m.columns) for m in found] == [((3,), MISSING, ("email",))]
    assert found[0].detail == ("it collides on unique key `uniq_email` (email='ANN@example.com') of the new schema with the "
                               "ghost's row id=1")
    assert compare_keys(conn, plan, [(3,)]) == found
    assert "uniq_email" in failure_message(plan, found)


def test_compare_keys_under_the_cut_over_lock_reads_the_ghost_on_another_session(conn: Any, servers: Any, db: str) -> None:
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, v INT)" % db, "INSERT INTO `%s`.t VALUES (1, 1), (2, 2)" % db,
        "CREATE TABLE `%s`._t_del LIKE `%s`.t" % (db, db))
    plan = ghost_of(conn, servers, db, "MODIFY v BIGINT")
    sql(servers.source, "UPDATE `%s`._t_gho SET v = 20 WHERE id = 2" % db)
    with root_session(servers.source) as locker:
        execute(locker, "LOCK TABLES `%s`.t WRITE, `%s`._t_del WRITE" % (db, db))
        assert compare_keys(locker, plan, [(1,), (2,)], ghost_conn=conn) == [Mismatch((2,), DIFFERS, ("v",))]
        with pytest.raises(Exception, match="was not locked with LOCK TABLES"):
            compare_keys(locker, plan, [(1,), (2,)])


def test_a_text_key_is_matched_by_the_server_in_its_collation(conn: Any, servers: Any, db: str) -> None:
    """A composite key with text in a case-insensitive PAD SPACE collation: the original's 'B ' and the ghost's 'b' are one
    row to the server, found by either value, and two values to the comparison, which reads them exactly."""
    sql(servers.source, "CREATE TABLE `%s`.t (tenant INT NOT NULL, code VARCHAR(10) COLLATE utf8mb4_general_ci NOT NULL, id INT, "
                        "PRIMARY KEY (tenant, code)) CHARACTER SET utf8mb4" % db,
        "INSERT INTO `%s`.t VALUES (1, 'a', 1), (1, 'b', 2), (2, 'a', 3)" % db)
    plan = ghost_of(conn, servers, db, "MODIFY id BIGINT")
    assert plan.key == ("tenant", "code") and compare_ranges(conn, plan, chunk_rows=1) == []
    sql(servers.source, "UPDATE `%s`.t SET code = 'B ' WHERE tenant = 1 AND code = 'b'" % db)
    found = compare_ranges(conn, plan, chunk_rows=1)
    assert sorted((m.key, m.kind) for m in found) == [((1, "B "), MISSING), ((1, "b"), EXTRA)]
    assert sorted((m.key, m.kind) for m in compare_keys(conn, plan, [(1, "B")])) == [((1, "B "), MISSING), ((1, "b"), EXTRA)]
    # written meanwhile, at a key the server equals to both: not a difference to stop at
    assert not_written(conn, plan, found, [(1, "B")]) == [] and not_written(conn, plan, found, [(2, "a")]) == found
    assert "%s.t (tenant, code)=(1, 'B ') is missing" % db in failure_message(plan, found)
    # the ghost has the row at (1, 'b') to the server: nothing to put back; a row it lacks is named as the original holds it
    sql(servers.source, "DELETE FROM `%s`._t_gho WHERE tenant = 2" % db)
    assert missing_among(conn, conn, plan, [(1, "b"), (1, "B "), (2, "A")]) == [(2, "a")]
