"""Binlog events in, complete source transactions out: what a move applies.

The assembler follows MariaDB's event groups (a GTID event, then the group's
events, then COMMIT, XID or XA PREPARE; a standalone DDL statement ends its
group by itself) and keeps the row changes of moved tables, in binlog order,
for changes.py's contract. What it cannot follow stops the stream with a
DbferryError that names the fix: DDL or statement-format changes on a moved
table, prepared XA transactions on one, compressed or unknown events, and
rows events without every column. It holds no connection: reader.py feeds
it the events DumpReader (dump.py) cuts out of the socket, in the reader
process.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from . import events
from .buffer import EventBuffer
from .changes import DELETE, INSERT, UPDATE, RowChange
from .dump import DumpEvent
from .statements import savepoint_name, statement_tables
from .table_map import TableLayout, parse_table, read_image, read_key
from ..common.errors import DbferryError
from ..common.identifiers import display_table

#: The kind of row change each rows event type carries.
_ROWS_KINDS = {
    events.WRITE_ROWS_V1: INSERT, events.UPDATE_ROWS_V1: UPDATE, events.DELETE_ROWS_V1: DELETE,
    events.WRITE_ROWS_V2: INSERT, events.UPDATE_ROWS_V2: UPDATE, events.DELETE_ROWS_V2: DELETE,
}
#: Events that say nothing about row changes in a row-based binlog: positions, file changes,
#: heartbeats, the text of statements logged as rows, and statement-based context (whose
#: statement itself is checked).
_SKIPPED_EVENTS = frozenset({events.STOP, events.ROTATE, events.INTVAR, events.RAND, events.USER_VAR, events.BEGIN_LOAD_QUERY,
                             events.HEARTBEAT, events.ROWS_QUERY, events.PREVIOUS_GTIDS, events.ANNOTATE_ROWS, events.BINLOG_CHECKPOINT,
                             events.GTID_LIST, events.START_ENCRYPTION})
#: Where a format description event's post-header lengths start: after the binlog version (2),
#: the server version (50), the creation time (4) and the header length (1).
_POST_HEADER_LENGTHS_AT = 57


class DdlOnMovedTable(DbferryError):
    """The binlog changes a followed table's definition; ``statement`` is the DDL. An online change's own swap (its
    RENAME) ends its applier this way, and the runner tells that apart from DDL run behind its back."""

    def __init__(self, message: str, *, statement: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.statement = statement


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
                 keys: Optional[Mapping[tuple[str, str], tuple[str, ...]]] = None) -> None:
        self.tables = tables
        #: (schema, table) -> the key columns its before images are reduced to (BinlogStream's ``keys``).
        self.keys = keys or {}
        self.folded = {(s.casefold(), t.casefold()): (s, t) for s, t in tables}
        self.collations = collations
        self.post_headers: tuple[int, ...] = ()
        #: Table id -> decoded layout (None: a table of a moved schema that is not moved).
        self.layouts: dict[int, Optional[TableLayout]] = {}
        #: Parsed table maps by their bytes (None: a table that is not moved): the same table map comes with every transaction.
        self.parsed: dict[bytes, Optional[TableLayout]] = {}
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
        if kind == events.TABLE_MAP:
            self._open_group(event)
            self._table_map(event)
            return None
        if kind == events.GTID:
            seq, domain, flags = struct.unpack_from("<QIB", event.body)
            self.group = _Group((domain, event.server_id, seq), flags)
            return None
        if kind == events.XID:
            return self._finish(self._open_group(event), event, keep=True)
        if kind == events.QUERY:
            return self._query(event, self._open_group(event))
        if kind in _SKIPPED_EVENTS:
            return None
        if kind == events.FORMAT_DESCRIPTION:
            # One post-header length per event type, then the checksum algorithm (1).
            self.post_headers = tuple(event.body[_POST_HEADER_LENGTHS_AT:-1])
            return None
        if kind == events.XA_PREPARE:
            return self._xa_prepare(event, self._open_group(event))
        if kind == events.EXECUTE_LOAD_QUERY:
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
        if event.flags & events.LOG_EVENT_IGNORABLE_F:
            return
        if event.type in events.COMPRESSED:
            raise DbferryError("the source writes compressed binlog events (event type %d), which the stream cannot read." % event.type,
                               obj="log_bin_compress", fix="SET GLOBAL log_bin_compress = OFF on the source (and in its my.cnf), then restart the move.")
        raise DbferryError("the binlog has an event of type %d, which the stream does not know; skipping it could lose changes." % event.type,
                           obj="binlog", fix="report this with the source's version; the move cannot continue.")

    def _body(self, event: DumpEvent) -> EventBuffer:
        """The event's post-header and body, positioned after the post-header (table id and flags)."""
        index = event.type - 1
        if index < len(self.post_headers):
            return EventBuffer(event.body, self.post_headers[index])
        return EventBuffer(event.body, events.ROWS_V2_POST_HEADER if event.type in events.ROWS_V2 else events.ROWS_POST_HEADER)

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

    def _parse_table_map(self, event: DumpEvent) -> Optional[TableLayout]:
        """The table's layout; None for a table that is not moved."""
        buf = self._body(event)
        schema = buf.take(buf.uint(1)).decode("utf-8")
        buf.take(1)
        name = buf.take(buf.uint(1)).decode("utf-8")
        buf.take(1)
        if (schema, name) not in self.tables:
            return None
        return parse_table(schema, name, buf, self.collations, self.keys.get((schema, name)))

    def _rows(self, event: DumpEvent, group: _Group) -> None:
        buf = self._body(event)
        table = self.layouts.get(int.from_bytes(buf.data[:6], "little"))
        if table is None:
            return
        if event.type in events.ROWS_V2:
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
        read_before = read_image if table.key_indexes is None else read_key
        # A change per row: made by tuple.__new__ (in C) rather than RowChange's own constructor, a Python call.
        new, append, schema, name, size = tuple.__new__, group.changes.append, table.schema, table.name, len(buf.data)
        while buf.pos < size:
            before = read_before(table, buf) if kind != INSERT else None
            after = read_image(table, buf) if kind != DELETE else None
            append(new(RowChange, (kind, schema, name, before, after)))

    def _query(self, event: DumpEvent, group: _Group) -> Optional[tuple[_Group, int]]:
        body = event.body
        post_header = self.post_headers[events.QUERY - 1] if len(self.post_headers) >= events.QUERY else events.QUERY_POST_HEADER
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
            name = savepoint_name(query)
            group.savepoints = [(n, i) for n, i in group.savepoints if n != name.casefold()] + [(name.casefold(), len(group.changes))]
        elif head.startswith("ROLLBACK TO"):
            self._rollback_to(query, group)
        elif not head.startswith(("BEGIN", "XA ")):
            self._check_statement(query, schema.decode("utf-8", "replace"))
        return self._finish(group, event, keep=True) if group.flags & events.FL_STANDALONE else None

    @staticmethod
    def _rollback_to(query: str, group: _Group) -> None:
        """ROLLBACK TO a savepoint: logged (with the events it undoes) when the transaction also changed a non-transactional table."""
        name = savepoint_name(query).casefold()
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
                raise DdlOnMovedTable(
                    "DDL on moved table %s while the move follows the binlog: %s" % (display_table(*hit), shown), obj=display_table(*hit),
                    fix="stop the move; apply the same DDL on the target too (or undo it on the source), then restart the move.",
                    statement=query)
            raise DbferryError(
                "a statement-based binlog event changes moved table %s: %s" % (display_table(*hit), shown), obj=display_table(*hit),
                fix="keep binlog_format=ROW in every session on the source (no SET SESSION binlog_format), then restart the move.")
