"""Foreign keys of a move: rules read from SHOW CREATE TABLE, what cascades, and REFERENCES rewritten to the target (pure logic)."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.orphans import OutsideKey
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.foreign_keys import (
    CASCADING_ACTIONS,
    ForeignKey,
    name_conflicts,
    outside_parents,
    retarget_references,
    rules,
)

_DDL = """CREATE TABLE `orders` (
  `id` int(11) NOT NULL,
  `customer_id` int(11) DEFAULT NULL,
  `parent` int(11) DEFAULT NULL,
  PRIMARY KEY (`id`),
  CONSTRAINT `fk_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`) ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT `fk_customer_2` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`),
  CONSTRAINT `fk_parent` FOREIGN KEY (`parent`) REFERENCES `orders` (`id`) ON DELETE NO ACTION
) ENGINE=InnoDB"""


def test_rules_are_read_from_the_constraint_line():
    assert rules(_DDL, "fk_customer") == ("CASCADE", "SET NULL")


def test_a_rule_the_server_omits_is_restrict():
    # fk_customer is a prefix of fk_customer_2: the quoted name keeps them apart.
    assert rules(_DDL, "fk_customer_2") == ("RESTRICT", "RESTRICT")
    assert rules(_DDL, "fk_parent") == ("RESTRICT", "NO ACTION")


def test_a_constraint_not_found_fails_closed():
    # Reading it as RESTRICT would let a cascade through (a review found one: a name holding a newline).
    with pytest.raises(DbferryError, match="cannot read the rules of foreign key `absent`"):
        rules(_DDL, "absent")


def test_a_name_holding_a_newline_or_backticks_is_found():
    ddl = ("CREATE TABLE `c` (\n  `id` int(11) NOT NULL,\n  `p` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n"
           "  CONSTRAINT `fk\nnl` FOREIGN KEY (`p`) REFERENCES `parent` (`id`) ON DELETE CASCADE,\n"
           "  CONSTRAINT `a``b` FOREIGN KEY (`p`, `id`) REFERENCES `o`.`parent` (`id`, `x`) ON DELETE SET NULL ON UPDATE CASCADE\n"
           ") ENGINE=InnoDB")
    assert rules(ddl, "fk\nnl") == ("RESTRICT", "CASCADE")
    assert rules(ddl, "a`b") == ("CASCADE", "SET NULL")


def test_cascading_actions_are_those_that_change_other_rows():
    assert CASCADING_ACTIONS == {"CASCADE", "SET NULL", "SET DEFAULT"}
    assert ForeignKey("f", "s", "c", "s", "p", on_update="CASCADE", on_delete="SET NULL").cascades == [
        "ON DELETE SET NULL", "ON UPDATE CASCADE"]
    assert ForeignKey("f", "s", "c", "s", "p", on_update="NO ACTION").cascades == []


_TARGETS = {("shop", "customers"): ("shop_v2", "clients"), ("shop", "orders"): ("shop_v2", "orders"), ("crm", "kinds"): ("crm_v2", "kinds")}


def test_every_reference_names_the_parent_s_target_table_qualified():
    body = (" (\n  `id` int(11) NOT NULL,\n  `c` int(11) DEFAULT NULL,\n  `k` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n"
            "  CONSTRAINT `fk_c` FOREIGN KEY (`c`) REFERENCES `customers` (`id`) ON DELETE NO ACTION,\n"
            "  CONSTRAINT `fk_k` FOREIGN KEY (`k`, `c`) REFERENCES `crm`.`kinds` (`id`, `c`),\n"
            "  CONSTRAINT `fk_self` FOREIGN KEY (`c`) REFERENCES `orders` (`id`)\n) ENGINE=InnoDB")
    assert retarget_references(body, "shop", _TARGETS) == body.replace(
        "REFERENCES `customers`", "REFERENCES `shop_v2`.`clients`").replace(
        "REFERENCES `crm`.`kinds`", "REFERENCES `crm_v2`.`kinds`").replace(
        "REFERENCES `orders`", "REFERENCES `shop_v2`.`orders`")


def test_a_parent_outside_the_move_keeps_its_source_name_qualified():
    body = ",\n  CONSTRAINT `f` FOREIGN KEY (`x`) REFERENCES `elsewhere` (`id`),\n  CONSTRAINT `g` FOREIGN KEY (`x`) REFERENCES `erp`.`t` (`id`)\n"
    assert retarget_references(body, "shop", _TARGETS) == body.replace("`elsewhere`", "`shop`.`elsewhere`")


def test_quoted_names_with_backticks_dots_and_keywords_are_read_whole():
    body = ("\n  CONSTRAINT `a``b` FOREIGN KEY (`REFERENCES ``x``.y`) REFERENCES `we``ird`.`cu.st` (`id`),\n"
            "  CONSTRAINT `c` FOREIGN KEY (`z`) REFERENCES `o``rders` (`id`)\n")
    targets = {("we`ird", "cu.st"): ("new`db", "t.2"), ("s`1", "o`rders"): ("s`2", "o`rders")}
    assert retarget_references(body, "s`1", targets) == body.replace("`we``ird`.`cu.st`", "`new``db`.`t.2`").replace(
        "`o``rders`", "`s``2`.`o``rders`")


def test_text_that_only_looks_like_a_reference_is_left_alone():
    body = "\n  `note` varchar(80) DEFAULT 'CONSTRAINT `x` FOREIGN KEY (`a`) REFERENCES `customers` (`id`)',\n  KEY `customers` (`c`)\n"
    assert retarget_references(body, "shop", _TARGETS) == body


def test_a_constraint_name_held_twice_in_a_target_schema_is_found_ignoring_case():
    keys = [ForeignKey("fk_parent", "a", "child", "a", "parent"), ForeignKey("FK_Parent", "b", "child", "b", "parent"),
            ForeignKey("fk_other", "b", "lines", "b", "parent")]
    targets = {("a", "child"): ("x", "child"), ("b", "child"): ("x", "child2"), ("b", "lines"): ("y", "lines")}
    [(obj, message, fix)] = name_conflicts(keys, targets, [])
    assert obj == "b.child (FK_Parent)"
    assert "a constraint of the same name on a.child (moved to x.child) would both be in the target schema `x`" in message
    assert fix.startswith("rename the constraint on the source (ALTER TABLE `b`.`child` DROP FOREIGN KEY `FK_Parent`")
    # One the target schema holds on a table of its own; the same name in another schema is no conflict.
    [(obj, message, _fix)] = name_conflicts(keys[2:], targets, [("y", "audit", "fk_other"), ("x", "t", "fk_parent")])
    assert obj == "b.lines (fk_other)" and "on the target's y.audit" in message
    assert name_conflicts(keys[:1], targets, [("y", "t", "fk_parent")]) == []


def test_keys_to_a_parent_outside_the_move_and_their_orphan_count():
    inside, outside = ForeignKey("fk_p", "d", "child", "d", "parent"), ForeignKey("fk_k", "d", "child", "ref", "kinds")
    assert outside_parents([inside, outside], {("d", "child"), ("d", "parent")}) == [outside]
    key = OutsideKey("fk", "d", "c", "p", "t", ("a", "b"), ("x", "y"))
    assert key.orphans_sql() == ("SELECT COUNT(*) FROM `d`.`c` c LEFT JOIN `p`.`t` p ON c.`a` = p.`x` AND c.`b` = p.`y` "
                                 "WHERE c.`a` IS NOT NULL AND c.`b` IS NOT NULL AND p.`x` IS NULL")
