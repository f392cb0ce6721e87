"""The foreign keys of an online change without a server: the names across a swap, and a constraint's definition
rewritten from SHOW CREATE TABLE under another name and parent."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.foreign_keys import ForeignKey
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.foreign_keys import definition_in, split, toggled

CHILD = ("CREATE TABLE `lines` (\n  `id` int(11) NOT NULL,\n  `a` int(11) DEFAULT NULL,\n  `b` int(11) DEFAULT NULL,\n"
         "  PRIMARY KEY (`id`),\n  KEY `ab` (`a`,`b`),\n"
         "  CONSTRAINT `line``order` FOREIGN KEY (`a`, `b`) REFERENCES `other`.`_orders_del` (`x`, `y`) ON UPDATE NO ACTION,\n"
         "  CONSTRAINT `plain` FOREIGN KEY (`a`) REFERENCES `orders` (`x`)\n) ENGINE=InnoDB")


@pytest.mark.parametrize("name, other", [("fk", "_fk"), ("_fk", "fk"), ("_", "__"), ("__x", "_x")])
def test_a_name_toggles_its_leading_underscore(name: str, other: str) -> None:
    assert toggled(name) == other


def test_a_definition_takes_the_new_name_and_parent_and_keeps_columns_and_rules() -> None:
    key = ForeignKey("line`order", "shop", "lines", "other", "_orders_del", on_update="NO ACTION")
    assert definition_in(CHILD, key, "_line`order", ("other", "orders")) == (
        "CONSTRAINT `_line``order` FOREIGN KEY (`a`, `b`) REFERENCES `other`.`orders` (`x`, `y`) ON UPDATE NO ACTION")
    plain = ForeignKey("plain", "shop", "lines", "shop", "orders")
    assert definition_in(CHILD, plain, "_plain", ("shop", "orders")) == "CONSTRAINT `_plain` FOREIGN KEY (`a`) REFERENCES `shop`.`orders` (`x`)"


def test_a_constraint_not_found_fails_closed() -> None:
    with pytest.raises(DbferryError):
        definition_in(CHILD, ForeignKey("gone", "shop", "lines", "shop", "orders"), "_gone", ("shop", "orders"))


def test_own_keys_and_children_are_told_apart() -> None:
    own = ForeignKey("a", "shop", "orders", "shop", "customers")
    child = ForeignKey("b", "shop", "lines", "shop", "orders")
    assert split([child, own], "shop", "orders") == ([own], [child])
