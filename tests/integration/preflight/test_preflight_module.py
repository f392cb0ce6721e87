"""dbferry.mysql.preflight through ansible-playbook against real sandboxes.

Each failure the module must catch is provoked for real, and the test
asserts the exact check, object and the fix it prints.
"""

from __future__ import annotations

import os
import subprocess
import time

from preflight_support import make_shop, module_connections, only_check, run_preflight
from integration_support import ROOT, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.registry import CHECKS


def test_a_clean_move_passes_and_reports_every_check(ansible, servers, db):
    make_shop(servers, db)
    run = run_preflight(ansible, servers, db)
    assert not run.failed, run.result.get("msg")
    assert run.result["changed"] is False
    assert run.result["summary"]["error"] == 0
    # rehearsal_replica is reported only for a rehearsal from a replica (dbferry_source_is_replica).
    assert {c["name"] for c in run.result["checks"]} == set(CHECKS) - {"rehearsal_replica"}
    assert run.result["tables"] == ["%s.audit" % db, "%s.customers" % db, "%s.orders" % db]
    assert "no rows in: %s.audit" % db in only_check(run, "empty_tables", "ok")["message"]
    assert "granted and tried" in only_check(run, "source_privileges", "ok")["message"]
    assert run.result["servers"]["source"].startswith("MariaDB 10.")


def test_check_mode_runs_the_same_checks_and_changes_nothing(ansible, servers, db):
    sql(servers.source, "CREATE TABLE `%s`.t (v INT)" % db)
    run = run_preflight(ansible, servers, db, check_mode=True)
    assert run.failed and run.result["changed"] is False
    only_check(run, "primary_key")


def test_table_without_primary_key(ansible, servers, db):
    make_shop(servers, db)
    sql(servers.source, "CREATE TABLE `%s`.nopk (v INT, w TEXT)" % db)
    run = run_preflight(ansible, servers, db)
    assert run.failed
    check = only_check(run, "primary_key")
    assert check["object"] == "%s.nopk" % db
    assert check["message"] == "table %s.nopk has no key the move can use: it has no primary key and no unique key." % db
    assert "ALTER TABLE `%s`.`nopk` ADD PRIMARY KEY" % db in check["fix"]
    assert "tables.exclude (dbferry_tables.exclude in the roles): ['%s.nopk']" % db in check["fix"]
    assert run.result["msg"].startswith("preflight found 1 problem(s) that stop the move:")
    assert "primary_key [%s.nopk]" % db in run.result["msg"]

    # The fix it names works: excluding the table passes.
    run = run_preflight(ansible, servers, db, tables={"exclude": ["%s.nopk" % db]})
    assert not run.failed, run.result.get("msg")


def test_keys_of_any_exact_type_pass_and_unusable_ones_are_named(ansible, servers, db):
    sql(servers.source,
        "CREATE TABLE `%s`.pair (a INT, b VARCHAR(20), PRIMARY KEY (a, b))" % db,
        "CREATE TABLE `%s`.uuidk (id BINARY(16) PRIMARY KEY)" % db,
        "CREATE TABLE `%s`.byname (code VARCHAR(10) NOT NULL, v INT, UNIQUE KEY u_code (code))" % db)
    run = run_preflight(ansible, servers, db)
    assert not run.failed, run.result.get("msg")
    assert "moved by a unique key on NOT NULL columns: %s.byname by (`code`)" % db in only_check(run, "primary_key", "ok")["message"]
    only_check(run, "primary_key_type", "ok")
    sql(servers.source,
        "CREATE TABLE `%s`.approx (f DOUBLE PRIMARY KEY)" % db,
        "CREATE TABLE `%s`.maybe (code VARCHAR(10) NULL, UNIQUE KEY u_code (code))" % db)
    run = run_preflight(ansible, servers, db)
    keyed = {c["object"]: c for c in run.result["checks"] if c["name"] == "primary_key_type"}
    assert set(keyed) == {"%s.approx" % db, "%s.maybe" % db} and all(c["status"] == "error" for c in keyed.values())
    assert "its primary key (`f`): its column `f` is DOUBLE" in keyed["%s.approx" % db]["message"]
    assert "unique key `u_code` (`code`): a column of it may be NULL" in keyed["%s.maybe" % db]["message"]
    assert "ADD PRIMARY KEY" in keyed["%s.maybe" % db]["fix"] and "tables.exclude" in keyed["%s.maybe" % db]["fix"]


