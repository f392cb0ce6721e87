"""Access to the source's binlog.

``probe_dump`` proves, for preflight, that a user may stream the binlog.
``Assembler`` turns the events of a binlog dump into what a move applies:
every source transaction committed after a GTID position, in binlog order,
with its row changes on the moved tables (changes.py is the contract);
binlog_stream.py runs it in a process of its own.

binlog_dump.py speaks the replication protocol (dump request, checksums,
heartbeats, event framing). Everything in the events is decoded here from
their bytes: GTID, query, XID and XA events, table maps and the row images
of moved tables. Not with mysql-replication, whose decoding loses what the
applier must write back exactly: zero dates become None, BINARY(n) loses
its trailing zero bytes, BIT becomes a '0101' string, SET a Python set (the
empty set None), latin1 is decoded as Python's cp1252 (which has no
characters for five bytes MariaDB stores), ENUM and SET labels that are not
UTF-8 become '' and collations it does not know (such as
utf8mb4_uca1400_ai_ci) fall back to UTF-8; and whose event objects cost
more than the rest of the applier together. Character sets are resolved
here through the source's own collation table. ENUM and SET values are
returned as their numbers, which is how the binlog stores them and how the
applier writes them (changes.py).
"""

from __future__ import annotations

import datetime
import functools
import random
import re
import struct
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Mapping, Optional, Union

from .dump import BINLOG_DUMP_NON_BLOCK, DumpEvent, request_dump
from .changes import DELETE, INSERT, UPDATE, RowChange
from ..server.connection import fetch_all
from ..common.errors import DbferryError
from ..server.flavor import Flavor
from ..common.identifiers import display_table

#: Probe server ids are drawn from this range. A dump request with the
#: server id of a real replica would make the source drop that replica's
#: connection, so the id is random and far from the small ids people use.
_PROBE_SERVER_ID_RANGE = (0x70000000, 0x7FFFFFFF)


def probe_dump(conn: Any, flavor: Flavor) -> None:
    """Request a non-blocking binlog dump from the current position and read it to its end.

    The server checks REPLICATION SLAVE when it receives the request, so a
    missing grant raises the server's error here. The connection is left
    in dump mode: the caller must close it afterwards.
    """
    status = fetch_all(conn, flavor.binlog_status_sql)
    if not status:
        return  # binary log disabled: reported by its own check
    log_file, log_pos = status[0][0], int(status[0][1])
    request_dump(conn, random.randint(*_PROBE_SERVER_ID_RANGE), BINLOG_DUMP_NON_BLOCK, log_file, log_pos)
    while not conn._read_packet().is_eof_packet():  # pylint: disable=protected-access
        pass


# ---------------------------------------------------------------------------
# Binlog format constants (MariaDB and MySQL share these numbers)

# Event types.
_QUERY, _STOP, _ROTATE, _INTVAR, _RAND, _USER_VAR, _FORMAT_DESCRIPTION, _XID = 2, 3, 4, 5, 13, 14, 15, 16
_BEGIN_LOAD_QUERY, _EXECUTE_LOAD_QUERY, _TABLE_MAP, _HEARTBEAT, _ROWS_QUERY, _PREVIOUS_GTIDS, _XA_PREPARE = 17, 18, 19, 27, 29, 35, 38
_ANNOTATE_ROWS, _BINLOG_CHECKPOINT, _GTID, _GTID_LIST, _START_ENCRYPTION = 160, 161, 162, 163, 164
_ROWS_KINDS = {23: INSERT, 24: UPDATE, 25: DELETE, 30: INSERT, 31: UPDATE, 32: DELETE}
#: Version 2 rows events carry an "extra data" block after the post-header length field.
_ROWS_V2 = frozenset({30, 31, 32})
#: MariaDB's compressed query and rows events (log_bin_compress=ON), which the stream does not read.
_COMPRESSED_EVENTS = range(165, 172)
#: Events that say nothing about row changes in a row-based binlog: positions, file changes,
#: heartbeats, the text of statements logged as rows, and statement-based context (whose
#: statement itself is checked).
_SKIPPED_EVENTS = frozenset({_STOP, _ROTATE, _INTVAR, _RAND, _USER_VAR, _BEGIN_LOAD_QUERY, _HEARTBEAT, _ROWS_QUERY, _PREVIOUS_GTIDS,
                             _ANNOTATE_ROWS, _BINLOG_CHECKPOINT, _GTID_LIST, _START_ENCRYPTION})
#: Post-header sizes used before the format description event says them (it always comes first).
_QUERY_POST_HEADER = 13
#: Event header flag of events a replica may skip.
_LOG_EVENT_IGNORABLE_F = 0x80

#: MariaDB GTID event flag.
_FL_STANDALONE = 0x01  # the group is one statement (DDL) without COMMIT or XID

