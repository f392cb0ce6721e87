"""The MariaDB replication protocol: a binlog dump from a GTID position, read event by event.

What a replica does to receive the binlog, and no more: announce that it
understands checksums and GTIDs, ask for a dump (COM_BINLOG_DUMP) from a
GTID position, then read one event per packet, each with its 19-byte header,
checking its CRC32 when the source writes them. What the events mean is
assembler.py's concern. ``probe_dump`` proves, for preflight, that a user
may stream the binlog.

Why not a library: mysql-replication builds an object per event and parses
every table map again, so reading single-row transactions cost about 250 µs
of Python each and capped the applier at about 4,500 transactions/s. Here
the packets are cut out of what the socket has delivered, as many at a time
as have arrived, which costs a few microseconds an event.
"""

from __future__ import annotations

import random
import struct
import zlib
from typing import Any, NamedTuple

from ..server import connection
from ..server.connection import ServerSpec, close_quietly, connect, execute, fetch_all, fetch_value
from ..common.errors import DbferryError
from ..server.flavor import Flavor

COM_BINLOG_DUMP = 0x12
#: Dump flag: end the dump (EOF packet) at the end of the binlog instead of waiting for more.
BINLOG_DUMP_NON_BLOCK = 1
#: @mariadb_slave_capability value: the replica understands GTID events.
_MARIA_SLAVE_CAPABILITY_GTID = 4

#: timestamp, type, server id, event size, next position, flags.
_HEADER = struct.Struct("<IBIIIH")
HEADER_SIZE = _HEADER.size  # 19
_CHECKSUM_SIZE = 4
#: A protocol packet carries at most this many bytes; a longer event continues in the next packet.
_MAX_PACKET = 0xFFFFFF
#: Bytes taken from the socket at a time: a few hundred small events.
_READ_SIZE = 256 * 1024
#: The first byte of a packet that carries the server's error instead of an event.
_ERROR_PACKET = 0xFF
#: The first byte of the EOF packet that ends the dump (an EOF packet is shorter than 9 bytes).
_EOF_PACKET = 0xFE
#: Probe server ids are drawn from this range. A dump request with the
#: server id of a real replica would make the source drop that replica's
#: connection, so the id is random and far from the small ids people use.
_PROBE_SERVER_ID_RANGE = (0x70000000, 0x7FFFFFFF)


class DumpEvent(NamedTuple):
    """One binlog event: its header fields and its body (after the header, without the checksum)."""

    type: int
    timestamp: int
    server_id: int
    flags: int
    body: bytes


class ConnectionLost(Exception):
    """The dump connection ended or broke; the stream reopens it from its own position."""


def request_dump(conn: Any, server_id: int, flags: int, log_file: str = "", log_pos: int = 4) -> bool:
    """Announce what this replica understands and send the dump request; True when events carry a CRC32.

    With an empty ``log_file`` (and ``@slave_connect_state`` set), MariaDB
    starts at the session's GTID position instead of a file and offset.
    """
    # Without this the server refuses to send checksummed events to a client
    # that did not announce it understands them.
    execute(conn, "SET @master_binlog_checksum = @@GLOBAL.binlog_checksum")
    checksum = str(fetch_value(conn, "SELECT @master_binlog_checksum") or "NONE").upper()
    execute(conn, "SET @mariadb_slave_capability = %d" % _MARIA_SLAVE_CAPABILITY_GTID)
    payload = struct.pack("<IHI", log_pos, flags, server_id) + log_file.encode()
    # PyMySQL has no public call for replication commands; these two methods
    # are the ones its own command calls use.
    conn._execute_command(COM_BINLOG_DUMP, payload)  # pylint: disable=protected-access
    return checksum != "NONE"


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


