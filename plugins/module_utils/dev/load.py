"""Application writes on a server while a move runs: the one load of the tests, the bench and the demo.

A load is a few connections, each writing the transactions of its own
``Mix`` until it is stopped, or until it has written its share of a given
number of transactions; paced to a total rate, or as fast as the server
takes them. The mix is the caller's: it knows its tables' shape and draws
from a seeded random generator, so a run that failed can be replayed.

A connection is either a session of this process (``ServerSession``) or a
``mariadb`` client process fed through its stdin (``ClientPipe``), for a
writer whose rate must not depend on Python's speed.

A session goes on with its next transaction when the server refuses one
because it is read-only (the cutover's read-only window, as an application
sees it), and when one ran into a deadlock or a lock wait that timed out
(the copy's shared locks meet the application's writes); both are counted.
Any other error ends that connection, and ``finish()`` raises it.

A development tool, like the sandboxes: nothing in engine/ imports dev/
(tests/unit/common/test_layers.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, fields
from typing import Any, BinaryIO, Callable, Optional, Protocol

from ..server.connection import ServerSpec, close_quietly, connect, error_code, execute, is_database_error
from ..server.error_codes import ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, ER_OPTION_PREVENTS_STATEMENT

#: An unpaced session waits this long after a refused or conflicting transaction, so that a read-only source is not
#: asked again in a tight loop.
REFUSED_PAUSE_SECONDS = 0.01


@dataclass(frozen=True)
class Transaction:
    """What a connection writes at once: a lone statement on its own (autocommit, as most application writes are),
    more than one between BEGIN and COMMIT, or ROLLBACK for ``rollback`` (written, and never in the binlog)."""

    statements: tuple[str, ...]
    #: Rows it changes, for the rows-per-second figure of a writer.
    rows: int = 1
    rollback: bool = False

    @property
    def alone(self) -> bool:
        """A single statement that commits itself."""
        return len(self.statements) == 1 and not self.rollback


class Mix(Protocol):
    """The transactions one connection writes, in order."""

    def next_transaction(self) -> Transaction:
        """The next transaction to write."""


class Session(Protocol):
    """Where a connection's transactions go."""

    def run(self, transaction: Transaction) -> None:
        """Write ``transaction``; raise the server's error when it refuses it."""

    def close(self) -> None:
        """End the connection (also after an error)."""


class ServerSession:
    """A session of this process, with autocommit on, as an application's connection usually is."""

    def __init__(self, spec: ServerSpec) -> None:
        self.conn = connect(spec)

    def run(self, transaction: Transaction) -> None:
        if transaction.alone:
            execute(self.conn, transaction.statements[0])
            return
        self.conn.begin()
        try:
            for statement in transaction.statements:
                execute(self.conn, statement)
            if transaction.rollback:
                self.conn.rollback()
            else:
                self.conn.commit()
        except Exception:
            self.conn.rollback()  # after a failed COMMIT too: the session must not stay in the transaction
            raise

    def close(self) -> None:
        close_quietly(self.conn)


class ClientPipe:
    """Statements written to a ``mariadb`` client's stdin, which it runs one by one, a round trip each.

    Writing blocks while the client is behind, so what is measured is the client and the server, never how fast
    Python makes statements. The client's errors are not seen here: its exit status and the source's binlog tell.
    Closing stdin lets the client run what the pipe still holds (whole transactions) and exit.
    """

    def __init__(self, stdin: BinaryIO) -> None:
        self.stdin = stdin

    def run(self, transaction: Transaction) -> None:
        lines = ["%s;\n" % statement for statement in transaction.statements]
        if not transaction.alone:
            lines = ["BEGIN;\n"] + lines + ["ROLLBACK;\n" if transaction.rollback else "COMMIT;\n"]
        self.stdin.write("".join(lines).encode())

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):  # the client is gone: its exit status says why
            self.stdin.close()


@dataclass
class Counts:
    """What a load's connections did, in transactions (``rows``: rows the written ones changed)."""

    written: int = 0
    rows: int = 0
    rolled_back: int = 0
    #: Refused by a read-only server.
    refused: int = 0
    #: Deadlocks and lock waits that timed out.
    conflicts: int = 0

    def add(self, other: Counts) -> None:
        for name in (f.name for f in fields(self)):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class LoadError(Exception):
    """A connection of the load ended on an error that is neither a read-only refusal nor a lock conflict."""


class Load:
    """``mixes[i]`` written by connection ``i``, each in a thread of its own, from now until ``finish()``.

    ``open_session(i)`` opens connection ``i`` (in its thread). ``per_second``: the total pace of all connections
    (each keeps a fixed schedule, so a slow statement is made up for after it); None writes as fast as the server
    takes it. ``transactions``: write that many in all (each connection its share) and end, rather than go on until
    ``finish()``.
    """

    def __init__(self, open_session: Callable[[int], Session], mixes: list[Mix], per_second: Optional[float] = None,
                 transactions: Optional[int] = None) -> None:
        self.open_session = open_session
        self.mixes = mixes
        self.period = len(mixes) / per_second if per_second else 0.0
        self.limited = transactions is not None
        share = None if transactions is None else -(-transactions // len(mixes))
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.each = [Counts() for _mix in mixes]
        self.threads = [threading.Thread(target=self._write, args=(index, share), daemon=True) for index in range(len(mixes))]
        for thread in self.threads:
            thread.start()

    @property
    def counts(self) -> Counts:
        """The connections' counts so far, summed."""
        total = Counts()
        for counts in self.each:
            total.add(counts)
        return total

    def _write(self, index: int, share: Optional[int]) -> None:
        counts, mix = self.each[index], self.mixes[index]
        session: Any = None
        try:
            session = self.open_session(index)
            next_at = time.monotonic()
            while not self.stopping.is_set() and (share is None or counts.written < share):
                if not _try_write(session, mix.next_transaction(), counts) and not self.period:
                    time.sleep(REFUSED_PAUSE_SECONDS)
                if self.period:
                    next_at += self.period
                    time.sleep(max(0.0, next_at - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - raised by finish()  # pylint: disable=broad-exception-caught
            self.errors.append(exc)
        finally:
            if session is not None:
                session.close()

    def finish(self) -> Counts:
        """Stop (a load of a number of transactions: once it has written them), wait for the connections, return the counts.

        Raises LoadError when a connection ended on an error.
        """
        if not self.limited:
            self.stopping.set()
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise LoadError("%d of %d load connection(s) failed: %s" % (len(self.errors), len(self.mixes), "; ".join(map(str, self.errors))))
        return self.counts


def _try_write(session: Session, transaction: Transaction, counts: Counts) -> bool:
    """Write ``transaction`` and count what came of it; False when the server refused it (read-only) or it hit a lock
    conflict, either of which the connection gets past by going on with its next transaction."""
    try:
        session.run(transaction)
    except Exception as exc:
        code = error_code(exc) if is_database_error(exc) else 0
        if code == ER_OPTION_PREVENTS_STATEMENT:
            counts.refused += 1
        elif code in (ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT):
            counts.conflicts += 1
        else:
            raise
        return False
    if transaction.rollback:
        counts.rolled_back += 1
    else:
        counts.written += 1
        counts.rows += transaction.rows
    return True
