"""MovedTable's names: displayed, quoted for statements sent as they are, and quoted for statements with arguments."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.tables import MovedTable


def test_names_are_quoted_for_statements_with_and_without_arguments():
    """A ``%`` in a name is doubled only in the ``*_sql`` forms, which the driver %-formats (with arguments, ``()`` too)."""
    table = MovedTable("s%1", "t`x", "s%2", "u", ("id%",), ("id%",))
    assert (table.source, table.target) == ("s%1.t`x", "s%2.u")
    assert (table.quoted_source, table.quoted_target) == ("`s%1`.`t``x`", "`s%2`.`u`")
    assert (table.source_sql, table.target_sql, table.key_sql) == ("`s%%1`.`t``x`", "`s%%2`.`u`", "`id%%`")
    assert table.source_sql % () == table.quoted_source
