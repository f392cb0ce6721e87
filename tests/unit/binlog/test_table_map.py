"""A table map's columns, and row images read by them (synthetic table-map bytes, no server)."""

from __future__ import annotations

from typing import Optional

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.binlog import column_types as types
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.buffer import EventBuffer
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.table_map import TableLayout, parse_table, read_image, read_key
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError

UTF8MB4_GENERAL_CI = 45
COLLATIONS = {UTF8MB4_GENERAL_CI: "utf8mb4", types.BINARY_COLLATION: "binary"}
SIGNEDNESS, DEFAULT_CHARSET, COLUMN_NAME = 1, 2, 4


def _packed(data: bytes) -> bytes:
    return bytes([len(data)]) + data


def _table_map_rest(names: Optional[list[str]] = None, col_types: bytes = bytes([types.LONG, types.VARCHAR, types.STRING])) -> EventBuffer:
    """What follows the table name in a table map of ``(id INT UNSIGNED, name VARCHAR(10) utf8mb4, e ENUM(...))``."""
    meta = (40).to_bytes(2, "little") + bytes([types.ENUM, 1])  # VARCHAR: 40 bytes; ENUM (logged as STRING): 1 byte a value
    optional = bytes([SIGNEDNESS]) + _packed(b"\x80") + bytes([DEFAULT_CHARSET]) + _packed(bytes([UTF8MB4_GENERAL_CI]))
    if names is not None:
        optional += bytes([COLUMN_NAME]) + _packed(b"".join(_packed(n.encode()) for n in names))
    return EventBuffer(bytes([len(col_types)]) + col_types + _packed(meta) + b"\x07" + optional)


def _table(key: Optional[tuple[str, ...]] = None) -> TableLayout:
    return parse_table("shop", "t", _table_map_rest(["id", "name", "e"]), COLLATIONS, key)


def _image(nulls: int, *values: bytes) -> bytes:
    return bytes([nulls]) + b"".join(values)


ROW = _image(0, (4000000000).to_bytes(4, "little"), _packed("é".encode()), b"\x02")


def test_columns_carry_their_name_type_sign_and_charset():
    table = _table()
    assert [(c.name, c.type, c.unsigned, c.charset) for c in table.columns] == [
        ("id", types.LONG, True, "binary"), ("name", types.VARCHAR, False, "utf8mb4"), ("e", types.ENUM, False, "binary")]
    assert table.every_column == b"\x07" and table.key_indexes is None and table.display == "shop.t"


def test_a_row_image_has_every_column_with_enum_as_its_number():
    buf = EventBuffer(ROW + ROW)
    assert read_image(_table(), buf) == {"id": 4000000000, "name": "é", "e": 2}
    assert read_image(_table(), buf) == {"id": 4000000000, "name": "é", "e": 2} and buf.at_end()


def test_null_columns_take_no_bytes():
    assert read_image(_table(), EventBuffer(_image(0b110, b"\x01\x00\x00\x00"))) == {"id": 1, "name": None, "e": None}


@pytest.mark.parametrize("key, expected", [(("id",), {"id": 4000000000}), (("name",), {"name": "é"}), (("e",), {"e": 2}),
                                           (("id", "e"), {"id": 4000000000, "e": 2})])
def test_a_key_image_holds_the_key_and_steps_over_the_rest(key, expected):
    table = _table(key)
    buf = EventBuffer(ROW + b"next")
    assert read_key(table, buf) == expected and buf.data[buf.pos:] == b"next"


def test_a_key_column_that_is_null_is_left_out():
    assert read_key(_table(("name",)), EventBuffer(_image(0b010, b"\x01\x00\x00\x00", b"\x02"))) == {}


@pytest.mark.parametrize("cut", range(1, len(ROW)), ids=lambda cut: "%d_bytes_short" % cut)
def test_a_short_image_fails_rather_than_read_short(cut):
    """Integers and text are read in place, by position (read_image, read_key): an image cut anywhere, in its integer,
    its text's length prefix or its text, still fails where it runs out."""
    for read, key in ((read_image, None), (read_key, ("id",)), (read_key, ("e",))):
        with pytest.raises(ValueError, match="binlog event ends"):
            read(_table(key), EventBuffer(ROW[:-cut]))


def test_a_key_the_table_map_does_not_have_means_whole_before_images():
    assert _table(("gone",)).key_indexes is None
    assert _table(("id", "gone")).key_indexes is None


def test_without_column_names_the_fix_is_full_row_metadata():
    with pytest.raises(DbferryError) as caught:
        parse_table("shop", "t", _table_map_rest(None), COLLATIONS, None)
    assert caught.value.obj == "shop.t" and "binlog_row_metadata" in caught.value.fix


def test_old_temporal_columns_are_refused_with_the_fix():
    with pytest.raises(DbferryError) as caught:
        parse_table("shop", "t", _table_map_rest(["id", "name", "d"], bytes([types.LONG, types.VARCHAR, types.DATETIME])), COLLATIONS, None)
    assert caught.value.obj == "shop.t.d" and "FORCE" in caught.value.fix
