"""Verification logic without a server: key ranges, row differences, digest expressions, reports."""

from __future__ import annotations

import bisect

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.tables import MovedTable
from ansible_collections.dbferry.mysql.plugins.module_utils.verify.checksum import (
    DIFFERS,
    EXTRA,
    MISSING,
    Mismatch,
    TableResult,
    VerifyReport,
    chunk_ranges,
    column_digest,
    pick_tables,
    range_condition,
    row_differences,
    row_digest,
    verify,
)


def _boundaries(keys: list[int], chunk_rows: int):
    """next_boundary() as the source answers it: the chunk_rows-th key above low."""
    keys = sorted(keys)

    def next_boundary(low):
        start = 0 if low is None else bisect.bisect_right(keys, low)
        index = start + chunk_rows - 1
        return keys[index] if index < len(keys) else None

    return next_boundary


def _holder(key_range, key):
    low, high = key_range
    return (low is None or key > low) and (high is None or key <= high)


@pytest.mark.parametrize("keys, chunk_rows, expected", [
    ([], 3, [(None, None)]),
    ([5], 3, [(None, None)]),
    ([1, 2, 3], 3, [(None, 3), (3, None)]),
    ([1, 2, 3, 4, 5, 6, 7], 3, [(None, 3), (3, 6), (6, None)]),
    ([-9, 0, 18446744073709551615], 1, [(None, -9), (-9, 0), (0, 18446744073709551615), (18446744073709551615, None)]),
])
def test_chunk_ranges_cut_at_every_nth_source_key(keys, chunk_rows, expected):
    assert list(chunk_ranges(_boundaries(keys, chunk_rows))) == expected


def test_chunk_ranges_hold_every_possible_key_exactly_once():
    """Keys only the target has (below the first, between, beyond the last source key) fall into exactly one range."""
    source_keys = list(range(10, 200, 7))
    ranges = list(chunk_ranges(_boundaries(source_keys, 4)))
    for key in [-(2**63), -1, 0, 9, 10, 11, 199, 200, 10**6, 2**64 - 1] + source_keys:
        assert sum(_holder(r, key) for r in ranges) == 1, key
    assert all(sum(_holder(r, k) for k in source_keys) <= 4 for r in ranges)


def test_range_condition_quotes_the_key_and_passes_values_as_arguments():
    assert range_condition(("id",), (None, None)) == ("TRUE", [])
    assert range_condition(("id",), (None, (5,))) == ("`id` <= %s", [5])
    assert range_condition(("we`ird",), ((5,), None)) == ("`we``ird` > %s", [5])
    assert range_condition(("id",), ((0,), (10,))) == ("`id` > %s AND `id` <= %s", [0, 10])
    condition, args = range_condition(("a", "b"), ((1, "x"), (2, "y")))
    assert condition == ("(`a` >= %s AND ((`a` > %s) OR (`a` = %s AND `b` > %s))) AND "
                         "(`a` <= %s AND ((`a` < %s) OR (`a` = %s AND `b` <= %s)))")
    assert args == [1, 1, 1, "x", 2, 2, 2, "y"]


def test_row_differences_in_key_order_without_sorting():
    source = [(1, "a"), (2, "b"), (3, "c"), (5, "e"), (7, "g")]
    target = [(0, "z"), (2, "b"), (3, "X"), (4, "d"), (5, "e"), (6, "f")]
    assert row_differences(source, target) == [(0, EXTRA), (1, MISSING), (3, DIFFERS), (4, EXTRA), (6, EXTRA), (7, MISSING)]
    assert row_differences(source, list(source)) == []
    # the servers' order, whatever Python's: "b" < "a" in this made-up collation
    assert row_differences([("b", "1"), ("a", "2")], [("b", "1"), ("c", "3"), ("a", "0")]) == [("c", EXTRA), ("a", DIFFERS)]


def test_row_differences_match_keys_exactly():
    """A key the target holds as 'A' where the source holds 'a' is a difference, even where a collation equals them."""
    assert row_differences([(("a",), "d")], [(("A",), "d")]) == [(("A",), EXTRA), (("a",), MISSING)]


