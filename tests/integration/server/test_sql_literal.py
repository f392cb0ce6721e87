"""connection.literal against a live session: the same SQL text as the session's own escape, for every kind of value
the binlog stream hands the applier (changes.py)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from integration_support import root_session

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import literal

VALUES = [
    None, 0, -1, 2 ** 63 - 1, -(2 ** 63), 2 ** 64 - 1, True, 1.5, -0.0, 1e308, 5e-324, 0.1,
    Decimal("0"), Decimal("-0.00"), Decimal("12345678901234567890123456789012345.123456789012345678901234567890"), Decimal("-1.5E+3"),
    "", "plain", "it's", 'say "hi"', "back\\slash", "nul\0byte", "line\nbreak\r\ttab", "ctrl-z \x1a", "%s %% %(x)s", "ünïcödé 🚀",
    b"", bytes(range(256)), bytearray(b"\x00'\\\""),
    datetime.datetime(2024, 2, 29, 23, 59, 59, 999999), datetime.datetime(1000, 1, 1), datetime.date(9999, 12, 31),
    datetime.datetime(1, 1, 1, 0, 0, 0, 1), datetime.datetime(999, 12, 31, 23, 59, 59, 10), datetime.date(1, 1, 1), datetime.date(999, 1, 2),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=datetime.timezone(datetime.timedelta(hours=5))),
    datetime.timedelta(hours=-838, minutes=-59, seconds=-59), datetime.timedelta(days=1, microseconds=1), datetime.timedelta(0),
    "0000-00-00", "0000-00-00 00:00:00.000000",
]


@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:40] for v in VALUES])
def test_literal_is_what_the_session_writes(servers, value):
    with root_session(servers.target) as conn:
        assert literal(value) == conn.escape(value)
        # And the server reads it back as the value (a literal that only looks right would fail here).
        with conn.cursor() as cursor:
            cursor.execute("SELECT %s = " + literal(value).replace("%", "%%") + ", %s IS NULL", (value, value))
            same, is_null = cursor.fetchone()
        assert same == 1 or is_null == 1
