"""Moves of tables with foreign keys (engine/foreign_keys.py), on real sandboxes.

Parent and child move together under an application's writes and are cut
over by the modules, with schemas renamed; the target ends equal to the
source, with every constraint on the renamed tables and no orphan. The
rules of a constraint are read whatever its name (cascades: test_cascades.py).
"""

from __future__ import annotations

import json
import random
import subprocess

import pymysql
import pytest
from ferry_support import FerryThread, assert_same, move_config, wait_caught_up
from integration_support import ROOT, root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.cutover import cut_over
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.orphans import refuse_orphans
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.cascades import read_followed
from ansible_collections.dbferry.mysql.plugins.module_utils.dev.load import Load, ServerSession, Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import execute, fetch_all, fetch_value


class FamilyMix:
    """One app connection's writes to parents ``k`` with ``k % connections == index`` and their children: new parents
    with children, new children, updates, children moved to another parent, deleted children, deleted parents with
    their children; connection 0 also hands out parent ids it deletes again. A connection never touches another's
    families, and every statement keeps the constraints whatever the tables hold (a child is inserted or re-parented
    only onto a parent the statement finds), so no write of a correct application fails."""

    def __init__(self, db: str, seed: int, index: int, connections: int, parents: int) -> None:
        self.rng = random.Random(seed + index)
        self.parent, self.child = quote_table(db, "parent"), quote_table(db, "child")
        self.keys = [k for k in range(1, parents * 2) if k % connections == index]
        self.index, self.written = index, 0

    def next_transaction(self) -> Transaction:
        rng, parent, child = self.rng, self.parent, self.child
        self.written += 1
        if self.index == 0 and self.written % 20 == 0:
            # An id handed out and deleted again, now and then: the target's counter stays behind until the cutover raises it.
            gone = 100000 + self.written
            return Transaction(("INSERT INTO %s (id, name) VALUES (%d, 'gone')" % (parent, gone), "DELETE FROM %s WHERE id = %d" % (
                parent, gone)), rows=2)
        key, other = rng.choice(self.keys), rng.choice(self.keys)
        add_child = "INSERT INTO %s (parent_id, kind_id, v) SELECT id, %d, %d FROM %s WHERE id = %d" % (
            child, rng.randint(1, 3), rng.randint(0, 99), parent, key)
        op = rng.random()
        if op < 0.2:
            return Transaction(("INSERT IGNORE INTO %s (id, name) VALUES (%d, 'new')" % (parent, key), add_child, add_child), rows=3)
        if op < 0.4:
            return Transaction((add_child,))
        if op < 0.55:
            return Transaction(("UPDATE %s SET v = v + 1, kind_id = NULLIF(kind_id %% 3 + 1, 3) WHERE parent_id = %d" % (child, key),))
        if op < 0.65:
            return Transaction(("UPDATE %s SET name = CONCAT('upd', LENGTH(name)) WHERE id = %d" % (parent, key),))
        if op < 0.75:
            return Transaction(("UPDATE %s SET parent_id = %d WHERE parent_id = %d AND EXISTS (SELECT 1 FROM %s WHERE id = %d)" % (
                child, other, key, parent, other),))
        if op < 0.9:
            return Transaction(("DELETE FROM %s WHERE parent_id = %d ORDER BY id LIMIT 1" % (child, key),))
        return Transaction(("DELETE FROM %s WHERE parent_id = %d" % (child, key), "DELETE FROM %s WHERE id = %d" % (parent, key)), rows=3)


def _make_families(servers, db: str, ref: str, parents: int) -> None:
    """``ref``.kinds, a lookup table in another schema; ``db``.parent and ``db``.child, two children a parent."""
    sql(servers.source,
        "CREATE DATABASE `%s`" % ref,
        "CREATE TABLE `%s`.kinds (id INT PRIMARY KEY, label VARCHAR(20) NOT NULL) ENGINE=InnoDB" % ref,
        "INSERT INTO `%s`.kinds VALUES (1, 'a'), (2, 'b'), (3, 'c')" % ref,
        "CREATE TABLE `%s`.parent (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL) ENGINE=InnoDB" % db,
        "CREATE TABLE `%s`.child (id INT AUTO_INCREMENT PRIMARY KEY, parent_id INT NOT NULL, kind_id INT NULL, v INT NOT NULL, "
        "CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parent (id), "
        "CONSTRAINT fk_kind FOREIGN KEY (kind_id) REFERENCES `%s`.kinds (id)) ENGINE=InnoDB" % (db, ref),
        "INSERT INTO `%s`.parent (id, name) VALUES %s" % (db, ", ".join("(%d, 'p%d')" % (k, k) for k in range(1, parents + 1))),
        "INSERT INTO `%s`.child (parent_id, kind_id, v) VALUES %s" % (
            db, ", ".join("(%d, %d, 0)" % (k, k % 3 + 1) for k in range(1, parents + 1) for _i in range(2))))


