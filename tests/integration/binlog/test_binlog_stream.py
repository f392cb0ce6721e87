"""binlog.BinlogStream against a real MariaDB source: exact values, positions, filtering, DDL, reconnects.

Every test starts its stream at the source's position read before its own
statements, so it sees exactly those. Waits are bounded polls: timing decides
how long a test runs, never whether it passes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from typing import Any, Callable, Iterator, Optional

import pymysql
import pytest
from integration_support import Servers, root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.binlog import gtid
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.reader import BinlogStream
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.changes import DELETE, INSERT, UPDATE, RowChange, Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec, connect, execute, fetch_all, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.server.flavor import Flavor, detect_flavor
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident, quote_table

_server_ids = itertools.count(4_100_000)


@pytest.fixture(scope="module")
def flavor(servers: Servers) -> Flavor:
    with root_session(servers.source) as conn:
        return detect_flavor(conn)


def source_position(servers: Servers) -> str:
    with root_session(servers.source) as conn:
        return fetch_value(conn, "SELECT @@GLOBAL.gtid_binlog_pos") or ""


@contextlib.contextmanager
def open_stream(servers: Servers, flavor: Flavor, start: str, tables: list[tuple[str, str]],
                spec: Optional[ServerSpec] = None, **options: Any) -> Iterator[BinlogStream]:
    options.setdefault("heartbeat_seconds", 0.2)
    stream = BinlogStream(spec or servers.source.spec("ferry_source"), flavor, start, tables, server_id=next(_server_ids), **options)
    try:
        yield stream
    finally:
        stream.close()


def read_until(stream: BinlogStream, position: str, timeout: float = 20.0) -> list[Transaction]:
    """Transactions until the stream's position includes ``position``, the source's position after the test's statements."""
    got = []
    deadline = time.monotonic() + timeout
    while not gtid.reached(stream.position, position):
        assert time.monotonic() < deadline, "the stream is at %r after %.0f s; the source is at %r" % (stream.position, timeout, position)
        txn = stream.next_transaction(0.5)
        if txn is not None:
            got.append(txn)
    return got


def read_error(stream: BinlogStream, timeout: float = 20.0) -> DbferryError:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stream.next_transaction(0.5)
        except DbferryError as exc:
            return exc
    raise AssertionError("the stream raised nothing within %.0f s" % timeout)


def changes_of(txns: list[Transaction]) -> list[RowChange]:
    return [change for txn in txns for change in txn.changes]


def inserted_ids(txns: list[Transaction]) -> list[int]:
    return [c.after["id"] for c in changes_of(txns) if c.kind == INSERT]


# ---------------------------------------------------------------------------
# Values: every type family, written back with PyMySQL, compared exactly


class Raw(str):
    """An SQL expression used as is in a test INSERT (a geometry constructor)."""


#: name, column type, how to compare it exactly: "text" CAST AS CHAR, "hex" HEX(), "double" CAST AS DOUBLE (a
#: round-trip decimal form), "value" as PyMySQL reads it.
#: The order matters: the binlog lists signedness only for numeric columns and character sets only for
#: character columns, so a wrong idea of which columns count shifts the flags of the columns after them.
#: YEAR (counted as numeric) and BIT (not) come before unsigned integers; ENUM, SET and GEOMETRY
#: (not counted as character columns, except GEOMETRY) before columns in other character sets.
COLUMNS = [
    ("y", "YEAR", "text"), ("ti", "TINYINT", "text"), ("tu", "TINYINT UNSIGNED", "text"), ("si", "SMALLINT", "text"),
    ("su", "SMALLINT UNSIGNED", "text"), ("mi", "MEDIUMINT", "text"), ("mu", "MEDIUMINT UNSIGNED", "text"), ("ii", "INT", "text"),
    ("b1", "BIT(1)", "hex"), ("b10", "BIT(10)", "hex"), ("b64", "BIT(64)", "hex"),
    ("iu", "INT UNSIGNED", "text"), ("bi", "BIGINT", "text"), ("bu", "BIGINT UNSIGNED", "text"),
    ("dc", "DECIMAL(65,30)", "text"), ("d5", "DECIMAL(5,2)", "text"), ("d18", "DECIMAL(18,9) UNSIGNED", "text"), ("d10", "DECIMAL(10,0)", "text"),
    ("fl", "FLOAT", "double"), ("db", "DOUBLE", "double"),
    ("e", "ENUM('a','b c','é😀')", "hex"), ("st", "SET('a','b','é')", "hex"), ("el", "ENUM('x','é') CHARACTER SET latin1", "hex"),
    ("d", "DATE", "text"),
    ("dt", "DATETIME", "text"), ("dt1", "DATETIME(1)", "text"), ("dt3", "DATETIME(3)", "text"), ("dt6", "DATETIME(6)", "text"),
    ("ts", "TIMESTAMP NULL", "text"), ("ts3", "TIMESTAMP(3) NULL", "text"), ("ts6", "TIMESTAMP(6) NULL", "text"),
    ("tm", "TIME", "text"), ("tm1", "TIME(1)", "text"), ("tm4", "TIME(4)", "text"), ("tm6", "TIME(6)", "text"),
    ("c", "CHAR(10)", "hex"), ("ch", "CHAR(255)", "hex"), ("vs", "VARCHAR(10)", "hex"), ("vc", "VARCHAR(300)", "hex"),
    ("tt", "TINYTEXT", "hex"), ("tx", "TEXT", "hex"), ("mt", "MEDIUMTEXT", "hex"), ("lt", "LONGTEXT", "hex"),
    ("gm", "GEOMETRY", "hex"), ("l1", "VARCHAR(200) CHARACTER SET latin1", "hex"), ("lc", "CHAR(10) CHARACTER SET latin1", "hex"),
    ("cp", "VARCHAR(10) CHARACTER SET cp1251", "hex"), ("uc", "VARCHAR(10) COLLATE utf8mb4_uca1400_ai_ci", "hex"),
    ("bn", "BINARY(8)", "hex"), ("vb", "VARBINARY(300)", "hex"),
    ("tb", "TINYBLOB", "hex"), ("bl", "BLOB", "hex"), ("mb", "MEDIUMBLOB", "hex"), ("lb", "LONGBLOB", "hex"),
    ("j", "JSON", "hex"), ("u", "UUID", "text"), ("i6", "INET6", "text"),
    ("inv", "INT INVISIBLE", "text"),
    ("gv", "BIGINT AS (ii + 1) VIRTUAL", "text"), ("gs", "VARCHAR(30) AS (CONCAT('<', vs, '>')) STORED", "hex"),
]
GENERATED = {"gv", "gs"}