def test_column_digests_are_exact_per_type():
    assert column_digest("v", "varchar") == "IFNULL(CONCAT(LENGTH(`v`), ':', CAST(`v` AS BINARY)), 'N')"
    # FLOAT prints with 6 digits; as a DOUBLE it prints exactly
    assert column_digest("f", "FLOAT") == "IFNULL(CONCAT(`f` + 0e0, ','), 'N')"
    # numbers and times print without a comma: the comma ends them
    for data_type in ("int", "BIGINT", "decimal", "datetime", "timestamp", "time", "year", "date"):
        assert column_digest("n", data_type) == "IFNULL(CONCAT(`n`, ','), 'N')"
    # BIT prints its bytes, which may hold a comma: length-prefixed
    assert column_digest("b", "bit") == "IFNULL(CONCAT(LENGTH(`b`), ':', CAST(`b` AS BINARY)), 'N')"
    # the ENUM error value and a '' member print alike; their numbers differ
    assert "CAST(CONCAT(`e` + 0, '=', `e`) AS BINARY)" in column_digest("e", "enum")
    # long values are digested first, so a row's concatenation stays small
    assert column_digest("b", "longblob") == "IFNULL(CONCAT('H', SHA2(CAST(`b` AS BINARY), 256)), 'N')"
    assert column_digest("x`y", "varchar").count("`x``y`") == 2
    assert row_digest([("id", "int"), ("v", "varchar")]).startswith("SHA2(CONCAT(IFNULL(CONCAT(`id`, ','), 'N'), ")


def test_names_with_a_percent_sign_survive_the_drivers_formatting():
    """Statements run with arguments, so the driver %-formats their text."""
    condition, args = range_condition(("50%",), ((1,), None))
    assert condition == "`50%%` > %s" and condition % tuple(args) == "`50%` > 1"
    assert (column_digest("a%s", "varchar") % ()).count("`a%s`") == 2


def _table(name="t", target_schema="shop"):
    return MovedTable("shop", name, target_schema, name, (), ("id",))


def test_pick_tables_refuses_tables_outside_the_move():
    tables = [_table("a"), _table("b")]
    assert pick_tables(tables, None, "m") == tables
    assert pick_tables(tables, ["shop.b"], "m") == [tables[1]]
    with pytest.raises(DbferryError, match=r"table\(s\) shop.c are not part of move m.*out of: shop.a, shop.b"):
        pick_tables(tables, ["shop.c", "shop.a"], "m")


def test_failure_message_names_table_key_and_columns():
    differing = TableResult(_table("t", "shop_v2"), rows=10, chunks=1, mismatches=[
        Mismatch((3,), DIFFERS, ("v", "s")), Mismatch((4,), MISSING), Mismatch((99,), EXTRA)])
    report = VerifyReport("0-1-5", "0-1-6", 1.0, [TableResult(_table("a")), differing])
    assert report.mismatched == [differing]
    message = report.failure_message()
    assert message.startswith("verify found 3 differing row(s) in 1 table(s) (shop.t): shop.t `id` = 3 differs in v, s; "
                              "shop.t `id` = 4 is missing on the target; shop.t `id` = 99 is extra on the target.")
    assert "do not cut over" in message
    assert report.as_dict()["tables"][1] == {
        "table": "shop.t", "target_table": "shop_v2.t", "rows": 10, "chunks": 1, "seconds": 0.0, "truncated": False,
        "mismatches": [{"key": 3, "kind": "differs", "columns": ["v", "s"]}, {"key": 4, "kind": "missing", "columns": []},
                       {"key": 99, "kind": "extra", "columns": []}]}


@pytest.mark.parametrize("options, message", [
    ({"method": "crc"}, "unknown verification method 'crc'."),
    ({"chunk_rows": 0}, "chunk_rows must be at least 1, got 0."),
    ({"parallel": 0}, "parallel must be at least 1, got 0."),
    ({"timeout": -1}, "timeout must be at least 0, got -1."),
])
def test_bad_options_fail_before_connecting(options, message):
    with pytest.raises(DbferryError) as caught:
        verify(None, None, "m", **options)  # type: ignore[arg-type]  # never reaches a server
    assert str(caught.value).startswith(message)
