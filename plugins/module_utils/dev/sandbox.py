"""Private MariaDB servers for tests, the demo and local rehearsals.

``up`` creates each server from scratch in a folder of its own
(``mariadb-install-db``, then ``mariadbd --no-defaults`` so no system my.cnf
leaks in), on a free 127.0.0.1 port, with the binlog settings a move needs
and distinct server ids, and creates users with exactly the privileges that
README.md documents. ``down`` stops only servers this code started: it
checks that the pid still belongs to a mariadbd on that data directory
before it signals it.

A sandbox can be a replica of another one of the same folder (``up`` with
``replica_of``): GTID replication with ``log_slave_updates``, so that its own
binlog carries the primary's transactions, as a rehearsal from a replica needs
(docs/rehearsals.md).

The state (ports, sockets, pids, generated passwords) is written to
``sandboxes.json`` in the base folder with mode 0600.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Optional

from ..server.connection import ServerSpec, connect, execute, fetch_all, fetch_dicts, fetch_value
from ..common.errors import DbferryError
from ..common.identifiers import quote_ident
from ..common.private import write_private

STATE_FILE = "sandboxes.json"

#: Users created on every sandbox, with the privileges README.md documents.
#: A sandbox can serve as source or target, so each gets all three.
SANDBOX_USERS: dict[str, tuple[str, ...]] = {
    # reads rows under shared locks and tails the binlog
    "ferry_source": ("SELECT", "REPLICATION SLAVE", "BINLOG MONITOR"),
    # creates the moved schema and the _dbferry state schema, writes rows
    "ferry_target": ("CREATE", "DROP", "ALTER", "INSERT", "UPDATE", "DELETE", "SELECT"),
    # what an application has: DML only
    "app": ("SELECT", "INSERT", "UPDATE", "DELETE"),
}

#: Server options every sandbox starts with; ``options`` given to up() come
#: later on the command line and therefore win.
BASE_OPTIONS = (
    "bind-address=127.0.0.1",
    "skip-name-resolve",
    "log-bin=binlog",
    "binlog-format=ROW",
    "binlog-row-image=FULL",
    "binlog-row-metadata=FULL",
    "character-set-server=utf8mb4",
    "collation-server=utf8mb4_general_ci",
    "innodb-buffer-pool-size=256M",
    # Throw-away servers: durability per commit would only slow tests down.
    "innodb-flush-log-at-trx-commit=2",
    "sync-binlog=0",
    "performance-schema=OFF",
    "max-connections=300",
)

#: Options a replica sandbox starts with on top of BASE_OPTIONS: a move that reads a replica's binlog (a rehearsal)
#: needs the replicated transactions in it.
REPLICA_OPTIONS = ("log-slave-updates=ON",)

_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; keep a margin


@dataclass
class Sandbox:
    """One running sandbox server and how to log in to it."""

    name: str
    folder: str
    port: int
    socket: str
    server_id: int
    pid: int
    options: list[str] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict, repr=False)
    #: The sandbox of the same folder this one replicates from (up's replica_of); None for a primary.
    replica_of: Optional[str] = None

    @property
    def datadir(self) -> str:
        return os.path.join(self.folder, "data")

    @property
    def error_log(self) -> str:
        return os.path.join(self.folder, "error.log")

    def spec(self, user: str = "root") -> ServerSpec:
        """Login for ``user``: root over the private socket, the others over TCP."""
        if user == "root":
            return ServerSpec(user="root", password=self.passwords["root"], unix_socket=self.socket, config_file=None)
        return ServerSpec(host="127.0.0.1", port=self.port, user=user, password=self.passwords[user], config_file=None)

    def connection_options(self, user: str) -> dict[str, Any]:
        """The ``source``/``target`` dict of a module or move config for ``user``."""
        spec = self.spec(user)
        return {"host": spec.host, "port": spec.port, "user": spec.user, "password": spec.password}

    def is_running(self) -> bool:
        return _pid_is_our_server(self.pid, self.datadir)


def _pid_is_our_server(pid: int, datadir: str) -> bool:
    """True when ``pid`` is a live mariadbd serving ``datadir`` (not a reused pid)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return False
    return bool(argv) and os.path.basename(argv[0]) in (b"mariadbd", b"mysqld") and (
        ("--datadir=" + datadir).encode() in argv
    )


