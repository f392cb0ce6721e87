"""A moved table as its table map event describes it, and its row images read by that description.

Each transaction's rows events come after a table map event that gives the
table's id, name and, per column, its type and metadata; with
binlog_row_metadata=FULL also column names, signedness and character sets.
The layout is worked out once per table map (assembler.py caches it by its
bytes), with a plan that says how to read or step over each column, because
reading the row images with it runs once per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .buffer import EventBuffer
from .column_types import (BINARY_COLLATION, BIT, BLOB, DATETIME, DATETIME2, DOUBLE, ENUM, FLOAT, GEOMETRY, INT24, LONG, LONG_BLOB,
                           LONGLONG, MEDIUM_BLOB, NEWDECIMAL, SET, SHORT, STRING, TIME, TIME2, TIMESTAMP, TIMESTAMP2, TINY, TINY_BLOB,
                           VAR_STRING, VARCHAR, YEAR)
from .values import DECODERS, INT_SIZES, Column, text_codec, value_size
from ..common.errors import DbferryError
from ..common.identifiers import display_table

#: The BLOB types of every size, which the table map lists as such and row images lay out alike.
_BLOBS = frozenset({TINY_BLOB, MEDIUM_BLOB, LONG_BLOB})
#: Types whose table-map metadata is one byte (pack length, length-prefix size or fractional digits).
_ONE_BYTE_META = frozenset({FLOAT, DOUBLE, BLOB, GEOMETRY, TIMESTAMP2, DATETIME2, TIME2}) | _BLOBS
#: Columns that get a bit in the SIGNEDNESS metadata (MariaDB counts YEAR, not BIT).
_NUMERIC = frozenset({TINY, SHORT, INT24, LONG, LONGLONG, NEWDECIMAL, FLOAT, DOUBLE, YEAR})
#: Columns that get an entry in the charset metadata (MariaDB counts GEOMETRY; ENUM and SET have their own list).
_CHARACTER = frozenset({STRING, VARCHAR, BLOB, GEOMETRY})
#: MariaDB 5.3 temporal columns (COLUMN_TYPE says /* mariadb-5.3 */): the binlog does not say their
#: fractional digits, so their values cannot be decoded.
_OLD_TEMPORAL = {TIMESTAMP: "TIMESTAMP", TIME: "TIME", DATETIME: "DATETIME"}

# Optional table-map metadata fields (binlog_row_metadata=FULL).
_META_SIGNEDNESS, _META_DEFAULT_CHARSET, _META_COLUMN_CHARSET, _META_COLUMN_NAME = 1, 2, 3, 4


@dataclass
class TableLayout:
    """A moved table's columns as its table map says them, and how to read its row images."""

    schema: str
    name: str
    columns: list[Column] = field(default_factory=list)
    #: How to read each column of a row image: (name, integer size or 0, signed, decoder, column, text codec or None,
    #: bytes of the text's length prefix).
    plan: list[tuple[str, int, bool, Any, Column, Optional[str], int]] = field(default_factory=list)
    #: How to step over each column's value without decoding it: (bytes, 0) or (0, bytes of its length prefix).
    skips: list[tuple[int, int]] = field(default_factory=list)
    #: The columns before images are reduced to (the key, which is all that finds the row); None: whole images.
    key_indexes: Optional[frozenset] = None
    #: The bitmap of a rows event that carries every column (binlog_row_image=FULL), to compare each event's with.
    every_column: bytes = b""

    @property
    def display(self) -> str:
        return display_table(self.schema, self.name)