def test_foreign_keys_between_moved_tables_pass_and_one_out_of_the_move_is_an_error_unless_allowed(ansible, servers, db):
    other = db + "_other"
    sql(servers.source,
        "CREATE DATABASE `%s`" % other,
        "CREATE TABLE `%s`.ext (id INT PRIMARY KEY)" % other,
        "CREATE TABLE `%s`.parent (id INT PRIMARY KEY)" % db,
        "CREATE TABLE `%s`.child (id INT PRIMARY KEY, p INT, CONSTRAINT fk_p FOREIGN KEY (p) REFERENCES parent (id))" % db,
        "CREATE TABLE `%s`.lone (id INT PRIMARY KEY, e INT, CONSTRAINT fk_e FOREIGN KEY (e) REFERENCES `%s`.ext (id))" % (db, other))
    try:
        run = run_preflight(ansible, servers, db)
        moved = only_check(run, "foreign_keys", "ok")
        assert moved["message"].startswith("1 foreign key(s) between moved tables are moved")
        check = only_check(run, "foreign_keys")
        assert check["object"] == "%s.lone (fk_e)" % db
        assert "references %s.ext (ON UPDATE RESTRICT, ON DELETE RESTRICT), which the move leaves behind" % other in check["message"]
        assert check["fix"].startswith("add %s.ext to the move, or drop the foreign key for the move (ALTER TABLE `%s`.`lone` DROP FOREIGN "
                                       "KEY `fk_e`)" % (other, db))
        assert run.failed and only_check(run, "foreign_key_cascades", "ok")

        # The parent moved, its child left behind: reported too, and the operator may accept it.
        run = run_preflight(ansible, servers, db, tables={"exclude": ["%s.child" % db, "%s.lone" % db]}, allow=["foreign_keys"])
        assert not run.failed, run.result.get("msg")
        check = only_check(run, "foreign_keys")
        assert check["object"] == "%s.child (fk_p)" % db and check["allowed"] is True
        assert "which is moved while %s.child stays" % db in check["message"]
    finally:
        sql(servers.source, "DROP TABLE `%s`.lone" % db, "DROP DATABASE `%s`" % other)


def test_a_constraint_name_the_target_schema_holds_is_an_error(ansible, servers, db):
    """InnoDB's foreign key names are unique per database: a moved child's fk_p next to the target's own fk_p would fail
    the move's CREATE TABLE (errno 121) on every resume."""
    sql(servers.source, "CREATE TABLE `%s`.parent (id INT PRIMARY KEY)" % db,
        "CREATE TABLE `%s`.child (id INT PRIMARY KEY, p INT, CONSTRAINT fk_p FOREIGN KEY (p) REFERENCES parent (id))" % db)
    sql(servers.target, "CREATE DATABASE `%s`" % db, "CREATE TABLE `%s`.base (id INT PRIMARY KEY)" % db,
        "CREATE TABLE `%s`.own (id INT PRIMARY KEY, b INT, CONSTRAINT fk_p FOREIGN KEY (b) REFERENCES base (id))" % db)
    run = run_preflight(ansible, servers, db, allow=["target_not_empty"])
    check = only_check(run, "foreign_key_names")
    assert check["object"] == "%s.child (fk_p)" % db and run.failed
    assert "a constraint of the same name on the target's %s.own would both be in the target schema `%s`" % (db, db) in check["message"]
    assert check["fix"].startswith("rename the constraint on the source (ALTER TABLE `%s`.`child` DROP FOREIGN KEY `fk_p`" % db)
    sql(servers.target, "DROP DATABASE `%s`" % db)
    assert only_check(run_preflight(ansible, servers, db), "foreign_key_names", "ok")