# Column types of a table map.
_TINY, _SHORT, _LONG, _FLOAT, _DOUBLE, _TIMESTAMP, _LONGLONG, _INT24 = 1, 2, 3, 4, 5, 7, 8, 9
_DATE, _TIME, _DATETIME, _YEAR, _VARCHAR, _BIT, _TIMESTAMP2, _DATETIME2, _TIME2 = 10, 11, 12, 13, 15, 16, 17, 18, 19
_NEWDECIMAL, _ENUM, _SET, _BLOB, _VAR_STRING, _STRING, _GEOMETRY = 246, 247, 248, 252, 253, 254, 255
_INT_BYTES = {_TINY: 1, _SHORT: 2, _INT24: 3, _LONG: 4, _LONGLONG: 8}
#: Types whose table-map metadata is one byte (pack length, length-prefix size or fractional digits).
_ONE_BYTE_META = frozenset({_FLOAT, _DOUBLE, _BLOB, _GEOMETRY, _TIMESTAMP2, _DATETIME2, _TIME2, 249, 250, 251})
#: Columns that get a bit in the SIGNEDNESS metadata (MariaDB counts YEAR, not BIT).
_NUMERIC = frozenset({_TINY, _SHORT, _INT24, _LONG, _LONGLONG, _NEWDECIMAL, _FLOAT, _DOUBLE, _YEAR})
#: Columns that get an entry in the charset metadata (MariaDB counts GEOMETRY; ENUM and SET have their own list).
_CHARACTER = frozenset({_STRING, _VARCHAR, _BLOB, _GEOMETRY})
#: MariaDB 5.3 temporal columns (COLUMN_TYPE says /* mariadb-5.3 */): the binlog does not say their
#: fractional digits, so their values cannot be decoded.
_OLD_TEMPORAL = {_TIMESTAMP: "TIMESTAMP", _TIME: "TIME", _DATETIME: "DATETIME"}

# Optional table-map metadata fields (binlog_row_metadata=FULL).
_META_SIGNEDNESS, _META_DEFAULT_CHARSET, _META_COLUMN_CHARSET, _META_COLUMN_NAME = 1, 2, 3, 4

_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)  # DECIMAL: bytes for 0..9 leftover digits
_EPOCH = datetime.datetime(1970, 1, 1)

#: Python codecs that decode a MariaDB character set exactly. Text in any other
#: character set is returned as bytes: written back, bytes store the same bytes.
_CODECS = {"utf8mb4": "utf-8", "utf8mb3": "utf-8", "utf8": "utf-8", "ascii": "ascii"}
#: MariaDB's latin1 is cp1252, except that it maps the five bytes cp1252 leaves
#: undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) to the C1 controls of the same number.
_LATIN1 = {i: bytes([i]).decode("cp1252", "ignore") or chr(i) for i in range(0x80, 0xA0)}


# ---------------------------------------------------------------------------
# Statements in query events


_TOKEN = re.compile(
    r"\s+"
    r"|(?:--(?=\s|$)|\#)[^\n]*"  # line comments
    r"|/\*M?!\d*"  # opening of an executable comment: its text is SQL the server ran
    r"|/\*.*?\*/"  # other comments
    r"|\*/"  # closing of an executable comment
    r"|(?P<quoted>`(?:[^`]|``)*`|\"(?:[^\"\\]|\\.|\"\")*\")"  # double quotes too: ANSI_QUOTES makes them names
    r"|(?P<string>'(?:[^'\\]|\\.|'')*')"
    r"|(?P<word>[\w$]+)"
    r"|(?P<punct>.)",
    re.S,
)

TableRef = tuple[str, Optional[str]]


class _Statement:
    """A cursor over the tokens of one SQL statement, for the few forms that name the tables they change."""

    def __init__(self, query: str, default_schema: str) -> None:
        self.tokens = [(m.lastgroup, m.group(m.lastgroup)) for m in _TOKEN.finditer(query) if m.lastgroup]
        self.at = 0
        self.default_schema = default_schema

    def word(self, *words: str) -> bool:
        """Consume the next token if it is one of ``words`` (keywords, upper case)."""
        if self.at < len(self.tokens) and self.tokens[self.at][0] == "word" and self.tokens[self.at][1].upper() in words:
            self.at += 1
            return True
        return False

    def punct(self, char: str) -> bool:
        if self.at < len(self.tokens) and self.tokens[self.at] == ("punct", char):
            self.at += 1
            return True
        return False

    def skip_if_exists(self) -> None:
        if self.word("IF"):
            self.word("NOT")
            self.word("EXISTS")

    def identifier(self) -> Optional[str]:
        if self.at >= len(self.tokens) or self.tokens[self.at][0] not in ("word", "quoted"):
            return None
        kind, text = self.tokens[self.at]
        self.at += 1
        return text if kind == "word" else text[1:-1].replace(text[0] * 2, text[0])

    def table(self) -> Optional[TableRef]:
        """``name`` or ``schema.name``; None when the next tokens are not a name."""
        first = self.identifier()
        if first is None:
            return None
        if self.punct("."):
            second = self.identifier()
            return (first, second) if second is not None else None
        return (self.default_schema, first)

    def tables(self, separators: tuple[str, ...]) -> list[Optional[TableRef]]:
        """Names separated by commas or the keywords in ``separators`` (RENAME's TO), each maybe followed by WAIT n/NOWAIT."""
        found = []
        while True:
            found.append(self.table())
            if self.word("WAIT"):
                self.at += 1
            self.word("NOWAIT")
            if not (self.punct(",") or self.word(*separators)):
                return found

    def table_after(self, keyword: str) -> Optional[TableRef]:
        while self.at < len(self.tokens):
            if self.word(keyword):
                return self.table()
            self.at += 1
        return None

    def references(self) -> list[TableRef]:
        """Every name or ``a.b`` pair in the statement: what a statement that is not parsed further may touch."""
        self.at = 0
        found: list[TableRef] = []
        while self.at < len(self.tokens):
            ref = self.table()
            if ref is None:
                self.at += 1
            else:
                found.append(ref)
        return found