class DumpReader:
    """A blocking binlog dump from a GTID position on its own connection."""

    def __init__(self, spec: ServerSpec, server_id: int, position: str, heartbeat_seconds: float, read_timeout: int) -> None:
        #: The connection the binlog arrives on (PyMySQL made it: its socket and buffered reader are used here).
        self.conn = connect(spec, read_timeout=read_timeout)
        self._spec = spec
        self._describe = spec.describe()
        #: The source's id of this session, for end()'s KILL.
        self.thread_id = self.conn.thread_id()
        try:
            execute(self.conn, "SET @slave_connect_state = %s", (position,))
            execute(self.conn, "SET @slave_gtid_strict_mode = 0")
            execute(self.conn, "SET @slave_gtid_ignore_duplicates = 0")
            # Heartbeats while the source has nothing to send: a silent connection can then be told from an idle source.
            execute(self.conn, "SET @master_heartbeat_period = %d" % int(heartbeat_seconds * 1e9))
            self._checksummed = request_dump(self.conn, server_id, 0)
        except BaseException:
            self.close()
            raise
        # From here the connection carries only the dump, read here from PyMySQL's buffered reader (empty
        # now: every earlier answer was read whole).
        self._rfile = self.conn._rfile  # pylint: disable=protected-access
        # PyMySQL sets its read timeout before each of its own reads (and clears it before each write):
        # set it here for ours, so that a silent connection (no event, no heartbeat) ends in a timeout.
        self.conn._sock.settimeout(read_timeout)  # pylint: disable=protected-access
        self._buffer = bytearray()
        self._partial: list[bytes] = []

    def read_events(self) -> list[DumpEvent]:
        """The events that have arrived, in order: at least one; blocks until one has (a heartbeat is an event too)."""
        while True:
            events = self._complete_events()
            if events:
                return events
            try:
                chunk = self._rfile.read1(_READ_SIZE)
            except (OSError, ValueError) as exc:  # a timeout, a reset, or a socket shut down by close()
                raise ConnectionLost("the binlog connection was lost: %s" % exc) from exc
            if not chunk:
                raise ConnectionLost("the source closed the binlog connection")
            self._buffer += chunk

    def _complete_events(self) -> list[DumpEvent]:
        """Cut the complete packets out of the buffer (4-byte header: 3 bytes of length, 1 of sequence) and parse them.

        What arrived is copied once into bytes, and each event is parsed from there by offsets: a copy per
        packet cost more than the parsing of a small event. Nothing is copied while the first packet is incomplete
        (a large event arrives in many reads).
        """
        buf = self._buffer
        if len(buf) < 4 or 4 + int.from_bytes(buf[:3], "little") > len(buf):
            return []
        data = bytes(buf)
        events = []
        pos = 0
        while len(data) - pos >= 4:
            length = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16
            end = pos + 4 + length
            if end > len(data):
                break
            if length == _MAX_PACKET or self._partial:
                self._partial.append(data[pos + 4:end])
                pos = end
                if length == _MAX_PACKET:
                    continue
                payload = b"".join(self._partial)
                self._partial.clear()
                events.append(self._event(payload, 0, len(payload)))
                continue
            events.append(self._event(data, pos + 4, end))
            pos = end
        del buf[:pos]
        return events

    def _event(self, data: bytes, start: int, end: int) -> DumpEvent:
        """Parse the packet ``data[start:end]``: the OK byte, the header and the body; check the size and the CRC32."""
        first = data[start]
        if first == _ERROR_PACKET:
            # The server's error, raised as PyMySQL raises it for a query (PyMySQL is there: it made the connection).
            connection.pymysql.err.raise_mysql_exception(data[start:end])
        if first == _EOF_PACKET and end - start < 9:  # EOF: the source ended the dump (shutdown, or a killed dump thread)
            raise ConnectionLost("the source ended the binlog stream")
        timestamp, event_type, server_id, size, _next_position, flags = _HEADER.unpack_from(data, start + 1)
        if size != end - start - 1:
            raise DbferryError("a binlog event from %s is %d bytes long but says %d." % (self._describe, end - start - 1, size),
                               obj=self._describe, fix="check the network and the source's error log, then restart the move: it resumes.")
        body_end = end
        if self._checksummed:
            body_end -= _CHECKSUM_SIZE
            if zlib.crc32(data[start + 1:body_end]) != int.from_bytes(data[body_end:end], "little"):  # a bytes slice: faster than a memoryview for small events
                raise DbferryError("a binlog event from %s fails its checksum (type %d)." % (self._describe, event_type), obj=self._describe,
                                   fix="check the network and the source's error log, then restart the move: it resumes.")
        return DumpEvent(event_type, timestamp, server_id, flags, data[start + 1 + HEADER_SIZE:body_end])

    def close(self) -> None:
        """Drop the connection (it failed, or the dump never started): the source notices on its next write."""
        close_quietly(self.conn)

    def end(self) -> None:
        """End a healthy dump as a stopping replica does, leaving nothing in the source's error log.

        A dump thread only writes: it never reads COM_QUIT, and a socket closed under it ends in "Aborted connection
        ... Got an error writing communication packets" (log_warnings >= 2, MariaDB's default). A KILL from a second
        session of the same user ends the thread as the server's own doing, which it does not log; both sessions
        then close with COM_QUIT. Best effort: a source that cannot be reached now only gets the plain close.
        """
        try:
            killer = connect(self._spec)
            try:
                execute(killer, "KILL CONNECTION %d" % self.thread_id)
            finally:
                killer.close()
        except Exception:  # noqa: BLE001 - the thread is gone already, or the source is unreachable  # pylint: disable=broad-exception-caught
            pass
        self.close()