def _next_id(server, db: str) -> int:
    with root_session(server) as conn:
        return fetch_value(conn, "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'parent'", (db,))


def _constraints(server, schema: str) -> list[tuple]:
    with root_session(server) as conn:
        return fetch_all(conn, "SELECT TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME FROM "
                               "information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s AND REFERENCED_TABLE_NAME IS NOT NULL "
                               "ORDER BY 1, 2", (schema,))


def _orphans(server, db: str, ref: str) -> int:
    with root_session(server) as conn:
        return fetch_value(conn, "SELECT COUNT(*) FROM %s c LEFT JOIN %s p ON p.id = c.parent_id LEFT JOIN %s k ON k.id = c.kind_id "
                                 "WHERE p.id IS NULL OR (c.kind_id IS NOT NULL AND k.id IS NULL)" % (
                                     quote_table(db, "child"), quote_table(db, "parent"), quote_table(ref, "kinds")))


def test_parent_and_child_move_under_writes_and_cut_over_with_every_constraint(ansible, servers, db, tmp_path):
    """A move of parents and children (and a lookup table in another schema) while the app inserts, re-parents and
    deletes children and deletes parents: rows reach the target in key order, not parents first, with
    foreign_key_checks=0; after the cutover, the target equals the source, its constraints name the renamed tables,
    no child is an orphan, and the constraints hold for the application's next writes."""
    ref, target_db = db + "_ref", db + "_v2"
    target_ref = ref + "_v2"
    _make_families(servers, db, ref, parents=150)
    spec = servers.source.spec("app")
    load = Load(lambda _index: ServerSession(spec), [FamilyMix(db, 5, i, 2, 150) for i in range(2)], per_second=100)
    result_file = tmp_path / "result.json"
    variables = {
        "dbferry_name": "fk-" + db[:40].replace("_", "-"),
        "dbferry_state_dir": str(tmp_path / "state"),
        "dbferry_source": servers.source.connection_options("ferry_source"),
        "dbferry_target": servers.target.connection_options("ferry_target"),
        "dbferry_source_admin": {"unix_socket": servers.source.socket, "user": "root", "password": servers.source.passwords["root"]},
        "dbferry_databases": {"include": [db, ref]},
        "dbferry_rename": {"databases": {db: target_db, ref: target_ref}},
        "dbferry_copy_batch_rows": 20,
        "dbferry_result_file": str(result_file),
    }
    try:
        try:
            proc = subprocess.run([str(ansible.bin("ansible-playbook")), str(ROOT / "tests/integration/playbooks/move_sequence.yml"),
                                   "-e", "@" + str(ansible.write_vars(variables))], env=ansible.env(), capture_output=True, text=True,
                                  timeout=300, check=False)
        finally:
            counts = load.finish()  # its writes were refused since read-only; it retried until now
            sql(servers.source, "SET GLOBAL read_only = OFF")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        assert counts.written > 50
        results = json.loads(result_file.read_text())
        assert results["cutover"]["changed"] is True and not results["verify"].get("failed")
        assert {r["table"] for r in results["cutover"]["auto_increment_raised"]} >= {"%s.parent" % db}
        assert assert_same(servers, db, target_db) > 300 and assert_same(servers, ref, target_ref) == 3
        assert _constraints(servers.target, target_db) == [("child", "fk_kind", target_ref, "kinds"), ("child", "fk_parent", target_db, "parent")]
        assert _orphans(servers.source, db, ref) == _orphans(servers.target, target_db, target_ref) == 0
        with root_session(servers.target) as conn:  # the application, on the target now
            with pytest.raises(pymysql.err.IntegrityError, match="foreign key constraint fails"):
                execute(conn, "INSERT INTO %s (parent_id, v) VALUES (-1, 0)" % quote_table(target_db, "child"))
            execute(conn, "INSERT INTO %s (name) VALUES ('next')" % quote_table(target_db, "parent"))
            assert fetch_value(conn, "SELECT LAST_INSERT_ID()") == _next_id(servers.source, db) > 100000
    finally:
        for server in (servers.source, servers.target):
            sql(server, "SET SESSION foreign_key_checks = 0", *("DROP DATABASE IF EXISTS `%s`" % name for name in (db, ref, target_db, target_ref)))


