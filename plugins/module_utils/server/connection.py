"""Connections to MySQL/MariaDB servers: the only file that touches PyMySQL.

Options are declared once, in ``SERVER_OPTIONS``: the Ansible argument specs
(``login_*`` for a module on one server, ``source``/``target`` dicts for a
module on two), the move configuration and the CLI are all derived from it,
so a connection option means the same thing everywhere.

Every session is set up for fidelity rather than for an application:
utf8mb4 on the wire, ``time_zone = '+00:00'`` so TIMESTAMP values never shift,
and an sql_mode that is strict (a value the target cannot hold is an error,
never a silent truncation) but accepts zero dates and invalid ones such as
'2020-02-30' (a legacy source may hold them) and keeps a 0 written into an
AUTO_INCREMENT key as 0.

And for a move that runs for hours against servers that may stop answering:
every session has read and write timeouts (``read_timeout``) and TCP
keepalive, so a frozen or vanished server ends in a "lost connection" error
(``CR_SERVER_LOST``, retried like any dropped connection) instead of a read
that waits for ever; TLS follows the MySQL client's ``ssl_mode``
(``tls_mode``), and a certificate that is not accepted is an error of its
own, never retried (``is_certificate_error``); an option file
(``config_file``) gives the login and TLS files only, never where to connect
(``option_file_values``).
"""

from __future__ import annotations

import configparser
import dataclasses
import functools
import os
import re
import socket
import ssl
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Optional

from ..common.errors import DbferryError
from . import queries
from .error_codes import (
    CR_CONN_HOST_ERROR, CR_CONNECTION_ERROR, CR_SERVER_GONE_ERROR, CR_SERVER_LOST, CR_SSL_CONNECTION_ERROR, CR_UNKNOWN_HOST,
    ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR, ER_HOST_IS_BLOCKED, ER_HOST_NOT_PRIVILEGED, ER_SERVER_SHUTDOWN,
)

try:
    import pymysql

    PYMYSQL_IMPORT_ERROR: Optional[str] = None
except ImportError as _exc:  # the Ansible module reports it with missing_required_lib()
    pymysql = None
    PYMYSQL_IMPORT_ERROR = str(_exc)

_PREFERRED_TLS_CONTEXT: list = []

if pymysql is not None:
    class _Connection(pymysql.connections.Connection):
        """PyMySQL's Connection, with the TLS context of its default (PREFERRED) mode made once per process.

        Without TLS options PyMySQL tries TLS if the server offers it, and
        builds a fresh context for that on every connection, loading the
        system's CA store: 25-70 ms a connection here, more than the rest of
        connecting, and connections are opened on the cutover's path. The
        context has no per-connection state, so one serves them all. With TLS
        options given, the context is made per connection as PyMySQL does it.
        """

        def _create_ssl_ctx(self, sslp: Any) -> Any:
            if sslp:
                return super()._create_ssl_ctx(sslp)
            if not _PREFERRED_TLS_CONTEXT:
                _PREFERRED_TLS_CONTEXT.append(super()._create_ssl_ctx(sslp))
            return _PREFERRED_TLS_CONTEXT[0]

        def connect(self, sock: Any = None) -> None:
            """Connect, then make TCP keepalive notice a dead peer within minutes (Linux waits two hours by default)."""
            super().connect(sock)
            if self._sock is not None and self._sock.family in (socket.AF_INET, socket.AF_INET6):
                for option, value in KEEPALIVE:
                    if hasattr(socket, option):
                        self._sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)

#: TCP keepalive (PyMySQL turns it on): first probe after 30 s of silence, then every 10 s, dead after 3 unanswered.
#: It finds a peer that is gone (host down, network cut) on an idle session; a server process that is
#: stopped still answers probes (its kernel does), which is what read_timeout is for.
KEEPALIVE = (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))