MIN_ROW = {
    "ti": -128, "tu": 0, "si": -32768, "su": 0, "mi": -8388608, "mu": 0, "ii": -2147483648, "iu": 0,
    "bi": -9223372036854775808, "bu": 0, "dc": Decimal("-99999999999999999999999999999999999.999999999999999999999999999999"),
    "d5": Decimal("-999.99"), "d18": Decimal("0"), "d10": Decimal("-9999999999"),
    "fl": -3.4028234663852886e38, "db": -1.7976931348623157e308, "b1": b"\x00", "b10": b"\x00\x00", "b64": b"\x00" * 8,
    "e": "a", "st": "", "el": "x", "y": 1901, "d": "1000-01-01",
    "dt": "1000-01-01 00:00:00", "dt1": "1000-01-01 00:00:00.0", "dt3": "1000-01-01 00:00:00.000", "dt6": "1000-01-01 00:00:00.000000",
    "ts": "1970-01-01 00:00:01", "ts3": "1970-01-01 00:00:01.000", "ts6": "1970-01-01 00:00:01.000000",
    "tm": "-838:59:59", "tm1": "-838:59:59.0", "tm4": "-838:59:59.0000", "tm6": "-838:59:59.000000",
    "c": "", "ch": "", "vs": "", "vc": "", "tt": "", "tx": "", "mt": "", "lt": "", "l1": "", "lc": "", "cp": "", "uc": "",
    "bn": b"", "vb": b"", "tb": b"", "bl": b"", "mb": b"", "lb": b"", "j": "{}", "gm": Raw("ST_GeomFromText('POINT(0 0)')"),
    "u": "00000000-0000-0000-0000-000000000000", "i6": "::", "inv": -2147483648,
}
MAX_ROW = {
    "ti": 127, "tu": 255, "si": 32767, "su": 65535, "mi": 8388607, "mu": 16777215, "ii": 2147483647, "iu": 4294967295,
    "bi": 9223372036854775807, "bu": 18446744073709551615, "dc": Decimal("99999999999999999999999999999999999.999999999999999999999999999999"),
    "d5": Decimal("999.99"), "d18": Decimal("999999999.999999999"), "d10": Decimal("9999999999"),
    "fl": 3.4028234663852886e38, "db": 1.7976931348623157e308, "b1": b"\x01", "b10": b"\x03\xff", "b64": b"\xff" * 8,
    "e": "é😀", "st": "a,b,é", "el": "é", "y": 2155, "d": "9999-12-31",
    "dt": "9999-12-31 23:59:59", "dt1": "9999-12-31 23:59:59.9", "dt3": "9999-12-31 23:59:59.999", "dt6": "9999-12-31 23:59:59.999999",
    "ts": "2038-01-19 03:14:07", "ts3": "2038-01-19 03:14:07.999", "ts6": "2038-01-19 03:14:07.999999",
    "tm": "838:59:59", "tm1": "838:59:59.9", "tm4": "838:59:59.9999", "tm6": "838:59:59.999999",
    "c": "é😀 '\"\\\t", "ch": "😀" * 255, "vs": "😀" * 10, "vc": "é" * 300, "tt": "x" * 255, "tx": "é😀" * 5000,
    "mt": "ab" * 40000, "lt": "😀" * 70000, "l1": bytes(range(0x80, 0x100)), "lc": b"\xe9\xff\x80", "cp": "Жж Ёё", "uc": "Ünïcödé",
    "bn": b"\xff" * 8, "vb": bytes(range(256)) + b"\x00\x00", "tb": bytes(range(255)), "bl": bytes(range(256)) * 200,
    "mb": bytes(range(256)) * 300, "lb": bytes(reversed(range(256))) * 300, "j": '{"a": [1, 2.50, "é😀"],  "b" : null}',
    "gm": Raw("ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))')"),
    "u": "ffffffff-ffff-ffff-ffff-ffffffffffff", "i6": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "inv": 2147483647,
}
SPECIAL_ROW = {
    "dc": Decimal("0.000000000000000000000000000001"), "d5": Decimal("-0.01"), "d18": Decimal("0.000000001"), "d10": Decimal("-1"),
    "fl": 0.1, "db": 0.1 + 0.2, "b10": b"\x02\x01", "b64": b"\x80\x00\x00\x00\x00\x00\x00\x01",
    "e": "b c", "st": "b", "y": 0, "d": "0000-00-00",
    "dt": "0000-00-00 00:00:00", "dt1": "2020-00-15 10:00:00.5", "dt3": "0000-00-00 00:00:00.000", "dt6": "2024-02-29 12:34:56.000001",
    "ts": "0000-00-00 00:00:00", "ts3": "2001-09-09 01:46:40.001", "ts6": "0000-00-00 00:00:00.000000",
    "tm": "-00:00:01", "tm1": "-00:00:00.1", "tm4": "-01:02:03.0001", "tm6": "-00:00:00.000001",
    "c": " lead", "vs": "a\x00b", "tx": "", "l1": b"\x81\x8d\x8f\x90\x9d\x80", "lc": b"a", "bn": b"\x00" * 8, "vb": b"\x00",
    "bl": b"\x00", "j": "[]", "gm": Raw("ST_GeomFromText('POINT(1.5 -2)')"),
    "u": "123e4567-e89b-12d3-a456-426655440000", "i6": "::ffff:1.2.3.4", "inv": 0,
}
MORE_ROW = {
    "fl": 1.401298464324817e-45, "db": 5e-324, "tm": "12:00:00", "tm1": "00:00:00.1", "tm4": "-00:00:00.5", "tm6": "-838:59:58.999999",
    "dt1": "2020-01-01 00:00:00.9", "dt3": "2020-01-01 00:00:00.123", "ts": "2021-03-04 05:06:07", "ts3": "2021-03-04 05:06:07.5",
    "ts6": "2021-03-04 05:06:07.000001", "bn": b"\x01\x02", "u": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "i6": "2001:db8::1",
    "d": "2020-00-00", "b1": b"\x01", "dc": Decimal("-0.5"),
}