def _ddl_tables(stmt: _Statement) -> Optional[list[Optional[TableRef]]]:
    """The tables a DDL statement alters, drops, renames, truncates or creates; None for other statements."""
    if stmt.word("TRUNCATE"):
        stmt.word("TABLE")
        return [stmt.table()]
    if stmt.word("RENAME"):
        if not stmt.word("TABLE", "TABLES"):
            return None  # RENAME USER
        stmt.skip_if_exists()
        return stmt.tables(("TO",))
    if stmt.word("DROP"):
        if stmt.word("DATABASE", "SCHEMA"):
            stmt.skip_if_exists()
            schema = stmt.identifier()
            return [(schema, None) if schema is not None else None]
        if stmt.word("TABLE", "TABLES"):
            stmt.skip_if_exists()
            return stmt.tables(())
        return [stmt.table_after("ON")] if stmt.word("INDEX") else None  # DROP TEMPORARY TABLE: never a moved table
    if stmt.word("CREATE"):
        if stmt.word("OR"):
            stmt.word("REPLACE")
        if stmt.word("TABLE"):
            stmt.skip_if_exists()
            return [stmt.table()]
        stmt.word("UNIQUE", "FULLTEXT", "SPATIAL")
        return [stmt.table_after("ON")] if stmt.word("INDEX") else None
    if stmt.word("ALTER"):
        stmt.word("ONLINE")
        stmt.word("IGNORE")
        if not stmt.word("TABLE"):
            return None
        stmt.skip_if_exists()
        altered = [stmt.table()]
        while stmt.at < len(stmt.tokens):  # ... EXCHANGE PARTITION p WITH TABLE other: other's rows change too
            if stmt.word("WITH") and stmt.word("TABLE"):
                altered.append(stmt.table())
            else:
                stmt.at += 1
        return altered
    return None


def statement_tables(query: str, default_schema: str) -> tuple[str, list[TableRef]]:
    """What a statement in a query event may change: ``("ddl", tables)``, ``("dml", tables)`` or ``("", [])``.

    A table is ``(schema, table)``; ``(schema, None)`` stands for every table
    of a schema (DROP DATABASE). Unqualified names belong to ``default_schema``,
    the session's database when the statement ran. When a DDL statement cannot
    be parsed, and for DML logged as a statement, every name in it counts:
    stopping a move for nothing is better than missing a change.
    """
    stmt = _Statement(query, default_schema)
    if stmt.word("INSERT", "REPLACE", "UPDATE", "DELETE", "LOAD"):
        return "dml", stmt.references()
    found = _ddl_tables(stmt)
    if found is None:
        return "", []
    if None in found:
        return "ddl", stmt.references()
    return "ddl", [ref for ref in found if ref is not None]


# ---------------------------------------------------------------------------
# Table maps and row images


