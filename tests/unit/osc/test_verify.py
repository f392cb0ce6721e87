"""Comparing a table with its ghost without a server: the digest that ignores how a value is stored, and the words."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.osc.plan import AlterPlan, Column
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.verify import describe_mismatch, failure_message, pair_digest, shown_key
from ansible_collections.dbferry.mysql.plugins.module_utils.verify.checksum import DIFFERS, EXTRA, MISSING, Mismatch, column_digest


def plan_of_orders() -> AlterPlan:
    """shop.orders with amount renamed to total and note dropped."""
    return AlterPlan(database="shop", table="orders", ghost="_orders_gho", old="_orders_del", key=("id",),
                     old_columns=("id", "amount", "note"), ghost_columns=("id", "total"), mapping={"id": "id", "amount": "total"},
                     dropped=("note",), added=(), generated=(), state_name="alter-0123")


def test_as_text_reads_text_in_utf8mb4_enum_by_label() -> None:
    assert column_digest("v", "varchar", as_text=True) == \
        "IFNULL(CONCAT(LENGTH(CONVERT(`v` USING utf8mb4)), ':', CAST(CONVERT(`v` USING utf8mb4) AS BINARY)), 'N')"
    assert column_digest("v", "ENUM", as_text=True, hashed=True) == \
        "IFNULL(CONCAT('H', SHA2(CAST(CONVERT(`v` USING utf8mb4) AS BINARY), 256)), 'N')"
    # a move's digest is unchanged: stored bytes, ENUM by number too
    assert column_digest("v", "enum") == "IFNULL(CONCAT(LENGTH(CONCAT(`v` + 0, '=', `v`)), ':', CAST(CONCAT(`v` + 0, '=', `v`) AS BINARY)), 'N')"
    # DECIMAL as it reads: without the scale's trailing zeros, ended by a comma
    assert column_digest("d", "decimal", as_text=True).endswith(", CAST(`d` AS CHAR)), ','), 'N')")


def test_a_pair_digests_by_its_stored_bytes_unless_the_change_retypes_it() -> None:
    same_old, same_ghost = Column("v", "varchar", "varchar(10)", False, "utf8mb4"), Column("w", "varchar", "varchar(10)", False, "utf8mb4")
    assert pair_digest(same_ghost, same_old, same_ghost) == column_digest("w", "varchar")
    latin1 = Column("v", "varchar", "varchar(10)", False, "latin1")
    assert "CONVERT(`v` USING utf8mb4)" in pair_digest(latin1, latin1, same_ghost)  # a charset conversion reads as text
    widened = Column("v", "varchar", "varchar(20)", False, "utf8mb4")
    assert "CONVERT(`v` USING utf8mb4)" in pair_digest(widened, same_old, widened)
    # VARCHAR to TEXT: both sides hash, whichever side's type is the long one
    text = Column("v", "text", "text", False, "utf8mb4")
    assert pair_digest(same_old, same_old, text) == column_digest("v", "varchar", as_text=True, hashed=True)
    assert pair_digest(text, same_old, text) == column_digest("v", "text", as_text=True, hashed=True)
    assert pair_digest(same_old, same_old, text).startswith("IFNULL(CONCAT('H', SHA2(")
    # INT to VARCHAR: the number reads as text on both sides, length-prefixed, never comma-ended on one side only
    number, word = Column("v", "int", "int(11)", False), Column("v", "varchar", "varchar(10)", False, "utf8mb4")
    assert pair_digest(number, number, word) == "IFNULL(CONCAT(LENGTH(`v`), ':', CAST(`v` AS BINARY)), 'N')"
    assert pair_digest(word, number, word).startswith("IFNULL(CONCAT(LENGTH(CONVERT(`v` USING utf8mb4)), ':', ")
    # INT to BIGINT: both printed
    wide = Column("v", "bigint", "bigint(20)", False)
    assert pair_digest(number, number, wide) == pair_digest(wide, number, wide) == "IFNULL(CONCAT(`v`, ','), 'N')"


def test_mismatch_detail_is_shown_only_when_there_is_one() -> None:
    assert Mismatch(3, MISSING).as_dict() == {"key": 3, "kind": MISSING, "columns": []}
    assert Mismatch(3, MISSING, ("email",), "it collides").as_dict()["detail"] == "it collides"


def test_mismatches_name_table_key_and_columns() -> None:
    plan = plan_of_orders()
    assert describe_mismatch(plan, Mismatch((2,), DIFFERS, ("amount", "id"))) == \
        "shop.orders id=2 differs from shop._orders_gho in amount (total in the ghost), id"
    assert describe_mismatch(plan, Mismatch((9,), EXTRA)) == "shop._orders_gho has a row id=9 that shop.orders has not"
    collision = Mismatch((3,), MISSING, ("email",), "it collides on unique key `u` (email='a') of the new schema with the ghost's row id=1")
    assert describe_mismatch(plan, collision) == ("shop.orders id=3 is missing from shop._orders_gho: it collides on unique key `u` "
                                                  "(email='a') of the new schema with the ghost's row id=1")
    assert describe_mismatch(plan, Mismatch((4,), MISSING)) == "shop.orders id=4 is missing from shop._orders_gho"
    message = failure_message(plan, [Mismatch((k,), MISSING) for k in range(7)])
    assert message.startswith("verify found 7 differing row(s): shop.orders id=0 is missing")
    assert "id=5" not in message and "; ..." in message and "The original shop.orders is untouched" in message


def test_a_composite_key_is_shown_as_a_tuple_its_text_quoted_and_bytes_in_hex() -> None:
    plan = AlterPlan(database="shop", table="items", ghost="_items_gho", old="_items_del", key=("tenant", "code"),
                     old_columns=("tenant", "code", "uuid"), ghost_columns=("tenant", "label", "uuid"),
                     mapping={"tenant": "tenant", "code": "label", "uuid": "uuid"}, dropped=(), added=(), generated=(), state_name="alter-0")
    assert describe_mismatch(plan, Mismatch((1, "it's"), MISSING)) == "shop.items (tenant, code)=(1, 'it''s') is missing from shop._items_gho"
    assert describe_mismatch(plan, Mismatch((2, "x"), EXTRA)) == "shop._items_gho has a row (tenant, label)=(2, 'x') that shop.items has not"
    assert shown_key(("uuid",), (b"\x00\xff",)) == "uuid=0x00ff"