def test_a_cascade_between_moved_tables_is_followed_one_that_cannot_be_is_an_error_that_cannot_be_allowed(ansible, servers, db):
    sql(servers.source,
        "CREATE TABLE `%s`.parent (id INT PRIMARY KEY)" % db,
        "CREATE TABLE `%s`.child (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES parent (id) ON DELETE CASCADE)" % db)
    run = run_preflight(ansible, servers, db)
    assert not run.failed, run.result.get("msg")
    assert only_check(run, "foreign_key_cascades", "ok")["message"].startswith("1 cascading foreign key(s) between moved tables are followed")

    sql(servers.source, "CREATE TABLE `%s`.node (id INT PRIMARY KEY, up INT, FOREIGN KEY (up) REFERENCES node (id) ON DELETE SET NULL)" % db)
    run = run_preflight(ansible, servers, db, allow=["foreign_keys"])
    check = only_check(run, "foreign_key_cascades")
    assert check["object"] == "%s.node (node_ibfk_1)" % db
    assert "ON DELETE SET NULL changes the rows of %s.node inside InnoDB, unseen by the row-based binlog, and it references its own " \
           "table" % db in check["message"]
    assert "move without the cascade" in check["fix"] and "DROP FOREIGN KEY `node_ibfk_1`" in check["fix"]
    assert check["allowed"] is False and run.failed

    run = run_preflight(ansible, servers, db, allow=["foreign_key_cascades"])
    assert run.failed
    assert "allow" in run.result["msg"] and "foreign_key_cascades" in run.result["msg"]
    assert "checks" not in run.result  # refused by the argument spec, before connecting

    # a unique index on a generated column of the child (read from the catalog for the check): refused too
    sql(servers.source, "DROP TABLE `%s`.node" % db,
        "ALTER TABLE `%s`.child ADD COLUMN g INT AS (p) VIRTUAL, ADD UNIQUE KEY uq_g (g), "
        "ADD CONSTRAINT fk_up FOREIGN KEY (p) REFERENCES parent (id) ON UPDATE CASCADE" % db)
    run = run_preflight(ansible, servers, db)
    check = only_check(run, "foreign_key_cascades")
    assert check["object"] == "%s.child (fk_up)" % db and run.failed
    assert "unique index `uq_g` holds a generated column" in check["message"]


def test_statement_binlog_format_sandbox(ansible, servers, db, tmp_path):
    """A sandbox started by `dbferry sandbox up --option binlog-format=STATEMENT`."""
    base = str(tmp_path / "stmt")
    cli = [str(ROOT / "bin" / "dbferry"), "sandbox"]
    subprocess.run(cli + ["up", "--dir", base, "--name", "stmt", "--option", "binlog-format=STATEMENT"], check=True, capture_output=True)
    try:
        stmt = sandbox.get(base, "stmt")
        sql(stmt, "CREATE DATABASE `%s`" % db, "CREATE TABLE `%s`.t (id INT PRIMARY KEY)" % db)
        run = run_preflight(ansible, servers, db, source=stmt.connection_options("ferry_source"))
        check = only_check(run, "binlog_format")
        assert check["message"] == "binlog_format is STATEMENT; a move needs ROW."
        assert "SET GLOBAL binlog_format = 'ROW'" in check["fix"]
        assert [c["name"] for c in run.result["checks"] if c["status"] == "error"] == ["binlog_format"]
    finally:
        subprocess.run(cli + ["down", "--dir", base], check=True, capture_output=True)
    assert not stmt.is_running()


def test_user_without_replication_grants(ansible, servers, db, make_user):
    make_shop(servers, db)
    reader = make_user(servers.source, "t_reader", ["SELECT ON `%s`.*" % db])
    run = run_preflight(ansible, servers, db, source=reader)
    check = only_check(run, "source_privileges")
    assert check["object"] == "t_reader@127.0.0.1 on source"
    assert check["message"] == "the source user lacks REPLICATION SLAVE, BINLOG MONITOR (global)."
    assert check["fix"] == "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 't_reader'@'127.0.0.1';"
    assert only_check(run, "gtid_position", "ok")  # the position itself is readable by anyone


