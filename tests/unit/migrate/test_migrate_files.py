"""Migration files without a server: how a file is cut into statements, how an ALTER TABLE is read for the online change,
what is refused (with the file, the line and the fix), and how a folder's files are ordered by version."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.migrate.plan import migrations
from ansible_collections.dbferry.mysql.plugins.module_utils.migrate.statements import split, statements


def test_split_keeps_semicolons_in_strings_names_and_drops_comments():
    text = ("-- a comment; not a statement\n"
            "INSERT INTO t VALUES ('a;b', \"c;d\", 'it''s; fine', 'back\\';slash');\n"
            "# another; comment\n"
            "ALTER TABLE `we;ird``name` ADD COLUMN x INT /* inline; comment */ DEFAULT 1;\n"
            "SELECT 1--1\n;\n"
            "UPDATE t SET a = 1")
    assert split(text, "f.sql") == [
        ("INSERT INTO t VALUES ('a;b', \"c;d\", 'it''s; fine', 'back\\';slash')", 2),
        ("ALTER TABLE `we;ird``name` ADD COLUMN x INT   DEFAULT 1", 4),
        ("SELECT 1--1", 5),
        ("UPDATE t SET a = 1", 7),
    ]


def test_an_alter_is_read_into_table_specification_and_renames():
    found = statements("ALTER TABLE orders ADD COLUMN note VARCHAR(10) DEFAULT 'x,y', ADD INDEX (created_at);\n"
                       "alter online table `shop`.`my table` RENAME COLUMN `a` TO b, CHANGE COLUMN c d INT, CHANGE e e BIGINT;\n"
                       "ALTER TABLE IF EXISTS t3 FORCE;\n"
                       "CREATE TABLE t4 (id INT PRIMARY KEY);\n"
                       "ALTER DATABASE shop CHARACTER SET utf8mb4", "1_x.sql", "shop")
    assert [(s.table, s.alter, s.rename_columns, s.line) for s in found] == [
        ("orders", "ADD COLUMN note VARCHAR(10) DEFAULT 'x,y', ADD INDEX (created_at)", {}, 1),
        ("my table", "RENAME COLUMN `a` TO b, CHANGE COLUMN c d INT, CHANGE e e BIGINT", {"a": "b", "c": "d"}, 2),
        ("t3", "FORCE", {}, 3),
        (None, None, {}, 4),
        (None, None, {}, 5),
    ]
    assert [s.is_alter for s in found] == [True, True, True, False, False]


@pytest.mark.parametrize("text, line, words", [
    ("SELECT 1;\nINSERT INTO t VALUES ('open;\n", 2, "never closed"),
    ("SELECT 1; /* open", 1, "never closed"),
    ("SELECT 1;\nDELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END //", 2, "DELIMITER"),
    ("CREATE DEFINER=root@localhost PROCEDURE p() BEGIN SELECT 1; END", 1, "stored program"),
    ("\n/*!50100 ALTER TABLE t ADD COLUMN c INT */;", 2, "executable comment"),
    ("ALTER IGNORE TABLE t ADD UNIQUE (a)", 1, "IGNORE"),
    ("ALTER TABLE other.t ADD COLUMN c INT", 1, "another database"),
    ("ALTER TABLE t", 1, "cannot read"),
    ("-- nothing\n", 0, "has no statement"),
])
def test_what_cannot_be_cut_or_read_safely_is_refused_naming_file_line_and_fix(text, line, words):
    with pytest.raises(DbferryError) as raised:
        statements(text, "20240101_bad.sql", "shop")
    assert words in raised.value.message and raised.value.obj == "20240101_bad.sql" and raised.value.fix
    if line:
        assert raised.value.message.startswith("20240101_bad.sql line %d:" % line)


def test_a_folder_is_read_in_version_order_other_files_left_out():
    found = migrations({"10_third.sql": "ALTER TABLE t ADD COLUMN c INT", "9_second.sql": "UPDATE t SET a = 1; ALTER TABLE t FORCE",
                        "README.md": "not a migration", "0001_first.sql": "CREATE TABLE t (id INT PRIMARY KEY)"}, "shop")
    assert [(m.version, m.name) for m in found] == [("0001", "first"), ("9", "second"), ("10", "third")]
    assert found[1].as_dict()["statements"] == [
        {"kind": "sql", "line": 1, "sql": "UPDATE t SET a = 1", "table": None, "alter": None, "rename_columns": {}},
        {"kind": "alter", "line": 1, "sql": "ALTER TABLE t FORCE", "table": "t", "alter": "FORCE", "rename_columns": {}},
    ]


@pytest.mark.parametrize("files, words", [
    ({"add_column.sql": "SELECT 1"}, "is not named <version>_<name>.sql"),
    ({"1_a.sql": "SELECT 1", "01_b.sql": "SELECT 2"}, "have the same version"),
    ({"1_a.sql": "SELECT 1", "2_b.sql": "SELECT 'x"}, "2_b.sql line 1"),
])
def test_a_bad_folder_is_refused_before_any_migration(files, words):
    with pytest.raises(DbferryError, match=words):
        migrations(files, "shop")
