"""The agent's control socket: one JSON request per connection, one JSON answer.

Each client is read in a thread of its own, with a timeout, so a client that connects and says
nothing blocks nobody; the commands run one at a time.

The socket lives in the move's state folder with mode 0600: whoever may read
the configuration (it has credentials) may control the move, nobody else.
Paths are used relative to the state folder, so a deep folder does not run
into the 108-byte limit of Unix socket paths.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from typing import Any, Callable, Iterator

from ..common.errors import DbferryError

SOCKET_NAME = "control.sock"

Handler = Callable[[dict], dict]

#: A client has this long to send its request; then its connection is closed (an idle one must not hold a thread).
CLIENT_TIMEOUT_SECONDS = 10.0


@contextlib.contextmanager
def _in_folder(folder: str) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


class ControlServer:
    """Serves ``handlers[request["cmd"]](request)`` on the move's socket, in a thread."""

    def __init__(self, state_dir: str, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self._handling = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with _in_folder(state_dir):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(SOCKET_NAME)
            old_umask = os.umask(0o177)  # the socket is created 0600
            try:
                self.sock.bind(SOCKET_NAME)
            finally:
                os.umask(old_umask)
        self.path = os.path.join(state_dir, SOCKET_NAME)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, name="control", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _address = self.sock.accept()
            except OSError:
                return  # closed
            # One thread per client: a client that connects and says nothing must not keep `dbferry pause` waiting.
            threading.Thread(target=self._answer, args=(conn,), name="control-client", daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(CLIENT_TIMEOUT_SECONDS)
            try:
                line = conn.makefile("r", encoding="utf-8").readline()
            except OSError:
                return  # silent for too long, or gone: nothing to answer
            try:
                request = json.loads(line or "{}")
                handler = self.handlers.get(request.get("cmd", ""))
                with self._handling:  # the commands themselves still run one at a time, as they were written for
                    answer = handler(request) if handler else {"error": "unknown command %r; known: %s" % (
                        request.get("cmd"), ", ".join(sorted(self.handlers)))}
            except DbferryError as exc:  # a refused request (a bad setting): its message and fix, for the caller to show
                answer = {"error": exc.message, "fix": exc.fix}
            except Exception as exc:  # noqa: BLE001 - a bad request must not end the agent  # pylint: disable=broad-exception-caught
                answer = {"error": str(exc)}
            with contextlib.suppress(OSError):
                conn.sendall((json.dumps(answer, default=str) + "\n").encode())

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def request(state_dir: str, cmd: str, timeout: float = 5.0, **fields: Any) -> dict:
    """Send one command to the move's agent; raises OSError when none listens."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        with _in_folder(state_dir):
            sock.connect(SOCKET_NAME)
        sock.sendall((json.dumps(dict(fields, cmd=cmd)) + "\n").encode())
        return json.loads(sock.makefile("r", encoding="utf-8").readline())