class _Buffer:
    """A read position in one event's bytes; reading past the end is an error, never a short value."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise ValueError("binlog event ends after %d bytes; %d more were expected" % (len(self.data), end - len(self.data)))
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "little")

    def packed_uint(self) -> int:
        """A length-encoded integer (1, 3, 4 or 9 bytes)."""
        first = self.uint(1)
        if first < 251:
            return first
        return self.uint({252: 2, 253: 3, 254: 8}[first])

    def packed_bytes(self) -> bytes:
        return self.take(self.packed_uint())

    def at_end(self) -> bool:
        return self.pos >= len(self.data)


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


@dataclass
class _Column:
    """One column of a table map, with what decoding its values needs."""

    type: int
    #: VARCHAR/STRING: maximum bytes; BLOB/GEOMETRY: bytes of the length prefix; ENUM/SET: bytes of the value (its number);
    #: BIT: bits; NEWDECIMAL: precision; TIME2/DATETIME2/TIMESTAMP2: fractional digits.
    length: int = 0
    scale: int = 0
    name: str = ""
    unsigned: bool = False
    charset: str = "binary"


@dataclass
class _Table:
    schema: str
    name: str
    columns: list[_Column] = field(default_factory=list)
    #: How to read each column of a row image, worked out once per table map (_read_image runs per row).
    plan: list[tuple[str, int, bool, Any, _Column]] = field(default_factory=list)
    #: How to step over each column's value without decoding it: (bytes, 0) or (0, bytes of its length prefix).
    skips: list[tuple[int, int]] = field(default_factory=list)
    #: The column before images are reduced to (the primary key, which is all that finds the row); None: whole images.
    key_index: Optional[int] = None
    #: The bitmap of a rows event that carries every column (binlog_row_image=FULL), to compare each event's with.
    every_column: bytes = b""

    @property
    def display(self) -> str:
        return display_table(self.schema, self.name)


def _column(col_type: int, meta: _Buffer) -> _Column:
    """A column from its type and its slice of the table map's metadata block."""
    if col_type in _ONE_BYTE_META:
        return _Column(_BLOB if col_type in (249, 250, 251) else col_type, meta.uint(1))
    if col_type in (_VARCHAR, _VAR_STRING):
        return _Column(_VARCHAR, meta.uint(2))
    if col_type == _NEWDECIMAL:
        precision = meta.uint(1)
        return _Column(col_type, precision, meta.uint(1))
    if col_type == _BIT:
        bits = meta.uint(1)
        return _Column(col_type, meta.uint(1) * 8 + bits)
    if col_type in (_STRING, _ENUM, _SET):
        high, low = meta.uint(1), meta.uint(1)
        real_type = high | 0x30  # CHAR(n) over 255 bytes keeps bits 8-9 of n in bits 4-5, inverted
        if real_type in (_ENUM, _SET):
            return _Column(real_type, low)
        return _Column(_STRING, (((high >> 4) & 0x03) ^ 0x03) << 8 | low)
    return _Column(col_type)