def test_a_cascade_on_a_constraint_named_with_a_newline_is_found(servers, db):
    # SHOW CREATE TABLE prints the name raw, over two lines: rules() finds no line starting with the whole prefix.
    sql(servers.source, "CREATE TABLE `%s`.parent (id INT PRIMARY KEY) ENGINE=InnoDB" % db,
        "CREATE TABLE `%s`.child (id INT PRIMARY KEY, p INT, CONSTRAINT `fk\nnl` FOREIGN KEY (p) REFERENCES parent (id) "
        "ON DELETE CASCADE) ENGINE=InnoDB" % db)
    with root_session(servers.source) as conn:
        assert [(key.name, key.on_delete) for key in read_followed(conn, [(db, "parent"), (db, "child")])] == [("fk\nnl", "CASCADE")]


def test_a_cascade_is_found_when_the_server_does_not_quote_show_create(servers, db):
    # A global sql_quote_show_create=0 (the session's default) prints `CONSTRAINT fk_p FOREIGN KEY (p) ...`, unquoted.
    sql(servers.source, "CREATE TABLE `%s`.parent (id INT PRIMARY KEY) ENGINE=InnoDB" % db,
        "CREATE TABLE `%s`.child (id INT PRIMARY KEY, p INT, CONSTRAINT fk_p FOREIGN KEY (p) REFERENCES parent (id) "
        "ON DELETE CASCADE) ENGINE=InnoDB" % db)
    sql(servers.source, "SET GLOBAL sql_quote_show_create = 0")
    try:
        with root_session(servers.source) as conn:
            assert [(key.name, key.on_delete) for key in read_followed(conn, [(db, "parent"), (db, "child")])] == [("fk_p", "CASCADE")]
    finally:
        sql(servers.source, "SET GLOBAL sql_quote_show_create = 1")


def test_two_constraints_of_one_name_in_one_target_schema_stop_the_move_before_it_writes(servers, db, tmp_path):
    """rename.tables puts the children of two schemas, each with a constraint fk_parent, into one target schema: InnoDB's
    names are unique per database, and prepare would fail with errno 121 on every resume; refused before anything is written."""
    other = db + "_o"
    sql(servers.source, "CREATE DATABASE `%s`" % other)
    for schema in (db, other):
        sql(servers.source, "CREATE TABLE `%s`.parent (id INT PRIMARY KEY) ENGINE=InnoDB" % schema,
            "CREATE TABLE `%s`.child (id INT PRIMARY KEY, p INT, CONSTRAINT fk_parent FOREIGN KEY (p) REFERENCES parent (id)) "
            "ENGINE=InnoDB" % schema)
    try:
        ferry = FerryThread(move_config(servers, db, tmp_path / "state", databases={"include": [db, other]},
                                        rename={"tables": {"%s.parent" % other: "%s.parent2" % db, "%s.child" % other: "%s.child2" % db}}))
        ferry.thread.join(60)
        assert isinstance(ferry.error, DbferryError), ferry.error
        assert ferry.error.obj == "%s.child (fk_parent)" % other
        assert "foreign key `fk_parent` of %s.child and a constraint of the same name on %s.child (moved to %s.child)" % (other, db, db) \
            in str(ferry.error) and "errno 121" in str(ferry.error)
        assert "rename the constraint on the source (ALTER TABLE `%s`.`child` DROP FOREIGN KEY `fk_parent`" % other in ferry.error.fix
        with root_session(servers.target) as conn:
            assert not fetch_all(conn, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (db,))
    finally:
        sql(servers.source, "SET SESSION foreign_key_checks = 0", "DROP DATABASE `%s`" % other)


