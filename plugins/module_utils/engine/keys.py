"""A table's key: the columns that name one row, and every SQL fragment and checkpoint that uses them.

The copy pages through a table in key order, the applier finds rows by key,
verification compares key ranges, and the checkpoints record how far the
copy got. All of it goes through this module, so that a key may be any
number of columns of any type the server orders exactly.

Why the server, never Python, compares keys: a VARCHAR key in a case- or
accent-insensitive collation holds 'abc' and finds it again as 'ABC', a PAD
SPACE collation ignores trailing spaces, and a DECIMAL compared with a
string becomes a DOUBLE. So boundaries are SQL conditions over the values
as the server returned them, passed back as parameters of their own type
(``encode_key`` keeps that type in the checkpoints), and Python only tests
keys for equality where equality means the same row (``exact``).
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from typing import Any, Optional, Sequence

from ..common.identifiers import for_arguments, quote_ident

#: A key's values, one per key column, as PyMySQL or the binlog decoder return them.
KeyValue = tuple

#: DATA_TYPEs a key column may have: each is ordered and compared exactly by the server, and its values come back
#: from it in a form that compares equal again (FLOAT and DOUBLE do not; ENUM and SET compare as text but sort by
#: number; BIT, JSON, BLOB, TEXT and geometry cannot be a whole key column).
KEY_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "char", "varchar", "binary",
                       "varbinary", "date", "datetime", "timestamp", "time", "year"})

#: Character sets a text key column may have: those whose every value PyMySQL's utf8mb4 session returns as text that
#: the server converts back to the same bytes. A cursor or range bound goes back that way (after_condition); in cp932,
#: say, 0xED40 comes back as 0xFA5C (the same Unicode character), which sorts later: the rows between would be skipped.
ROUND_TRIP_CHARSETS = frozenset({"utf8mb4", "utf8mb3", "utf8", "latin1", "ucs2", "utf16", "utf16le", "utf32"})

#: Key types whose Python values are equal exactly when the server takes them for the same row: text is not (a
#: collation may equal 'a' and 'A', or 'a' and 'a ').
_EXACT_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "binary", "varbinary", "date",
                          "datetime", "timestamp", "time", "year"})


def is_exact(types: Sequence[str]) -> bool:
    """Whether Python's equality of two key values of these DATA_TYPEs is the server's (see _EXACT_TYPES)."""
    return all(t in _EXACT_TYPES for t in types)


def key_list(columns: Sequence[str]) -> str:
    """The key columns, quoted, for SELECT and ORDER BY (escaped for statements run with arguments)."""
    return ", ".join(for_arguments(quote_ident(c)) for c in columns)


def _compare(columns: Sequence[str], last: str) -> str:
    """``(c1, .., cn) <last> (%s, .., %s)`` spelled out so that the optimizer reads it as a range of the key's index.

    MariaDB does not turn a row comparison ``(a, b) > (x, y)`` into an index
    range; ``a >= x AND (a > x OR (a = x AND b > y))`` it does (the leading
    term bounds the first column; the rest are ranges of the index too).
    Arguments: compare_args.
    """
    quoted = [for_arguments(quote_ident(c)) for c in columns]
    if len(quoted) == 1:
        return "%s %s %%s" % (quoted[0], last)
    first = ">=" if last.startswith(">") else "<="
    terms = []
    for i, column in enumerate(quoted):
        equal = ["%s = %%s" % c for c in quoted[:i]]
        terms.append("(%s)" % " AND ".join(equal + ["%s %s %%s" % (column, last if i == len(quoted) - 1 else last[0])]))
    return "(%s %s %%s AND (%s))" % (quoted[0], first, " OR ".join(terms))


def after_condition(columns: Sequence[str]) -> str:
    """Rows whose key is greater than a key value (arguments: compare_args)."""
    return _compare(columns, ">")


def at_most_condition(columns: Sequence[str]) -> str:
    """Rows whose key is less than or equal to a key value (arguments: compare_args)."""
    return _compare(columns, "<=")


def compare_args(value: KeyValue) -> list[Any]:
    """The arguments of after_condition / at_most_condition for ``value``."""
    if len(value) == 1:
        return [value[0]]
    args = [value[0]]
    for i in range(len(value)):
        args.extend(value[:i + 1])
    return args


#: A key range ``(low, high]``; None is unbounded on that side.
KeyRange = tuple[Optional[KeyValue], Optional[KeyValue]]


def range_condition(key: Sequence[str], key_range: KeyRange) -> tuple[str, list[Any]]:
    """WHERE condition and arguments for a key range (``key``: the unquoted key columns; the range's ends: key values)."""
    low, high = key_range
    parts, args = [], []
    if low is not None:
        parts.append(after_condition(key))
        args += compare_args(low)
    if high is not None:
        parts.append(at_most_condition(key))
        args += compare_args(high)
    return (" AND ".join(parts) or "TRUE"), args


def in_condition(columns: Sequence[str], count: int) -> str:
    """Rows at ``count`` keys (at least one), one ``%s`` per value in key order (arguments: in_args)."""
    return key_points(columns, [("%s",) * len(columns)] * count, with_arguments=True)


def key_points(columns: Sequence[str], values: Sequence[Sequence[str]], with_arguments: bool = False) -> str:
    """Rows at the keys ``values`` (at least one), each value already written as SQL (a literal, or ``%s`` in a
    statement run ``with_arguments``, whose names are escaped for that: common.identifiers.for_arguments).

    A composite key is spelled as ORs of equalities, each a point of the key's index: MariaDB does not read
    ``(a, b) IN ((..), ..)`` as index points."""
    quoted = [for_arguments(quote_ident(c)) if with_arguments else quote_ident(c) for c in columns]
    if len(quoted) == 1:
        return "%s IN (%s)" % (quoted[0], ", ".join(value[0] for value in values))
    return "(%s)" % " OR ".join("(%s)" % " AND ".join("%s = %s" % pair for pair in zip(quoted, value)) for value in values)


def in_args(values: Sequence[KeyValue]) -> list[Any]:
    """The arguments of in_condition for ``values``."""
    return [v for value in values for v in value]


def _encode_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        raise ValueError("a key value cannot be %r" % (value,))
    if isinstance(value, int) or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"b": bytes(value).hex()}
    if isinstance(value, Decimal):
        return {"d": str(value)}
    if isinstance(value, datetime.datetime):
        return {"t": value.isoformat(sep=" ")}
    if isinstance(value, datetime.date):
        return {"t": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {"t": time_text(value)}
    raise ValueError("a key value of type %s cannot be recorded" % type(value).__name__)


def time_text(value: datetime.timedelta) -> str:
    """A TIME value as the server writes it: ``[-]H:MM:SS[.ffffff]``."""
    micro = abs(value.days * 86400_000_000 + value.seconds * 1_000_000 + value.microseconds)
    seconds, micro = divmod(micro, 1_000_000)
    text = "%s%d:%02d:%02d" % ("-" if value < datetime.timedelta(0) else "", seconds // 3600, seconds // 60 % 60, seconds % 60)
    return text + (".%06d" % micro if micro else "")


def encode_key(value: Optional[KeyValue]) -> Optional[str]:
    """A key value as the checkpoints record it (None stays None): JSON text that gives back the same values, each
    of its own type (an integer, text, bytes as hex, a DECIMAL as its digits, a temporal value as the server's text),
    so the server compares the recorded key exactly as it compared the one it returned."""
    if value is None:
        return None
    return json.dumps([_encode_value(v) for v in value], ensure_ascii=False, separators=(",", ":"))


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        (tag, text), = value.items()
        if tag == "b":
            return bytes.fromhex(text)
        if tag == "d":
            return Decimal(text)
        if tag == "t":
            return text  # the server reads temporal text in a comparison with a temporal column as that type
        raise ValueError("unknown key value tag %r" % tag)
    return value


def decode_key(text: Optional[Any]) -> Optional[KeyValue]:
    """A recorded key (encode_key); None stays None. A bare number is a key recorded by an earlier version (its
    single integer key column was DECIMAL(20,0))."""
    if text is None:
        return None
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    if isinstance(text, (int, Decimal)):
        return (int(text),)
    loaded = json.loads(text)
    if isinstance(loaded, (int, float)):
        return (int(loaded),)
    return tuple(_decode_value(v) for v in loaded)


def key_for_output(value: KeyValue) -> Any:
    """A key value for a module's JSON result: one value alone, several as a list; bytes as 0x-prefixed hex and other
    non-JSON values (DECIMAL, temporal) as their text."""
    if not isinstance(value, tuple):
        value = (value,)
    shown = [v if isinstance(v, (int, str)) else "0x" + bytes(v).hex() if isinstance(v, (bytes, bytearray))
             else time_text(v) if isinstance(v, datetime.timedelta) else str(v) for v in value]
    return shown[0] if len(shown) == 1 else shown


def display_key(columns: Sequence[str], value: KeyValue) -> str:
    """``id = 5`` or ``(tenant, name) = (5, 'x')``, for messages."""
    shown = [repr(v) if isinstance(v, (str, bytes)) else str(v) for v in value]
    if len(columns) == 1:
        return "%s = %s" % (quote_ident(columns[0]), shown[0])
    return "(%s) = (%s)" % (", ".join(quote_ident(c) for c in columns), ", ".join(shown))