#: Why each mode: STRICT_ALL_TABLES turns lossy writes into errors;
#: ALLOW_INVALID_DATES writes a DATE or DATETIME such as '2020-02-30' that a
#: legacy session stored on the source (strict mode refuses it otherwise, and
#: the copy and the apply would stop; TIMESTAMPs are still checked);
#: NO_AUTO_VALUE_ON_ZERO keeps primary key 0; NO_ZERO_DATE/NO_ZERO_IN_DATE
#: are left out on purpose so '0000-00-00' round-trips.
SESSION_SQL_MODE = "STRICT_ALL_TABLES,ALLOW_INVALID_DATES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"
#: sql_quote_show_create: SHOW CREATE TABLE must quote every identifier whatever the server's global says;
#: the foreign key rules and the target's CREATE TABLE are read from that text (engine/foreign_keys.py).
SESSION_INIT = "SET SESSION time_zone = '+00:00', SESSION sql_mode = '%s', SESSION sql_quote_show_create = 1" % SESSION_SQL_MODE
#: The same without STRICT_ALL_TABLES, for the few statements that must write the ENUM error value, index 0 (rows.py).
LENIENT_SQL_MODE = SESSION_SQL_MODE.replace("STRICT_ALL_TABLES,", "")

#: The MySQL client's ``--ssl-mode`` values this driver can honour (DISABLED is left out: nothing is safer without TLS).
SSL_MODES = ("preferred", "required", "verify_ca", "verify_identity")
#: Seconds a session waits for a server's answer (and to send), unless the caller asks for another limit.
#: The longest statements of a move are batches of rows and verify chunks (well under a second each) and
#: the row lock waits of the copy's shared locks, which InnoDB ends itself after innodb_lock_wait_timeout
#: (50 s by default) with an error that is retried; 60 s lets those come first.
DEFAULT_READ_TIMEOUT = 60

#: Server connection options, as Ansible argument spec entries. The key is the
#: name inside ``source``/``target`` dicts and the move configuration.
SERVER_OPTIONS: dict[str, dict[str, Any]] = {
    "host": {"type": "str", "default": "localhost"},
    "port": {"type": "int", "default": 3306},
    "user": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "unix_socket": {"type": "str"},
    "config_file": {"type": "path", "default": "~/.my.cnf"},
    "ca_cert": {"type": "path"},
    "client_cert": {"type": "path"},
    "client_key": {"type": "path"},
    "check_hostname": {"type": "bool"},
    "ssl_mode": {"type": "str", "choices": list(SSL_MODES)},
    "connect_timeout": {"type": "int", "default": 30},
    "read_timeout": {"type": "int", "default": DEFAULT_READ_TIMEOUT},
}

#: Options that carry a ``login_`` prefix on single-server modules, as in community.mysql.
LOGIN_PREFIXED = ("host", "port", "user", "password", "unix_socket")


def login_name(option: str) -> str:
    """The name of a server option on a single-server module (``host`` -> ``login_host``)."""
    return "login_" + option if option in LOGIN_PREFIXED else option


def login_argument_spec() -> dict[str, dict[str, Any]]:
    """Argument spec for a module that talks to one server (``login_host``, ...)."""
    return {login_name(k): dict(v) for k, v in SERVER_OPTIONS.items()}


def server_argument_spec() -> dict[str, Any]:
    """Argument spec entry for a ``source`` or ``target`` dict option."""
    return {"type": "dict", "required": True, "options": {k: dict(v) for k, v in SERVER_OPTIONS.items()}}


