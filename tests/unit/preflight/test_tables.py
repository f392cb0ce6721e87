"""Table checks: which foreign keys a move keeps, hidden triggers (pure logic; keys: tests/unit/engine/test_key_choice.py)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.foreign_keys import ForeignKey
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.tables import foreign_key_finding, schemas_hiding_triggers
from ansible_collections.dbferry.mysql.plugins.module_utils.server.grants import parse_grant


def test_triggers_are_hidden_where_the_user_lacks_trigger_or_all():
    grants = [parse_grant(line) for line in (
        "GRANT SELECT ON `shop`.* TO `u`@`%`",
        "GRANT SELECT, TRIGGER ON `crm`.* TO `u`@`%`",
        "GRANT ALL PRIVILEGES ON `erp`.* TO `u`@`%`",
    )]
    assert schemas_hiding_triggers(["shop", "crm", "erp", "shop", "blog"], grants) == ["blog", "shop"]


_MOVED = {("shop", "orders"), ("shop", "lines")}


def test_a_foreign_key_between_moved_tables_is_kept_unless_its_cascade_cannot_be_followed():
    assert foreign_key_finding(ForeignKey("fk", "shop", "lines", "shop", "orders", on_delete="NO ACTION"), _MOVED) is None
    assert foreign_key_finding(ForeignKey("fk", "shop", "lines", "shop", "orders", on_update="SET NULL"), _MOVED) is None
    name, message, fix = foreign_key_finding(ForeignKey("fk", "shop", "lines", "shop", "lines", on_update="SET NULL"), _MOVED)
    assert name == "foreign_key_cascades" and "ON UPDATE SET NULL changes the rows of shop.lines" in message
    assert "it references its own table" in message and "move without the cascade" in fix
    name, message, fix = foreign_key_finding(ForeignKey("fk", "shop", "lines", "crm", "customers", on_delete="CASCADE"), _MOVED)
    assert name == "foreign_key_cascades" and "its parent crm.customers is not in the move" in message
    assert fix.startswith("add crm.customers to the move")


def test_a_foreign_key_with_an_end_outside_the_move_is_reported_with_the_table_to_add():
    name, message, fix = foreign_key_finding(ForeignKey("fk", "shop", "lines", "crm", "customers"), _MOVED)
    assert name == "foreign_keys" and "references crm.customers (ON UPDATE RESTRICT, ON DELETE RESTRICT), which the move leaves behind" in message
    assert fix.startswith("add crm.customers to the move, or drop the foreign key for the move (ALTER TABLE `shop`.`lines` DROP FOREIGN KEY `fk`)")
    # A child left behind: even its cascade changes nothing the target holds.
    name, message, fix = foreign_key_finding(ForeignKey("fk", "erp", "invoices", "shop", "orders", on_delete="CASCADE"), _MOVED)
    assert name == "foreign_keys" and "which is moved while erp.invoices stays" in message
    assert fix.startswith("add erp.invoices to the move")
