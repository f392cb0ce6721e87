"""One column's value in a row image, decoded from its bytes as the applier must write it back.

Why here, and not with mysql-replication: its decoding loses what the
applier must write back exactly. Zero dates become None, BINARY(n) loses its
trailing zero bytes, BIT becomes a '0101' string, SET a Python set (the
empty set None), latin1 is decoded as Python's cp1252 (which has no
characters for five bytes MariaDB stores), ENUM and SET labels that are not
UTF-8 become '' and collations it does not know (such as
utf8mb4_uca1400_ai_ci) fall back to UTF-8. Here each value comes out as the
Python type changes.py promises: character sets are resolved through the
source's own collation table (table_map.py), and ENUM and SET values are
their numbers, which is how the binlog stores them and how the applier
writes them.
"""

from __future__ import annotations

import datetime
import functools
import struct
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Optional, Union

from .buffer import EventBuffer
from .column_types import (BIT, BLOB, DATE, DATETIME2, DOUBLE, ENUM, FLOAT, GEOMETRY, INT24, LONG, LONGLONG, NEWDECIMAL, SET,
                           SHORT, STRING, TIME2, TIMESTAMP2, TINY, VARCHAR, YEAR)


@dataclass
class Column:
    """One column of a table map, with what decoding its values needs."""

    type: int
    #: VARCHAR/STRING: maximum bytes; BLOB/GEOMETRY: bytes of the length prefix; ENUM/SET: bytes of the value (its number);
    #: BIT: bits; NEWDECIMAL: precision; TIME2/DATETIME2/TIMESTAMP2: fractional digits.
    length: int = 0
    scale: int = 0
    name: str = ""
    unsigned: bool = False
    charset: str = "binary"


#: Integer columns and their size in bytes: the most frequent values, read inline (table_map.read_image).
INT_SIZES = {TINY: 1, SHORT: 2, INT24: 3, LONG: 4, LONGLONG: 8}

_FLOAT, _DOUBLE = struct.Struct("<f"), struct.Struct("<d")
_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)  # DECIMAL: bytes for 0..9 leftover digits
_EPOCH = datetime.datetime(1970, 1, 1)

#: Python codecs that decode a MariaDB character set exactly. Text in any other
#: character set is returned as bytes: written back, bytes store the same bytes.
_CODECS = {"utf8mb4": "utf-8", "utf8mb3": "utf-8", "utf8": "utf-8", "ascii": "ascii"}
#: MariaDB's latin1 is cp1252, except that it maps the five bytes cp1252 leaves
#: undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) to the C1 controls of the same number.
_LATIN1 = {i: bytes([i]).decode("cp1252", "ignore") or chr(i) for i in range(0x80, 0xA0)}


def _text(raw: bytes, charset: str) -> Union[str, bytes]:
    """Text in ``charset`` as PyMySQL returns it (str), or as bytes where no Python codec matches MariaDB's exactly."""
    if charset == "latin1":
        return raw.decode("latin-1").translate(_LATIN1)
    codec = _CODECS.get(charset)
    if codec is None:
        return raw
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:  # stored by a session that did not check it: the bytes are what the source has
        return raw


def text_codec(col: Column) -> Optional[str]:
    """The Python codec that decodes the column's values exactly as _text does, for text columns (CHAR, VARCHAR, TEXT)
    in a character set that has one (UTF-8, ASCII); None for any other column. table_map.read_image decodes those
    inline: text is most of what tables hold, and the decoder's calls cost more than the decoding."""
    if col.type not in (STRING, VARCHAR, BLOB):
        return None
    return _CODECS.get(col.charset)


def _date_text(year: int, month: int, day: int) -> str:
    return "%04d-%02d-%02d" % (year, month, day)


