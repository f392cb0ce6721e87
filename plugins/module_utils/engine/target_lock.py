"""One agent per move, enforced on the target: a named lock held by a session of its own for the agent's life.

The run lock (runlock.py) is a file in one state folder, so it cannot see a
second agent of the same move started with another state folder or on
another host; both would write to the same target. The target is the one
place every agent of a move shares, so the move takes
``GET_LOCK('dbferry:<move>', 0)`` there, in a dedicated session, before
anything is written (Ferry.run), and refuses to start without it.

When that session is lost (network, a KILL, a target restart), the server
releases the lock and another agent may take it. The agent then must not
go on writing as if it still held it. ``check()``, called on every tick of
the engine's run loop, finds out and re-takes the lock on a new session
(killing the old one first when the server still has it: a session the
client gave up on after a read timeout goes on holding the lock); when
another agent holds it by then, or the target cannot be reached for
RETAKE_SECONDS, it raises and the engine stops all of its writers. Between the loss and the
next tick (half a second) both agents may write; that is harmless, because
what they write is idempotent (a copied batch ignores existing keys, events
are applied as full after-images in binlog order, docs/design.md step 3) and no
checkpoint write of either commits once the move is complete
(state.refuse_if_complete), which is what the lock exists to protect: a
cut-over target that an application writes to.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from typing import Any, Optional

from ..server.connection import ServerSpec, close_quietly, connect, execute, fetch_all, fetch_value
from ..common.errors import DbferryError
from ..common.retry import is_transient

#: MariaDB and MySQL refuse lock names longer than this.
_MAX_NAME = 64
_PREFIX = "dbferry:"
#: Seconds check() goes on trying to take the lock again after its session was lost. A loaded target may be slow to
#: accept a new session, and a session the client gave up on (a read timeout) lives on in the server, holding the
#: lock, until it is killed (take() kills it: the same login owns it).
RETAKE_SECONDS = 10.0
#: Seconds GET_LOCK waits after that kill, for the server to end the session and free the lock.
_KILLED_SESSION_WAIT = 5


def lock_name(move: str) -> str:
    """``dbferry:<move>``; a digest of the move name when that is too long for a lock name."""
    name = _PREFIX + move
    if len(name) <= _MAX_NAME:
        return name
    return _PREFIX + hashlib.sha256(move.encode()).hexdigest()[:_MAX_NAME - len(_PREFIX)]


class TargetLock:
    """The move's lock on the target, held by a session of its own from ``take()`` to ``release()``."""

    def __init__(self, spec: ServerSpec, move: str) -> None:
        self.spec = spec
        self.move = move
        self.name = lock_name(move)
        self.conn: Any = None
        #: The id of the session that holds the lock (what IS_USED_LOCK returns while we hold it).
        self.session_id: Optional[int] = None

    def take(self, lost_session: Optional[int] = None) -> "TargetLock":
        """Take the lock on a new session; raise naming the session that holds it when another does.

        ``lost_session`` is this lock's own earlier session, given up by check(): when the server still has it holding
        the lock, it is killed and the lock taken once the server has freed it."""
        conn = connect(self.spec)
        try:
            taken = fetch_value(conn, "SELECT GET_LOCK(%s, 0)", (self.name,)) == 1
            if not taken and lost_session is not None and self._holder(conn) == lost_session:
                with contextlib.suppress(Exception):  # it may have ended meanwhile
                    execute(conn, "KILL CONNECTION %d" % lost_session)
                taken = fetch_value(conn, "SELECT GET_LOCK(%s, %s)", (self.name, _KILLED_SESSION_WAIT)) == 1
            if not taken:
                raise self._held_elsewhere(conn)
            self.session_id = int(fetch_value(conn, "SELECT CONNECTION_ID()"))
        except BaseException:
            close_quietly(conn)
            raise
        self.conn = conn
        return self

    def _holder(self, conn: Any) -> Optional[int]:
        holder = fetch_value(conn, "SELECT IS_USED_LOCK(%s)", (self.name,))
        return None if holder is None else int(holder)

    def _held_elsewhere(self, conn: Any) -> DbferryError:
        holder = self._holder(conn)
        where = ""
        if holder is not None:
            rows = fetch_all(conn, "SELECT USER, HOST FROM information_schema.PROCESSLIST WHERE ID = %s", (holder,))
            where = " by session %s%s" % (holder, " (%s@%s)" % tuple(rows[0]) if rows else "")
        return DbferryError(
            "another agent of move %s is running: the move's lock %s on the target %s is held%s." % (
                self.move, self.name, self.spec.describe(), where),
            obj=self.move,
            fix="use that agent (dbferry status %s on the host that runs it), or stop it, then start this one again." % self.move)

    def check(self) -> None:
        """Make sure the lock is still ours; re-take it on a new session when its session was lost.

        Raises (and the engine stops writing) when it cannot within RETAKE_SECONDS: another agent took it meanwhile, or
        the target is unreachable. The message says how the session was lost, which is what an operator looks into.
        """
        lost = self._lost()
        if lost is None:
            return
        lost_session = self.session_id
        close_quietly(self.conn)
        self.conn = None
        deadline = time.monotonic() + RETAKE_SECONDS
        while True:
            try:
                self.take(lost_session)
                return
            except DbferryError as exc:
                if not exc.transient or time.monotonic() >= deadline:
                    raise DbferryError(
                        "the target session that held the lock of move %s was lost (%s), and the lock could not be taken "
                        "again: %s" % (self.move, lost, exc.message), obj=self.move,
                        fix=exc.fix or "start the agent again once the target is reachable (it resumes).") from None
            time.sleep(0.5)

    def _lost(self) -> Optional[str]:
        """None while the lock's session holds it; otherwise how it was lost, in words for the error."""
        try:
            holder = fetch_value(self.conn, "SELECT IS_USED_LOCK(%s)", (self.name,))
        except Exception as exc:  # noqa: BLE001 - a lost session is re-taken; anything else is raised  # pylint: disable=broad-exception-caught
            if not is_transient(exc):
                raise
            return "session %s: %s" % (self.session_id, exc)
        if holder is not None and int(holder) == self.session_id:
            return None
        return "session %s no longer holds it; %s" % (
            self.session_id, "it is free" if holder is None else "session %s does" % holder)

    def release(self) -> None:
        """Release the lock, then end its session. RELEASE_LOCK first: the server frees a closed session's locks when it
        gets round to the disconnect, after this returns, and a run started right after would find the lock still held."""
        if self.conn is not None:
            with contextlib.suppress(Exception):  # a lost session has released it already
                fetch_value(self.conn, "SELECT RELEASE_LOCK(%s)", (self.name,))
        close_quietly(self.conn)
        self.conn = None
