"""The configuration of an online schema change (``dbferry.mysql.alter``, ``dbferry alter``): one table, one ALTER.

Every option is declared once, in ALTER_OPTIONS, with its default, limits and
meaning (the Option class of options.py); the options an alter shares with a
move word for word are the move's own declarations. ``parse_alter_config``
validates a dict (a module's parameters, or the CLI's options) against it and
stops at the first problem with an error naming the key and the fix. The
names and meanings are gh-ost's, in snake_case, so that a gh-ost command line
translates one to one.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, replace
from typing import Any, Optional

from ..common.errors import DbferryError
from ..server.connection import SERVER_OPTIONS, ServerSpec, login_name
from .move_config import INHERITED_FROM_SOURCE, thresholds
from .options import BY_KEY, REQUIRED, Option

#: The copy's chunks (osc/copy.py's next_chunk_rows): the time each should take from its read to its commit, which is
#: how long the application may wait on its shared locks, and how many times ``chunk_size`` keys one may have at most.
CHUNK_SECONDS = 0.025
CHUNK_GROWTH = 10

#: The options of an alter, in the order errors and help list them.
ALTER_OPTIONS: tuple[Option, ...] = (
    Option("server", "dict", None, "connection to the server whose table is changed (host, port, user, password, unix_socket, ...); "
           "a module gives the login_* options instead"),
    Option("database", "str", REQUIRED, "the database of the table to change"),
    Option("table", "str", REQUIRED, "the table to change"),
    Option("alter", "str", REQUIRED, "the ALTER TABLE specification, without ALTER TABLE and the table's name, e.g. "
           "'ADD COLUMN description TEXT, ADD INDEX (created_at)'"),
    Option("rename_columns", "dict", {}, "old column name -> new column name, for the columns the ALTER renames (RENAME COLUMN, "
           "CHANGE COLUMN): their values are copied under the new name; a rename the ALTER makes and this does not list is refused"),
    Option("chunk_size", "int", 1000, "rows of the copy's first chunk (gh-ost's rows per chunk); a chunk is one server-side INSERT ... "
           "SELECT that holds shared locks on its rows of the table until it commits, so each later chunk is sized to take about "
           "%d ms, from 10 rows up to %d times this (100000 at most)" % (CHUNK_SECONDS * 1000, CHUNK_GROWTH), limits=(10, 100000)),
    Option("nice_ratio", "float", 0.0, "after each chunk of the copy, pause this many times as long as the chunk took (gh-ost's "
           "--nice-ratio): with 1 the copy pauses as long as it works, which halves its share of a busy server's time and "
           "doubles its own; 0 copies without pauses", limits=(0, 100)),
    Option("copy_concurrency", "int", 1, "chunks of the copy that run at once, each stream in a key range of its own with its own "
           "checkpoint (the ranges are chosen when the change starts, two per stream); the server copies each chunk with one thread, "
           "so more streams copy faster where it has idle cores, and load it more: 1 copies in one stream, as gh-ost does",
           limits=(1, 16)),
    Option("dml_batch_size", "int", 10, "row changes of the binlog applied to the new table per transaction at most (whole transactions "
           "of the table only; a batch goes sooner when the applier is free)", limits=(1, 100)),
    BY_KEY["max_load"],
    Option("critical_load", "raw", {}, "stop the change at a checkpoint, with an error naming the variable, when a status variable of the "
           "server is above its limit (same form as max_load); the original table is left as it is and a new run resumes"),
    Option("throttle_control_replicas", "list", [], "replicas whose lag throttles the change: a list of connections (same keys as server; "
           "user, password and TLS files left out are the server's)"),
    BY_KEY["max_lag_millis"],
    BY_KEY["throttle_query"],
    BY_KEY["throttle_flag_file"],
    Option("panic_flag_file", "path", None, "stop the change at once, leaving the original table in place, as soon as this file exists"),
    Option("postpone_cut_over_flag_file", "path", None, "while this file exists the change copies and applies but waits before the "
           "cut-over; remove it to let the tables be swapped"),
    Option("cut_over_lock_timeout_seconds", "int", 3, "the cut-over blocks the table's writes for at most this long; past it the lock is "
           "released at once, the original kept, and the cut-over tried again", limits=(1, 60)),
    Option("default_retries", "int", 60, "cut-over attempts at most (each after a backoff) before the change fails, original intact",
           limits=(1, 10000)),
    Option("exact_rowcount", "bool", False, "count the table's rows (SELECT COUNT(*)) for the progress estimate instead of the "
           "statistics' estimate"),
    Option("concurrent_rowcount", "bool", True, "with exact_rowcount, count while the copy runs rather than before it starts"),
    Option("initially_drop_ghost_table", "bool", False, "drop a leftover new (ghost) table _<table>_gho that no recorded change of this "
           "table owns, instead of refusing to start"),
    Option("initially_drop_old_table", "bool", False, "drop a leftover _<table>_del before the cut-over, instead of refusing to cut over"),
    Option("ok_to_drop_table", "bool", False, "drop the original table (renamed _<table>_del) after the cut-over, instead of keeping it"),
    BY_KEY["hooks_path"],
    Option("hooks_timeout_seconds", "int", 60, "a hook of hooks_path still running after this many seconds is killed (with its process "
           "group) and logged as failed", limits=(1, 86400)),
    Option("verify", "bool", True, "compare the new table's copied columns with the original's before the cut-over (by key range), and "
           "the rows changed since under the cut-over's lock; a difference stops the change, original intact"),
    Option("attempt_instant_ddl", "bool", False, "run the ALTER natively when the server can do it INSTANT (or INPLACE without a lock), "
           "as gh-ost's --attempt-instant-ddl, instead of copying the table"),
    Option("test_on_replica", "bool", False, "rehearse the change on a replica (the connection options name the replica): copy, "
           "apply and verify as a real change does, then stop the replica's SQL thread, compare, swap the tables and swap them back, "
           "drop the ghost and start the SQL thread again; the replica is left as it was, the primary never touched (gh-ost's "
           "--test-on-replica)"),
    Option("server_id", "int", None, "server id the change's binlog reader uses; default derived from the database and table names",
           limits=(1, 2**32 - 1)),
    Option("state_dir", "path", None, "where the change keeps its status file and runs its hooks; default "
           "~/.dbferry/alters/<database>.<table>"),
)

#: The options by key.
ALTER_BY_KEY: dict[str, Option] = {option.key: option for option in ALTER_OPTIONS}

#: Connection keys a module passes as its login_* options (server/connection.py), accepted in place of ``server``.
LOGIN_KEYS = frozenset(login_name(option) for option in SERVER_OPTIONS)

#: The options parse_alter_config reads its own way; every other one is taken as _value checks it.
_PARSED_APART = frozenset({"server", "database", "table", "alter", "rename_columns", "max_load", "critical_load", "throttle_control_replicas",
                           "state_dir"})

#: Names as the server takes them unquoted or quoted: anything but NUL, at most 64 characters, no trailing space.
_NAME_RE = re.compile(r"^[^\x00]{1,64}$")


@dataclass(frozen=True)
class AlterConfig:
    """A validated alter configuration (ALTER_OPTIONS has each field's meaning and default; no default is repeated here)."""

    server: ServerSpec
    database: str
    table: str
    alter: str
    rename_columns: dict[str, str]
    chunk_size: int
    nice_ratio: float
    copy_concurrency: int
    dml_batch_size: int
    max_load: dict[str, int]
    critical_load: dict[str, int]
    throttle_control_replicas: tuple[ServerSpec, ...]
    max_lag_millis: int
    throttle_query: Optional[str]
    throttle_flag_file: Optional[str]
    panic_flag_file: Optional[str]
    postpone_cut_over_flag_file: Optional[str]
    cut_over_lock_timeout_seconds: int
    default_retries: int
    exact_rowcount: bool
    concurrent_rowcount: bool
    initially_drop_ghost_table: bool
    initially_drop_old_table: bool
    ok_to_drop_table: bool
    hooks_path: Optional[str]
    hooks_timeout_seconds: int
    verify: bool
    attempt_instant_ddl: bool
    test_on_replica: bool
    server_id: Optional[int]
    state_dir: str


def _bad(key: str, message: str, fix: str) -> DbferryError:
    return DbferryError("alter option %s %s" % (key, message), obj=key, fix=fix)


def _value(raw: dict[str, Any], key: str) -> Any:
    """The value of ``key``, checked against its option's type and limits; None stays None where the default is None."""
    option = ALTER_BY_KEY[key]
    value = raw.get(key)
    if value is None:
        value = option.default
    if value is None or option.type == "raw":
        return value
    fix = "set %s: %s" % (key, option.doc)
    if option.type in ("int", "float"):
        whole = option.type == "int"
        number = _cli_number(value, whole) if isinstance(value, str) else value
        low, high = option.limits or (float("-inf"), float("inf"))
        if isinstance(number, bool) or not isinstance(number, int if whole else (int, float)) or not low <= number <= high:
            raise _bad(key, "must be %s from %s to %s, got %r." % ("a whole number" if whole else "a number", low, high, number), fix + ".")
        return number if whole else float(number)
    if option.type == "bool":
        if not isinstance(value, bool):
            raise _bad(key, "must be true or false, got %r." % (value,), "write %s: true or false." % key)
        return value
    if option.type in ("str", "path"):
        if not isinstance(value, str) or not value.strip():
            raise _bad(key, "must be a non-empty text, got %r." % (value,), fix + ".")
        # Paths are made absolute here: the flag files are looked at from wherever the change runs.
        return os.path.abspath(os.path.expanduser(value)) if option.type == "path" else value
    if option.type == "dict" and not isinstance(value, dict):
        raise _bad(key, "must be a mapping, got %r." % (value,), fix + ".")
    if option.type == "list" and not isinstance(value, list):
        raise _bad(key, "must be a list, got %r." % (value,), fix + ".")
    return value


def _cli_number(text: str, whole: bool) -> Any:
    """The number a command line's text gives (digits only for a whole number), or the text itself when it is none."""
    if whole:
        return int(text) if text.strip().isdigit() else text
    try:
        return float(text)
    except ValueError:
        return text


def _name(raw: dict[str, Any], key: str) -> str:
    value = _value(raw, key)
    if not _NAME_RE.match(value) or value != value.rstrip(" "):
        raise _bad(key, "is not a table or database name: %r." % value, "give the name as SHOW TABLES / SHOW DATABASES prints it.")
    return value


def _server(raw: dict[str, Any]) -> ServerSpec:
    """The server from ``server`` (a connection mapping) or from login_* options, not both."""
    logins = {key: raw[key] for key in LOGIN_KEYS if raw.get(key) is not None}
    given = raw.get("server")
    if given is not None and logins:
        raise _bad("server", "and %s are both given." % ", ".join(sorted(logins)), "give the connection one way: server or the login_* options.")
    try:
        if given is None:
            return ServerSpec.from_login_params(raw)
        if not isinstance(given, dict):
            raise _bad("server", "must be a mapping of connection options.", "write server: {host: ..., port: ..., user: ..., password: ...}.")
        return ServerSpec.from_options(given)
    except DbferryError as exc:
        if exc.obj == "server":
            raise
        raise _bad("server", "has " + exc.message, exc.fix) from None


def _renames(raw: dict[str, Any]) -> dict[str, str]:
    value = _value(raw, "rename_columns")
    if not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()):
        raise _bad("rename_columns", "must map column names to column names, got %r." % (value,), "write it as {old_name: new_name}.")
    folded = [name.lower() for name in value.values()]
    if len(set(folded)) != len(folded):
        raise _bad("rename_columns", "gives two columns the same new name: %r." % (value,), "give each renamed column a name of its own.")
    return dict(value)