@dataclass(frozen=True)
class ServerSpec:
    """Where and how to reach one server. The password never shows in repr()."""

    host: str = "localhost"
    port: int = 3306
    user: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    unix_socket: Optional[str] = None
    config_file: Optional[str] = "~/.my.cnf"
    ca_cert: Optional[str] = None
    client_cert: Optional[str] = None
    client_key: Optional[str] = None
    check_hostname: Optional[bool] = None
    ssl_mode: Optional[str] = None
    connect_timeout: int = 30
    read_timeout: int = DEFAULT_READ_TIMEOUT
    #: False: the session's writes are not written to the server's binlog (SET SESSION sql_log_bin = 0). Not an option of
    #: a connection: a schema change rehearsed on a replica (osc/replica.py) sets it, so that the replica's binlog, its
    #: GTIDs and whatever replicates from it see nothing of the rehearsal.
    binlog: bool = True

    def __post_init__(self) -> None:
        """Refuse contradictory TLS options and useless timeouts when the spec is made, before anything connects."""
        self.tls_mode()
        for name in ("connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise DbferryError("%s of %s is %r; it must be a positive number of seconds." % (name, self.describe(), value),
                                   obj=name, fix="set %s to a positive number of seconds." % name)

    def tls_mode(self) -> str:
        """The ``ssl_mode`` in force: the one given, else verify_identity with a CA (verify_ca if check_hostname is false), else preferred.

        A CA given means the operator wants the server checked, and a
        certificate that is valid but for another host proves nothing about
        the server: so the host name is checked too unless they say not to.
        """
        mode = self.ssl_mode
        if mode is not None and mode not in SSL_MODES:
            raise DbferryError("ssl_mode %r of %s is not one of %s." % (mode, self.describe(), ", ".join(SSL_MODES)), obj="ssl_mode",
                               fix="use one of: %s (the MySQL client's names, in lower case)." % ", ".join(SSL_MODES))
        if mode is None:
            mode = ("verify_ca" if self.check_hostname is False else "verify_identity") if self.ca_cert else "preferred"
        if self.check_hostname is not None and mode in ("verify_ca", "verify_identity") and self.check_hostname != (mode == "verify_identity"):
            raise DbferryError("check_hostname: %s contradicts ssl_mode: %s for %s." % (str(self.check_hostname).lower(), mode, self.describe()),
                               obj="check_hostname", fix="leave check_hostname out: ssl_mode verify_identity checks the host name, verify_ca does not.")
        if mode in ("preferred", "required") and (self.ca_cert or self.check_hostname):
            raise DbferryError("ssl_mode: %s of %s does not verify the server's certificate, but %s is given." % (
                mode, self.describe(), "ca_cert" if self.ca_cert else "check_hostname"), obj="ssl_mode",
                fix="use ssl_mode: verify_identity (or verify_ca) to check the certificate against ca_cert, or leave ssl_mode out.")
        if mode == "preferred" and (self.client_cert or self.client_key):
            raise DbferryError("ssl_mode: preferred of %s may connect without TLS, where client_cert is never shown." % self.describe(),
                               obj="ssl_mode", fix="use ssl_mode: required or stricter with client_cert and client_key.")
        return mode

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "ServerSpec":
        """Build from a ``source``/``target`` dict; unset (None) keys keep their defaults."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise DbferryError(
                "unknown connection option(s): %s." % ", ".join(unknown),
                obj=", ".join(unknown),
                fix="use only: %s." % ", ".join(sorted(known)),
            )
        return cls(**{k: v for k, v in options.items() if v is not None})

    @classmethod
    def from_login_params(cls, params: dict[str, Any]) -> "ServerSpec":
        """Build from a single-server module's ``login_*`` parameters."""
        return cls.from_options({k: params.get(login_name(k)) for k in SERVER_OPTIONS})

    def with_option_file(self) -> "ServerSpec":
        """This spec with the login and TLS files of ``config_file`` filled in where it leaves them unset."""
        if not self.config_file:
            return self
        found = option_file_values(self.config_file)
        # The file's CA is for verifying modes, which these chose not to be; its client certificate may be shown under
        # required (a server may insist on one), never under preferred, which may connect without TLS (tls_mode).
        if self.ssl_mode == "required":
            found.pop("ca_cert", None)
        elif self.ssl_mode == "preferred":
            found = {k: v for k, v in found.items() if k in ("user", "password")}
        return dataclasses.replace(self, **{k: v for k, v in found.items() if getattr(self, k) is None})

    def describe(self) -> str:
        """``user@host:port`` (or the socket), for messages. Never the password."""
        where = self.unix_socket if self.unix_socket else "%s:%s" % (self.host, self.port)
        return "%s@%s" % (self.user or "(default user)", where)


