"""Values of single columns decoded from their row-image bytes, as the applier must write them back."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.binlog import column_types as types
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.buffer import EventBuffer
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.values import DECODERS, Column, value_size


def decode(col: Column, raw: bytes):
    """The value ``raw`` holds, checking that decoding took exactly its bytes."""
    buf = EventBuffer(raw)
    value = DECODERS[col.type](col, buf)
    assert buf.at_end()
    return value


def _decimal_bytes(whole: int, fraction: int, negative: bool) -> bytes:
    """DECIMAL(10, 2): 8 whole digits in 4 bytes, 2 fractional digits in 1, sign in the top bit, negatives inverted."""
    raw = bytearray(whole.to_bytes(4, "big") + fraction.to_bytes(1, "big"))
    raw[0] |= 0x80
    return bytes(b ^ 0xFF for b in raw) if negative else bytes(raw)


@pytest.mark.parametrize("raw, expected", [
    (_decimal_bytes(1234, 56, False), Decimal("1234.56")),
    (_decimal_bytes(1234, 56, True), Decimal("-1234.56")),
    (_decimal_bytes(0, 5, False), Decimal("0.05")),
])
def test_decimal_is_exact(raw, expected):
    value = decode(Column(types.NEWDECIMAL, 10, 2), raw)
    assert value == expected and str(value) == str(expected)


def test_a_decimal_wider_than_the_decimal_context_keeps_every_digit():
    # DECIMAL(30, 0): 3 groups of 9 digits in 4 bytes each, after 3 leftover digits in 2 bytes.
    digits = "123456789012345678901234567890"
    groups = [int(digits[:3])] + [int(digits[i:i + 9]) for i in range(3, 30, 9)]
    raw = bytearray(groups[0].to_bytes(2, "big") + b"".join(g.to_bytes(4, "big") for g in groups[1:]))
    raw[0] |= 0x80
    assert decode(Column(types.NEWDECIMAL, 30, 0), bytes(raw)) == Decimal(digits)


@pytest.mark.parametrize("raw, expected", [(bytes([124]), 2024), (bytes([0]), 0)])
def test_year_zero_stays_zero(raw, expected):
    assert decode(Column(types.YEAR), raw) == expected


@pytest.mark.parametrize("year, month, day, expected", [
    (2024, 2, 29, datetime.date(2024, 2, 29)), (0, 0, 0, "0000-00-00"), (2024, 0, 0, "2024-00-00"),
])
def test_date_or_its_text_where_python_has_no_such_date(year, month, day, expected):
    assert decode(Column(types.DATE), (year << 9 | month << 5 | day).to_bytes(3, "little")) == expected


def _hms(hour: int, minute: int, second: int) -> int:
    return hour << 12 | minute << 6 | second


@pytest.mark.parametrize("packed, expected", [
    (0x800000 + _hms(1, 2, 3), datetime.timedelta(hours=1, minutes=2, seconds=3)),
    (0x800000 - _hms(1, 2, 3), -datetime.timedelta(hours=1, minutes=2, seconds=3)),
    (0x800000 + _hms(838, 59, 59), datetime.timedelta(hours=838, minutes=59, seconds=59)),
])
def test_time_without_fraction(packed, expected):
    assert decode(Column(types.TIME2, 0), packed.to_bytes(3, "big")) == expected


def test_time_with_microseconds():
    packed = 0x800000000000 + (_hms(10, 0, 1) << 24) + 250000
    assert decode(Column(types.TIME2, 6), packed.to_bytes(6, "big")) == datetime.timedelta(hours=10, seconds=1, microseconds=250000)


def _datetime2(year: int, month: int, day: int, hour: int, minute: int, second: int) -> bytes:
    ymd = (year * 13 + month) << 5 | day
    return (0x8000000000 + (ymd << 17 | _hms(hour, minute, second))).to_bytes(5, "big")


def test_datetime_and_its_fraction():
    raw = _datetime2(2024, 2, 29, 12, 34, 56) + (1230).to_bytes(2, "big")  # 3 digits take 2 bytes: 0.123 as 1230
    assert decode(Column(types.DATETIME2, 3), raw) == datetime.datetime(2024, 2, 29, 12, 34, 56, 123000)


def test_a_zero_datetime_is_its_text_with_its_digits():
    assert decode(Column(types.DATETIME2, 2), _datetime2(0, 0, 0, 0, 0, 0) + bytes(1)) == "0000-00-00 00:00:00.00"


def test_timestamps_are_naive_utc_and_zero_is_its_text():
    assert decode(Column(types.TIMESTAMP2, 0), (86400).to_bytes(4, "big")) == datetime.datetime(1970, 1, 2)
    assert decode(Column(types.TIMESTAMP2, 1), bytes(5)) == "0000-00-00 00:00:00.0"


def test_binary_keeps_the_zero_bytes_the_binlog_drops():
    assert decode(Column(types.STRING, 4, charset="binary"), b"\x02ab") == b"ab\x00\x00"
    assert decode(Column(types.VARCHAR, 4, charset="binary"), b"\x02ab") == b"ab"


@pytest.mark.parametrize("charset, raw, expected", [
    ("utf8mb4", "é€".encode(), "é€"),
    ("latin1", b"\x80\x81\xe9", "€\x81é"),  # 0x81 is a C1 control in MariaDB's latin1, undefined in Python's cp1252
    ("utf8mb4", b"\xff", b"\xff"),  # not UTF-8: the source's bytes, which store the same
    ("sjis", b"\x82\xa0", b"\x82\xa0"),  # no codec that matches MariaDB's exactly: bytes
])
def test_text_is_str_only_where_a_codec_matches_mariadb(charset, raw, expected):
    assert decode(Column(types.VARCHAR, 300, charset=charset), len(raw).to_bytes(2, "little") + raw) == expected


def test_blob_bit_enum_and_set_are_raw_bytes_or_numbers():
    assert decode(Column(types.BLOB, 2, charset="binary"), b"\x03\x00abc") == b"abc"
    assert decode(Column(types.BIT, 10), b"\x02\x01") == b"\x02\x01"
    assert decode(Column(types.ENUM, 2), (300).to_bytes(2, "little")) == 300
    assert decode(Column(types.SET, 1), b"\x05") == 5


@pytest.mark.parametrize("col, size", [
    (Column(types.LONG), (4, 0)), (Column(types.NEWDECIMAL, 10, 2), (5, 0)), (Column(types.TIME2, 3), (5, 0)),
    (Column(types.DATETIME2, 6), (8, 0)), (Column(types.BIT, 9), (2, 0)), (Column(types.VARCHAR, 255), (0, 1)),
    (Column(types.VARCHAR, 256), (0, 2)), (Column(types.BLOB, 3), (0, 3)),
])
def test_value_size_says_how_to_step_over_a_value(col, size):
    assert value_size(col) == size


def test_reading_past_the_end_of_an_event_fails():
    buf = EventBuffer(b"\xfc\x01\x02a")
    assert buf.packed_uint() == 0x0201
    with pytest.raises(ValueError, match="1 more"):
        buf.take(2)
