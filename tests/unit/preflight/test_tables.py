"""Table checks: foreign key rules from SHOW CREATE TABLE, supported keys, hidden triggers (pure logic)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.tables import (
    CASCADING_ACTIONS,
    foreign_key_rules,
    is_supported_key,
    schemas_hiding_triggers,
)
from ansible_collections.dbferry.mysql.plugins.module_utils.server.grants import parse_grant

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
    assert foreign_key_rules(_DDL, "fk_customer") == ("CASCADE", "SET NULL")


def test_a_rule_the_server_omits_is_restrict():
    # fk_customer is a prefix of fk_customer_2: the quoted name keeps them apart.
    assert foreign_key_rules(_DDL, "fk_customer_2") == ("RESTRICT", "RESTRICT")
    assert foreign_key_rules(_DDL, "fk_parent") == ("RESTRICT", "NO ACTION")


def test_an_unknown_constraint_has_the_default_rules():
    assert foreign_key_rules(_DDL, "absent") == ("RESTRICT", "RESTRICT")


def test_cascading_actions_are_those_that_change_other_rows():
    assert CASCADING_ACTIONS == {"CASCADE", "SET NULL", "SET DEFAULT"}


def test_only_a_single_integer_column_is_a_supported_key():
    assert is_supported_key([("id", "bigint")])
    assert not is_supported_key([("a", "int"), ("b", "int")])
    assert not is_supported_key([("code", "varchar")])
    assert not is_supported_key([])


def test_triggers_are_hidden_where_the_user_lacks_trigger_or_all():
    grants = [parse_grant(line) for line in (
        "GRANT SELECT ON `shop`.* TO `u`@`%`",
        "GRANT SELECT, TRIGGER ON `crm`.* TO `u`@`%`",
        "GRANT ALL PRIVILEGES ON `erp`.* TO `u`@`%`",
    )]
    assert schemas_hiding_triggers(["shop", "crm", "erp", "shop", "blog"], grants) == ["blog", "shop"]