def _create_table(server: Any, db: str) -> None:
    sql(server, "CREATE DATABASE IF NOT EXISTS %s" % quote_ident(db),
        "CREATE TABLE %s (id INT PRIMARY KEY, %s) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        % (quote_table(db, "all_types"), ", ".join("%s %s" % (quote_ident(n), t) for n, t, _how in COLUMNS)))


def _insert(conn: Any, table: str, row_id: int, values: dict[str, Any]) -> None:
    names = ["id"] + list(values)
    marks = ["%s"] + [v if isinstance(v, Raw) else "%s" for v in values.values()]
    params = [row_id] + [v for v in values.values() if not isinstance(v, Raw)]
    execute(conn, "INSERT INTO %s (%s) VALUES (%s)" % (table, ", ".join(map(quote_ident, names)), ", ".join(marks)), params)


def _write(conn: Any, table: str, change: RowChange) -> None:
    """Apply one change with plain PyMySQL, by primary key; generated columns are computed by the target."""
    if change.kind == INSERT:
        after = {k: v for k, v in change.after.items() if k not in GENERATED}
        execute(conn, "INSERT INTO %s (%s) VALUES (%s)" % (table, ", ".join(map(quote_ident, after)), ", ".join(["%s"] * len(after))),
                list(after.values()))
    elif change.kind == UPDATE:
        after = {k: v for k, v in change.after.items() if k not in GENERATED}
        assert execute(conn, "UPDATE %s SET %s WHERE id = %%s" % (table, ", ".join("%s = %%s" % quote_ident(k) for k in after)),
                       list(after.values()) + [change.before["id"]]) == 1
    else:
        assert execute(conn, "DELETE FROM %s WHERE id = %%s" % table, [change.before["id"]]) == 1


def _exact_rows(server: Any, table: str) -> list[tuple]:
    exprs = []
    for name, _type, how in COLUMNS:
        col = quote_ident(name)
        exprs.append({"text": "CAST(%s AS CHAR)", "hex": "HEX(%s)", "double": "CAST(%s AS DOUBLE)", "value": "%s"}[how] % col)
    with root_session(server) as conn:
        return fetch_all(conn, "SELECT id, %s FROM %s ORDER BY id" % (", ".join(exprs), table))


@pytest.fixture
def local_zone_far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in a local time zone 13:45 ahead of UTC, to prove that no TIMESTAMP value depends on it."""
    monkeypatch.setenv("TZ", "Pacific/Chatham")
    time.tzset()
    assert time.localtime(0).tm_hour != 0
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("key_only_before", [False, True], ids=["whole_before_images", "key_only_before_images"])
def test_every_type_round_trips_exactly(servers, db, flavor, local_zone_far_from_utc, key_only_before):
    """Every type decodes exactly; with ``keys`` (as the engine streams), before images keep only the key and every
    other value of every type is stepped over, which must land exactly on the next value (the after image, the next row)."""
    table = quote_table(db, "all_types")
    _create_table(servers.source, db)
    _create_table(servers.target, db)
    start = source_position(servers)
    with root_session(servers.source) as conn:
        _insert(conn, table, 1, MIN_ROW)
        _insert(conn, table, 2, MAX_ROW)
        _insert(conn, table, 3, SPECIAL_ROW)
        _insert(conn, table, 4, {})  # NULL in every column
        _insert(conn, table, 5, MORE_ROW)
        execute(conn, "SET SESSION time_zone = '+09:00'")  # the instant is stored, whatever the writer's zone
        _insert(conn, table, 6, {"ts6": "2030-05-06 07:08:09.123456", "ts": "1970-01-01 09:00:01"})
        execute(conn, "SET SESSION time_zone = '+00:00'")
        execute(conn, "BEGIN")
        _insert(conn, table, 7, {"vs": "seven"})
        execute(conn, "INSERT INTO %s (id, vs) VALUES (10, 'a'), (11, 'b'), (12, 'c')" % table)  # one event, three rows
        execute(conn, "COMMIT")
        execute(conn, "UPDATE %s SET %s WHERE id = 1" % (table, ", ".join("%s = %%s" % quote_ident(k) for k, v in MAX_ROW.items() if not isinstance(v, Raw))),
                [v for v in MAX_ROW.values() if not isinstance(v, Raw)])
        execute(conn, "UPDATE %s SET id = 100, vs = 'moved' WHERE id = 2" % table)  # a key change
        execute(conn, "UPDATE %s SET e = NULL, st = 'a,é', y = 2000, tm6 = '-00:00:00.5' WHERE id = 3" % table)
        execute(conn, "UPDATE %s SET vs = 'z' WHERE id BETWEEN 10 AND 12" % table)
        execute(conn, "DELETE FROM %s WHERE id IN (4, 11)" % table)
    end = source_position(servers)

    keys = {(db, "all_types"): ("id",)} if key_only_before else None
    with open_stream(servers, flavor, start, [(db, "all_types")], keys=keys) as stream:
        txns = read_until(stream, end)
        assert stream.next_transaction(0.2) is None
    changes = changes_of(txns)
    befores = [c.before for c in changes if c.before is not None]
    assert all(set(before) == ({"id"} if key_only_before else set(changes[0].after)) for before in befores)
    assert [(c.kind, (c.before or c.after)["id"]) for c in changes] == [
        (INSERT, 1), (INSERT, 2), (INSERT, 3), (INSERT, 4), (INSERT, 5), (INSERT, 6), (INSERT, 7), (INSERT, 10), (INSERT, 11), (INSERT, 12),
        (UPDATE, 1), (UPDATE, 2), (UPDATE, 3), (UPDATE, 10), (UPDATE, 11), (UPDATE, 12), (DELETE, 4), (DELETE, 11)]
    assert [len(t.changes) for t in txns] == [1, 1, 1, 1, 1, 1, 4, 1, 1, 1, 3, 2]
    assert all(c.schema == db and c.table == "all_types" for c in changes)
    first = changes[0].after
    assert set(first) == {"id"} | {n for n, _t, _h in COLUMNS}, "every column, INVISIBLE and generated ones too, is in the image"
    assert (first["gv"], first["inv"]) == (-2147483647, -2147483648)
    # Values in the types PyMySQL returns, including where mysql-replication's own decoding differs.
    special = changes[2].after
    assert special["d"] == "0000-00-00" and special["dt"] == "0000-00-00 00:00:00" and special["ts6"] == "0000-00-00 00:00:00.000000"
    assert special["dt1"] == "2020-00-15 10:00:00.5" and special["st"] == 2 and first["st"] == 0, "SET values are bitmasks"
    assert (first["e"], changes[1].after["e"], special["e"], changes[1].after["el"]) == (1, 3, 2, 2), "ENUM values are indexes"
    assert special["bn"] == b"\x00" * 8 and changes[4].after["bn"] == b"\x01\x02" + b"\x00" * 6
    assert special["b10"] == b"\x02\x01" and special["y"] == 0 and isinstance(special["dc"], Decimal)
    assert changes[1].after["cp"] == "Жж Ёё".encode("cp1251"), "a charset without an exact Python codec comes as bytes"

    with connect(servers.target.spec("root")) as conn:
        for change in changes:
            _write(conn, table, change)
    source_rows, target_rows = _exact_rows(servers.source, table), _exact_rows(servers.target, table)
    assert [r[0] for r in source_rows] == [1, 3, 5, 6, 7, 10, 12, 100]
    for source_row, target_row in zip(source_rows, target_rows):
        assert source_row == target_row, "row %s differs in %s" % (source_row[0], [
            COLUMNS[i - 1][0] for i in range(1, len(source_row)) if source_row[i] != target_row[i]])
    assert len(source_rows) == len(target_rows)


def test_latin1_bytes_decode_as_mariadb_maps_them(servers, db, flavor):
    """MariaDB's latin1 is cp1252 plus five C1 controls; the stream's str writes back the same bytes (checked above)."""
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, l VARCHAR(200) CHARACTER SET latin1)" % quote_table(db, "t"))
    start = source_position(servers)
    sql(servers.source, "INSERT INTO %s VALUES (1, x'%s')" % (quote_table(db, "t"), bytes(range(0x80, 0x100)).hex()))
    with root_session(servers.source) as conn:
        expected = fetch_value(conn, "SELECT l FROM %s" % quote_table(db, "t"))
    with open_stream(servers, flavor, start, [(db, "t")]) as stream:
        (txn,) = read_until(stream, source_position(servers))
    assert txn.changes[0].after["l"] == expected and len(expected) == 128


def test_text_a_python_codec_refuses_comes_as_the_bytes_the_source_holds(servers, db, flavor):
    """Text in a character set with a Python codec (utf8mb4, ascii) is decoded inline (table_map.read_image), after a
    length prefix of 1 or 2 bytes; bytes the codec refuses (an ascii column keeps what a non-strict session put in it)
    come as the bytes the source holds, as values._text returns them."""
    table = quote_table(db, "t")
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, a VARCHAR(10) CHARACTER SET ascii, c CHAR(100) CHARACTER SET ascii, "
                        "u VARCHAR(300) CHARACTER SET utf8mb4, t TEXT CHARACTER SET ascii, n INT)" % table)
    start = source_position(servers)
    sql(servers.source, "SET SESSION sql_mode = ''",
        "INSERT INTO %s VALUES (1, x'61ff', x'80', 'é😀', x'7f00ff', 1), (2, 'ok', 'fine', '', '', NULL), (3, NULL, NULL, NULL, 'x', 3)" % table)
    with root_session(servers.source) as conn:
        stored = [tuple(None if h is None else bytes.fromhex(h if isinstance(h, str) else h.decode()) for h in row)
                  for row in fetch_all(conn, "SELECT HEX(a), HEX(c), HEX(t) FROM %s ORDER BY id" % table)]
    assert stored[0] == (b"a\xff", b"\x80", b"\x7f\x00\xff"), "the source holds the bytes the codec refuses"
    with open_stream(servers, flavor, start, [(db, "t")]) as stream:
        (txn,) = read_until(stream, source_position(servers))
    assert [c.after for c in txn.changes] == [
        {"id": 1, "a": b"a\xff", "c": b"\x80", "u": "é😀", "t": b"\x7f\x00\xff", "n": 1},
        {"id": 2, "a": "ok", "c": "fine", "u": "", "t": "", "n": None},
        {"id": 3, "a": None, "c": None, "u": None, "t": "x", "n": 3}]


def test_enum_error_value_is_index_0_apart_from_an_empty_label(servers, db, flavor):
    """An invalid ENUM value stored by a non-strict session is index 0; where '' is a label, '' is index 1. PyMySQL reads
    both as '', so the stream returns numbers."""
    table = quote_table(db, "t")
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, e ENUM('','x','y'), s SET('a','b','c'))" % table)
    start = source_position(servers)
    sql(servers.source, "SET SESSION sql_mode = ''", "INSERT INTO %s VALUES (1, 'nope', 'c'), (2, '', 'a,c')" % table)
    with open_stream(servers, flavor, start, [(db, "t")]) as stream:
        (txn,) = read_until(stream, source_position(servers))
    assert [c.after for c in txn.changes] == [{"id": 1, "e": 0, "s": 4}, {"id": 2, "e": 1, "s": 5}]


# ---------------------------------------------------------------------------
# Transactions and positions


def test_resume_from_position_returns_exactly_the_rest(servers, db, flavor):
    table = quote_table(db, "t")
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY)" % table)
    start = source_position(servers)
    with root_session(servers.source) as conn:
        for i in range(1, 9):
            if i == 4:  # a second replication domain: the position tracks each
                execute(conn, "SET SESSION gtid_domain_id = 7")
            execute(conn, "INSERT INTO %s VALUES (%d)" % (table, i))
    end = source_position(servers)
    assert len(gtid.parse(end)) >= 2

    with open_stream(servers, flavor, start, [(db, "t")]) as stream:
        everything = read_until(stream, end)
    assert inserted_ids(everything) == list(range(1, 9))
    assert gtid.parse(everything[-1].position) == gtid.parse(end)

    with open_stream(servers, flavor, start, [(db, "t")]) as stream:
        head = [stream.next_transaction(5.0) for _i in range(3)]
        resume_at = stream.position
    assert [t.position for t in head] == [t.position for t in everything[:3]] and resume_at == head[-1].position
    with open_stream(servers, flavor, resume_at, [(db, "t")]) as stream:
        rest = read_until(stream, end)
        assert stream.next_transaction(0.2) is None
    assert [t.position for t in rest] == [t.position for t in everything[3:]]
    assert inserted_ids(rest) == list(range(4, 9))


def test_only_moved_tables_become_changes_and_every_transaction_advances(servers, db, flavor):
    other_db = db + "_other"
    sql(servers.source,
        "CREATE TABLE %s (id INT PRIMARY KEY, v INT)" % quote_table(db, "a"),
        "CREATE TABLE %s (id INT PRIMARY KEY, v INT)" % quote_table(db, "b"),
        "CREATE TABLE %s (id INT PRIMARY KEY, v INT)" % quote_table(db, "not_moved"),
        "CREATE DATABASE %s" % quote_ident(other_db),
        "CREATE TABLE %s (id INT PRIMARY KEY, v INT)" % quote_table(other_db, "a"))  # same name as a moved table
    try:
        start = source_position(servers)
        with root_session(servers.source) as conn:
            execute(conn, "BEGIN")
            for name, row_id in (("a", 1), ("not_moved", 1), ("b", 1), ("a", 2)):
                execute(conn, "INSERT INTO %s VALUES (%d, 1)" % (quote_table(db, name), row_id))
            execute(conn, "COMMIT")
            execute(conn, "INSERT INTO %s VALUES (1, 1)" % quote_table(other_db, "a"))
            execute(conn, "INSERT INTO %s VALUES (9, 9)" % quote_table(db, "not_moved"))
            execute(conn, "CREATE TABLE %s (id INT PRIMARY KEY)" % quote_table(db, "new_table"))  # DDL elsewhere: ignored
            execute(conn, "ALTER TABLE %s ADD COLUMN w INT" % quote_table(db, "not_moved"))
            execute(conn, "UPDATE %s SET v = 2 WHERE id = 1" % quote_table(db, "b"))
        end = source_position(servers)
        with open_stream(servers, flavor, start, [(db, "a"), (db, "b")]) as stream:
            txns = read_until(stream, end)
            assert stream.next_transaction(0.2) is None
    finally:
        sql(servers.source, "DROP DATABASE IF EXISTS %s" % quote_ident(other_db))
    assert [[(c.kind, c.table, (c.after or c.before)["id"]) for c in t.changes] for t in txns] == [
        [(INSERT, "a", 1), (INSERT, "b", 1), (INSERT, "a", 2)], [], [], [], [], [(UPDATE, "b", 1)]]
    assert txns[-1].changes[0].before == {"id": 1, "v": 1} and txns[-1].changes[0].after == {"id": 1, "v": 2}
    assert len({t.position for t in txns}) == len(txns) and txns[-1].position == stream.position
    assert all(t.timestamp > 1_600_000_000 for t in txns)


def test_rolled_back_work_never_appears(servers, db, flavor):
    """InnoDB rollbacks are not logged; a transaction that also touched MyISAM is, and its InnoDB rows must be dropped."""
    t, m = quote_table(db, "t"), quote_table(db, "m")
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY) ENGINE=InnoDB" % t, "CREATE TABLE %s (id INT PRIMARY KEY) ENGINE=MyISAM" % m)
    start = source_position(servers)
    sql(servers.source,
        "BEGIN", "INSERT INTO %s VALUES (1)" % t, "ROLLBACK",
        "BEGIN", "INSERT INTO %s VALUES (2)" % t, "INSERT INTO %s VALUES (2)" % m, "ROLLBACK",
        "BEGIN", "INSERT INTO %s VALUES (3)" % t, "SAVEPOINT s1", "INSERT INTO %s VALUES (4)" % t, "INSERT INTO %s VALUES (4)" % m,
        "ROLLBACK TO SAVEPOINT s1", "INSERT INTO %s VALUES (5)" % t, "COMMIT",
        "BEGIN", "SAVEPOINT s0", "INSERT INTO %s VALUES (6)" % t, "INSERT INTO %s VALUES (6)" % m, "ROLLBACK TO SAVEPOINT s0",
        "INSERT INTO %s VALUES (7)" % t, "COMMIT",
        "BEGIN", "INSERT INTO %s VALUES (8)" % t, "SAVEPOINT s1", "INSERT INTO %s VALUES (9)" % t, "SAVEPOINT S1",
        "INSERT INTO %s VALUES (10)" % t, "INSERT INTO %s VALUES (10)" % m, "ROLLBACK TO SAVEPOINT s1", "COMMIT")
    with root_session(servers.source) as conn:
        committed = [r[0] for r in fetch_all(conn, "SELECT id FROM %s ORDER BY id" % t)]
    assert committed == [3, 5, 7, 8, 9]
    with open_stream(servers, flavor, start, [(db, "t")]) as stream:
        txns = read_until(stream, source_position(servers))
    assert sorted(inserted_ids(txns)) == committed


def test_rows_a_cascade_changes_are_not_in_the_binlog(servers, db, flavor):
    """The counter-example behind foreign_key_cascades (docs/design.md, "Foreign keys"): InnoDB deletes and updates
    the child rows of a cascade inside the engine, and the row-based binlog holds only the parent's rows."""
    parent, child = quote_table(db, "parent"), quote_table(db, "child")
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY) ENGINE=InnoDB" % parent,
        "CREATE TABLE %s (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES parent (id) ON DELETE CASCADE ON UPDATE SET NULL) "
        "ENGINE=InnoDB" % child,
        "INSERT INTO %s VALUES (1), (2)" % parent, "INSERT INTO %s VALUES (10, 1), (11, 1), (20, 2)" % child)
    start = source_position(servers)
    sql(servers.source, "DELETE FROM %s WHERE id = 1" % parent, "UPDATE %s SET id = 3 WHERE id = 2" % parent)
    with root_session(servers.source) as conn:
        assert fetch_all(conn, "SELECT id, p FROM %s" % child) == [(20, None)]  # the source cascaded both
    with open_stream(servers, flavor, start, [(db, "parent"), (db, "child")]) as stream:
        txns = read_until(stream, source_position(servers))
    assert [(c.kind, c.table, (c.before or c.after)["id"]) for c in changes_of(txns)] == [(DELETE, "parent", 1), (UPDATE, "parent", 2)]