def _replicas(raw: dict[str, Any], server: ServerSpec) -> tuple[ServerSpec, ...]:
    """``throttle_control_replicas``; the login and TLS files an entry leaves out are the server's (gh-ost style)."""
    replicas = []
    for index, entry in enumerate(_value(raw, "throttle_control_replicas")):
        key = "throttle_control_replicas[%d]" % index
        if not isinstance(entry, dict):
            raise _bad(key, "must be a mapping of connection options, got %r." % (entry,), "write throttle_control_replicas: [{host: replica1, port: 3306}].")
        options = {name: getattr(server, name) for name in INHERITED_FROM_SOURCE}
        options.update({k: v for k, v in entry.items() if v is not None})
        try:
            replicas.append(ServerSpec.from_options(options))
        except DbferryError as exc:
            raise _bad(key, "has " + exc.message, exc.fix) from None
    return tuple(replicas)


def default_state_dir(database: str, table: str) -> str:
    """Where an alter keeps its status and runs its hooks when state_dir is not set: one folder per table, since one change
    runs per table at a time. Names are hex-escaped where they hold anything but letters, digits, - and _."""
    def safe(name: str) -> str:
        return "".join(c if c.isalnum() or c in "-_" else "%%%02x" % ord(c) for c in name)

    return os.path.join(os.path.expanduser("~"), ".dbferry", "alters", "%s.%s" % (safe(database), safe(table)))