def test_a_source_user_that_bypasses_read_only_is_warned_of(ansible, servers, db, make_user):
    """The cutover leaves the move's source user's sessions out of privileged_sessions: with READ_ONLY ADMIN, an app
    session under that user would write after the final position unseen."""
    make_shop(servers, db)
    grants = ["REPLICATION SLAVE, BINLOG MONITOR ON *.*", "SELECT ON `%s`.*" % db]
    bypassing = make_user(servers.source, "t_bypass", grants + ["READ_ONLY ADMIN ON *.*"])
    run = run_preflight(ansible, servers, db, source=bypassing)
    assert not run.failed, run.result.get("msg")
    check = only_check(run, "source_bypasses_read_only", "warning")
    assert check["object"] == "t_bypass@127.0.0.1 on source"
    assert "holds READ_ONLY ADMIN" in check["message"] and "cannot be told apart from the agent's" in check["message"]
    assert check["fix"] == "give the move a login of its own without READ_ONLY ADMIN (README: what your servers need)."
    plain = make_user(servers.source, "t_plain", grants)
    assert only_check(run_preflight(ansible, servers, db, source=plain), "source_bypasses_read_only", "ok")


def test_table_level_select_cannot_hide_tables(ansible, servers, db, make_user):
    """A user with SELECT on some tables does not even see the others: that
    must be an error, not a smaller move."""
    make_shop(servers, db)
    partial = make_user(servers.source, "t_partial", ["REPLICATION SLAVE, BINLOG MONITOR ON *.*", "SELECT ON `%s`.`orders`" % db])
    run = run_preflight(ansible, servers, db, source=partial)
    check = only_check(run, "source_privileges")
    assert check["message"] == "the source user lacks SELECT on %s.*; tables of %s it cannot see would not be moved." % (db, db)
    assert check["fix"].startswith("GRANT SELECT ON `%s`.* TO 't_partial'@'127.0.0.1';" % db)

    # Naming the tables makes table-level grants enough, and a table named
    # but not readable is reported by name.
    run = run_preflight(ansible, servers, db, source=partial, tables={"include": ["%s.orders" % db]})
    assert not run.failed, run.result.get("msg")
    assert run.result["tables"] == ["%s.orders" % db]
    run = run_preflight(ansible, servers, db, source=partial, tables={"include": ["%s.orders" % db, "%s.customers" % db]})
    check = only_check(run, "selection")
    assert check["object"] == "%s.customers" % db and "cannot see it" in check["message"]


def test_target_user_without_write_grants(ansible, servers, db, make_user):
    make_shop(servers, db)
    weak = make_user(servers.target, "t_weak", ["SELECT, INSERT ON *.*"])
    run = run_preflight(ansible, servers, db, target=weak)
    lacking = [c for c in run.result["checks"] if c["name"] == "target_privileges" and c["status"] == "error"]
    assert [c["message"] for c in lacking] == [
        "the target user lacks UPDATE, DELETE, CREATE, DROP, ALTER on %s." % db,
        "the target user lacks UPDATE, DELETE, CREATE, DROP, ALTER on _dbferry.",
    ]
    assert lacking[1]["fix"] == "GRANT UPDATE, DELETE, CREATE, DROP, ALTER ON `_dbferry`.* TO 't_weak'@'127.0.0.1';"


def test_wrong_password_names_the_server_and_never_shows_the_password(ansible, servers, db):
    make_shop(servers, db)
    wrong = dict(servers.source.connection_options("ferry_source"), password="not-the-password-7f3a")
    run = run_preflight(ansible, servers, db, source=wrong, verbosity=3)
    check = only_check(run, "source_connection")
    assert check["object"] == "ferry_source@127.0.0.1:%d" % servers.source.port
    assert "Access denied for user 'ferry_source'@'127.0.0.1'" in check["message"]
    assert "check the user name and password" in check["fix"]
    # The target is still checked, so one run shows every problem.
    assert only_check(run, "target_connection", "ok")
    for secret in ("not-the-password-7f3a", servers.target.passwords["ferry_target"]):
        assert secret not in run.output
        assert secret not in str(run.result)