def test_xa_prepare_on_a_moved_table_stops_the_stream(servers, db, flavor):
    t, other = quote_table(db, "t"), quote_table(db, "other")
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY)" % t, "CREATE TABLE %s (id INT PRIMARY KEY)" % other)
    start = source_position(servers)
    try:
        sql(servers.source,
            "XA START 'one'", "INSERT INTO %s VALUES (1)" % t, "XA END 'one'", "XA COMMIT 'one' ONE PHASE",
            "XA START 'other'", "INSERT INTO %s VALUES (1)" % other, "XA END 'other'", "XA PREPARE 'other'", "XA COMMIT 'other'",
            "XA START 'two'", "INSERT INTO %s VALUES (2)" % t, "XA END 'two'", "XA PREPARE 'two'")
        with open_stream(servers, flavor, start, [(db, "t")]) as stream:
            first = stream.next_transaction(5.0)
            assert first is not None and inserted_ids([first]) == [1]
            error = read_error(stream)
    finally:
        sql(servers.source, "XA ROLLBACK 'two'")
    assert error.obj == "%s.t" % db and "XA" in error.message and "restart the move" in error.fix


@pytest.mark.parametrize("statement, logged", [
    ("ALTER TABLE t ADD COLUMN z INT", "ALTER TABLE t ADD COLUMN z INT"),
    ("ALTER TABLE `{db}`.`t` ENGINE=InnoDB", "ALTER TABLE `{db}`.`t` ENGINE=InnoDB"),
    ("TRUNCATE TABLE t", "TRUNCATE TABLE t"),
    ("RENAME TABLE t TO t_old", "RENAME TABLE t TO t_old"),
    ("DROP TABLE IF EXISTS `{db}`.other, `{db}`.`t`", "DROP TABLE IF EXISTS"),
    ("CREATE INDEX ix ON t (v)", "CREATE INDEX ix ON t (v)"),
    ("/*!40000 ALTER TABLE `t` DISABLE KEYS */", "/*!40000 ALTER TABLE `t` DISABLE KEYS */"),
])
def test_ddl_on_a_moved_table_stops_the_stream_naming_it(servers, db, flavor, statement, logged):
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, v INT)" % quote_table(db, "t"),
        "CREATE TABLE %s (id INT PRIMARY KEY)" % quote_table(db, "other"))
    start = source_position(servers)
    with root_session(servers.source) as conn:
        execute(conn, "USE %s" % quote_ident(db))  # unqualified names belong to the event's current schema
        execute(conn, "INSERT INTO t VALUES (1, 1)")
        execute(conn, "ALTER TABLE other ADD COLUMN t INT")  # names t, but changes another table
        execute(conn, statement.format(db=db))
    with open_stream(servers, flavor, start, [(db, "t")]) as stream:
        txns = [stream.next_transaction(5.0), stream.next_transaction(5.0)]
        error = read_error(stream)
        assert inserted_ids(txns) == [1] and txns[1] is not None and txns[1].changes == ()
        assert stream.position == txns[1].position, "the DDL is not passed: a restart meets it again"
    assert error.obj == "%s.t" % db
    assert "DDL on moved table %s.t" % db in error.message and logged.format(db=db) in error.message
    assert "apply the same DDL on the target" in error.fix and "restart the move" in error.fix