def parse_table(schema: str, name: str, buf: EventBuffer, collations: dict[int, str], key: Optional[tuple[str, ...]]) -> TableLayout:
    """The layout from the rest of a table map body (after the table name); before images reduced to the ``key``
    columns if given (and all found).

    ``collations`` maps the source's collation ids to character set names.
    """
    table = TableLayout(schema, name)
    table.columns = _parse_columns(table.display, buf, collations)
    # Integers, the most frequent, are read inline, and so are ENUM and SET values, which are their
    # number (index, bitmask), as the applier writes them (docs/design.md step 3), and text with a
    # Python codec (values.text_codec), after its length prefix.
    table.skips = [value_size(c) for c in table.columns]
    table.plan = [(c.name, INT_SIZES.get(c.type) or (c.length if c.type in (ENUM, SET) else 0),
                   not c.unsigned and c.type not in (ENUM, SET), DECODERS.get(c.type), c, text_codec(c), prefix)
                  for c, (_fixed, prefix) in zip(table.columns, table.skips)]
    count = len(table.columns)
    table.every_column = bytes([0xFF] * (count // 8) + ([(1 << (count % 8)) - 1] if count % 8 else []))
    names = [col.name for col in table.columns]
    if key and all(column in names for column in key):
        table.key_indexes = frozenset(names.index(column) for column in key)
    return table


def _column(col_type: int, meta: EventBuffer) -> Column:
    """A column from its type and its slice of the table map's metadata block."""
    if col_type in _ONE_BYTE_META:
        return Column(BLOB if col_type in _BLOBS else col_type, meta.uint(1))
    if col_type in (VARCHAR, VAR_STRING):
        return Column(VARCHAR, meta.uint(2))
    if col_type == NEWDECIMAL:
        precision = meta.uint(1)
        return Column(col_type, precision, meta.uint(1))
    if col_type == BIT:
        bits = meta.uint(1)
        return Column(col_type, meta.uint(1) * 8 + bits)
    if col_type in (STRING, ENUM, SET):
        high, low = meta.uint(1), meta.uint(1)
        real_type = high | 0x30  # CHAR(n) over 255 bytes keeps bits 8-9 of n in bits 4-5, inverted
        if real_type in (ENUM, SET):
            return Column(real_type, low)
        return Column(STRING, (((high >> 4) & 0x03) ^ 0x03) << 8 | low)
    return Column(col_type)


def _bits(data: bytes, count: int) -> list[bool]:
    """``count`` flags packed most significant bit first (SIGNEDNESS metadata)."""
    return [bool(data[i // 8] & (0x80 >> (i % 8))) for i in range(count)]


def _set_charsets(columns: list[Column], optional: dict[int, bytes], default_kind: int, per_column_kind: int, collations: dict[int, str]) -> None:
    """Character sets of ``columns`` from their DEFAULT_CHARSET form (a default plus exceptions) or their per-column form."""
    if default_kind in optional:
        buf = EventBuffer(optional[default_kind])
        ids = [buf.packed_uint()] * len(columns)
        while not buf.at_end():
            index = buf.packed_uint()
            ids[index] = buf.packed_uint()
    else:
        buf = EventBuffer(optional.get(per_column_kind, b""))
        ids = [buf.packed_uint() for _col in columns] if per_column_kind in optional else [BINARY_COLLATION] * len(columns)
    for col, collation in zip(columns, ids):
        col.charset = collations.get(collation, "")  # one the server does not list decodes as bytes: exact, if not pretty


def _parse_columns(display: str, buf: EventBuffer, collations: dict[int, str]) -> list[Column]:
    """The columns of table ``display`` from the rest of a table map body; refuses those whose values cannot be decoded."""
    count = buf.packed_uint()
    types = list(buf.take(count))
    meta = EventBuffer(buf.packed_bytes())
    columns = [_column(t, meta) for t in types]
    buf.take((count + 7) // 8)  # nullability: the row images say which values are NULL
    optional: dict[int, bytes] = {}
    while not buf.at_end():
        kind = buf.uint(1)
        optional[kind] = buf.packed_bytes()
    if _META_COLUMN_NAME not in optional:
        raise DbferryError(
            "the binlog has no column names for %s." % display, obj=display,
            fix="SET GLOBAL binlog_row_metadata = 'FULL' on the source (and in its my.cnf), then restart the move.")
    names = EventBuffer(optional[_META_COLUMN_NAME])
    numeric = [c for c in columns if c.type in _NUMERIC]
    if _META_SIGNEDNESS in optional:
        for col, unsigned in zip(numeric, _bits(optional[_META_SIGNEDNESS], len(numeric))):
            col.unsigned = unsigned
    _set_charsets([c for c in columns if c.type in _CHARACTER], optional, _META_DEFAULT_CHARSET, _META_COLUMN_CHARSET, collations)
    for col in columns:
        col.name = names.packed_bytes().decode("utf-8")
        if col.type in _OLD_TEMPORAL:
            raise DbferryError(
                "column %s of %s uses the MariaDB 5.3 %s format, whose binlog values cannot be decoded." % (col.name, display, _OLD_TEMPORAL[col.type]),
                obj="%s.%s" % (display, col.name),
                fix="convert it on the source with ALTER TABLE ... FORCE (mysql56_temporal_format=ON, the default), then restart the move.")
        if col.type not in INT_SIZES and col.type not in DECODERS:
            raise DbferryError("column %s of %s has binlog type %d, which dbferry cannot decode." % (col.name, display, col.type),
                               obj="%s.%s" % (display, col.name), fix="leave this table out of the move.")
    return columns


def read_image(table: TableLayout, buf: EventBuffer) -> dict[str, Any]:
    """One row image: a NULL bitmap, then the values of the non-NULL columns.

    Once a value of every column of every row: the read position is kept in a local, and integers and text with a
    codec (values.text_codec) are read from the bytes in place, without a call; only the other columns' decoders are
    given the buffer.
    """
    plan = table.plan
    nulls = int.from_bytes(buf.take((len(plan) + 7) // 8), "little")  # bit i: column i is NULL
    data, pos, size = buf.data, buf.pos, len(buf.data)
    row: dict[str, Any] = {}
    for i, (name, int_size, signed, decode, col, codec, prefix) in enumerate(plan):
        if nulls >> i & 1:
            row[name] = None
        elif int_size:
            end = pos + int_size
            if end > size:
                buf.pos = pos
                buf.take(int_size)  # raises, naming the shortfall
            row[name] = int.from_bytes(data[pos:end], "little", signed=signed)
            pos = end
        elif codec:
            start = pos + prefix
            end = start + int.from_bytes(data[pos:start], "little")
            if end > size:
                buf.pos = pos
                buf.take(end - pos)  # raises, naming the shortfall
            raw = data[start:end]
            try:
                row[name] = raw.decode(codec)
            except UnicodeDecodeError:  # as values._text: stored by a session that did not check it
                row[name] = raw
            pos = end
        else:
            buf.pos = pos
            row[name] = decode(col, buf)
            pos = buf.pos
    buf.pos = pos
    return row


def read_key(table: TableLayout, buf: EventBuffer) -> dict[str, Any]:
    """A before image reduced to its key columns (table.key_indexes): the other values are stepped over, not decoded.

    Applying a change needs only the key of its before image (the row is found by it, docs/design.md step 3);
    decoding the rest was a third of the stream's work for updates. Stepping is done on a local position, a length
    prefix read in place: no call per column.
    """
    plan, keyed = table.plan, table.key_indexes or frozenset()
    nulls = int.from_bytes(buf.take((len(plan) + 7) // 8), "little")  # as read_image's
    data, pos = buf.data, buf.pos
    row: dict[str, Any] = {}
    for i, (fixed, prefix) in enumerate(table.skips):
        if nulls >> i & 1:
            continue
        if i in keyed:
            buf.pos = pos
            name, int_size, signed, decode, col, _codec, _prefix = plan[i]
            row[name] = int.from_bytes(buf.take(int_size), "little", signed=signed) if int_size else decode(col, buf)
            pos = buf.pos
        elif fixed:
            pos += fixed
        else:
            pos += prefix + int.from_bytes(data[pos:pos + prefix], "little")
    buf.pos = pos
    if pos > len(data):
        buf.pos = len(data)
        buf.take(pos - len(data))  # raises, naming the shortfall
    return row
