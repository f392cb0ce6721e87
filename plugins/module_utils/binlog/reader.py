"""A move's binlog, read and decoded in a process of its own.

Why a process: decoding the binlog is pure Python work (about 30 µs for a
single-row transaction on our 2-core machine) and so is applying it. In one
process they took turns on one GIL: a backlog drained at about 22,000
transactions/s, and four connections writing flat out on a busy machine
outran the applier. In its own process the reader has its own GIL and core
time, and hands the applier finished transactions, pickled over a pipe
(a few µs a transaction).

The reader process (``_read_binlog``) owns the dump connection: it reopens
a dropped one from the position after the last transaction it completed,
with growing pauses, and drops a half-read transaction (the server sends
it again), so a transaction is never lost or repeated. It stops by itself
when its parent is gone. ``BinlogStream`` is the applier's side; if the
reader process dies without saying why (killed, out of memory), it starts a
new one from the position after the last transaction it received, under
the same pauses.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import math
import multiprocessing
import os
import pickle
import signal
import time
import traceback
from typing import Any, Callable, Collection, Mapping, NamedTuple, Optional

from . import gtid
from .assembler import Assembler
from .dump import ConnectionLost, DumpReader
from .changes import RowChange, Transaction
from ..server.connection import ServerSpec, connect, error_code, error_text, fetch_all, is_database_error
from ..server.error_codes import ER_ACCESS_DENIED_ERROR, ER_MASTER_FATAL_ERROR_READING_BINLOG, ER_SPECIFIC_ACCESS_DENIED_ERROR
from ..common.errors import DbferryError
from ..server.flavor import Flavor, refuse_unsupported_source
from ..common.retry import Backoff, is_transient

#: Fixes for server errors that end a stream.
_STREAM_FIXES = {
    ER_MASTER_FATAL_ERROR_READING_BINLOG: "the source no longer has the binlog of this position (or never had it): start the move over, "
                                          "and keep binlogs longer than a move may pause (binlog_expire_logs_seconds).",
    ER_SPECIFIC_ACCESS_DENIED_ERROR: "grant the user REPLICATION SLAVE (see README.md), then restart the move.",
    ER_ACCESS_DENIED_ERROR: "check the user name and password for the source.",
}

#: The reader sends the transactions that arrived together in lists of at most this many.
_HANDOVER = 256
#: The pipe holds this many bytes that the applier has not taken yet (a few thousand transactions):
#: the reader decodes ahead while the applier waits for the target, and stops when the pipe is full,
#: so memory stays bounded when the applier is slower.
_PIPE_BYTES = 1 << 20

#: A clean interpreter, not a fork: the agent has threads (copiers, the control server) holding locks
#: and connections when the stream starts, and a forked child would inherit them mid-use.
_PROCESSES = multiprocessing.get_context("spawn")


def _collations(conn: Any, flavor: Flavor) -> dict[int, str]:
    """Collation id -> character set name, from the source itself (ids of the UCA 14 collations of MariaDB 10.10+ too)."""
    return {int(i): name for i, name in fetch_all(conn, flavor.collation_ids_sql)}


class BinlogStream:
    """Committed source transactions after a MariaDB GTID position, in binlog order.

    A reader process reads and decodes the binlog ahead of the caller (see
    the module docstring), so that next_transaction() honours its timeout
    (but for the pause before a dead reader is replaced) and decoding
    overlaps with applying. A connection that stays
    silent for ``stall_seconds`` (the source sends a heartbeat every
    ``heartbeat_seconds`` when it has nothing else) counts as dropped.
    ``server_id`` must differ from the source's and its replicas' ids: the
    source drops an older connection that uses the same id.

    Row changes are those of ``tables``, (schema, table) pairs on the source;
    they are decoded from the raw events (assembler.py). Moved tables must be
    transactional (as preflight requires): a savepoint rollback logged with a
    transaction drops the changes after the savepoint. DDL on a moved table,
    statement-based changes to one, and XA transactions on one stop the
    stream with a DbferryError: it cannot follow them. Generated columns
    (VIRTUAL and STORED) and INVISIBLE columns appear in the images, as the
    source logs them. With ``keys`` ((schema, table) -> key column), the
    before images of those tables hold only that column. ``on_event`` (an
    EventLog's ``event``) is told of reconnects and replaced readers.
    """

    def __init__(self, spec: ServerSpec, flavor: Flavor, start: str, tables: Collection[tuple[str, str]], *,
                 server_id: int, heartbeat_seconds: float = 1.0, stall_seconds: float = 30.0,
                 keys: Optional[Mapping[tuple[str, str], tuple[str, ...]]] = None, on_event: Optional[Callable[..., None]] = None) -> None:
        refuse_unsupported_source(flavor, "follows binlogs")
        if not 0 < heartbeat_seconds <= stall_seconds / 2:
            raise DbferryError("heartbeat_seconds (%s) must be positive and at most half of stall_seconds (%s)." % (heartbeat_seconds, stall_seconds),
                               obj="heartbeat_seconds", fix="raise stall_seconds or lower heartbeat_seconds.")
        conn = connect(spec)  # here, not in the reader: a wrong login fails the caller at once
        try:
            collations = _collations(conn, flavor)
        finally:
            conn.close()
        self._reader_args = (spec, server_id, heartbeat_seconds, max(1, math.ceil(stall_seconds)), frozenset(tables), dict(keys or {}), collations)
        self._describe = spec.describe()
        #: Told what an operator should find in the log: a reconnect, a replaced reader (EventLog.event's signature).
        self._on_event = on_event or (lambda name, **fields: None)
        self._position = gtid.render(gtid.parse(start))
        #: Where a new reader process starts: after the last transaction received (returned or still in _ready).
        self._received = self._position
        #: Transactions received and not yet returned.
        self._ready: collections.deque = collections.deque()
        self._failure: Optional[BaseException] = None
        #: Pauses between restarts of a reader process that died; the budget ends the move.
        self._restarts = Backoff("the binlog reader process for %s" % self._describe)
        #: How often the reader reopened its connection, and why the last time: for tests and the curious.
        self.reconnects = 0
        self.last_error: Optional[str] = None
        self._process: Any = None
        self._channel: Any = None
        self._start_reader()

    @property
    def position(self) -> str:
        """Where a stream restarted after the last transaction returned resumes (the start before the first)."""
        return self._position

    @property
    def reader_pid(self) -> int:
        """The reader process's id (it changes when a dead reader is replaced)."""
        return self._process.pid

    def next_transaction(self, timeout: float) -> Optional[Transaction]:
        """The next committed transaction, or None if none was complete within ``timeout`` seconds.

        Raises the DbferryError that stopped the stream (DDL on a moved table,
        a lost position, ...) once every transaction before it was returned.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        while not self._ready:
            if self._failure is not None:
                raise self._failure
            if not self._receive(deadline - time.monotonic()):
                return None
        txn = self._ready.popleft()
        self._position = txn.position
        return txn

    def _receive(self, timeout: float) -> bool:
        """Take one message from the reader process; False if none came within ``timeout`` seconds."""
        try:
            if not self._channel.poll(max(0.0, timeout)):
                return False
            item = self._channel.recv()
        except (EOFError, OSError):  # OSError: it ended in the middle of a message
            self._restart_reader()
            return True
        if isinstance(item, BaseException):
            self._failure = item
        elif isinstance(item, _Reading):
            self._restarts.success()  # a reader that reads: a later death is a new failure, with a budget of its own
        elif isinstance(item, _Reconnected):
            self.reconnects += 1
            self.last_error = item.error
            self._on_event("binlog_reconnect", source=self._describe, error=item.error, reconnects=self.reconnects)
        else:
            self._received = item[-1][0]
            self._ready.extend(_from_wire(item))
        return True

    def close(self) -> None:
        """Stop reading, at once: this is on the cutover's path (the agent stops while the source is read-only)."""
        self._stop_reader()

    def __enter__(self) -> "BinlogStream":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _start_reader(self) -> None:
        receiving, sending = _PROCESSES.Pipe(duplex=False)
        with contextlib.suppress(OSError, AttributeError):  # a bigger pipe (Linux): only the read-ahead is smaller without
            fcntl.fcntl(sending.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        self._process = _PROCESSES.Process(target=_read_binlog, args=(sending, os.getpid(), self._received) + self._reader_args,
                                           name="dbferry-binlog", daemon=True)
        self._process.start()
        sending.close()  # the reader's end only: when the reader ends, however, the pipe says so (EOFError)
        self._channel = receiving

    def _stop_reader(self) -> None:
        process, channel = self._process, self._channel
        if process is not None and process.is_alive():
            process.terminate()
            process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join()
        if channel is not None:
            channel.close()

    def _restart_reader(self) -> None:
        """The reader process ended without sending an error: start another where the last one left off."""
        self._process.join(1.0)
        died = DbferryError("the binlog reader process (pid %s) for %s ended unexpectedly (exit code %s)." % (
            self._process.pid, self._describe, self._process.exitcode), obj=self._describe,
            fix="check the agent's stderr file and the system log (out of memory?); restart the move: it resumes.")
        self._stop_reader()
        self._on_event("binlog_reader_replaced", pid=self._process.pid, exit_code=self._process.exitcode, resume_after=self._received)
        self._restarts.failed(died)  # pauses, or raises once restarts keep failing
        self._start_reader()


# ---------------------------------------------------------------------------
# The reader process


#: A transaction as it crosses the pipe: (position, timestamp, its changes as plain tuples of RowChange's fields).
_WireTransaction = tuple[str, int, tuple[tuple, ...]]


def _to_wire(transactions: list[Transaction]) -> list[_WireTransaction]:
    """Transactions as builtin tuples, which pickle without a call to Python per object.

    Every row change crosses the pipe, and pickling is a Python call per object
    that has a ``__reduce__`` (a Transaction, each RowChange), on both sides: with
    10-row transactions that was about a sixth of the reader's work and a third of
    the applier's. Plain tuples are pickled and unpickled by C alone; the stream
    makes them Transactions again (_from_wire).
    """
    return [(txn.position, txn.timestamp, tuple(map(tuple, txn.changes))) for txn in transactions]


def _from_wire(message: list[_WireTransaction]) -> list[Transaction]:
    """The Transactions _to_wire sent; each RowChange made by tuple.__new__, in C, not by its Python constructor."""
    new = tuple.__new__
    return [Transaction(position, tuple([new(RowChange, fields) for fields in changes]), timestamp) for position, timestamp, changes in message]


class _Reading(NamedTuple):
    """The reader's message, once, that its dump delivers (an event or a heartbeat): it started well."""


class _Reconnected(NamedTuple):
    """The reader's message that it reopened its connection after ``error``."""

    error: str


def _read_binlog(channel: Any, parent: int, start: str, spec: ServerSpec, server_id: int, heartbeat: float, read_timeout: int,
                 tables: frozenset[tuple[str, str]], keys: dict[tuple[str, str], tuple[str, ...]], collations: dict[int, str]) -> None:
    """The reader process: stream from ``start``, sending lists of transactions and, last, the error that ended it."""
    # The parent stops it (SIGTERM: the dump ends cleanly, _Reader.run); Ctrl-C in a terminal signals the whole process
    # group, and the parent stops at a checkpoint first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    try:
        _Reader(channel, parent, spec, server_id, heartbeat, read_timeout, Assembler(tables, collations, keys)).run(dict(gtid.parse(start)))
    except (BrokenPipeError, _Stopped):
        pass  # the parent is gone, or stops us
    except BaseException as exc:  # noqa: BLE001 - sent to the parent, which raises it  # pylint: disable=broad-exception-caught
        with contextlib.suppress(BrokenPipeError):
            channel.send(_sendable(exc))


class _Stopped(BaseException):
    """The parent's SIGTERM, raised where the reader is (in a blocking read, mostly), so that the dump ends cleanly."""


def _stop(_signum: int, _frame: Any) -> None:
    raise _Stopped()


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a DbferryError that says what it was and where."""
    if isinstance(exc, DbferryError) or is_database_error(exc):
        with contextlib.suppress(Exception):
            pickle.dumps(exc)
            return exc
    return DbferryError("the binlog reader failed: %s: %s\n%s" % (type(exc).__name__, exc, traceback.format_exc()), obj="binlog",
                        fix="report this with the agent's ferry.log; restart the move: it resumes.")


class _Reader:
    """The dump connection and its decoding, in the reader process."""

    def __init__(self, channel: Any, parent: int, spec: ServerSpec, server_id: int, heartbeat: float, read_timeout: int, assembler: Assembler) -> None:
        self.channel = channel
        self.spec = spec
        self.server_id = server_id
        self.heartbeat = heartbeat
        self.read_timeout = read_timeout
        self.assembler = assembler
        #: Whether _Reading was sent.
        self.reading = False
        #: The parent's pid as the parent said it: read here, it could already be init's if the parent died as we started.
        self.parent = parent

    def run(self, position: dict[int, tuple[int, int]]) -> None:
        """Read until the parent is gone; reopen dropped connections from ``position``, which moves with each transaction."""
        backoff = Backoff("reading the binlog of %s" % self.spec.describe())
        while self._parent_alive():
            dump = None
            try:
                dump = DumpReader(self.spec, self.server_id, gtid.render(position), self.heartbeat, self.read_timeout)
                self._read(dump, position, backoff)
                dump.end()  # the parent is gone
                dump = None
            except _Stopped:
                if dump is not None:
                    dump.end()  # the parent stops us: the source sees a replica stop, not a lost connection
                    dump = None
                raise
            except BrokenPipeError:
                raise  # the parent is gone (_read_binlog ends quietly), not a connection to reopen
            except Exception as exc:  # noqa: BLE001 - transient ones reopen, the rest stop the stream  # pylint: disable=broad-exception-caught
                if not (isinstance(exc, ConnectionLost) or is_transient(exc)):
                    raise self._stream_error(exc, position) from exc
                self.assembler.reset()
                self.channel.send(_Reconnected(str(exc) or "the binlog connection was lost"))
                backoff.failed(exc)
            finally:
                if dump is not None:
                    dump.close()

    def _parent_alive(self) -> bool:
        # A parent killed with -9 cannot stop us, and on an idle source no send fails to tell us:
        # left running, this reader would fight the next agent's dump for the same server id.
        return os.getppid() == self.parent

    def _read(self, dump: DumpReader, position: dict[int, tuple[int, int]], backoff: Backoff) -> None:
        """Decode what arrives (heartbeats at least every ``heartbeat`` seconds); send the transactions that completed."""
        while self._parent_alive():
            events = dump.read_events()
            backoff.success()
            if not self.reading:
                self.reading = True
                self.channel.send(_Reading())
            done: list[Transaction] = []
            try:
                for event in events:
                    finished = self.assembler.feed(event)
                    if finished is not None:
                        group, timestamp = finished
                        domain, server, seq = group.gtid
                        position[domain] = (server, seq)
                        done.append(Transaction(gtid.render(position), tuple(group.changes), timestamp))
                        if len(done) >= _HANDOVER:
                            self.channel.send(_to_wire(done))
                            done = []
            finally:  # an event that stops the stream comes after every transaction completed before it
                if done:
                    self.channel.send(_to_wire(done))

    def _stream_error(self, exc: BaseException, position: dict[int, tuple[int, int]]) -> BaseException:
        if not is_database_error(exc):
            return exc
        return DbferryError("the binlog stream from %s at position %r failed: %s" % (self.spec.describe(), gtid.render(position), error_text(exc)),
                            obj=self.spec.describe(), fix=_STREAM_FIXES.get(error_code(exc), "check the source's error log, then restart the move."))
