"""unique_fit: which target unique indexes the source's unique keys enforce (the rule, without a server)."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.key_choice import IndexColumns
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.unique_fit import enforced_by, unique_differences

BIN = {"id": None, "email": "utf8mb4_bin", "city": "utf8mb4_bin"}
SOURCE = [IndexColumns("PRIMARY", ("id",), (None,), False, (None,)),
          IndexColumns("email_u", ("email",), (8,), False, ("utf8mb4",))]


def _index(columns: tuple[str, ...], parts: tuple, name: str = "u") -> IndexColumns:
    return IndexColumns(name, columns, parts, False, (None,) * len(columns))


@pytest.mark.parametrize("columns, parts, collations, enforced", [
    (("ID",), (None,), BIN, True),  # column names compare ignoring case
    (("city", "id"), (None, None), BIN, True),  # more columns than a source key: finer
    (("email",), (None,), BIN, True),  # whole column where the source has a prefix: finer
    (("email",), (10,), BIN, True),  # a longer prefix: finer
    (("email",), (5,), BIN, False),  # a shorter prefix: coarser
    (("city",), (None,), BIN, False),  # no source key among its columns
    (("email",), (None,), dict(BIN, email="utf8mb4_general_ci"), False),  # another collation
])
def test_a_target_index_is_enforced_when_a_source_key_is_among_its_columns_as_finely(columns, parts, collations, enforced):
    assert enforced_by(_index(columns, parts), SOURCE, BIN, collations) is enforced


def test_the_differences_name_a_missing_key_index_and_each_unenforced_index():
    found = unique_differences(("id",), SOURCE, [_index(("id", "city"), (None, None), "PRIMARY"), _index(("city",), (None,), "c")],
                               BIN, BIN)
    assert len(found) == 2
    assert found[0].startswith("it has no unique index on exactly the key (`id`)")
    assert found[1].startswith("its unique index `c` (`city`) is not enforced")
    assert unique_differences(("id",), SOURCE, SOURCE, BIN, BIN) == []
