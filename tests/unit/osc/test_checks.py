"""The change's preflight without a server: what ALTER text is refused before anything is created, and the refusal."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.checks import alter_input_problem, refuse_on_errors
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
