"""The selected table record and the IN list its queries build (pure logic)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.selected_table import SelectedTable, base_tables, in_list


def test_display_and_quoted_names():
    table = SelectedTable("we`ird", "t.1", "BASE TABLE", "InnoDB")
    assert table.display == "we`ird.t.1"
    assert table.quoted == "`we``ird`.`t.1`"
    assert not table.is_view and SelectedTable("s", "v", "VIEW", None).is_view


def test_base_tables_keep_the_order_and_drop_views():
    tables = [SelectedTable("s", "b", "BASE TABLE", "InnoDB"), SelectedTable("s", "v", "VIEW", None),
              SelectedTable("s", "a", "SEQUENCE", "InnoDB")]
    assert [t.name for t in base_tables(tables)] == ["b", "a"]


def test_in_list_is_sorted_without_duplicates_and_never_empty():
    assert in_list(["shop", "crm", "shop"]) == ("(%s, %s)", ["crm", "shop"])
    assert in_list([]) == ("(%s)", [""])
