"""Column type numbers of a table map event, by name.

A table map lists one type byte per column; with the column's metadata it
says how the column's values are laid out in row images (values.py). The
numbers are the server's ``enum_field_types``, shared by MariaDB and MySQL.
Only the types the stream decodes, translates or refuses by name are listed.
"""

from __future__ import annotations

TINY = 1  # TINYINT: 1 byte
SHORT = 2  # SMALLINT: 2 bytes
LONG = 3  # INT: 4 bytes
FLOAT = 4  # FLOAT: 4 bytes, IEEE
DOUBLE = 5  # DOUBLE: 8 bytes, IEEE
TIMESTAMP = 7  # TIMESTAMP in the MariaDB 5.3 format (no fractional digits in the metadata)
LONGLONG = 8  # BIGINT: 8 bytes
INT24 = 9  # MEDIUMINT: 3 bytes
DATE = 10  # DATE: 3 bytes, year/month/day packed
TIME = 11  # TIME in the MariaDB 5.3 format
DATETIME = 12  # DATETIME in the MariaDB 5.3 format
YEAR = 13  # YEAR: 1 byte, years since 1900
VARCHAR = 15  # VARCHAR / VARBINARY: length prefix of 1 or 2 bytes
BIT = 16  # BIT(n): (n + 7) // 8 bytes
TIMESTAMP2 = 17  # TIMESTAMP(n): seconds since the epoch, big-endian, then the fraction
DATETIME2 = 18  # DATETIME(n): 5 packed bytes, big-endian, then the fraction
TIME2 = 19  # TIME(n): 3 packed bytes, big-endian, then the fraction
NEWDECIMAL = 246  # DECIMAL(p, s): groups of 9 digits in 4 bytes
ENUM = 247  # ENUM: its index, 1 or 2 bytes (the table map says STRING; see table_map._column)
SET = 248  # SET: its bitmask, 1 to 8 bytes (the table map says STRING; see table_map._column)
TINY_BLOB = 249  # TINYBLOB / TINYTEXT (logged as BLOB)
MEDIUM_BLOB = 250  # MEDIUMBLOB / MEDIUMTEXT (logged as BLOB)
LONG_BLOB = 251  # LONGBLOB / LONGTEXT (logged as BLOB)
BLOB = 252  # BLOB / TEXT of any size: length prefix of 1 to 4 bytes
VAR_STRING = 253  # VARCHAR of old servers, read as VARCHAR
STRING = 254  # CHAR / BINARY, and ENUM and SET (their real type is in the metadata)
GEOMETRY = 255  # GEOMETRY: as a BLOB, always bytes

#: The collation id of the binary character set: values of columns without a character set are bytes.
BINARY_COLLATION = 63
