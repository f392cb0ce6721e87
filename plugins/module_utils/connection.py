"""Connections to MySQL/MariaDB servers: the only file that touches PyMySQL.

Options are declared once, in ``SERVER_OPTIONS``: the Ansible argument specs
(``login_*`` for a module on one server, ``source``/``target`` dicts for a
module on two), the move configuration and the CLI are all derived from it,
so a connection option means the same thing everywhere.

Every session is set up for fidelity rather than for an application:
utf8mb4 on the wire, ``time_zone = '+00:00'`` so TIMESTAMP values never shift,
and an sql_mode that is strict (a value the target cannot hold is an error,
never a silent truncation) but accepts zero dates and keeps a 0 written into
an AUTO_INCREMENT key as 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from .errors import DbferryError

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

#: Why each mode: STRICT_ALL_TABLES turns lossy writes into errors;
#: NO_AUTO_VALUE_ON_ZERO keeps primary key 0; NO_ZERO_DATE/NO_ZERO_IN_DATE
#: are left out on purpose so '0000-00-00' round-trips.
SESSION_SQL_MODE = "STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"
SESSION_INIT = "SET SESSION time_zone = '+00:00', SESSION sql_mode = '%s'" % SESSION_SQL_MODE
#: The same without STRICT_ALL_TABLES, for the few statements that must write the ENUM error value (changes.EnumErrorValue).
LENIENT_SQL_MODE = SESSION_SQL_MODE.replace("STRICT_ALL_TABLES,", "")

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
    "connect_timeout": {"type": "int", "default": 30},
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
    connect_timeout: int = 30

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

    def describe(self) -> str:
        """``user@host:port`` (or the socket), for messages. Never the password."""
        where = self.unix_socket if self.unix_socket else "%s:%s" % (self.host, self.port)
        return "%s@%s" % (self.user or "(default user)", where)


#: Server error codes whose cause is on the operator's side, with the fix to print.
_CONNECT_FIXES = {
    1045: "check the user name and password (or the config_file) for this server.",
    1044: "grant the user access to the database, or connect without one.",
    1129: "the server blocked this host after connection errors: run FLUSH HOSTS on it.",
    1130: "create the user for the host it connects from (see SELECT CURRENT_USER() on a working login).",
    2002: "check that the server runs and that unix_socket names its socket file.",
    2003: "check that the server runs and listens on this host and port, and that no firewall is in the way.",
    2005: "check the host name: it does not resolve.",
    2013: "the server closed the connection: check its error log, and connect_timeout.",
    2026: "check ca_cert, client_cert, client_key and check_hostname against the server's TLS set-up.",
}


def _ssl_options(spec: ServerSpec) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if spec.ca_cert:
        options["ssl_ca"] = spec.ca_cert
        options["ssl_verify_cert"] = True
    if spec.client_cert:
        options["ssl_cert"] = spec.client_cert
    if spec.client_key:
        options["ssl_key"] = spec.client_key
    if spec.check_hostname is not None:
        options["ssl_verify_identity"] = spec.check_hostname
    return options


def literal(value: Any) -> str:
    """``value`` as an SQL literal, exactly as PyMySQL's Connection.escape writes it for a session from connect().

    Why not the session's own escape: the applier renders a batch's
    statements in one thread while its session runs the batch before in
    another. Sessions from connect() never have NO_BACKSLASH_ESCAPES in
    their sql_mode (SESSION_SQL_MODE), so strings take backslash escapes;
    bytes are hex; every other type goes through PyMySQL's own encoders.
    (tests/integration/test_sql_literal.py compares this with a live session's escape.)
    """
    if isinstance(value, str):
        return "'" + pymysql.converters.escape_string(value) + "'"
    if isinstance(value, (bytes, bytearray)):
        return "X'" + value.hex() + "'"
    return pymysql.converters.escape_item(value, "utf8", mapping=_encoders())


def _encoders() -> dict:
    """PyMySQL's default encoders by Python type, as a Connection keeps them (its ``encoders``)."""
    if not _ENCODERS:
        _ENCODERS.update((k, v) for k, v in pymysql.converters.conversions.items() if not isinstance(k, int))
    return _ENCODERS


_ENCODERS: dict = {}


def connect(spec: ServerSpec, *, autocommit: bool = True, read_timeout: Optional[int] = None) -> Any:
    """Open a session on ``spec``, set up for fidelity (see module docstring).

    Raises DbferryError naming the server and the fix when the server refuses
    or cannot be reached; the password is never part of the message.
    """
    if pymysql is None:
        raise DbferryError("the PyMySQL library is not installed.", obj="PyMySQL", fix="pip install PyMySQL")
    kwargs: dict[str, Any] = {
        "host": spec.host,
        "port": spec.port,
        "user": spec.user,
        "password": spec.password or "",
        "unix_socket": spec.unix_socket,
        "connect_timeout": spec.connect_timeout,
        "read_timeout": read_timeout,
        "charset": "utf8mb4",
        "autocommit": autocommit,
        "init_command": SESSION_INIT,
    }
    if spec.config_file:
        path = os.path.expanduser(spec.config_file)
        if os.path.exists(path):
            kwargs["read_default_file"] = path
    kwargs.update(_ssl_options(spec))
    try:
        return _Connection(**kwargs)
    except pymysql.err.MySQLError as exc:
        code = error_code(exc)
        raise DbferryError(
            "cannot connect to %s: %s" % (spec.describe(), error_text(exc)),
            obj=spec.describe(),
            fix=_CONNECT_FIXES.get(code, "check the connection options for this server."),
            transient=code in (1053, 2003, 2006, 2013),
        ) from None
    except OSError as exc:  # e.g. a CA file that cannot be read
        raise DbferryError(
            "cannot connect to %s: %s" % (spec.describe(), exc),
            obj=spec.describe(),
            fix=_CONNECT_FIXES[2026],
        ) from None


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
    """The server's message of a driver exception, without the driver's tuple form."""
    args = getattr(exc, "args", ())
    if len(args) >= 2:
        return "(%s) %s" % (args[0], args[1])
    return str(exc)


def is_database_error(exc: BaseException) -> bool:
    """True for errors the server (or the driver, about the server) raised."""
    return pymysql is not None and isinstance(exc, pymysql.err.MySQLError)


def fetch_all(conn: Any, sql: str, args: Any = None) -> list[tuple]:
    """Run one statement and return all rows as tuples."""
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def fetch_value(conn: Any, sql: str, args: Any = None) -> Any:
    """Run one statement and return the first column of the first row (or None)."""
    rows = fetch_all(conn, sql, args)
    return rows[0][0] if rows else None


def execute(conn: Any, sql: str, args: Any = None) -> int:
    """Run one statement; return the number of affected rows."""
    with conn.cursor() as cur:
        return cur.execute(sql, args)
