"""The change's preflight on a real server: each check that the server decides, its error and its ok case."""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Optional

import pytest
from integration_support import root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import parse_alter_config
from ansible_collections.dbferry.mysql.plugins.module_utils.osc import checks
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.checks import check_alter, refuse_on_errors
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.cutover import SENTRY_COMMENT
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.report import ERROR, OK, WARNING
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import (
    ServerSpec, close_quietly, connect, execute, fetch_all,
)


@pytest.fixture
def orders(servers: Any, db: str) -> str:
    sql(servers.source, "CREATE TABLE `%s`.orders (id INT PRIMARY KEY, amount DECIMAL(10,2), note VARCHAR(20)) ENGINE=InnoDB" % db,
        "INSERT INTO `%s`.orders VALUES (1, 1.50, 'a'), (2, 2.50, 'b')" % db)
    return "orders"


@pytest.fixture
def conn(servers: Any) -> Iterator[Any]:
    with root_session(servers.source) as session:
        yield session


def run(conn: Any, servers: Any, db: str, alter: str = "ADD COLUMN extra INT", table: str = "orders",
        server: Optional[dict] = None, **options: Any) -> dict[str, list]:
    """check_alter's findings by name; ``alter`` goes in as it is (the option parser would strip or refuse some of it)."""
    spec = servers.source.spec("root")
    login = server or {"user": spec.user, "password": spec.password, "unix_socket": spec.unix_socket}
    config = parse_alter_config(dict({"server": login, "database": db, "table": table, "alter": "FORCE"}, **options))
    found: dict[str, list] = {}
    for finding in check_alter(conn, dataclasses.replace(config, alter=alter)).findings:
        found.setdefault(finding.name, []).append(finding)
    return found


def statuses(found: dict[str, list], name: str) -> list[str]:
    return [f.status for f in found[name]]