def test_statement_based_changes_to_a_moved_table_stop_the_stream(servers, db, flavor):
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY)" % quote_table(db, "t"))
    start = source_position(servers)
    sql(servers.source, "SET SESSION binlog_format = 'STATEMENT'", "INSERT INTO %s VALUES (1)" % quote_table(db, "t"))
    with open_stream(servers, flavor, start, [(db, "t")]) as stream:
        error = read_error(stream)
    assert error.obj == "%s.t" % db and "statement-based" in error.message and "binlog_format=ROW" in error.fix


@pytest.mark.parametrize("statement", ["UPDATE {t} SET v = 'changed' WHERE id = 1", "DELETE FROM {t} WHERE id = 1"])
def test_row_images_without_every_column_stop_the_stream(servers, db, flavor, statement):
    """binlog_row_image=MINIMAL in one session logs only the key and the changed columns: written back whole, such an
    image would set the other columns to whatever the applier guessed. The stream stops instead."""
    table = quote_table(db, "t")
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(20), w INT)" % table, "INSERT INTO %s VALUES (1, 'a', 7)" % table)
    start = source_position(servers)
    sql(servers.source, "SET SESSION binlog_row_image = 'MINIMAL'", statement.format(t=table))
    with open_stream(servers, flavor, start, [(db, "t")]) as stream:
        error = read_error(stream)
    assert error.obj == "%s.t" % db and "does not carry every column" in error.message and "binlog_row_image=FULL" in error.fix