def _bits(data: bytes, count: int) -> list[bool]:
    """``count`` flags packed most significant bit first (SIGNEDNESS metadata)."""
    return [bool(data[i // 8] & (0x80 >> (i % 8))) for i in range(count)]


def _set_charsets(columns: list[_Column], optional: dict[int, bytes], default_kind: int, per_column_kind: int, collations: dict[int, str]) -> None:
    """Character sets of ``columns`` from their DEFAULT_CHARSET form (a default plus exceptions) or their per-column form."""
    if default_kind in optional:
        buf = _Buffer(optional[default_kind])
        ids = [buf.packed_uint()] * len(columns)
        while not buf.at_end():
            index = buf.packed_uint()
            ids[index] = buf.packed_uint()
    else:
        buf = _Buffer(optional.get(per_column_kind, b""))
        ids = [buf.packed_uint() for _col in columns] if per_column_kind in optional else [63] * len(columns)  # 63: binary
    for col, collation in zip(columns, ids):
        col.charset = collations.get(collation, "")  # one the server does not list decodes as bytes: exact, if not pretty


def _parse_columns(table: _Table, buf: _Buffer, collations: dict[int, str]) -> None:
    """Fill ``table.columns`` from the rest of a table map body (after the table name)."""
    count = buf.packed_uint()
    types = list(buf.take(count))
    meta = _Buffer(buf.packed_bytes())
    columns = [_column(t, meta) for t in types]
    buf.take((count + 7) // 8)  # nullability: the row images say which values are NULL
    optional: dict[int, bytes] = {}
    while not buf.at_end():
        kind = buf.uint(1)
        optional[kind] = buf.packed_bytes()
    if _META_COLUMN_NAME not in optional:
        raise DbferryError(
            "the binlog has no column names for %s." % table.display, obj=table.display,
            fix="SET GLOBAL binlog_row_metadata = 'FULL' on the source (and in its my.cnf), then restart the move.")
    names = _Buffer(optional[_META_COLUMN_NAME])
    numeric = [c for c in columns if c.type in _NUMERIC]
    if _META_SIGNEDNESS in optional:
        for col, unsigned in zip(numeric, _bits(optional[_META_SIGNEDNESS], len(numeric))):
            col.unsigned = unsigned
    _set_charsets([c for c in columns if c.type in _CHARACTER], optional, _META_DEFAULT_CHARSET, _META_COLUMN_CHARSET, collations)
    for col in columns:
        col.name = names.packed_bytes().decode("utf-8")
        if col.type in _OLD_TEMPORAL:
            raise DbferryError(
                "column %s of %s uses the MariaDB 5.3 %s format, whose binlog values cannot be decoded." % (col.name, table.display, _OLD_TEMPORAL[col.type]),
                obj="%s.%s" % (table.display, col.name),
                fix="convert it on the source with ALTER TABLE ... FORCE (mysql56_temporal_format=ON, the default), then restart the move.")
        if col.type not in _INT_BYTES and col.type not in _DECODERS:
            raise DbferryError("column %s of %s has binlog type %d, which dbferry cannot decode." % (col.name, table.display, col.type),
                               obj="%s.%s" % (table.display, col.name), fix="leave this table out of the move.")
    table.columns = columns
    # (name, integer size or 0, signed, decoder, column): integers, the most frequent, are read inline, and so are ENUM
    # and SET values, which are their number (index, bitmask), as the applier writes them (DESIGN step 3).
    table.plan = [(c.name, _INT_BYTES.get(c.type) or (c.length if c.type in (_ENUM, _SET) else 0),
                   not c.unsigned and c.type not in (_ENUM, _SET), _DECODERS.get(c.type), c) for c in columns]
    table.skips = [_skip(c) for c in columns]


def _date_text(year: int, month: int, day: int) -> str:
    return "%04d-%02d-%02d" % (year, month, day)


def _time_text(hour: int, minute: int, second: int, micro: int, digits: int) -> str:
    text = "%02d:%02d:%02d" % (hour, minute, second)
    return text + (".%0*d" % (digits, micro // 10 ** (6 - digits)) if digits else "")


def _fraction(raw: bytes) -> int:
    """Microseconds from the big-endian fraction of a temporal value (1, 2 or 3 bytes for 1-2, 3-4, 5-6 digits)."""
    return int.from_bytes(raw, "big") * 10 ** (6 - 2 * len(raw)) if raw else 0


@functools.lru_cache(maxsize=None)
def _decimal_layout(precision: int, scale: int) -> tuple[tuple[tuple[int, int, int], ...], int]:
    """DECIMAL(precision, scale)'s binary form: per group of digits, from the first, (how far to shift the whole
    value right, the group's mask, 10 ** its digits); and its size in bytes."""
    whole = precision - scale
    groups = ([(_DIG2BYTES[whole % 9], whole % 9)] if whole % 9 else []) + [(4, 9)] * (whole // 9)
    groups += [(4, 9)] * (scale // 9) + ([(_DIG2BYTES[scale % 9], scale % 9)] if scale % 9 else [])
    size = sum(nbytes for nbytes, _digits in groups)
    steps, shift = [], 8 * size
    for nbytes, digits in groups:
        shift -= 8 * nbytes
        steps.append((shift, (1 << (8 * nbytes)) - 1, 10 ** digits))
    return tuple(steps), size


def _read_decimal(col: _Column, buf: _Buffer) -> Decimal:
    """DECIMAL's binary form: groups of 9 digits in 4 bytes, big-endian, sign in the top bit, negatives inverted.

    The digits are gathered as one integer and the Decimal made from "<digits>E-<scale>", which is exact at any
    precision (Decimal arithmetic would round to the context's 28 digits; DECIMAL has up to 65).
    """
    steps, size = _decimal_layout(col.length, col.scale)
    raw = int.from_bytes(buf.take(size), "big")
    top = 1 << (8 * size - 1)
    negative = not raw & top
    raw ^= top
    if negative:
        raw ^= (top << 1) - 1
    digits = 0
    for shift, mask, scale in steps:
        digits = digits * scale + ((raw >> shift) & mask)
    return Decimal("%s%dE-%d" % ("-" if negative else "", digits, col.scale))


def _read_year(col: _Column, buf: _Buffer) -> int:
    year = buf.uint(1)
    return year + 1900 if year else 0  # 0 is the zero year 0000, which an integer 0 writes back


def _read_date(col: _Column, buf: _Buffer) -> Union[datetime.date, str]:
    packed = buf.uint(3)
    year, month, day = packed >> 9, (packed >> 5) & 0x0F, packed & 0x1F
    try:
        return datetime.date(year, month, day)
    except ValueError:  # zero dates and zero parts, as PyMySQL returns them
        return _date_text(year, month, day)


def _read_time2(col: _Column, buf: _Buffer) -> datetime.timedelta:
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


def _read_datetime2(col: _Column, buf: _Buffer) -> Union[datetime.datetime, str]:
    """DATETIME(n): 5 bytes of year*13+month, day, hour, minute, second (offset by 2**39), then the fraction."""
    packed = int.from_bytes(buf.take(5), "big") - 0x8000000000
    micro = _fraction(buf.take((col.length + 1) // 2))
    ymd, hms = packed >> 17, packed & 0x1FFFF
    year, month, day = (ymd >> 5) // 13, (ymd >> 5) % 13, ymd & 0x1F
    hour, minute, second = hms >> 12, (hms >> 6) & 0x3F, hms & 0x3F
    try:
        return datetime.datetime(year, month, day, hour, minute, second, micro)
    except ValueError:
        return _date_text(year, month, day) + " " + _time_text(hour, minute, second, micro, col.length)


def _read_timestamp2(col: _Column, buf: _Buffer) -> Union[datetime.datetime, str]:
    """TIMESTAMP(n): seconds since the epoch, big-endian, then the fraction; 0 is the zero timestamp.

    The value is naive UTC, which is what a session with time_zone '+00:00'
    (connection.connect) reads and writes: it never depends on the local zone.
    """
    seconds = int.from_bytes(buf.take(4), "big")
    micro = _fraction(buf.take((col.length + 1) // 2))
    if seconds == 0:
        return "0000-00-00 " + _time_text(0, 0, 0, micro, col.length)
    return _EPOCH + datetime.timedelta(seconds=seconds, microseconds=micro)


def _read_string(col: _Column, buf: _Buffer) -> Union[str, bytes]:
    raw = buf.take(buf.uint(1 if col.length < 256 else 2))
    if col.charset == "binary" and col.type == _STRING:
        return raw.ljust(col.length, b"\0")  # BINARY(n): the binlog drops the zero bytes the server pads with
    return _text(raw, col.charset)


_Decoder = Callable[[_Column, _Buffer], Any]
_DECODERS: dict[int, _Decoder] = {
    _FLOAT: lambda col, buf: struct.unpack("<f", buf.take(4))[0],
    _DOUBLE: lambda col, buf: struct.unpack("<d", buf.take(8))[0],
    _NEWDECIMAL: _read_decimal,
    _YEAR: _read_year,
    _DATE: _read_date,
    _TIME2: _read_time2,
    _DATETIME2: _read_datetime2,
    _TIMESTAMP2: _read_timestamp2,
    _VARCHAR: _read_string,
    _STRING: _read_string,
    _BLOB: lambda col, buf: _text(buf.take(buf.uint(col.length)), col.charset),
    _GEOMETRY: lambda col, buf: buf.take(buf.uint(col.length)),
    _BIT: lambda col, buf: buf.take((col.length + 7) // 8),
    _ENUM: lambda col, buf: buf.uint(col.length),  # read inline (table.plan); here for _parse_columns' check
    _SET: lambda col, buf: buf.uint(col.length),
}


def _read_image(table: _Table, buf: _Buffer) -> dict[str, Any]:
    """One row image: a NULL bitmap, then the values of the non-NULL columns."""
    plan = table.plan
    nulls = buf.take((len(plan) + 7) // 8)
    data = buf.data
    row: dict[str, Any] = {}
    for i, (name, int_size, signed, decode, col) in enumerate(plan):
        if nulls[i >> 3] & (1 << (i & 7)):
            row[name] = None
        elif int_size:
            end = buf.pos + int_size
            if end > len(data):
                buf.take(int_size)  # raises, naming the shortfall
            row[name] = int.from_bytes(data[buf.pos:end], "little", signed=signed)
            buf.pos = end
        else:
            row[name] = decode(col, buf)
    return row


def _skip(col: _Column) -> tuple[int, int]:
    """How many bytes a value of the column takes: (fixed size, 0), or (0, size of the length prefix that says it)."""
    fraction = (col.length + 1) // 2
    fixed = {_FLOAT: 4, _DOUBLE: 8, _YEAR: 1, _DATE: 3, _TIME2: 3 + fraction, _DATETIME2: 5 + fraction, _TIMESTAMP2: 4 + fraction,
             _BIT: (col.length + 7) // 8, _ENUM: col.length, _SET: col.length}
    if col.type in _INT_BYTES:
        return _INT_BYTES[col.type], 0
    if col.type in fixed:
        return fixed[col.type], 0
    if col.type == _NEWDECIMAL:
        return _decimal_layout(col.length, col.scale)[1], 0
    if col.type in (_VARCHAR, _STRING):
        return 0, 1 if col.length < 256 else 2
    return 0, col.length  # BLOB, GEOMETRY


def _read_key(table: _Table, buf: _Buffer) -> dict[str, Any]:
    """A before image reduced to its key column (table.key_index): the other values are stepped over, not decoded.

    Applying a change needs only the key of its before image (the row is found by it, DESIGN step 3);
    decoding the rest was a third of the stream's work for updates.
    """
    plan = table.plan
    nulls = buf.take((len(plan) + 7) // 8)
    row: dict[str, Any] = {}
    for i, (fixed, prefix) in enumerate(table.skips):
        if nulls[i >> 3] & (1 << (i & 7)):
            continue
        if i == table.key_index:
            name, int_size, signed, decode, col = plan[i]
            row[name] = int.from_bytes(buf.take(int_size), "little", signed=signed) if int_size else decode(col, buf)
        else:
            buf.take(fixed or buf.uint(prefix))
    return row


# ---------------------------------------------------------------------------
# Event groups -> transactions


@dataclass
class _Group:
    """The MariaDB event group being read: one transaction, or one DDL statement."""

    gtid: tuple[int, int, int]
    flags: int
    changes: list[RowChange] = field(default_factory=list)
    savepoints: list[tuple[str, int]] = field(default_factory=list)


#: A table map not seen before (None in the cache means "seen: not a moved table").
_NOT_PARSED = object()


class Assembler:
    """Turns events into complete transactions with the row changes of moved tables."""

    def __init__(self, tables: frozenset[tuple[str, str]], collations: dict[int, str],
                 keys: Optional[Mapping[tuple[str, str], str]] = None) -> None:
        self.tables = tables
        #: (schema, table) -> the key column its before images are reduced to (BinlogStream's ``keys``).
        self.keys = keys or {}
        self.folded = {(s.casefold(), t.casefold()): (s, t) for s, t in tables}
        self.collations = collations
        self.post_headers: tuple[int, ...] = ()
        #: Table id -> decoded layout (None: a table of a moved schema that is not moved).
        self.layouts: dict[int, Optional[_Table]] = {}
        #: Parsed table maps by their bytes (None: a table that is not moved): the same table map comes with every transaction.
        self.parsed: dict[bytes, Optional[_Table]] = {}
        self.group: Optional[_Group] = None

    def reset(self) -> None:
        """Forget a half-read group (the connection dropped): the server sends it again from its start."""
        self.group = None

    def feed(self, event: DumpEvent) -> Optional[tuple[_Group, int]]:
        """Take one event; return the group and its commit time when the event completed it."""
        kind = event.type
        if kind in _ROWS_KINDS:  # the most frequent, first
            self._rows(event, self._open_group(event))
            return None
        if kind == _TABLE_MAP:
            self._open_group(event)
            self._table_map(event)
            return None
        if kind == _GTID:
            seq, domain, flags = struct.unpack_from("<QIB", event.body)
            self.group = _Group((domain, event.server_id, seq), flags)
            return None
        if kind == _XID:
            return self._finish(self._open_group(event), event, keep=True)
        if kind == _QUERY:
            return self._query(event, self._open_group(event))
        if kind in _SKIPPED_EVENTS:
            return None
        if kind == _FORMAT_DESCRIPTION:
            # binlog version (2), server version (50), create time (4), header length (1), then one
            # post-header length per event type, and the checksum algorithm (1).
            self.post_headers = tuple(event.body[57:-1])
            return None
        if kind == _XA_PREPARE:
            return self._xa_prepare(event, self._open_group(event))
        if kind == _EXECUTE_LOAD_QUERY:
            raise DbferryError("the binlog has a LOAD DATA statement (a session wrote statement-based binlog).", obj="binlog",
                               fix="keep binlog_format=ROW in every session on the source, then restart the move.")
        self._unknown_event(event)
        return None

    def _open_group(self, event: DumpEvent) -> _Group:
        if self.group is None:
            raise DbferryError("the binlog has an event of type %d outside of a GTID event group." % event.type, obj="binlog",
                               fix="stream from a MariaDB 10.0 or later source, whose binlog has GTIDs.")
        return self.group

    def _xa_prepare(self, event: DumpEvent, group: _Group) -> tuple[_Group, int]:
        one_phase, _format_id, gtrid_length = struct.unpack_from("<BiI", event.body)
        if group.changes and not one_phase:
            gtrid = event.body[13:13 + gtrid_length]
            raise DbferryError(
                "XA transaction %s changed %s; its changes commit in a later event group, which the stream cannot follow."
                % (gtrid.decode("utf-8", "replace"), self._display(group.changes[0])), obj=self._display(group.changes[0]),
                fix="do not use XA transactions on moved tables during a move; restart the move.")
        return self._finish(group, event, keep=True)

    def _finish(self, group: _Group, event: DumpEvent, keep: bool) -> tuple[_Group, int]:
        if not keep:
            group.changes.clear()
        self.group = None
        return group, event.timestamp

    @staticmethod
    def _display(change: RowChange) -> str:
        return display_table(change.schema, change.table)

    @staticmethod
    def _unknown_event(event: DumpEvent) -> None:
        if event.flags & _LOG_EVENT_IGNORABLE_F:
            return
        if event.type in _COMPRESSED_EVENTS:
            raise DbferryError("the source writes compressed binlog events (event type %d), which the stream cannot read." % event.type,
                               obj="log_bin_compress", fix="SET GLOBAL log_bin_compress = OFF on the source (and in its my.cnf), then restart the move.")
        raise DbferryError("the binlog has an event of type %d, which the stream does not know; skipping it could lose changes." % event.type,
                           obj="binlog", fix="report this with the source's version; the move cannot continue.")

    def _body(self, event: DumpEvent) -> _Buffer:
        """The event's post-header and body, positioned after the post-header (table id and flags)."""
        index = event.type - 1
        return _Buffer(event.body, self.post_headers[index] if index < len(self.post_headers) else (10 if event.type in _ROWS_V2 else 8))

    def _table_map(self, event: DumpEvent) -> None:
        # Every transaction brings the same table map again: look it up by its bytes before decoding anything.
        table_id = int.from_bytes(event.body[:6], "little")
        key = event.body[6:]  # everything but the table id, which is not stable across DDL and restarts
        table = self.parsed.get(key, _NOT_PARSED)
        if table is _NOT_PARSED:
            table = self._parse_table_map(event)
            if len(self.parsed) > 1000:
                self.parsed.clear()
            self.parsed[key] = table
        self.layouts[table_id] = table

    def _parse_table_map(self, event: DumpEvent) -> Optional[_Table]:
        """The table's layout; None for a table that is not moved."""
        buf = self._body(event)
        schema = buf.take(buf.uint(1)).decode("utf-8")
        buf.take(1)
        name = buf.take(buf.uint(1)).decode("utf-8")
        buf.take(1)
        if (schema, name) not in self.tables:
            return None
        table = _Table(schema, name)
        _parse_columns(table, buf, self.collations)
        count = len(table.columns)
        table.every_column = bytes([0xFF] * (count // 8) + ([(1 << (count % 8)) - 1] if count % 8 else []))
        names = [col.name for col in table.columns]
        if self.keys.get((schema, name)) in names:
            table.key_index = names.index(self.keys[(schema, name)])
        return table

    def _rows(self, event: DumpEvent, group: _Group) -> None:
        buf = self._body(event)
        table = self.layouts.get(int.from_bytes(buf.data[:6], "little"))
        if table is None:
            return
        if event.type in _ROWS_V2:
            buf.pos += int.from_bytes(buf.data[buf.pos - 2:buf.pos], "little") - 2
        count = buf.packed_uint()
        kind = _ROWS_KINDS[event.type]
        width = (count + 7) // 8
        partial = buf.take(width) != table.every_column or (kind == UPDATE and buf.take(width) != table.every_column)
        if count != len(table.columns) or partial:
            raise DbferryError(
                "a row event on %s does not carry every column (%d of %d); a session wrote it with binlog_row_image other than FULL."
                % (table.display, count, len(table.columns)), obj=table.display,
                fix="keep binlog_row_image=FULL in every session on the source, then restart the move.")
        read_before = _read_image if table.key_index is None else _read_key
        while not buf.at_end():
            before = read_before(table, buf) if kind != INSERT else None
            after = _read_image(table, buf) if kind != DELETE else None
            group.changes.append(RowChange(kind, table.schema, table.name, before, after))

    def _query(self, event: DumpEvent, group: _Group) -> Optional[tuple[_Group, int]]:
        body = event.body
        post_header = self.post_headers[_QUERY - 1] if len(self.post_headers) >= _QUERY else _QUERY_POST_HEADER
        schema_length = body[8]
        status_length = int.from_bytes(body[11:13], "little")
        schema_at = post_header + status_length
        schema = body[schema_at:schema_at + schema_length]
        query = body[schema_at + schema_length + 1:].decode("utf-8", "replace").strip()
        head = query.upper()
        if head in ("COMMIT", "ROLLBACK"):
            # A transaction that also changed a non-transactional table is logged even when it
            # rolls back, with its row events on InnoDB tables, which the rollback undid.
            return self._finish(group, event, keep=head == "COMMIT")
        if head.startswith("SAVEPOINT"):
            name = _Statement(query, "").references()[-1][1] or ""
            group.savepoints = [(n, i) for n, i in group.savepoints if n != name.casefold()] + [(name.casefold(), len(group.changes))]
        elif head.startswith("ROLLBACK TO"):
            self._rollback_to(query, group)
        elif not head.startswith(("BEGIN", "XA ")):
            self._check_statement(query, schema.decode("utf-8", "replace"))
        return self._finish(group, event, keep=True) if group.flags & _FL_STANDALONE else None

    @staticmethod
    def _rollback_to(query: str, group: _Group) -> None:
        """ROLLBACK TO a savepoint: logged (with the events it undoes) when the transaction also changed a non-transactional table."""
        name = (_Statement(query, "").references()[-1][1] or "").casefold()
        for i in range(len(group.savepoints) - 1, -1, -1):
            if group.savepoints[i][0] == name:
                del group.changes[group.savepoints[i][1]:]
                del group.savepoints[i + 1:]
                return
        raise DbferryError("the binlog rolls back to savepoint %s, which it never set." % name, obj="binlog",
                           fix="report this with the source's version; the move cannot continue.")

    def _check_statement(self, query: str, schema: str) -> None:
        kind, refs = statement_tables(query, schema)
        for ref_schema, ref_table in refs:
            if ref_table is None:
                hit = next((t for t in sorted(self.tables) if t[0].casefold() == ref_schema.casefold()), None)
            else:
                hit = self.folded.get((ref_schema.casefold(), ref_table.casefold()))
            if hit is None:
                continue
            shown = query if len(query) <= 300 else query[:300] + "..."
            if kind == "ddl":
                raise DbferryError(
                    "DDL on moved table %s while the move follows the binlog: %s" % (display_table(*hit), shown), obj=display_table(*hit),
                    fix="stop the move; apply the same DDL on the target too (or undo it on the source), then restart the move.")
            raise DbferryError(
                "a statement-based binlog event changes moved table %s: %s" % (display_table(*hit), shown), obj=display_table(*hit),
                fix="keep binlog_format=ROW in every session on the source (no SET SESSION binlog_format), then restart the move.")