def test_orphans_of_a_parent_outside_the_move_are_counted_on_the_target(servers, db):
    """The cutover's check (cutover/orphans.py) on the target as a move leaves it: child rows written with
    foreign_key_checks=0, the parent (not moved) on the target already, without the parent row the app added meanwhile."""
    other = db + "_p"
    with root_session(servers.target) as conn:
        execute(conn, "CREATE DATABASE `%s`" % db)
        assert refuse_orphans(conn, [(db, "child")]) == []  # no such key: nothing to count
        for statement in (
                "CREATE DATABASE `%s`" % other,
                "CREATE TABLE `%s`.parent (id INT PRIMARY KEY) ENGINE=InnoDB" % other,
                "INSERT INTO `%s`.parent VALUES (1)" % other,
                "CREATE TABLE `%s`.child (id INT PRIMARY KEY, p INT, q INT, CONSTRAINT fk_p FOREIGN KEY (p) REFERENCES `%s`.parent (id)) "
                "ENGINE=InnoDB" % (db, other),
                "SET SESSION foreign_key_checks = 0",
                "INSERT INTO `%s`.child VALUES (1, 1, 0), (2, NULL, 0), (5, 99, 0), (6, 99, 0)" % db):
            execute(conn, statement)
        try:
            with pytest.raises(DbferryError, match="2 row") as raised:
                refuse_orphans(conn, [(db, "child")])
            assert raised.value.obj == "%s.child (fk_p)" % db
            assert "reference no row of the target's %s.parent" % other in str(raised.value)
            assert "copy the missing parent rows to the target's %s.parent" % other in raised.value.fix
            execute(conn, "INSERT INTO `%s`.parent VALUES (99)" % other)
            assert refuse_orphans(conn, [(db, "child")]) == ["fk_p on %s.child" % db]
            # The parent between moved tables is not checked: only keys to tables outside the move.
            assert refuse_orphans(conn, [(db, "child"), (other, "parent")]) == []
            execute(conn, "DROP TABLE `%s`.parent" % other)
            with pytest.raises(DbferryError, match="the target has no table %s.parent" % other):
                refuse_orphans(conn, [(db, "child")])
        finally:
            execute(conn, "DROP DATABASE `%s`" % other)


def test_the_cutover_refuses_a_child_whose_new_parent_stayed_on_the_source(servers, db, tmp_path):
    """Only the child moves, its parent (allowed: on the target already) stays: the app adds a parent and a child on
    the source during the move, the child reaches the target without its parent, and the cutover refuses before it stops
    the move, naming the constraint and the count; the prepare logged the constraint."""
    other = db + "_p"
    for server in (servers.source, servers.target):
        sql(server, "CREATE DATABASE `%s`" % other, "CREATE TABLE `%s`.parent (id INT PRIMARY KEY) ENGINE=InnoDB" % other,
            "INSERT INTO `%s`.parent VALUES (1)" % other)
    sql(servers.source, "CREATE TABLE `%s`.child (id INT PRIMARY KEY, p INT, CONSTRAINT fk_p FOREIGN KEY (p) REFERENCES `%s`.parent (id)) "
                        "ENGINE=InnoDB" % (db, other), "INSERT INTO `%s`.child VALUES (1, 1)" % db)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
    try:
        wait_caught_up(servers, ferry.config.name)
        sql(servers.source, "INSERT INTO `%s`.parent VALUES (99)" % other, "INSERT INTO `%s`.child VALUES (5, 99)" % db,
            "SET GLOBAL read_only = ON")
        wait_caught_up(servers, ferry.config.name)  # a thread, not the agent process the cutover would wait for
        with pytest.raises(DbferryError, match=r"1 row\(s\) of %s.child on the target reference no row" % db) as raised:
            cut_over(ferry.config.source, ferry.config.target, ferry.config.name, ferry.config.state_dir, timeout=60, stop_timeout=10,
                     target_writable=False, check_mode=False)
        assert raised.value.obj == "%s.child (fk_p)" % db
        assert ferry.thread.is_alive()  # still tailing: the source may be made writable again
        assert "foreign_keys_outside" in (tmp_path / "state" / "ferry.log").read_text()
    finally:
        sql(servers.source, "SET GLOBAL read_only = OFF")
        ferry.stop.set()
        ferry.thread.join(60)
        for server in (servers.source, servers.target):
            sql(server, "SET SESSION foreign_key_checks = 0", "DROP DATABASE IF EXISTS `%s`" % other)