def test_closed_port(ansible, servers, db):
    make_shop(servers, db)
    closed = dict(servers.target.connection_options("ferry_target"), port=sandbox.free_port(), connect_timeout=5)
    run = run_preflight(ansible, servers, db, target=closed)
    check = only_check(run, "target_connection")
    assert check["object"] == "ferry_target@127.0.0.1:%d" % closed["port"]
    assert "Can't connect" in check["message"]
    assert "listens on this host and port" in check["fix"]


def test_non_empty_target_table(ansible, servers, db):
    make_shop(servers, db)
    sql(servers.target,
        "CREATE DATABASE `%s`" % db,
        "CREATE TABLE `%s`.orders (id INT PRIMARY KEY)" % db,
        "INSERT INTO `%s`.orders VALUES (7)" % db,
        "CREATE TABLE `%s`.customers (id BIGINT UNSIGNED PRIMARY KEY)" % db)
    run = run_preflight(ansible, servers, db)
    check = only_check(run, "target_not_empty")
    assert check["object"] == "%s.orders" % db
    assert check["message"] == "%s.orders already exists on the target and has rows." % db
    run = run_preflight(ansible, servers, db, allow=["target_not_empty"])
    assert not run.failed


def test_misspelled_database_is_an_error(ansible, servers, db):
    make_shop(servers, db)
    run = run_preflight(ansible, servers, db, databases={"include": [db, db + "_typo"]})
    check = only_check(run, "selection")
    assert check["object"] == db + "_typo"
    assert check["message"] == "databases.include names %r, which does not exist on the source (or the source user cannot see it)." % (db + "_typo")


def test_bad_table_pattern_fails_before_connecting(ansible, servers, db):
    run = run_preflight(ansible, servers, db, tables={"include": ["orders"]})
    assert run.failed
    assert run.result["msg"] == ("tables.include entry 'orders' is not of the form db.table. "
                                 "Fix: qualify it with its database, e.g. 'shop.orders' or '*.orders'.")


def test_non_innodb_table_and_view(ansible, servers, db):
    make_shop(servers, db)
    sql(servers.source, "CREATE TABLE `%s`.legacy (id INT PRIMARY KEY) ENGINE=MyISAM" % db,
        "CREATE VIEW `%s`.big_orders AS SELECT * FROM `%s`.orders WHERE total > 5" % (db, db))
    run = run_preflight(ansible, servers, db, allow=["views"])
    check = only_check(run, "table_support")
    assert check["object"] == "%s.legacy" % db and "MyISAM" in check["message"]
    assert only_check(run, "views", "warning")["allowed"] is True


def test_triggers_warn_and_fail_on_warning(ansible, servers, db, make_user):
    make_shop(servers, db)
    sql(servers.source, "CREATE TRIGGER `%s`.stamp BEFORE INSERT ON `%s`.orders FOR EACH ROW SET NEW.total = NEW.total" % (db, db))
    watcher = make_user(servers.source, "t_watcher", ["REPLICATION SLAVE, BINLOG MONITOR ON *.*", "SELECT, TRIGGER ON `%s`.*" % db])
    run = run_preflight(ansible, servers, db, source=watcher)
    assert not run.failed
    check = only_check(run, "triggers", "warning")
    assert check["message"] == "trigger `stamp` (BEFORE INSERT) on %s.orders is not moved." % db
    run = run_preflight(ansible, servers, db, source=watcher, fail_on="warning")
    assert run.failed and "triggers [%s.orders]" % db in run.result["msg"]


def test_short_binlog_retention_and_read_only_target(ansible, servers, db):
    make_shop(servers, db)
    sql(servers.source, "SET GLOBAL binlog_expire_logs_seconds = 7200")
    sql(servers.target, "SET GLOBAL read_only = ON")
    try:
        run = run_preflight(ansible, servers, db)
    finally:
        sql(servers.source, "SET GLOBAL binlog_expire_logs_seconds = 0")
        sql(servers.target, "SET GLOBAL read_only = OFF")
    assert "binlogs expire after 2.0 h" in only_check(run, "binlog_retention", "warning")["message"]
    assert only_check(run, "target_read_only")["fix"].startswith("SET GLOBAL read_only = OFF")