def tables(conn: Any, db: str) -> list[str]:
    return [r[0] for r in fetch_all(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s ORDER BY 1", (db,))]


def test_a_clean_change_passes_and_leaves_only_the_table(conn: Any, servers: Any, db: str, orders: str) -> None:
    found = run(conn, servers, db, "MODIFY amount DECIMAL(14,2)")
    assert {f.status for fs in found.values() for f in fs} == {OK}, found
    for name in ("alter_input", "log_bin", "binlog_format", "binlog_row_image", "privileges", "table", "primary_key", "foreign_keys",
                 "triggers", "free_space", "ghost_table", "old_table", "alter_applies", "column_mapping", "new_engine",
                 "native_algorithm"):
        assert name in found
    assert "MiB free" in found["free_space"][0].message  # the sandbox's data directory is on this host
    assert tables(conn, db) == ["orders"]
    refuse_on_errors([f for fs in found.values() for f in fs])


def test_too_little_free_space_is_a_warning(conn: Any, servers: Any, db: str, orders: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "_free_bytes", lambda datadir, spec: 1024)
    found = run(conn, servers, db)
    assert statuses(found, "free_space") == [WARNING] and "MiB free" in found["free_space"][0].message
    monkeypatch.setattr(checks, "_free_bytes", lambda datadir, spec: None)
    found = run(conn, servers, db)
    assert statuses(found, "free_space") == [OK] and "not readable from here" in found["free_space"][0].message


def test_binlog_row_image_minimal_is_an_error(conn: Any, servers: Any, db: str, orders: str) -> None:
    sql(servers.source, "SET GLOBAL binlog_row_image = 'MINIMAL'")
    try:
        found = run(conn, servers, db)
    finally:
        sql(servers.source, "SET GLOBAL binlog_row_image = 'FULL'")
    assert statuses(found, "binlog_row_image") == [ERROR]
    assert "MINIMAL" in found["binlog_row_image"][0].message


def test_missing_privileges_are_named_with_the_grant(conn: Any, servers: Any, db: str, orders: str, make_user: Any) -> None:
    options = make_user(servers.source, "osc_reader", ["SELECT ON `%s`.*" % db])
    reader = connect(ServerSpec(config_file=None, **options))
    try:
        found = run(reader, servers, db, server=dict(options, config_file=None))
    finally:
        reader.close()
    lacking = {f.message for f in found["privileges"] if f.status == ERROR}
    assert any("REPLICATION SLAVE" in m for m in lacking), lacking
    on_db = next(f for f in found["privileges"] if "`%s`.*" % db in f.message)
    assert "ALTER" in on_db.message and "LOCK TABLES" in on_db.message and "INSERT" in on_db.message
    assert on_db.fix.startswith("GRANT ")
    assert statuses(found, "alter_applies") == [ERROR] and "CREATE command denied" in found["alter_applies"][0].message
    with pytest.raises(DbferryError) as raised:
        refuse_on_errors([f for fs in found.values() for f in fs])
    assert raised.value.fix


def test_a_child_in_another_database_needs_alter_and_lock_tables_there(servers: Any, db: str, orders: str, make_user: Any) -> None:
    """The cut-over locks and re-points the children of the table wherever they are: the login needs that there too."""
    other = db + "_kids"
    sql(servers.source, "CREATE DATABASE `%s`" % other,
        "CREATE TABLE `%s`.lines (id INT PRIMARY KEY, oid INT, KEY (oid), CONSTRAINT fk_lines FOREIGN KEY (oid) REFERENCES `%s`.orders (id)) "
        "ENGINE=InnoDB" % (other, db))
    try:
        options = make_user(servers.source, "osc_kids", ["ALL ON `%s`.*" % db, "ALL ON `_dbferry`.*", "SELECT ON `%s`.*" % other])
        login = connect(ServerSpec(config_file=None, **options))
        try:
            found = run(login, servers, db, server=dict(options, config_file=None))
        finally:
            login.close()
        on_other = [f for f in found["privileges"] if "`%s`.*" % other in f.message]
        assert len(on_other) == 1 and on_other[0].status == ERROR
        assert "ALTER" in on_other[0].message and "LOCK TABLES" in on_other[0].message and "SELECT" not in on_other[0].message
        assert on_other[0].fix.startswith("GRANT ")
    finally:
        sql(servers.source, "DROP DATABASE `%s`" % other)


def test_missing_table_view_and_myisam_are_errors(conn: Any, servers: Any, db: str, orders: str) -> None:
    sql(servers.source, "CREATE TABLE `%s`.flat (id INT PRIMARY KEY) ENGINE=MyISAM" % db,
        "CREATE VIEW `%s`.recent AS SELECT id FROM `%s`.orders" % (db, db))
    for table, words in (("nothing", "does not exist"), ("flat", "MyISAM"), ("recent", "view")):
        found = run(conn, servers, db, table=table)
        assert statuses(found, "table") == [ERROR] and words in found["table"][0].message
        assert "alter_applies" not in found
    assert statuses(run(conn, servers, db), "table") == [OK]


@pytest.mark.parametrize("definition, status, words", [
    ("id INT, v INT", ERROR, "no primary key and no unique key"),
    ("id INT, v INT, UNIQUE KEY u (id)", ERROR, "a column of it may be NULL"),
    ("id FLOAT PRIMARY KEY, v INT", ERROR, "FLOAT"),
    ("id INT, v INT, PRIMARY KEY (id, v)", OK, "(`id` int(11), `v` int(11))"),
    ("id VARCHAR(10) PRIMARY KEY, v INT", OK, "(`id` varchar(10))"),
    ("id BINARY(16) NOT NULL, v INT, UNIQUE KEY u (id)", OK, "(`id` binary(16)) (a unique key on NOT NULL columns)"),
])
def test_any_usable_key_is_taken_and_a_table_without_one_refused(conn: Any, servers: Any, db: str, definition: str, status: str,
                                                                 words: str) -> None:
    sql(servers.source, "CREATE TABLE `%s`.k (%s) ENGINE=InnoDB" % (db, definition))
    found = run(conn, servers, db, table="k")
    assert statuses(found, "primary_key") == [status] and words in found["primary_key"][0].message, found["primary_key"][0].message
    if status == ERROR:
        assert "a primary key, or a UNIQUE key on NOT NULL columns" in found["primary_key"][0].fix
    else:
        assert statuses(found, "column_mapping") == [OK]


def test_the_column_mapping_must_keep_the_key_and_name_renames(conn: Any, servers: Any, db: str, orders: str) -> None:
    found = run(conn, servers, db, "DROP PRIMARY KEY, ADD PRIMARY KEY (id, note)")
    assert statuses(found, "column_mapping") == [ERROR] and "its primary key (`id`): the new schema has no unique key on (`id`) alone" \
        in found["column_mapping"][0].message and "keep one of the table's keys" in found["column_mapping"][0].fix
    found = run(conn, servers, db, "MODIFY id VARCHAR(10)")
    assert statuses(found, "column_mapping") == [ERROR] and "varchar" in found["column_mapping"][0].message
    assert statuses(run(conn, servers, db, "MODIFY id BIGINT"), "column_mapping") == [OK]
    # gh-ost's shared unique key: the new schema keeps the key as a unique key of its own
    shared = run(conn, servers, db, "DROP PRIMARY KEY, ADD UNIQUE KEY id_u (id)")
    assert statuses(shared, "column_mapping") == [OK] and "keeps as (`id` int(11))" in shared["column_mapping"][0].message
    renamed = run(conn, servers, db, "RENAME COLUMN id TO order_id", rename_columns={"id": "order_id"})
    assert statuses(renamed, "column_mapping") == [OK] and "renames id -> order_id" in renamed["column_mapping"][0].message
    assert "keeps as (`order_id` int(11))" in renamed["column_mapping"][0].message
    undeclared = run(conn, servers, db, "RENAME COLUMN note TO remark")
    assert statuses(undeclared, "column_mapping") == [ERROR] and "rename_columns" in undeclared["column_mapping"][0].fix


def test_a_new_engine_without_transactions_is_an_error(conn: Any, servers: Any, db: str, orders: str) -> None:
    found = run(conn, servers, db, "ENGINE=MyISAM")
    assert statuses(found, "new_engine") == [ERROR] and "MyISAM" in found["new_engine"][0].message
    assert statuses(run(conn, servers, db, "ENGINE=InnoDB"), "new_engine") == [OK]


def test_foreign_keys_from_and_to_the_table_are_carried_over_and_reported(conn: Any, servers: Any, db: str, orders: str) -> None:
    sql(servers.source, "CREATE TABLE `%s`.lines (id INT PRIMARY KEY, order_id INT, "
                        "CONSTRAINT line_order FOREIGN KEY (order_id) REFERENCES `%s`.orders (id)) ENGINE=InnoDB" % (db, db))
    as_parent = run(conn, servers, db)
    assert statuses(as_parent, "foreign_keys") == [OK]
    message = as_parent["foreign_keys"][0].message
    assert "`line_order` -> `_line_order`" in message and "%s.lines" % db in message and "metadata only" in message
    as_child = run(conn, servers, db, table="lines")
    assert statuses(as_child, "foreign_keys") == [OK] and "`_line_order`" in as_child["foreign_keys"][0].message
    # the name the change would give the constraint is taken in the schema
    sql(servers.source, "CREATE TABLE `%s`.other (id INT PRIMARY KEY, order_id INT, "
                        "CONSTRAINT _line_order FOREIGN KEY (order_id) REFERENCES `%s`.orders (id)) ENGINE=InnoDB" % (db, db))
    taken = run(conn, servers, db, table="lines")
    assert statuses(taken, "foreign_keys") == [ERROR] and "taken" in taken["foreign_keys"][0].message
    sql(servers.source, "DROP TABLE `%s`.other" % db, "DROP TABLE `%s`.lines" % db)
    assert statuses(run(conn, servers, db), "foreign_keys") == [OK]
    sql(servers.source, "CREATE TABLE `%s`.customers (id INT PRIMARY KEY) ENGINE=InnoDB" % db)
    adding = run(conn, servers, db, "ADD COLUMN customer_id INT, ADD FOREIGN KEY (customer_id) REFERENCES customers (id)")
    assert statuses(adding, "foreign_keys") == [OK, ERROR]
    assert tables(conn, db) == ["customers", "orders"]


@pytest.mark.parametrize("rule", ["ON DELETE CASCADE", "ON UPDATE SET NULL"])
def test_a_cascading_foreign_key_of_the_changed_table_is_refused_with_the_fix(
        conn: Any, servers: Any, db: str, orders: str, rule: str) -> None:
    sql(servers.source, "CREATE TABLE `%s`.lines (id INT PRIMARY KEY, order_id INT, CONSTRAINT line_order FOREIGN KEY (order_id) "
                        "REFERENCES `%s`.orders (id) %s) ENGINE=InnoDB" % (db, db, rule))
    as_child = run(conn, servers, db, table="lines")
    assert statuses(as_child, "foreign_keys") == [ERROR]
    assert rule in as_child["foreign_keys"][0].message and "DROP FOREIGN KEY `line_order`" in as_child["foreign_keys"][0].fix
    assert statuses(run(conn, servers, db), "foreign_keys") == [OK]  # the parent's change: InnoDB cascades into the real child


def test_a_table_that_references_itself_is_refused(conn: Any, servers: Any, db: str) -> None:
    sql(servers.source, "CREATE TABLE `%s`.tree (id INT PRIMARY KEY, up INT, CONSTRAINT up FOREIGN KEY (up) REFERENCES `%s`.tree (id)) "
                        "ENGINE=InnoDB" % (db, db))
    found = run(conn, servers, db, table="tree")
    assert ERROR in statuses(found, "foreign_keys") and "references itself" in found["foreign_keys"][0].message


def test_a_trigger_on_the_table_is_an_error(conn: Any, servers: Any, db: str, orders: str) -> None:
    sql(servers.source, "CREATE TRIGGER `%s`.stamp BEFORE INSERT ON `%s`.orders FOR EACH ROW SET NEW.note = 'x'" % (db, db))
    found = run(conn, servers, db)
    assert statuses(found, "triggers") == [ERROR] and "`stamp`" in found["triggers"][0].message


def test_an_alter_the_server_refuses_is_an_error_with_its_message(conn: Any, servers: Any, db: str, orders: str) -> None:
    found = run(conn, servers, db, "ADD COLUMN note INT")
    assert statuses(found, "alter_applies") == [ERROR]
    assert "Duplicate column name 'note'" in found["alter_applies"][0].message
    assert tables(conn, db) == ["orders"]
    assert statuses(run(conn, servers, db, "MODIFY note VARCHAR(10) NOT NULL"), "alter_applies") == [OK]


def test_bad_input_is_refused_before_anything_is_created(conn: Any, servers: Any, db: str, orders: str) -> None:
    sql(servers.source, "CREATE TABLE `%s`.other (id INT PRIMARY KEY)" % db)
    for alter in ("ADD COLUMN x INT; DROP TABLE other", "RENAME TO renamed", "ALTER TABLE other ADD x INT", "  "):
        found = run(conn, servers, db, alter)
        assert statuses(found, "alter_input") == [ERROR], alter
        assert "alter_applies" not in found and "native_algorithm" not in found
    assert tables(conn, db) == ["orders", "other"]


def _preflight(conn: Any, servers: Any, db: str, alter: str) -> Any:
    spec = servers.source.spec("root")
    return check_alter(conn, parse_alter_config({"server": {"user": spec.user, "password": spec.password, "unix_socket": spec.unix_socket},
                                                 "database": db, "table": "orders", "alter": alter}))


def test_native_algorithms_are_detected_on_an_empty_copy(conn: Any, servers: Any, db: str, orders: str) -> None:
    assert _preflight(conn, servers, db, "ADD COLUMN extra INT").algorithm == "INSTANT"
    assert _preflight(conn, servers, db, "FORCE").algorithm == "INPLACE"
    copied = _preflight(conn, servers, db, "MODIFY amount DECIMAL(14,2)")
    assert copied.algorithm is None and "`amount` decimal(14,2)" in copied.new_create and "_orders_chk" not in copied.new_create
    assert copied.plan is not None and "amount" in copied.plan.mapping
    assert tables(conn, db) == ["orders"]
    found = run(conn, servers, db, "ADD COLUMN extra INT")
    assert statuses(found, "native_algorithm") == [WARNING]
    assert "attempt_instant_ddl: true runs it so" in found["native_algorithm"][0].message
    assert statuses(run(conn, servers, db, "ADD COLUMN extra INT", attempt_instant_ddl=True), "native_algorithm") == [OK]


def test_leftover_ghost_old_and_check_tables(conn: Any, servers: Any, db: str, orders: str) -> None:
    sql(servers.source, "CREATE TABLE `%s`._orders_gho (id INT PRIMARY KEY)" % db, "CREATE TABLE `%s`._orders_del (id INT PRIMARY KEY)" % db)
    found = run(conn, servers, db)
    assert statuses(found, "ghost_table") == [ERROR] and "initially_drop_ghost_table" in found["ghost_table"][0].fix
    assert statuses(found, "old_table") == [ERROR] and "initially_drop_old_table" in found["old_table"][0].fix
    allowed = run(conn, servers, db, initially_drop_ghost_table=True, initially_drop_old_table=True)
    assert statuses(allowed, "ghost_table") == [OK] and statuses(allowed, "old_table") == [OK]
    sql(servers.source, "CREATE TABLE `%s`._orders_chk (id INT PRIMARY KEY)" % db)
    blocked = run(conn, servers, db, initially_drop_ghost_table=True, initially_drop_old_table=True)
    assert statuses(blocked, "alter_applies") == [ERROR] and "_orders_chk" in blocked["alter_applies"][0].message
    assert "_orders_chk" in tables(conn, db)  # someone's table is never dropped


def test_verify_off_refuses_a_unique_key_the_original_does_not_enforce(conn: Any, servers: Any, db: str, orders: str) -> None:
    """Finding 4: with verify off, rows that collide on a new unique key would be dropped unseen; the key is named."""
    found = run(conn, servers, db, "ADD UNIQUE KEY note_u (note)", verify=False)
    assert statuses(found, "unique_keys") == [ERROR]
    assert found["unique_keys"][0].object == "%s.orders (note_u)" % db and "`note_u` (`note`)" in found["unique_keys"][0].message
    assert found["unique_keys"][0].fix == "keep verify on (the default): a row that violates it would be lost without a word."
    with pytest.raises(DbferryError) as raised:
        refuse_on_errors([f for fs in found.values() for f in fs])
    assert raised.value.fix == checks.VERIFY_UNIQUE_FIX and "note_u" in raised.value.obj
    assert "unique_keys" not in run(conn, servers, db, "ADD UNIQUE KEY note_u (note)")   # verify on (the default) is the arbiter
    for alter in ("ADD COLUMN extra INT", "ADD UNIQUE KEY (id, note)", "ADD INDEX (note)"):
        assert statuses(run(conn, servers, db, alter, verify=False), "unique_keys") == [OK], alter
    assert statuses(run(conn, servers, db, "ADD COLUMN code INT NOT NULL DEFAULT 0, ADD UNIQUE KEY (code)", verify=False),
                    "unique_keys") == [ERROR]
    assert tables(conn, db) == ["orders"]


def test_verify_off_refuses_a_narrower_unique_key_and_keeps_the_original_s(conn: Any, servers: Any, db: str) -> None:
    """A unique key the original has, kept (renamed columns too), refuses nothing; a shorter prefix, or a collation that
    makes distinct values equal, refuses rows the original holds."""
    sql(servers.source, "CREATE TABLE `%s`.users (id INT PRIMARY KEY, email VARCHAR(40) COLLATE utf8mb4_bin, code VARCHAR(10), "
                        "UNIQUE KEY email_u (email), UNIQUE KEY code_p (code(4)), "
                        "lower_email VARCHAR(40) AS (LOWER(email)) VIRTUAL, UNIQUE KEY lower_u (lower_email)) ENGINE=InnoDB" % db)
    for alter, options in (("ADD COLUMN extra INT", {}),
                           ("RENAME COLUMN code TO tag", {"rename_columns": {"code": "tag"}}),
                           ("DROP INDEX code_p, ADD UNIQUE KEY code_p (code(8))", {}),
                           ("DROP INDEX email_u", {})):
        assert statuses(run(conn, servers, db, alter, table="users", verify=False, **options), "unique_keys") == [OK], alter
    for alter, options, key in (("DROP INDEX code_p, ADD UNIQUE KEY code_p (code(2))", {}, "code_p"),
                                ("DROP INDEX email_u, ADD UNIQUE KEY email_u (email(10))", {}, "email_u"),
                                ("MODIFY email VARCHAR(40) COLLATE utf8mb4_general_ci", {}, "email_u"),
                                # the generated column now reads LOWER(`mail`): definitions are compared as text, so it changed
                                ("RENAME COLUMN email TO mail", {"rename_columns": {"email": "mail"}}, "lower_u")):
        found = run(conn, servers, db, alter, table="users", verify=False, **options)
        assert statuses(found, "unique_keys") == [ERROR], alter
        assert found["unique_keys"][0].object == "%s.users (%s)" % (db, key)


def test_an_empty_marked_sentry_under_the_old_name_is_accepted(conn: Any, servers: Any, db: str, orders: str) -> None:
    """A cut-over killed under its lock leaves its sentry, which the next cut-over drops: preflight accepts it, names it,
    and still refuses a table with rows under that name, or a sentry a running cut-over holds."""
    sql(servers.source, "CREATE TABLE `%s`._orders_del (id INT NOT NULL PRIMARY KEY) COMMENT='%s'" % (db, SENTRY_COMMENT))
    found = run(conn, servers, db)
    assert statuses(found, "old_table") == [OK] and "sentry of an interrupted cut-over" in found["old_table"][0].message
    assert found["old_table"][0].object == "%s._orders_del" % db
    holder = connect(servers.source.spec("root"))
    try:
        execute(holder, "LOCK TABLES `%s`._orders_del WRITE" % db)
        locked = run(conn, servers, db)
        assert statuses(locked, "old_table") == [ERROR] and "cut-over of %s.orders is running" % db in locked["old_table"][0].message
    finally:
        close_quietly(holder)
    sql(servers.source, "INSERT INTO `%s`._orders_del VALUES (1)" % db)
    found = run(conn, servers, db)
    assert statuses(found, "old_table") == [ERROR] and "initially_drop_old_table" in found["old_table"][0].fix
