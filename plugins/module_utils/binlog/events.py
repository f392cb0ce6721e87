"""Binlog event type numbers and event flags, by name.

The type is the fifth byte of every event's header (dump.py cuts it out);
MariaDB and MySQL share the numbers below 160, and MariaDB's own events
start there. Only the events the stream reads, skips or refuses by name are
listed: any other type stops the stream (assembler.py), since skipping an
event it does not know could lose a change.
"""

from __future__ import annotations

# Event types.
QUERY = 2  # a statement as text: BEGIN, COMMIT, DDL, or DML in statement format
STOP = 3  # the source shut down
ROTATE = 4  # the next binlog file
INTVAR = 5  # LAST_INSERT_ID / INSERT_ID for the statement after it
RAND = 13  # RAND() seeds for the statement after it
USER_VAR = 14  # a user variable the statement after it reads
FORMAT_DESCRIPTION = 15  # first in a binlog file: its version and every event type's post-header length
XID = 16  # COMMIT of a transaction on a transactional engine
BEGIN_LOAD_QUERY = 17  # a block of a file that LOAD DATA in statement format reads
EXECUTE_LOAD_QUERY = 18  # LOAD DATA in statement format
TABLE_MAP = 19  # a table's id, name and column layout, before its rows events
WRITE_ROWS_V1 = 23  # inserted rows (after images)
UPDATE_ROWS_V1 = 24  # updated rows (before and after images)
DELETE_ROWS_V1 = 25  # deleted rows (before images)
HEARTBEAT = 27  # sent when the source has had nothing to send for the heartbeat period
ROWS_QUERY = 29  # the text of the statement that logged the rows events after it (MySQL)
WRITE_ROWS_V2 = 30  # as WRITE_ROWS_V1, with an extra-data block in the post-header
UPDATE_ROWS_V2 = 31  # as UPDATE_ROWS_V1, with an extra-data block
DELETE_ROWS_V2 = 32  # as DELETE_ROWS_V1, with an extra-data block
PREVIOUS_GTIDS = 35  # MySQL: the GTIDs of the binlog files before this one
XA_PREPARE = 38  # XA PREPARE (or XA COMMIT ... ONE PHASE) ending an event group
ANNOTATE_ROWS = 160  # MariaDB: the text of the statement that logged the rows events after it
BINLOG_CHECKPOINT = 161  # MariaDB: the oldest binlog file crash recovery still needs
GTID = 162  # MariaDB: opens an event group (a transaction or one DDL statement) with its GTID
GTID_LIST = 163  # MariaDB: the GTID position at the start of a binlog file
START_ENCRYPTION = 164  # MariaDB: the rest of the file is encrypted (the dump sends it decrypted)
QUERY_COMPRESSED = 165  # MariaDB, log_bin_compress=ON: a compressed QUERY
WRITE_ROWS_COMPRESSED_V1 = 166  # compressed WRITE_ROWS_V1
UPDATE_ROWS_COMPRESSED_V1 = 167  # compressed UPDATE_ROWS_V1
DELETE_ROWS_COMPRESSED_V1 = 168  # compressed DELETE_ROWS_V1
WRITE_ROWS_COMPRESSED = 169  # compressed WRITE_ROWS_V2
UPDATE_ROWS_COMPRESSED = 170  # compressed UPDATE_ROWS_V2
DELETE_ROWS_COMPRESSED = 171  # compressed DELETE_ROWS_V2

#: Rows events whose post-header ends with an "extra data" block (its length first).
ROWS_V2 = frozenset({WRITE_ROWS_V2, UPDATE_ROWS_V2, DELETE_ROWS_V2})
#: MariaDB's compressed events, which the stream cannot read.
COMPRESSED = frozenset({QUERY_COMPRESSED, WRITE_ROWS_COMPRESSED_V1, UPDATE_ROWS_COMPRESSED_V1, DELETE_ROWS_COMPRESSED_V1,
                        WRITE_ROWS_COMPRESSED, UPDATE_ROWS_COMPRESSED, DELETE_ROWS_COMPRESSED})

# Flags.
#: Event header flag: a replica that does not know the event may skip it.
LOG_EVENT_IGNORABLE_F = 0x80
#: MariaDB GTID event flag: the group is one statement (DDL) with no COMMIT or XID after it.
FL_STANDALONE = 0x01

#: Post-header lengths used until the format description event says them (it always comes first).
QUERY_POST_HEADER = 13  # thread id (4), exec time (4), schema length (1), error code (2), status length (2)
ROWS_POST_HEADER = 8  # table id (6), flags (2)
ROWS_V2_POST_HEADER = 10  # ... and the extra-data length (2)