def test_compressed_binlog_and_old_temporal_columns(ansible, servers, db):
    make_shop(servers, db)
    sql(servers.source, "SET GLOBAL log_bin_compress = ON")
    try:
        sql(servers.source, "SET GLOBAL mysql56_temporal_format = OFF")  # new temporal columns get the 5.3 format
        try:
            sql(servers.source, "CREATE TABLE `%s`.old (id INT PRIMARY KEY, at DATETIME(3))" % db)
        finally:
            sql(servers.source, "SET GLOBAL mysql56_temporal_format = ON")
        run = run_preflight(ansible, servers, db)
    finally:
        sql(servers.source, "SET GLOBAL log_bin_compress = OFF")
    assert only_check(run, "log_bin_compress")["fix"].startswith("SET GLOBAL log_bin_compress = OFF")
    check = only_check(run, "table_support")
    assert check["object"] == "%s.old" % db and "MariaDB 5.3 format" in check["message"]
    assert "ALTER TABLE `%s`.`old` FORCE" % db in check["fix"]


def test_password_never_in_process_list(ansible, servers, db):
    """Poll every process's command line while a run is under way."""
    make_shop(servers, db)
    secrets = [servers.source.passwords["ferry_source"], servers.target.passwords["ferry_target"]]
    args = {"source": "{{ dbferry_source }}", "target": "{{ dbferry_target }}", "databases": {"include": [db]}}
    proc = ansible.run("dbferry.mysql.preflight", args, module_connections(servers), background=True)
    seen = 0
    while proc.poll() is None:
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    cmdline = open("/proc/%s/cmdline" % pid, "rb").read().decode(errors="replace")
                except OSError:
                    continue
                seen += 1
                assert not any(s in cmdline for s in secrets), cmdline
        time.sleep(0.02)
    output = proc.stdout.read()
    assert proc.returncode == 0, output
    assert seen > 0
    assert not any(s in output for s in secrets)


def test_definitions_the_server_prints_with_question_marks(ansible, servers, db):
    """SHOW CREATE TABLE prints 4-byte characters of ENUM/SET members and defaults as '?'; a latin1 '?' is a real one."""
    ddl = "CREATE TABLE `%s`.t (id INT PRIMARY KEY, e ENUM('a','\U0001F600','b'), s SET('x','\U0001F389')) CHARSET utf8mb4"
    sql(servers.source, ddl % db, "CREATE TABLE `%s`.fine (id INT PRIMARY KEY, q ENUM('yes','?') CHARACTER SET latin1, "
                                  "v VARCHAR(5) CHARACTER SET utf8mb4 DEFAULT '\u00e9')" % db)
    run = run_preflight(ansible, servers, db)
    assert run.failed
    found = [c for c in run.result["checks"] if c["name"] == "definitions" and c["status"] == "error"]
    assert [c["object"] for c in found] == ["%s.t" % db] * 2, found
    assert "`e`" in found[0]["message"] and "`s`" in found[1]["message"] and "reuse_target" in found[0]["fix"]
    # The fix: the table created by hand on the target is the operator's, and is not created from the printed definition.
    sql(servers.target, "CREATE DATABASE `%s`" % db, ddl % db)
    run = run_preflight(ansible, servers, db)
    assert not run.failed, run.result.get("msg")
    only_check(run, "definitions", "ok")


def test_tables_whose_names_differ_only_by_case_or_accent_are_told_apart(ansible, servers, db):
    """information_schema compares names case- and accent-insensitively: joined that way, T's key looked composite."""
    for name in ("T", "t", "cafe", "caf\u00e9"):
        sql(servers.source, "CREATE TABLE `%s`.`%s` (id INT PRIMARY KEY, v INT)" % (db, name))
    run = run_preflight(ansible, servers, db)
    assert not run.failed, run.result.get("msg")
    only_check(run, "primary_key_type", "ok")
    assert sorted(run.result["tables"]) == sorted("%s.%s" % (db, n) for n in ("T", "t", "cafe", "caf\u00e9"))