def parse_alter_config(raw: dict[str, Any]) -> AlterConfig:
    """Validate an alter's options (module parameters or CLI options); the first problem raises DbferryError naming the key."""
    if not isinstance(raw, dict):
        raise DbferryError("the alter's options must be a mapping.", obj="alter", fix="see ALTER_OPTIONS in config/alter_config.py.")
    for key in raw:
        if key not in ALTER_BY_KEY and key not in LOGIN_KEYS:
            close = difflib.get_close_matches(key, list(ALTER_BY_KEY), n=1)
            raise _bad(key, "is not a known option.", "did you mean %s?" % close[0] if close else "known: %s." % ", ".join(ALTER_BY_KEY))
    for option in ALTER_OPTIONS:
        if option.default is REQUIRED and raw.get(option.key) in (None, ""):
            raise _bad(option.key, "is required.", "add %s: %s." % (option.key, option.doc))
    server = _server(raw)
    if _value(raw, "test_on_replica"):  # the rehearsal's writes stay out of the replica's binlog (osc/replica.py)
        server = replace(server, binlog=False)
    database, table = _name(raw, "database"), _name(raw, "table")
    alter = _value(raw, "alter").strip().rstrip(";").strip()
    if re.match(r"(?i)^alter\s+table\s", alter):
        raise _bad("alter", "starts with ALTER TABLE: %r." % alter, "give only what follows the table's name, e.g. 'ADD COLUMN c INT'.")
    values = {option.key: _value(raw, option.key) for option in ALTER_OPTIONS if option.key not in _PARSED_APART}
    return AlterConfig(
        server=server,
        database=database,
        table=table,
        alter=alter,
        rename_columns=_renames(raw),
        max_load=thresholds("max_load", raw.get("max_load")),
        critical_load=thresholds("critical_load", raw.get("critical_load")),
        throttle_control_replicas=_replicas(raw, server),
        state_dir=_value(raw, "state_dir") or default_state_dir(database, table),
        **values,
    )