def find_binary(name: str) -> str:
    """Path of a MariaDB program; Debian puts mariadbd in /usr/sbin, often not on PATH."""
    path = shutil.which(name) or next(
        (p for p in ("/usr/sbin/" + name, "/usr/bin/" + name) if os.access(p, os.X_OK)), None
    )
    if not path:
        raise DbferryError(
            "%s not found." % name, obj=name, fix="install Debian's mariadb-server (scripts/setup.sh does it)."
        )
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _load(base: str) -> list[Sandbox]:
    path = os.path.join(base, STATE_FILE)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [Sandbox(**item) for item in json.load(handle)["sandboxes"]]


def _save(base: str, sandboxes: list[Sandbox]) -> None:
    write_private(os.path.join(base, STATE_FILE), json.dumps({"sandboxes": [asdict(s) for s in sandboxes]}, indent=2))


def load(base: str) -> list[Sandbox]:
    """The sandboxes recorded in ``base`` (running or not)."""
    return _load(os.path.abspath(base))


def get(base: str, name: str) -> Sandbox:
    """The sandbox called ``name`` in ``base``."""
    for sandbox in load(base):
        if sandbox.name == name:
            return sandbox
    raise DbferryError(
        "no sandbox named %r in %s." % (name, base), obj=name, fix="run `dbferry sandbox status` to list them."
    )


def _socket_path(folder: str) -> str:
    path = os.path.join(folder, "mariadb.sock")
    if len(path) <= _SOCKET_PATH_MAX:
        return path
    return os.path.join(tempfile.mkdtemp(prefix="dbferry-sock-"), "mariadb.sock")


def _install(folder: str, datadir: str) -> None:
    cmd = [
        find_binary("mariadb-install-db"),
        "--no-defaults",
        "--datadir=" + datadir,
        # Its own temporary folder, as the server's (_start): a bootstrap server deletes every #sql* file of its tmpdir
        # when it starts, and with /tmp shared, one sandbox's start removed another's temporary table mid-bootstrap
        # ("Error on delete of '/tmp/#sql-temptable-...'", 3 installs of 16 started at once).
        "--tmpdir=" + os.path.join(folder, "tmp"),
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        "--skip-name-resolve",
    ]
    if os.geteuid() == 0:
        cmd.append("--user=root")
    log_path = os.path.join(folder, "install.log")
    with open(log_path, "wb") as log:
        result = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise DbferryError(
            "mariadb-install-db failed for %s (exit %d): %s" % (datadir, result.returncode, _tail(log_path)),
            obj=datadir,
            fix="check that the folder is writable and that the MariaDB packages are complete.",
        )


def _start(sandbox: Sandbox) -> subprocess.Popen:
    cmd = [
        find_binary("mariadbd"),
        "--no-defaults",
        "--datadir=" + sandbox.datadir,
        "--socket=" + sandbox.socket,
        "--port=%d" % sandbox.port,
        "--pid-file=" + os.path.join(sandbox.folder, "mariadbd.pid"),
        "--log-error=" + sandbox.error_log,
        "--tmpdir=" + os.path.join(sandbox.folder, "tmp"),
        "--server-id=%d" % sandbox.server_id,
    ]
    if os.geteuid() == 0:
        cmd.append("--user=root")
    cmd += ["--" + opt for opt in BASE_OPTIONS + tuple(sandbox.options)]
    # A session of its own: Ctrl-C in the caller's terminal must not kill it.
    return subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _tail(path: str, lines: int = 8) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:]).strip()
    except OSError:
        return "(no log)"


