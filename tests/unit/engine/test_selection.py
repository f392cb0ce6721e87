"""Database/table selection rules (pure logic)."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.selection import Selection, unmatched_error


def test_empty_selection_takes_every_user_database_but_never_system_ones():
    sel = Selection.from_options()
    assert sel.selects_table("shop", "orders")
    for schema in ("mysql", "information_schema", "performance_schema", "sys", "_dbferry"):
        assert not sel.selects_database(schema)


def test_include_exclude_and_exclude_wins():
    sel = Selection.from_options({"include": ["shop", "crm_*"], "exclude": ["crm_old"]}, {"exclude": ["shop.tmp_*"]})
    assert sel.selects_table("shop", "orders")
    assert sel.selects_table("crm_eu", "leads")
    assert not sel.selects_table("crm_old", "leads")
    assert not sel.selects_table("shop", "tmp_import")
    assert not sel.selects_table("blog", "posts")


def test_patterns_are_case_sensitive():
    sel = Selection.from_options({"include": ["Shop"]})
    assert sel.selects_database("Shop")
    assert not sel.selects_database("shop")


def test_table_include_limits_tables():
    sel = Selection.from_options(None, {"include": ["shop.orders", "*.users"]})
    assert sel.selects_table("shop", "orders")
    assert sel.selects_table("crm", "users")
    assert not sel.selects_table("shop", "items")


def test_table_pattern_without_database_is_refused_with_fix():
    with pytest.raises(DbferryError) as err:
        Selection.from_options(None, {"include": ["orders"]})
    assert "tables.include entry 'orders' is not of the form db.table" in str(err.value)
    assert "'shop.orders'" in err.value.fix


def test_unknown_key_and_wrong_type_name_the_key():
    with pytest.raises(DbferryError, match="unknown key\\(s\\) in databases: includ"):
        Selection.from_options({"includ": ["shop"]})
    with pytest.raises(DbferryError, match="databases.include must be a list"):
        Selection.from_options({"include": "shop"})


def test_include_entries_that_match_nothing_are_reported_names_and_patterns():
    sel = Selection.from_options({"include": ["shop", "nosuch", "crm_*"]}, {"include": ["shop.orders", "shop.gone", "shop.ordr_*", "crm.t"]})
    unmatched = sel.unmatched_includes(["shop", "crm"], [("shop", "orders"), ("crm", "t")])
    # crm.t exists, but crm is not a selected database (crm_* does not match it): the move would not look there
    assert unmatched == [("databases.include", "nosuch"), ("databases.include", "crm_*"), ("tables.include", "shop.gone"),
                         ("tables.include", "shop.ordr_*"), ("tables.include", "crm.t")]
    assert "pattern 'shop.ordr_*' matches nothing on the source in the selected databases" in str(unmatched_error("tables.include", "shop.ordr_*"))
    assert "names 'nosuch', which does not exist on the source" in str(unmatched_error("databases.include", "nosuch"))
