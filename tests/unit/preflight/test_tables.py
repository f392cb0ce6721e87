"""Table checks: supported keys, hidden triggers (pure logic; foreign keys: tests/unit/engine/test_foreign_keys.py)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.tables import is_supported_key, schemas_hiding_triggers
from ansible_collections.dbferry.mysql.plugins.module_utils.server.grants import parse_grant


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