def test_unreadable_binlog_settings_stop_the_stream_with_the_fix(servers, db, flavor):
    """Compressed events and MariaDB 5.3 temporal columns cannot be decoded: the stream says so instead of skipping them."""
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, v TEXT)" % quote_table(db, "t"))
    sql(servers.source, "SET GLOBAL mysql56_temporal_format = OFF")
    try:
        sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, tm TIME(3))" % quote_table(db, "old"))
    finally:
        sql(servers.source, "SET GLOBAL mysql56_temporal_format = ON")
    start = source_position(servers)
    sql(servers.source, "INSERT INTO %s VALUES (1, '12:00:00.5')" % quote_table(db, "old"))
    with open_stream(servers, flavor, start, [(db, "old")]) as stream:
        error = read_error(stream)
    assert error.obj == "%s.old.tm" % db and "ALTER TABLE ... FORCE" in error.fix

    start = source_position(servers)
    sql(servers.source, "SET GLOBAL log_bin_compress = ON")
    try:
        sql(servers.source, "INSERT INTO %s VALUES (1, REPEAT('x', 2000))" % quote_table(db, "t"))
    finally:
        sql(servers.source, "SET GLOBAL log_bin_compress = OFF")
    with open_stream(servers, flavor, start, [(db, "t")]) as stream:
        error = read_error(stream)
    assert error.obj == "log_bin_compress" and "log_bin_compress = OFF" in error.fix


