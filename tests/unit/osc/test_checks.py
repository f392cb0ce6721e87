"""The change's preflight without a server: what ALTER text is refused before anything is created, the refusal, and
which unique key of the new schema the original's rows may violate."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.checks import alter_input_problem, refuse_on_errors, unique_key_added
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.report import ERROR, OK, WARNING, Finding


@pytest.mark.parametrize("alter", [
    "ADD COLUMN note TEXT",
    "ADD COLUMN note VARCHAR(10) DEFAULT 'a;b', ADD INDEX (created_at)",
    "RENAME COLUMN a TO b, RENAME INDEX i TO j, RENAME KEY k TO l",
    "ADD COLUMN `rename to` INT COMMENT 'RENAME TO x; with table'",
    "MODIFY amount DECIMAL(14,2)",
    "CONVERT TO CHARACTER SET utf8mb4",
    "FORCE",
])
def test_one_change_of_the_table_passes(alter: str) -> None:
    assert alter_input_problem(alter) is None


@pytest.mark.parametrize("alter, words", [
    ("", "empty"),
    ("   \n", "empty"),
    ("ADD COLUMN x INT; DROP TABLE users", "';'"),
    ("ADD COLUMN x INT;", "';'"),
    ("ALTER TABLE orders ADD COLUMN x INT", "starts with ALTER TABLE"),
    ("alter online table `other` add x int", "starts with ALTER TABLE"),
    ("RENAME TO orders_old", "renames the table"),
    ("ADD x INT, rename as orders_old", "renames the table"),
    ("RENAME `orders_old`", "renames the table"),
    ("/*!100000 RENAME TO x */", "renames the table"),
    ("EXCHANGE PARTITION p0 WITH TABLE archive", "another table"),
    ("CONVERT PARTITION p0 TO TABLE archive", "another table"),
])
def test_bad_input_is_refused_with_a_fix(alter: str, words: str) -> None:
    problem = alter_input_problem(alter)
    assert problem is not None and words in problem[0] and problem[1]


def test_refuse_on_errors_raises_the_first_error_with_its_fix() -> None:
    findings = [Finding("a", OK, "db.t", "fine"), Finding("b", WARNING, "db.t", "hm", "maybe"),
                Finding("c", ERROR, "db.t (fk)", "first problem.", "the fix."), Finding("d", ERROR, "db.t", "second.", "other fix.")]
    with pytest.raises(DbferryError) as raised:
        refuse_on_errors(findings)
    assert raised.value.message == "first problem. (and 1 more problem(s): see the preflight report)"
    assert (raised.value.obj, raised.value.fix) == ("db.t (fk)", "the fix.")
    refuse_on_errors(findings[:2])


TEXT = ("varchar(40)", "utf8mb4_bin", "YES", None)
COLUMNS = {"id": ("int(11)", None, "NO", None), "email": TEXT, "code": TEXT}
SAME = {"id": "id", "email": "email", "code": "code"}
ORIGINAL_KEYS = [[("id", None)], [("email", None)], [("code", 4)]]


@pytest.mark.parametrize("new_key, added", [
    ([("email", None)], False),                  # the original's own key
    ([("email", None), ("code", None)], False),  # wider than one of the original's
    ([("id", None), ("code", 2)], False),        # holds the primary key
    ([("code", 4)], False),
    ([("code", 8)], False),                      # a longer prefix than the original's refuses no more
    ([("code", None)], False),
    ([("code", 2)], True),                       # a shorter one does
    ([("email", 10)], True),                     # so does a prefix of a whole-column key
    ([("extra", None)], True),                   # a column the original lacks
])
def test_a_unique_key_is_added_unless_one_of_the_original_lies_within_it(new_key: list, added: bool) -> None:
    new_columns = dict(COLUMNS, extra=("int(11)", None, "YES", None))
    assert unique_key_added(new_key, ORIGINAL_KEYS, SAME, COLUMNS, new_columns) is added


def test_a_renamed_column_keeps_its_key_and_a_changed_definition_does_not() -> None:
    renamed = dict(SAME, email="mail")
    new_columns = {"id": COLUMNS["id"], "mail": TEXT, "code": TEXT}
    assert not unique_key_added([("mail", None)], ORIGINAL_KEYS, renamed, COLUMNS, new_columns)
    assert unique_key_added([("email", None)], ORIGINAL_KEYS, renamed, COLUMNS, new_columns)   # not the renamed one
    case_blind = dict(COLUMNS, email=("varchar(40)", "utf8mb4_general_ci", "YES", None))
    assert unique_key_added([("email", None)], ORIGINAL_KEYS, SAME, COLUMNS, case_blind)