#: Server error codes whose cause is on the operator's side, with the fix to print.
_CONNECT_FIXES = {
    ER_ACCESS_DENIED_ERROR: "check the user name and password (or the config_file) for this server.",
    ER_DBACCESS_DENIED_ERROR: "grant the user access to the database, or connect without one.",
    ER_HOST_IS_BLOCKED: "the server blocked this host after connection errors: run FLUSH HOSTS on it.",
    ER_HOST_NOT_PRIVILEGED: "create the user for the host it connects from (see SELECT CURRENT_USER() on a working login).",
    CR_CONNECTION_ERROR: "check that the server runs and that unix_socket names its socket file.",
    CR_CONN_HOST_ERROR: "check that the server runs and listens on this host and port, and that no firewall is in the way.",
    CR_UNKNOWN_HOST: "check the host name: it does not resolve.",
    CR_SERVER_LOST: "the server closed the connection: check its error log, and connect_timeout.",
    CR_SSL_CONNECTION_ERROR: "check ssl_mode, ca_cert, client_cert and client_key against the server's TLS set-up.",
}

#: Errors of a connection attempt that a later attempt can get past: the server was stopping, not up yet,
#: or dropped the new session.
_TRANSIENT_CONNECT_CODES = frozenset({ER_SERVER_SHUTDOWN, CR_CONN_HOST_ERROR, CR_SERVER_GONE_ERROR, CR_SERVER_LOST})

#: Keys of an option file's [client] section that a connection takes, and the option each one sets.
#: Never host, port or socket: the connection's own (host defaults to localhost) say where to connect,
#: and a ``socket=`` line in ~/.my.cnf must not silently lead a move to another server.
OPTION_FILE_KEYS = {"user": "user", "password": "password", "ssl-ca": "ca_cert", "ssl-cert": "client_cert", "ssl-key": "client_key"}