def test_a_position_the_source_does_not_have_stops_the_stream(servers, db, flavor):
    ahead = gtid.render({0: (servers.source.server_id, 10**9)})
    with open_stream(servers, flavor, ahead, [(db, "t")]) as stream:
        error = read_error(stream)
    assert ahead in error.message and error.obj == servers.source.spec("ferry_source").describe()
    assert "start the move over" in error.fix


# ---------------------------------------------------------------------------
# Connections that drop or stall


def _kill_dump_threads(servers: Servers) -> int:
    """KILL the ferry user's binlog dump connections on the source; how many there were."""
    killed = 0
    with root_session(servers.source) as conn:
        for row in fetch_all(conn, "SHOW PROCESSLIST"):
            if row[1] == "ferry_source" and row[4] == "Binlog Dump":
                try:
                    execute(conn, "KILL %d" % row[0])
                    killed += 1
                except pymysql.err.MySQLError as exc:  # it ended between the list and the KILL
                    assert exc.args[0] == 1094, exc
    return killed


def _read_while_disrupted(servers: Servers, db: str, flavor: Flavor, disrupt: Callable[[BinlogStream], bool], **options: Any) -> BinlogStream:
    """Stream 240 inserted rows while ``disrupt`` (True: it did something) is done after 40, 80 and 120 rows were seen.

    Every row must arrive exactly once and in order, each transaction at a position of its own.
    """
    table = quote_table(db, "t")
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY)" % table)
    start = source_position(servers)
    total = 240
    writer_done = threading.Event()

    def write() -> None:
        with root_session(servers.source) as conn:
            for i in range(1, total + 1, 2):
                if i % 40 == 1:  # now and then two rows in one transaction
                    execute(conn, "INSERT INTO %s VALUES (%d), (%d)" % (table, i, i + 1))
                else:
                    execute(conn, "INSERT INTO %s VALUES (%d)" % (table, i))
                    execute(conn, "INSERT INTO %s VALUES (%d)" % (table, i + 1))
        writer_done.set()

    got: list[Transaction] = []
    with open_stream(servers, flavor, start, [(db, "t")], **options) as stream:
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        disruptions = 0
        deadline = time.monotonic() + 40
        while disruptions < 3:
            assert time.monotonic() < deadline, "disrupted %d times; the stream saw %d rows" % (disruptions, len(inserted_ids(got)))
            txn = stream.next_transaction(0.5)
            if txn is not None:
                got.append(txn)
            if len(inserted_ids(got)) >= 40 * (disruptions + 1) and disrupt(stream):
                disruptions += 1
        writer.join(30)
        assert writer_done.is_set()
        got += read_until(stream, source_position(servers))
        assert stream.next_transaction(0.2) is None
    assert inserted_ids(got) == list(range(1, total + 1))
    assert len({t.position for t in got}) == len(got)
    return stream


def test_killed_dump_connection_resumes_without_loss_or_repeat(servers, db, flavor):
    events: list[tuple[str, dict]] = []
    stream = _read_while_disrupted(servers, db, flavor, lambda _stream: _kill_dump_threads(servers) > 0,
                                   on_event=lambda name, **fields: events.append((name, fields)))
    assert stream.reconnects >= 3 and [name for name, _fields in events] == ["binlog_reconnect"] * stream.reconnects


