"""Key SQL and recorded keys (engine/keys.py): pure logic; what the server makes of the SQL is tested in
tests/integration/engine/test_any_key.py."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.keys import (
    after_condition, at_most_condition, compare_args, decode_key, display_key, encode_key, in_args, in_condition, is_exact,
    key_for_output, key_points)


def test_one_column_compares_plainly():
    assert after_condition(["id"]) == "`id` > %s"
    assert at_most_condition(["id"]) == "`id` <= %s"
    assert compare_args((5,)) == [5]


def test_a_composite_key_is_spelled_as_ranges_of_its_index():
    assert after_condition(["a", "b", "c"]) == "(`a` >= %s AND ((`a` > %s) OR (`a` = %s AND `b` > %s) OR (`a` = %s AND `b` = %s AND `c` > %s)))"
    assert at_most_condition(["a", "b"]) == "(`a` <= %s AND ((`a` < %s) OR (`a` = %s AND `b` <= %s)))"
    # one argument per %s, in order
    assert compare_args((1, "x", b"\x00")) == [1, 1, 1, "x", 1, "x", b"\x00"]
    assert after_condition(["a", "b", "c"]).count("%s") == len(compare_args((1, 2, 3)))


def test_names_are_quoted_and_escaped_for_arguments():
    assert after_condition(["10% `off`"]) == "`10%% ``off``` > %s"
    assert key_points(["10%"], [("1",)]) == "`10%` IN (1)"
    assert key_points(["10%"], [("%s",)], with_arguments=True) == "`10%%` IN (%s)"


def test_points():
    assert in_condition(["id"], 3) == "`id` IN (%s, %s, %s)"
    assert in_condition(["a", "b"], 2) == "((`a` = %s AND `b` = %s) OR (`a` = %s AND `b` = %s))"
    assert in_args([(1, "x"), (2, "y")]) == [1, "x", 2, "y"]


@pytest.mark.parametrize("value", [
    (0,), (-5,), (18446744073709551615,), ("abc ",), ("café",), ("",), (b"\x00\xff\x10",), (Decimal("-12.500"),),
    (7, "x", b"\x00"),
])
def test_recorded_keys_give_back_the_same_values(value):
    assert decode_key(encode_key(value)) == value
    assert type(decode_key(encode_key(value))[0]) is type(value[0])


def test_temporal_keys_are_recorded_as_the_servers_text():
    moment = datetime.datetime(2024, 2, 29, 23, 59, 58, 120000)
    assert decode_key(encode_key((moment, datetime.date(2024, 1, 2)))) == ("2024-02-29 23:59:58.120000", "2024-01-02")
    assert decode_key(encode_key((datetime.timedelta(hours=-1, seconds=1),))) == ("-0:59:59",)
    assert decode_key(encode_key((datetime.timedelta(days=1, microseconds=5),))) == ("24:00:00.000005",)


def test_an_earlier_versions_numbers_read_as_one_column_keys():
    assert decode_key("123") == (123,)
    assert decode_key(Decimal("9")) == (9,)
    assert decode_key(None) is None and encode_key(None) is None


def test_a_key_cannot_hold_null_or_floats():
    for value in ((None,), (1.5,), (True,)):
        with pytest.raises(ValueError):
            encode_key(value)


def test_only_text_is_inexact():
    assert is_exact(["int", "binary", "datetime", "decimal"])
    assert not is_exact(["int", "varchar"])
    assert not is_exact(["char"])


def test_keys_for_messages_and_results():
    assert display_key(["id"], (5,)) == "`id` = 5"
    assert display_key(["t", "n"], (1, "a")) == "(`t`, `n`) = (1, 'a')"
    assert key_for_output((5,)) == 5
    assert key_for_output(5) == 5
    assert key_for_output((b"\x01", Decimal("1.50"), datetime.timedelta(seconds=61))) == ["0x01", "1.50", "0:01:01"]