def option_file_values(path: str) -> dict[str, str]:
    """The login and TLS files an option file's ``[client]`` section gives (OPTION_FILE_KEYS); {} when there is no such file.

    Read here rather than by PyMySQL's read_default_file, which also takes
    host, port and socket from the file, and lets the file win over the
    options given.
    """
    full = os.path.expanduser(path)
    if not os.path.exists(full):
        return {}
    parser = configparser.RawConfigParser(allow_no_value=True, strict=False, interpolation=None, comment_prefixes=("#", ";"))
    try:
        with open(full, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise DbferryError("cannot read the option file %s: %s" % (full, exc), obj=full,
                           fix="correct the file, or set config_file to another file (or to an empty value for none).") from None
    if not parser.has_section("client"):
        return {}
    found = {}
    for key, option in OPTION_FILE_KEYS.items():
        value = parser.get("client", key, fallback=None)
        if value is not None:
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            found[option] = value
    return found


def _tls_context(spec: ServerSpec, mode: str) -> Optional[ssl.SSLContext]:
    """The TLS context for ``mode``; None for preferred, which PyMySQL does itself (TLS when the server offers it, unverified).

    Made here, not by PyMySQL from ssl_* arguments: PyMySQL checks the host
    name only when asked to and never without a CA file, while verify modes
    must verify against the system's CAs when no ca_cert is given.
    """
    if mode == "preferred":
        return None
    context = ssl.create_default_context(cafile=spec.ca_cert)
    # As PyMySQL does: the certificates MariaDB and MySQL make for themselves fail Python 3.13's strict X.509 checks.
    context.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
    context.check_hostname = mode == "verify_identity"
    context.verify_mode = ssl.CERT_NONE if mode == "required" else ssl.CERT_REQUIRED
    if spec.client_cert:
        context.load_cert_chain(spec.client_cert, keyfile=spec.client_key)
    return context


def is_certificate_error(exc: BaseException) -> bool:
    """True when a TLS handshake failed (a certificate not accepted, no common protocol): a retry gives the same answer."""
    return isinstance(getattr(exc, "original_exception", None), ssl.SSLError) or isinstance(exc, ssl.SSLError)


def literal(value: Any) -> str:
    """``value`` as an SQL literal, exactly as PyMySQL's Connection.escape writes it for a session from connect().

    Why not the session's own escape: the applier renders a batch's
    statements in one thread while its session runs the batch before in
    another. Sessions from connect() never have NO_BACKSLASH_ESCAPES in
    their sql_mode (SESSION_SQL_MODE), so strings take backslash escapes;
    bytes are hex; every other type goes through PyMySQL's own encoders.
    (tests/integration/test_sql_literal.py compares this with a live session's escape.)

    The writer is looked up by the value's exact type, once a value: the
    applier writes every value of every row image through here, and
    PyMySQL's escape_item, with its fallbacks, cost more than the writing.
    """
    return (_WRITERS.get(type(value)) or _writer(value))(value)


def _quoted(value: str) -> str:
    return "'" + pymysql.converters.escape_string(value) + "'"


def _hex(value: Any) -> str:
    return "X'" + value.hex() + "'"


def _writer(value: Any) -> Callable[[Any], str]:
    """The literal writer of ``value``'s type, remembered for the next value of that type: strings and bytes as the
    docstring of literal() says, everything else PyMySQL's encoder for it (escape_item's choice, with its fallback)."""
    kind = type(value)
    if isinstance(value, str):
        write: Callable[[Any], str] = _quoted
    elif isinstance(value, (bytes, bytearray)):
        write = _hex
    else:
        encoders = _encoders()
        encoder = encoders.get(kind)
        same = _same_text().get(encoder)
        if same is not None:
            write = same
        elif encoder is None or encoder in (pymysql.converters.escape_sequence, pymysql.converters.escape_set):
            write = functools.partial(pymysql.converters.escape_item, charset="utf8", mapping=encoders)
        else:
            write = _encoded_by(encoder, encoders)
    _WRITERS[kind] = write
    return write


def _iso_datetime(value: Any) -> str:
    """escape_datetime's text ('YYYY-MM-DD HH:MM:SS', then '.ffffff' unless the microseconds are 0) from isoformat, in C.

    escape_datetime builds it with str.format and an attribute lookup per field, about 3 µs a value: the largest
    part of printing a row with a DATETIME. A zone, which it leaves out and isoformat would add, goes to it.
    """
    if value.tzinfo is not None:
        return pymysql.converters.escape_datetime(value)
    return "'" + value.isoformat(" ") + "'"


def _iso_date(value: Any) -> str:
    """escape_date's text ('YYYY-MM-DD') from isoformat, in C (as _iso_datetime)."""
    return "'" + value.isoformat() + "'"


def _same_text() -> dict[Callable, Callable[[Any], str]]:
    """PyMySQL encoders -> writers of the same text with fewer Python calls, used for the types those encoders are for.
    escape_int is str(value): called directly, every integer of every row image saves its two Python calls."""
    if not _SAME_TEXT:
        _SAME_TEXT.update({pymysql.converters.escape_int: str, pymysql.converters.escape_datetime: _iso_datetime,
                           pymysql.converters.escape_date: _iso_date})
    return _SAME_TEXT


def _encoded_by(encoder: Callable[[Any, dict], str], encoders: dict) -> Callable[[Any], str]:
    """A PyMySQL encoder called as escape_item calls it: ``mapping`` by position (some encoders take it only so)."""
    def write(value: Any) -> str:
        return encoder(value, encoders)
    return write


def _encoders() -> dict:
    """PyMySQL's default encoders by Python type, as a Connection keeps them (its ``encoders``)."""
    if not _ENCODERS:
        _ENCODERS.update((k, v) for k, v in pymysql.converters.conversions.items() if not isinstance(k, int))
    return _ENCODERS


_ENCODERS: dict = {}
_SAME_TEXT: dict = {}
#: Python type -> its literal writer (_writer), filled as types are seen.
_WRITERS: dict[type, Callable[[Any], str]] = {}


def connect(spec: ServerSpec, *, autocommit: bool = True, read_timeout: Optional[int] = None) -> Any:
    """Open a session on ``spec``, set up for fidelity (see module docstring).

    ``read_timeout`` replaces the spec's for a caller whose statements wait
    on purpose (a binlog dump between heartbeats, a bounded lock wait).
    Raises DbferryError naming the server and the fix when the server refuses
    or cannot be reached; the password is never part of the message.
    """
    if pymysql is None:
        raise DbferryError("the PyMySQL library is not installed.", obj="PyMySQL", fix="pip install PyMySQL")
    spec = spec.with_option_file()
    timeout = read_timeout or spec.read_timeout
    mode = spec.tls_mode()
    try:
        context = _tls_context(spec, mode)
    except (OSError, ValueError) as exc:  # a CA or client certificate file that cannot be read or used
        raise DbferryError("cannot use the TLS files of %s: %s" % (spec.describe(), exc), obj=spec.describe(),
                           fix=_CONNECT_FIXES[CR_SSL_CONNECTION_ERROR]) from None
    kwargs: dict[str, Any] = {
        "host": spec.host,
        "port": spec.port,
        "user": spec.user,
        "password": spec.password or "",
        "unix_socket": spec.unix_socket,
        "connect_timeout": spec.connect_timeout,
        "read_timeout": timeout,
        "write_timeout": timeout,
        "charset": "utf8mb4",
        "autocommit": autocommit,
        "init_command": SESSION_INIT,
    }
    if context is not None:
        kwargs["ssl"] = context
    try:
        conn = _Connection(**kwargs)
    except pymysql.err.MySQLError as exc:
        code = error_code(exc)
        if code == CR_SSL_CONNECTION_ERROR and not is_certificate_error(exc):  # PyMySQL 1.2's own refusal: the server offers no TLS
            raise _no_tls_error(spec, mode) from None
        if is_certificate_error(exc):
            raise DbferryError(
                "cannot connect to %s: TLS (ssl_mode %s) failed: %s" % (spec.describe(), mode, exc.original_exception),
                obj=spec.describe(),
                fix="check ca_cert (the CA that signed the server's certificate) and that the host is a name the certificate "
                    "lists (connect by that name); ssl_mode: verify_ca checks the CA without the host name.",
            ) from None
        raise DbferryError(
            "cannot connect to %s: %s" % (spec.describe(), error_text(exc)),
            obj=spec.describe(),
            fix=_CONNECT_FIXES.get(code, "check the connection options for this server."),
            transient=code in _TRANSIENT_CONNECT_CODES,
        ) from None
    except OSError as exc:  # e.g. a CA file that cannot be read
        raise DbferryError(
            "cannot connect to %s: %s" % (spec.describe(), exc),
            obj=spec.describe(),
            fix=_CONNECT_FIXES[CR_SSL_CONNECTION_ERROR],
        ) from None
    # Checked here too: PyMySQL before 1.2.0 (a ferry host may have one) connects without TLS, given a TLS context,
    # when the server offers none. PyMySQL's _secure is true for a unix socket too; a TLS session's socket is an SSLSocket.
    if mode != "preferred" and not isinstance(conn._sock, ssl.SSLSocket):  # pylint: disable=protected-access
        close_quietly(conn)
        raise _no_tls_error(spec, mode)
    if not spec.binlog:
        _skip_binlog(conn, spec)
    return conn


def _skip_binlog(conn: Any, spec: ServerSpec) -> None:
    """SET SESSION sql_log_bin = 0 (ServerSpec.binlog); the refusal names the privilege it takes."""
    try:
        execute(conn, "SET SESSION sql_log_bin = 0")
    except pymysql.err.MySQLError as exc:
        close_quietly(conn)
        raise DbferryError("%s may not keep its writes out of the binlog (SET SESSION sql_log_bin = 0): %s" % (
            spec.describe(), error_text(exc)), obj=spec.describe(),
            fix="GRANT BINLOG ADMIN ON *.* to the login (SUPER before MariaDB 10.5.2).") from None


def _no_tls_error(spec: ServerSpec, mode: str) -> DbferryError:
    """The refusal of a session without TLS where ``mode`` insists on it: the session would carry queries and rows in clear."""
    return DbferryError(
        "cannot connect to %s: ssl_mode %s insists on TLS, but the server does not offer it." % (spec.describe(), mode),
        obj=spec.describe(),
        fix="enable TLS on the server (its ssl_cert and ssl_key options), or set ssl_mode: preferred for it to connect without TLS.",
    )


def close_quietly(*conns: Any) -> None:
    """Close connections that may already be broken (closing those raises; nothing is lost)."""
    for conn in conns:
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001  # pylint: disable=broad-exception-caught
                pass


def rollback_quietly(conn: Any) -> None:
    """Roll back a transaction on a connection that may already be broken (then the server rolls it back itself)."""
    try:
        conn.rollback()
    except Exception:  # noqa: BLE001  # pylint: disable=broad-exception-caught
        pass


def error_code(exc: BaseException) -> int:
    """The server's error number of a driver exception, or 0."""
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else 0


def error_text(exc: BaseException) -> str:
    """The server's message of a driver exception, without the driver's tuple form; a DbferryError's without its fix (a
    message that quotes it has a fix of its own: one "Fix:" a message)."""
    if isinstance(exc, DbferryError):
        return exc.message
    args = getattr(exc, "args", ())
    if len(args) >= 2:
        return "(%s) %s" % (args[0], args[1])
    return str(exc)


#: Where a server's refusal of a multi-row statement says which row it was ("Data truncated for column 'e' at row 3").
_AT_ROW = re.compile(r"at row (\d+)")


def error_row(exc: BaseException) -> Optional[int]:
    """The number of the row a server error names, counted from 1 in the statement's rows; None when it names none."""
    found = _AT_ROW.search(error_text(exc))
    return int(found.group(1)) if found else None


def is_database_error(exc: BaseException) -> bool:
    """True for errors the server (or the driver, about the server) raised."""
    return pymysql is not None and isinstance(exc, pymysql.err.MySQLError)


def fetch_all(conn: Any, sql: str, args: Any = None) -> list[tuple]:
    """Run one statement and return all rows as tuples."""
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def fetch_dicts(conn: Any, sql: str, args: Any = None) -> list[dict[str, Any]]:
    """Run one statement and return all rows as dicts by column name (SHOW ... STATUS rows, read by name)."""
    with conn.cursor() as cur:
        cur.execute(sql, args)
        names = [column[0] for column in cur.description or ()]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def placeholders(count: int) -> str:
    """``%s, %s, ...`` for ``count`` arguments (an ``IN (...)`` list); the driver quotes each value."""
    return ", ".join(["%s"] * count)


def fetch_value(conn: Any, sql: str, args: Any = None) -> Any:
    """Run one statement and return the first column of the first row (or None)."""
    rows = fetch_all(conn, sql, args)
    return rows[0][0] if rows else None


def execute(conn: Any, sql: str, args: Any = None) -> int:
    """Run one statement; return the number of affected rows.

    Each statement the server carried out goes to a module's ``queries`` result (queries.py keeps only those that
    change a server, and only in a module process).
    """
    with conn.cursor() as cur:
        affected = cur.execute(sql, args)
    queries.record(sql, args)
    return affected