def test_killed_reader_process_is_replaced_without_loss_or_repeat(servers, db, flavor):
    """kill -9 of the reader process (out of memory, a careless operator): a new one resumes after what was received."""
    pids = []

    def kill_reader(stream: BinlogStream) -> bool:
        if stream.reader_pid in pids:
            return False  # killed already; the stream has not noticed yet
        pids.append(stream.reader_pid)
        os.kill(stream.reader_pid, signal.SIGKILL)
        return True

    events: list[tuple[str, dict]] = []
    stream = _read_while_disrupted(servers, db, flavor, kill_reader, on_event=lambda name, **fields: events.append((name, fields)))
    assert len(set(pids + [stream.reader_pid])) == 4, "each kill started a new reader"
    assert [(name, fields["pid"], fields["exit_code"]) for name, fields in events] == [("binlog_reader_replaced", pid, -signal.SIGKILL) for pid in pids]


def test_reader_killed_in_the_middle_of_a_message_is_replaced(servers, db, flavor):
    """A transaction bigger than the pipe: the reader blocks in the middle of sending it until the caller reads. Killed
    there, it leaves half a message in the pipe: the stream must replace it, not fail, and the transaction arrives whole."""
    table = quote_table(db, "t")
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(200))" % table)
    start = source_position(servers)
    sql(servers.source, "INSERT INTO %s SELECT seq, REPEAT('x', 200) FROM %s.seq_1_to_20000" % (table, quote_ident(db)))  # ~5 MB pickled
    with open_stream(servers, flavor, start, [(db, "t")]) as stream:
        first = stream.reader_pid
        deadline = time.monotonic() + 20
        while _pipe_bytes_waiting(stream) < 65536:  # it has started sending, and must be blocked by now
            assert time.monotonic() < deadline, "the reader sent nothing within 20 s"
            time.sleep(0.1)
        os.kill(first, signal.SIGKILL)
        got = read_until(stream, source_position(servers))
        assert stream.reader_pid != first
    assert inserted_ids(got) == list(range(1, 20001))


def _pipe_bytes_waiting(stream: BinlogStream) -> int:
    """How many bytes the reader has written into the pipe that the stream has not read."""
    import fcntl  # pylint: disable=import-outside-toplevel
    import termios  # pylint: disable=import-outside-toplevel
    waiting = bytearray(4)
    fcntl.ioctl(stream._channel.fileno(), termios.FIONREAD, waiting)  # pylint: disable=protected-access
    return int.from_bytes(waiting, sys.byteorder)


_ORPHAN_SCRIPT = """
import json, sys, time
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.reader import BinlogStream
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec
from ansible_collections.dbferry.mysql.plugins.module_utils.server.flavor import Flavor
args = json.loads(sys.stdin.readline())
flavor = Flavor(args["flavor"]["kind"], tuple(args["flavor"]["version"]), args["flavor"]["version_string"])
stream = BinlogStream(ServerSpec(**args["spec"]), flavor, args["start"], [], server_id=args["server_id"],
                      heartbeat_seconds=0.2)
print(stream.reader_pid, flush=True)
time.sleep(600)
"""


def test_reader_process_ends_when_its_parent_is_killed(servers, flavor):
    """An agent killed with -9 cannot stop its reader; on an idle source the reader must notice by itself.

    Left running, it would fight the next agent's dump connection for the same server id.
    """
    spec = servers.source.spec("ferry_source")
    args = {"spec": dataclasses.asdict(spec), "flavor": dataclasses.asdict(flavor), "start": source_position(servers), "server_id": next(_server_ids)}
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        parent.stdin.write(json.dumps(args) + "\n")
        parent.stdin.flush()
        reader = int(parent.stdout.readline())
        assert _is_running(reader)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while _is_running(reader):
        assert time.monotonic() < deadline, "the reader process %d still runs 10 s after its parent was killed" % reader
        time.sleep(0.1)


def _is_running(pid: int) -> bool:
    """True while ``pid`` is a live process (not a zombie: an orphan's zombie is reaped by init)."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class FreezableProxy:
    """A TCP proxy to a server whose current connections can be frozen: open, silent, forwarding nothing."""

    def __init__(self, port: int) -> None:
        self.port_to = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen_below = 0
        self.count = 0
        self.closed = False
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _addr = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.port_to))
            self.sockets += [client, upstream]
            serial, self.count = self.count, self.count + 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst, serial), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, serial: int) -> None:
        try:
            while True:
                data = src.recv(65536)
                while serial < self.frozen_below and not self.closed:
                    time.sleep(0.05)
                if not data or self.closed:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            sock.close()

    def freeze(self) -> None:
        self.frozen_below = self.count

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        for sock in self.sockets:
            sock.close()


def test_stalled_connection_is_reopened_but_an_idle_one_is_not(servers, db, flavor):
    table = quote_table(db, "t")
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY)" % table)
    start = source_position(servers)
    proxy = FreezableProxy(servers.source.port)
    spec = ServerSpec(host="127.0.0.1", port=proxy.port, user="ferry_source",
                      password=servers.source.passwords["ferry_source"], config_file=None)
    try:
        with open_stream(servers, flavor, start, [(db, "t")], spec=spec, heartbeat_seconds=0.5, stall_seconds=2.0) as stream:
            sql(servers.source, *("INSERT INTO %s VALUES (%d)" % (table, i) for i in (1, 2, 3)))
            got = read_until(stream, source_position(servers))
            assert stream.next_transaction(3.0) is None, "idle for longer than stall_seconds"
            assert stream.reconnects == 0, "heartbeats keep an idle connection alive"
            proxy.freeze()
            sql(servers.source, *("INSERT INTO %s VALUES (%d)" % (table, i) for i in (4, 5, 6)))
            got += read_until(stream, source_position(servers))
            assert stream.reconnects >= 1 and stream.last_error
    finally:
        proxy.close()
    assert inserted_ids(got) == [1, 2, 3, 4, 5, 6]


def test_next_transaction_honours_its_timeout(servers, db, flavor):
    with open_stream(servers, flavor, source_position(servers), [(db, "t")], heartbeat_seconds=1.0) as stream:
        began = time.monotonic()
        assert stream.next_transaction(0.3) is None
        waited = time.monotonic() - began
    assert 0.25 <= waited < 0.9