def _wait_ready(sandbox: Sandbox, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    spec = ServerSpec(user="root", password="", unix_socket=sandbox.socket, config_file=None, connect_timeout=2)
    while True:
        if process.poll() is not None:
            raise DbferryError(
                "sandbox %s: mariadbd exited with %s while starting: %s" % (sandbox.name, process.returncode, _tail(sandbox.error_log)),
                obj=sandbox.name,
                fix="check the --option values; the lines above are from the server's error log.",
            )
        try:
            connect(spec).close()
            return
        except DbferryError:
            if time.monotonic() > deadline:
                raise DbferryError(
                    "sandbox %s did not answer within %.0f s: %s" % (sandbox.name, timeout, _tail(sandbox.error_log)),
                    obj=sandbox.name,
                    fix="check the machine's load and the lines above from the server's error log.",
                ) from None
            time.sleep(0.1)


def _create_users(sandbox: Sandbox) -> None:
    """Give root a password (socket only) and create the documented users."""
    conn = connect(ServerSpec(user="root", password="", unix_socket=sandbox.socket, config_file=None))
    try:
        passwords = {"root": secrets.token_urlsafe(18)}
        for user, privileges in SANDBOX_USERS.items():
            passwords[user] = secrets.token_urlsafe(18)
            account = "%s@'127.0.0.1'" % quote_ident(user)
            execute(conn, "CREATE USER %s IDENTIFIED BY %%s" % account, (passwords[user],))
            execute(conn, "GRANT %s ON *.* TO %s" % (", ".join(privileges), account))
        execute(conn, "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost')")
        execute(conn, "FLUSH PRIVILEGES")
        execute(conn, "ALTER USER root@localhost IDENTIFIED BY %s", (passwords["root"],))
        sandbox.passwords = passwords
    finally:
        conn.close()


def _start_one(base: str, name: str, options: list[str], timeout: float) -> Sandbox:
    folder = os.path.join(base, name)
    if os.path.exists(folder):
        raise DbferryError(
            "sandbox folder %s already exists." % folder, obj=folder, fix="run `dbferry sandbox down` first, or pick another name."
        )
    os.makedirs(os.path.join(folder, "tmp"), mode=0o700)
    try:
        _install(folder, os.path.join(folder, "data"))
        return _start_installed(name, folder, options, timeout)
    except BaseException:
        # Nothing half-made stays behind to block the next `up`; the error
        # already carries the last lines of the server's log.
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _start_installed(name: str, folder: str, options: list[str], timeout: float) -> Sandbox:
    for attempt in range(3):  # another process may grab the free port before mariadbd binds it
        port = free_port()
        sandbox = Sandbox(name, folder, port, _socket_path(folder), server_id=port, pid=0, options=list(options))
        process = _start(sandbox)
        sandbox.pid = process.pid
        try:
            _wait_ready(sandbox, process, timeout)
        except DbferryError:
            _stop_pid(sandbox.pid, sandbox.datadir)
            if attempt < 2 and "already in use" in _tail(sandbox.error_log, 40):
                continue
            raise
        _create_users(sandbox)
        return sandbox
    raise DbferryError("sandbox %s could not get a free port." % name, obj=name, fix="retry.")


def up(base: str, names: Iterable[str], options: Iterable[str] = (), timeout: float = 60.0,
       replica_of: Optional[str] = None) -> list[Sandbox]:
    """Start one sandbox per name under ``base``; return them (already running ones too).

    With ``replica_of`` (a running sandbox of ``base``) each new one starts with REPLICA_OPTIONS and
    replicates from it (replicate()); one already running is kept as it is.
    """
    base = os.path.abspath(base)
    os.makedirs(base, mode=0o700, exist_ok=True)
    sandboxes = _load(base)
    by_name = {s.name: s for s in sandboxes}
    primary = _running_primary(base, by_name, replica_of) if replica_of else None
    started = []
    for name in names:
        existing = by_name.get(name)
        if existing and existing.is_running():
            started.append(existing)
            continue
        if existing:
            raise DbferryError(
                "sandbox %s is recorded in %s but not running." % (name, base), obj=name, fix="run `dbferry sandbox down` to clean it up."
            )
        sandbox = _start_one(base, name, list(options) + (list(REPLICA_OPTIONS) if primary else []), timeout)
        if primary:
            try:
                replicate(sandbox, primary)
            except BaseException:
                _stop_pid(sandbox.pid, sandbox.datadir)
                shutil.rmtree(sandbox.folder, ignore_errors=True)
                raise
            sandbox.replica_of = primary.name
        sandboxes.append(sandbox)
        _save(base, sandboxes)
        started.append(sandbox)
    return started


def _running_primary(base: str, by_name: dict[str, Sandbox], name: str) -> Sandbox:
    """The sandbox ``name`` of ``base`` that new replicas replicate from; it must be running."""
    primary = by_name.get(name)
    if primary is None or not primary.is_running():
        raise DbferryError(
            "sandbox %s, which the replica should replicate from, is %s in %s." % (name, "not running" if primary else "not recorded", base),
            obj=name, fix="start it first: dbferry sandbox up --name %s" % name)
    return primary


def replicate(replica: Sandbox, primary: Sandbox) -> None:
    """Make ``replica`` a real MariaDB replica of ``primary`` (GTID), from the primary's position now.

    Not from the beginning: both sandboxes created the same users at start, and
    replaying the primary's CREATE USER would stop the replica's SQL thread.
    The replica's own binlog is emptied first (RESET MASTER), so that with
    log_slave_updates it holds the primary's transactions only, as a replica
    made from a backup of the primary does: no GTID of the replica's own
    start-up sits in the same domain before the primary's. Its binlog state
    is then the primary's (gtid_binlog_state), so that its binlog position is
    the primary's from the start, every replication domain included: a domain
    the primary wrote before and not since would otherwise never appear in
    the replica's position, which then never equals the primary's.
    The replication user is made on the primary for this; the replica's
    ``ferry_source`` user gets SLAVE MONITOR, which throttle checks and the
    preflight's look at a replica source need.
    """
    password = secrets.token_urlsafe(18)
    primary_conn, replica_conn = connect(primary.spec()), connect(replica.spec())
    try:
        execute(primary_conn, "CREATE OR REPLACE USER replicator@'127.0.0.1' IDENTIFIED BY %s", (password,))
        execute(primary_conn, "GRANT REPLICATION SLAVE ON *.* TO replicator@'127.0.0.1'")
        position, binlog_state = fetch_all(primary_conn, "SELECT @@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_binlog_state")[0]
        execute(replica_conn, "GRANT SLAVE MONITOR ON *.* TO ferry_source@'127.0.0.1'")
        execute(replica_conn, "STOP SLAVE")
        execute(replica_conn, "RESET MASTER")
        execute(replica_conn, "SET GLOBAL gtid_binlog_state = %s", (binlog_state or "",))
        execute(replica_conn, "SET GLOBAL gtid_slave_pos = %s", (position or "",))
        execute(replica_conn, "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %s, MASTER_USER = 'replicator', "
                              "MASTER_PASSWORD = %s, MASTER_USE_GTID = slave_pos", (primary.port, password))
        execute(replica_conn, "START SLAVE")
    finally:
        primary_conn.close()
        replica_conn.close()


def _stop_pid(pid: int, datadir: str, timeout: float = 30.0) -> None:
    if not _pid_is_our_server(pid, datadir):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_is_our_server(pid, datadir):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
        _reap(pid)


def _reap(pid: int) -> None:
    """Collect the exit status when we are the parent, so the pid stops being a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def down(base: str, names: Optional[Iterable[str]] = None) -> list[str]:
    """Stop sandboxes started under ``base`` (all, or ``names``) and remove their folders."""
    base = os.path.abspath(base)
    sandboxes = _load(base)
    wanted = set(names) if names is not None else {s.name for s in sandboxes}
    stopped = []
    for sandbox in [s for s in sandboxes if s.name in wanted]:
        _stop_pid(sandbox.pid, sandbox.datadir)
        shutil.rmtree(sandbox.folder, ignore_errors=True)
        if not sandbox.socket.startswith(sandbox.folder):
            shutil.rmtree(os.path.dirname(sandbox.socket), ignore_errors=True)
        stopped.append(sandbox.name)
    remaining = [s for s in sandboxes if s.name not in wanted]
    if remaining:
        _save(base, remaining)
    else:
        try:
            os.remove(os.path.join(base, STATE_FILE))
            os.rmdir(base)
        except OSError:
            pass
    return stopped


def replication_state(sandbox: Sandbox) -> str:
    """How a replica sandbox replicates, in one line (threads, lag, position, last error); "" for a primary or a stopped server."""
    if not sandbox.replica_of or not sandbox.is_running():
        return ""
    conn = connect(sandbox.spec())
    try:
        rows = fetch_dicts(conn, "SHOW SLAVE STATUS")
        applied = fetch_value(conn, "SELECT @@GLOBAL.gtid_slave_pos")
    finally:
        conn.close()
    if not rows:
        return "of %s: not configured" % sandbox.replica_of
    row = rows[0]
    error = row.get("Last_SQL_Error") or row.get("Last_IO_Error")
    lag = row["Seconds_Behind_Master"]
    return "of %s: io %s, sql %s, lag %s, at %s%s" % (
        sandbox.replica_of, row["Slave_IO_Running"], row["Slave_SQL_Running"], "-" if lag is None else "%s s" % lag,
        applied or "-", "; error: %s" % error if error else "")


def status(base: str) -> list[dict[str, Any]]:
    """One line per recorded sandbox: name, port, socket, pid, whether it runs, and a replica's replication state."""
    return [
        {"name": s.name, "port": s.port, "socket": s.socket, "pid": s.pid, "server_id": s.server_id, "running": s.is_running(), "folder": s.folder,
         "replication": replication_state(s)}
        for s in load(base)
    ]