def _time_text(hour: int, minute: int, second: int, micro: int, digits: int) -> str:
    clock = "%02d:%02d:%02d" % (hour, minute, second)
    return clock + (".%0*d" % (digits, micro // 10 ** (6 - digits)) if digits else "")


@functools.lru_cache(maxsize=None)
def _decimal_layout(precision: int, scale: int) -> tuple[tuple[tuple[int, int, int], ...], int, str]:
    """DECIMAL(precision, scale)'s binary form: per group of digits, from the first, (how far to shift the whole
    value right, the group's mask, 10 ** its digits); its size in bytes; and the exponent its digits are written with."""
    whole = precision - scale
    groups = ([(_DIG2BYTES[whole % 9], whole % 9)] if whole % 9 else []) + [(4, 9)] * (whole // 9)
    groups += [(4, 9)] * (scale // 9) + ([(_DIG2BYTES[scale % 9], scale % 9)] if scale % 9 else [])
    size = sum(nbytes for nbytes, _digits in groups)
    steps, shift = [], 8 * size
    for nbytes, digits in groups:
        shift -= 8 * nbytes
        steps.append((shift, (1 << (8 * nbytes)) - 1, 10 ** digits))
    return tuple(steps), size, "E-%d" % scale


def _read_decimal(col: Column, buf: EventBuffer) -> Decimal:
    """DECIMAL's binary form: groups of 9 digits in 4 bytes, big-endian, sign in the top bit, negatives inverted.

    The digits are gathered as one integer and the Decimal made from "<digits>E-<scale>", which is exact at any
    precision (Decimal arithmetic would round to the context's 28 digits; DECIMAL has up to 65).
    """
    steps, size, exponent = _decimal_layout(col.length, col.scale)
    raw = int.from_bytes(buf.take(size), "big")
    top = 1 << (8 * size - 1)
    negative = not raw & top
    raw ^= top
    if negative:
        raw ^= (top << 1) - 1
    digits = 0
    for shift, mask, scale in steps:
        digits = digits * scale + ((raw >> shift) & mask)
    return Decimal(("-" if negative else "") + str(digits) + exponent)


def _read_year(col: Column, buf: EventBuffer) -> int:
    year = buf.uint(1)
    return year + 1900 if year else 0  # 0 is the zero year 0000, which an integer 0 writes back


def _read_date(col: Column, buf: EventBuffer) -> Union[datetime.date, str]:
    packed = buf.uint(3)
    year, month, day = packed >> 9, (packed >> 5) & 0x0F, packed & 0x1F
    try:
        return datetime.date(year, month, day)
    except ValueError:  # zero dates and zero parts, as PyMySQL returns them
        return _date_text(year, month, day)


def _read_time2(col: Column, buf: EventBuffer) -> datetime.timedelta:
    """TIME(n): 3 bytes of sign/hour/minute/second plus the fraction, offset so that negatives sort first."""
    raw = buf.take(3 + (col.length + 1) // 2)
    if len(raw) == 6:
        packed = int.from_bytes(raw, "big") - 0x800000000000
    else:
        whole, frac = int.from_bytes(raw[:3], "big") - 0x800000, int.from_bytes(raw[3:], "big")
        if whole < 0 and frac:
            whole, frac = whole + 1, frac - (1 << (8 * len(raw[3:])))
        packed = (whole << 24) + frac * 10 ** (6 - 2 * len(raw[3:]))
    value = abs(packed)
    hms, micro = value >> 24, value & 0xFFFFFF
    result = datetime.timedelta(hours=(hms >> 12) & 0x3FF, minutes=(hms >> 6) & 0x3F, seconds=hms & 0x3F, microseconds=micro)
    return -result if packed < 0 else result


def _read_datetime2(col: Column, buf: EventBuffer) -> Union[datetime.datetime, str]:
    """DATETIME(n): 5 bytes of year*13+month, day, hour, minute, second (offset by 2**39), then the fraction.

    Both read as one big-endian integer (one take, no call per part): a value of every row of most tables.
    """
    fraction = (col.length + 1) // 2
    whole = int.from_bytes(buf.take(5 + fraction), "big")
    packed = (whole >> (8 * fraction)) - 0x8000000000
    micro = (whole & ((1 << (8 * fraction)) - 1)) * 10 ** (6 - 2 * fraction)
    ymd, hms = packed >> 17, packed & 0x1FFFF
    year, month, day = (ymd >> 5) // 13, (ymd >> 5) % 13, ymd & 0x1F
    hour, minute, second = hms >> 12, (hms >> 6) & 0x3F, hms & 0x3F
    try:
        return datetime.datetime(year, month, day, hour, minute, second, micro)
    except ValueError:
        return _date_text(year, month, day) + " " + _time_text(hour, minute, second, micro, col.length)


def _read_timestamp2(col: Column, buf: EventBuffer) -> Union[datetime.datetime, str]:
    """TIMESTAMP(n): seconds since the epoch, big-endian, then the fraction; 0 is the zero timestamp.

    The value is naive UTC, which is what a session with time_zone '+00:00'
    (connection.connect) reads and writes: it never depends on the local zone.
    """
    fraction = (col.length + 1) // 2
    whole = int.from_bytes(buf.take(4 + fraction), "big")  # as DATETIME(n)'s, one integer
    seconds = whole >> (8 * fraction)
    micro = (whole & ((1 << (8 * fraction)) - 1)) * 10 ** (6 - 2 * fraction)
    if seconds == 0:
        return "0000-00-00 " + _time_text(0, 0, 0, micro, col.length)
    return _EPOCH + datetime.timedelta(seconds=seconds, microseconds=micro)


def _read_string(col: Column, buf: EventBuffer) -> Union[str, bytes]:
    raw = buf.take(buf.uint(1 if col.length < 256 else 2))
    if col.charset == "binary" and col.type == STRING:
        return raw.ljust(col.length, b"\0")  # BINARY(n): the binlog drops the zero bytes the server pads with
    return _text(raw, col.charset)


Decoder = Callable[[Column, EventBuffer], Any]
DECODERS: dict[int, Decoder] = {
    FLOAT: lambda col, buf: _FLOAT.unpack(buf.take(4))[0],
    DOUBLE: lambda col, buf: _DOUBLE.unpack(buf.take(8))[0],
    NEWDECIMAL: _read_decimal,
    YEAR: _read_year,
    DATE: _read_date,
    TIME2: _read_time2,
    DATETIME2: _read_datetime2,
    TIMESTAMP2: _read_timestamp2,
    VARCHAR: _read_string,
    STRING: _read_string,
    BLOB: lambda col, buf: _text(buf.take(buf.uint(col.length)), col.charset),
    GEOMETRY: lambda col, buf: buf.take(buf.uint(col.length)),
    BIT: lambda col, buf: buf.take((col.length + 7) // 8),
    ENUM: lambda col, buf: buf.uint(col.length),  # read inline (TableLayout.plan); here for parse_table's check
    SET: lambda col, buf: buf.uint(col.length),
}


def value_size(col: Column) -> tuple[int, int]:
    """How many bytes a value of the column takes: (fixed size, 0), or (0, size of the length prefix that says it)."""
    fraction = (col.length + 1) // 2
    fixed = {FLOAT: 4, DOUBLE: 8, YEAR: 1, DATE: 3, TIME2: 3 + fraction, DATETIME2: 5 + fraction, TIMESTAMP2: 4 + fraction,
             BIT: (col.length + 7) // 8, ENUM: col.length, SET: col.length}
    if col.type in INT_SIZES:
        return INT_SIZES[col.type], 0
    if col.type in fixed:
        return fixed[col.type], 0
    if col.type == NEWDECIMAL:
        return _decimal_layout(col.length, col.scale)[1], 0
    if col.type in (VARCHAR, STRING):
        return 0, 1 if col.length < 256 else 2
    return 0, col.length  # BLOB, GEOMETRY
