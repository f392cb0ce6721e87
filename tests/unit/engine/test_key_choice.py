"""Which key a moved table is copied by (engine/key_choice.py), pure logic."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.key_choice import IndexColumns, choose_key

TYPES = {"id": "int", "a": "varchar", "b": "binary", "f": "float", "g": "int", "n": "int", "t": "text"}


def test_the_primary_key_when_usable():
    indexes = [IndexColumns("u", ("n",), (None,), False, (None,)), IndexColumns("PRIMARY", ("a", "b"), (None, None), False, ("utf8mb4", None))]
    assert choose_key("d", "t", indexes, TYPES).columns == ("a", "b")


def test_else_the_narrowest_not_null_unique_key_then_by_name():
    indexes = [IndexColumns("z", ("a", "n"), (None, None), False, ("utf8mb4", None)), IndexColumns("y", ("n",), (None,), False, (None,)),
               IndexColumns("x", ("id",), (None,), True, (None,)), IndexColumns("w", ("g",), (None,), False, (None,))]
    assert choose_key("d", "t", indexes, TYPES).columns == ("g",)


@pytest.mark.parametrize("index, reason", [
    (IndexColumns("PRIMARY", ("f",), (None,), False, (None,)), r"primary key \(`f`\): its column `f` is FLOAT"),
    (IndexColumns("PRIMARY", ("t",), (10,), False, ("utf8mb4",)), "indexes a prefix"),
    (IndexColumns("u", ("n",), (None,), True, (None,)), "unique key `u` \\(`n`\\): a column of it may be NULL"),
    (IndexColumns("u", ("gen",), (None,), False, (None,)), "its column `gen` is generated"),
    (IndexColumns("PRIMARY", ("id", "a"), (None, None), False, (None, "cp932")), "its column `a` is in character set cp932"),
])
def test_an_unusable_key_is_refused_with_why_and_the_fix(index, reason):
    with pytest.raises(DbferryError, match=reason) as refused:
        choose_key("d", "t", [index], TYPES)
    assert refused.value.obj == "`d`.`t`" or refused.value.obj == "d.t"
    assert "ADD PRIMARY KEY" in refused.value.fix and "tables.exclude" in refused.value.fix


def test_no_key_at_all():
    with pytest.raises(DbferryError, match="it has no primary key and no unique key"):
        choose_key("d", "t", [], TYPES)
