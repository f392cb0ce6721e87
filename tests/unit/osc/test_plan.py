"""The plan's pure parts: names, the renames an ALTER makes, and the column mapping from catalog rows."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.key_choice import IndexColumns
from ansible_collections.dbferry.mysql.plugins.module_utils.osc import plan as plan_module
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.plan import Column, alter_name, build_plan, renames_in, table_names

#: The indexes below are on columns that are not text (key_choice.IndexColumns.charsets).
NOT_TEXT = (None,) * 4


def test_alter_name_is_a_state_name_of_the_table() -> None:
    name = alter_name("shop", "orders")
    assert name.startswith("alter-") and len(name) == 26 and name == alter_name("shop", "orders")
    assert name != alter_name("shop", "orders2") and name != alter_name("shop2", "orders")


def test_table_names_and_their_limit() -> None:
    assert table_names("shop", "orders") == ("_orders_gho", "_orders_del")
    assert table_names("shop", "x" * 59) == ("_%s_gho" % ("x" * 59), "_%s_del" % ("x" * 59))
    with pytest.raises(DbferryError, match=r"shop\.x{60} needs tables named .* longer than the server's 64 characters"):
        table_names("shop", "x" * 60)


@pytest.mark.parametrize("alter, renames", [
    ("RENAME COLUMN s TO label", {"s": "label"}),
    ("rename column `my col` to `new``col`, ADD INDEX (v)", {"my col": "new`col"}),
    ("CHANGE COLUMN a b INT NOT NULL", {"a": "b"}),
    ("CHANGE IF EXISTS a b INT, CHANGE c c BIGINT", {"a": "b"}),
    ("CHANGE COLUMN a A INT", {}),
    ("ADD COLUMN note TEXT, RENAME INDEX i TO j", {}),
])
def test_renames_in(alter: str, renames: dict[str, str]) -> None:
    assert renames_in(alter) == renames


class _Catalog:
    """build_plan's catalog reads, from lists (read_columns, read_unique_indexes, unique_keys): by default each table has
    the primary key ``key`` (the original) or ``ghost_key`` (the ghost)."""

    def __init__(self, monkeypatch: Any, old: list[Column], ghost: list[Column], key: tuple[str, ...] = ("id",),
                 ghost_key: tuple[str, ...] = ("id",), unique: Any = None, old_indexes: Any = None, ghost_indexes: Any = None) -> None:
        monkeypatch.setattr(plan_module, "read_columns", lambda _conn, _db, table: ghost if table == "_t_gho" else old)

        def indexes(_conn: Any, _schemas: Any, table: str) -> dict:
            found = ghost_indexes if table == "_t_gho" else old_indexes
            if found is None:
                columns = ghost_key if table == "_t_gho" else key
                found = [IndexColumns("PRIMARY", columns, (None,) * len(columns), False, NOT_TEXT)]
            return {("d", table): found}

        monkeypatch.setattr(plan_module, "read_unique_indexes", indexes)
        monkeypatch.setattr(plan_module, "unique_keys", lambda _conn, _db, _table: unique or {})


def _col(name: str, data_type: str = "int", column_type: str = "", generated: bool = False, collation: Any = None) -> Column:
    return Column(name, data_type, column_type or data_type, generated, None, collation)


def _plan(alter: str = "", renames: Any = None) -> Any:
    return build_plan(None, "d", "t", "_t_gho", "_t_del", alter, renames or {})


def test_mapping_added_dropped_generated(monkeypatch: Any) -> None:
    _Catalog(monkeypatch, [_col("id"), _col("a"), _col("gone"), _col("g", generated=True), _col("Mixed")],
             [_col("id"), _col("a", "bigint"), _col("new"), _col("g2", generated=True), _col("mixed"), _col("g", generated=True)])
    plan = _plan()
    assert plan.mapping == {"id": "id", "a": "a", "Mixed": "mixed"}
    assert plan.dropped == ("gone",) and plan.added == ("new",) and plan.generated == ("g2", "g")
    table = plan.moved_table()
    assert table.columns == ("id", "a", "Mixed") and table.target_columns == ("id", "a", "mixed")
    assert (table.target_schema, table.target_name, table.key, table.types) == ("d", "_t_gho", ("id",), ("int", "int", "int"))
    assert plan.state_name == alter_name("d", "t")


def test_renamed_column_is_written_under_its_new_name(monkeypatch: Any) -> None:
    _Catalog(monkeypatch, [_col("id"), _col("s", "varchar")], [_col("id"), _col("label", "varchar")])
    plan = _plan("RENAME COLUMN s TO label", {"s": "label"})
    assert plan.mapping == {"id": "id", "s": "label"} and plan.dropped == () and plan.added == ()


def test_unique_keys_of_copied_columns_as_the_original_names_them(monkeypatch: Any) -> None:
    _Catalog(monkeypatch, [_col("id"), _col("s", "varchar"), _col("v")], [_col("id"), _col("label", "varchar"), _col("v"), _col("n")],
             unique={"u1": [("label", 10), ("v", None)], "u2": [("n", None)], "u3": [("V", None)]})
    plan = _plan("RENAME COLUMN s TO label", {"s": "label"})
    assert plan.unique_keys == ((("s", 10), ("v", None)), (("v", None),))


def test_rename_of_a_column_that_does_not_exist(monkeypatch: Any) -> None:
    _Catalog(monkeypatch, [_col("id"), _col("s")], [_col("id"), _col("label")])
    with pytest.raises(DbferryError, match=r"rename_columns renames column `nope`, which d\.t does not have"):
        _plan("", {"nope": "label"})
    with pytest.raises(DbferryError, match=r"renames `s` to `other`, but the new schema of d\.t has no column `other`"):
        _plan("", {"s": "other"})


def test_rename_the_alter_makes_must_be_listed(monkeypatch: Any) -> None:
    _Catalog(monkeypatch, [_col("id"), _col("s")], [_col("id"), _col("label")])
    with pytest.raises(DbferryError, match=r"the ALTER renames column `s` to `label`, and rename_columns does not say so") as refused:
        _plan("RENAME COLUMN s TO label")
    assert refused.value.fix == "add rename_columns: {s: label} so that the values are copied under the new name."


def test_enum_members_may_only_grow_at_the_end(monkeypatch: Any) -> None:
    _Catalog(monkeypatch, [_col("id"), _col("e", "enum", "enum('a','b')")], [_col("id"), _col("e", "enum", "enum('a','b','c')")])
    assert _plan().mapping == {"id": "id", "e": "e"}
    _Catalog(monkeypatch, [_col("id"), _col("e", "enum", "enum('a','b')")], [_col("id"), _col("e", "enum", "enum('b','a')")])
    with pytest.raises(DbferryError, match=r"column `e` of d\.t changes from enum\('a','b'\) to enum\('b','a'\)"):
        _plan()
    _Catalog(monkeypatch, [_col("id"), _col("e", "enum", "enum('a','b')")], [_col("id"), _col("e", "varchar", "varchar(5)")])
    with pytest.raises(DbferryError, match="by number"):
        _plan()


def test_the_key_must_be_kept_by_the_new_schema(monkeypatch: Any) -> None:
    _Catalog(monkeypatch, [_col("id"), _col("a")], [_col("id"), _col("a")], ghost_key=("a",))
    with pytest.raises(DbferryError, match=r"its primary key \(`id`\): the new schema has no unique key on \(`id`\) alone") as refused:
        _plan()
    assert "keep one of the table's keys in the ALTER" in refused.value.fix
    _Catalog(monkeypatch, [_col("id"), _col("a")], [_col("a")], ghost_key=("a",))
    with pytest.raises(DbferryError, match=r"the new schema drops its column `id`"):
        _plan()
    _Catalog(monkeypatch, [_col("id"), _col("a")], [_col("id"), _col("a")], ghost_key=("id", "a"))
    with pytest.raises(DbferryError, match=r"no unique key on \(`id`\) alone"):
        _plan()


def test_a_key_column_may_widen_an_integer_but_not_change_how_it_compares(monkeypatch: Any) -> None:
    _Catalog(monkeypatch, [_col("id"), _col("a")], [_col("id", "bigint"), _col("a")])
    assert _plan().key == ("id",)
    text = _col("id", "varchar", "varchar(10)", collation="utf8mb4_general_ci")
    _Catalog(monkeypatch, [text, _col("a")], [text, _col("a")])
    plan = _plan()
    assert plan.key == ("id",) and not plan.exact_key
    for changed in (_col("id", "varchar", "varchar(20)", collation="utf8mb4_general_ci"),
                    _col("id", "varchar", "varchar(10)", collation="utf8mb4_bin"), _col("id")):
        _Catalog(monkeypatch, [text, _col("a")], [changed, _col("a")])
        with pytest.raises(DbferryError, match=r"changes its column `id` from varchar\(10\) COLLATE utf8mb4_general_ci to .*compares its values otherwise"):
            _plan()


def test_a_composite_key_is_mapped_through_renames(monkeypatch: Any) -> None:
    columns = [_col("tenant"), _col("code", "varchar", "varchar(20)", collation="utf8mb4_general_ci"), _col("v")]
    renamed = [_col("tenant"), _col("label", "varchar", "varchar(20)", collation="utf8mb4_general_ci"), _col("v")]
    _Catalog(monkeypatch, columns, renamed, key=("tenant", "code"), ghost_key=("tenant", "label"))
    plan = _plan("RENAME COLUMN code TO label", {"code": "label"})
    assert plan.key == ("tenant", "code") and plan.ghost_key == ("tenant", "label")
    assert plan.moved_table().key == ("tenant", "code") and plan.moved_table().target_key == ("tenant", "label")
    _Catalog(monkeypatch, columns, renamed, key=("tenant", "code"), ghost_key=("label", "tenant"))
    with pytest.raises(DbferryError, match=r"no unique key on \(`tenant`, `label`\) alone, in that order"):
        _plan("RENAME COLUMN code TO label", {"code": "label"})


def test_without_a_primary_key_a_shared_unique_key_on_not_null_columns(monkeypatch: Any) -> None:
    """gh-ost's shared unique key: the original's NOT NULL unique key that the new schema keeps, when the primary key is
    missing or dropped; a NULL-able one is refused, naming why."""
    columns = [_col("id"), _col("email", "varchar", "varchar(40)", collation="utf8mb4_bin"), _col("v")]
    email = IndexColumns("email_u", ("email",), (None,), False, NOT_TEXT)
    _Catalog(monkeypatch, columns, columns, old_indexes=[email], ghost_indexes=[email, IndexColumns("PRIMARY", ("v",), (None,), False, NOT_TEXT)],
             unique={"PRIMARY": [("v", None)], "email_u": [("email", None)]})
    plan = _plan("ADD PRIMARY KEY (v)")
    assert plan.key == ("email",) and not plan.exact_key  # text, even in a binary collation (PAD SPACE)
    assert plan.unique_keys == ((("v", None),),)  # the new primary key can refuse rows: missing.py watches it
    _Catalog(monkeypatch, columns, columns, old_indexes=[IndexColumns("PRIMARY", ("id",), (None,), False, NOT_TEXT), email], ghost_indexes=[email])
    assert _plan("DROP PRIMARY KEY").key == ("email",)
    _Catalog(monkeypatch, columns, columns, old_indexes=[IndexColumns("email_u", ("email",), (None,), True, NOT_TEXT)], ghost_indexes=[])
    with pytest.raises(DbferryError, match=r"unique key `email_u` \(`email`\): a column of it may be NULL"):
        _plan()
