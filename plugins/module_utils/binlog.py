"""Access to the source's binlog.

For now: a read-only probe that proves the user may stream the binlog
(REPLICATION SLAVE) by asking for a dump that ends at once. The row-event
stream of a move lives here too when the engine grows it.
"""

from __future__ import annotations

import random
import struct
from typing import Any

from .connection import execute, fetch_all
from .flavor import Flavor

_COM_BINLOG_DUMP = 0x12
_BINLOG_DUMP_NON_BLOCK = 1

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
    # Without this the server refuses to send checksummed events to a client
    # that did not announce it understands them.
    execute(conn, "SET @master_binlog_checksum = @@GLOBAL.binlog_checksum")
    if flavor.is_mariadb:
        execute(conn, "SET @mariadb_slave_capability = 4")
    server_id = random.randint(*_PROBE_SERVER_ID_RANGE)
    payload = struct.pack("<IHI", log_pos, _BINLOG_DUMP_NON_BLOCK, server_id) + log_file.encode()
    # PyMySQL has no public call for replication commands; mysql-replication
    # drives the same two methods.
    conn._execute_command(_COM_BINLOG_DUMP, payload)  # pylint: disable=protected-access
    while not conn._read_packet().is_eof_packet():  # pylint: disable=protected-access
        pass
