"""The move configuration: one documented schema for the CLI and the agent.

Every option is declared once in ``OPTIONS`` with its default and meaning;
``parse_config`` validates a dict (from YAML or JSON) against it and stops at
the first problem with an error that names the key and the fix. Unknown keys
are errors: a misspelt ``batch_row`` silently ignored would be a move run
with settings nobody chose.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, Optional

from ..server.connection import ServerSpec
from ..common.errors import DbferryError
from ..engine.selection import Selection

#: key -> (default, meaning). Nested keys are dotted. ``...`` marks required.
OPTIONS: dict[str, tuple[Any, str]] = {
    "name": (..., "move name: state, logs and locks are per name (letters, digits, - and _)"),
    "source": (..., "connection to the source server: host, port, user, password, unix_socket, ca_cert, ..."),
    "target": (..., "connection to the target server, same keys as source"),
    "databases.include": ([], "database name patterns to move; empty means every non-system database"),
    "databases.exclude": ([], "database name patterns to leave out"),
    "tables.include": ([], "db.table patterns to move; empty means every table of the selected databases"),
    "tables.exclude": ([], "db.table patterns to leave out"),
    "rename.databases": ({}, "source database -> target database name"),
    "rename.tables": ({}, "source db.table -> target table name (in the renamed database) or db.table"),
    "copy.batch_rows": (2000, "rows per copy batch; one batch holds shared locks on the source while it is written"),
    "copy.concurrency": (2, "tables copied at the same time"),
    "copy.read_ahead": (1, "batches a table's copy reads ahead while it writes the one before, each holding its shared locks until it is "
                           "written; 0 reads a batch only after the one before is written (fewer locks held, a slower copy)"),
    "copy.writers": (2, "target sessions that write a table's batches at the same time, each batch in a transaction of its own; the "
                        "table's cursor moves only over batches with every batch before them committed. 1 writes one batch at a time"),
    "apply.batch_events": (2000, "row changes applied per target transaction at most (whole source transactions only; "
                                 "a batch goes sooner when the target session is free)"),
    "binlog.server_id": (None, "server id the binlog reader uses; default derived from the move name"),
    "binlog.heartbeat_seconds": (1.0, "the source sends a heartbeat this often when it has no events"),
    "binlog.stall_seconds": (30.0, "a binlog connection silent this long (no event, no heartbeat) is reopened"),
    "state_dir": (None, "folder for the move's status and log; default ~/.dbferry/moves/<name>"),
    "reuse_target": (False, "accept existing empty target tables instead of refusing them"),
    "verify.inline": (False, "hash each copied batch on both sides and keep a dirty set of rows changed since, re-verified in the background, "
                             "so that verify method inline compares only those rows"),
    # Throttling, flag files and hooks (docs/throttling.md).
    "max_load": ({}, "throttle copy and apply while a source status variable exceeds its limit: "
                     "'Threads_running=25,Threads_connected=500' or a mapping"),
    "critical_load": ({}, "stop the move at a checkpoint when a source status variable exceeds its limit (same form as max_load)"),
    "critical_load_interval_millis": (0, "when critical_load is exceeded, look again after this long and stop only if it still is; "
                                         "0 stops at once"),
    "throttle_control_replicas": ([], "replicas whose lag throttles the move: a list of connections (same keys as source; user, password "
                                      "and TLS files left out are the source's)"),
    "max_lag_millis": (1500, "throttle while a control replica is further behind than this (Seconds_Behind_Master, whole seconds)"),
    "throttle_query": (None, "a read-only query run on the source; throttle while it returns a number above 0"),
    "throttle_flag_file": (None, "throttle while this file exists on the ferry host"),
    "panic_flag_file": (None, "stop the move at a checkpoint as soon as this file exists on the ferry host"),
    "postpone_cutover_flag_file": (None, "the cutover (and the wait module) wait while this file exists on the ferry host"),
    "throttle_check_seconds": (0.5, "how often the throttle conditions, critical_load and the flag files are checked"),
    "hooks_path": (None, "folder of executables run at events: on-start*, on-copy-complete*, on-before-cutover*, on-after-cutover*, "
                         "on-success*, on-failure*, on-status*"),
    "hooks_status_seconds": (60.0, "on-status hooks run this often"),
    "hooks_timeout_seconds": (60.0, "a hook still running after this long is killed (and logged as failed)"),
}

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LIMITS = {"copy.batch_rows": (1, 100000), "copy.concurrency": (1, 64), "copy.read_ahead": (0, 8), "copy.writers": (1, 8), "apply.batch_events": (1, 100000),
           "binlog.server_id": (1, 2**32 - 1), "binlog.heartbeat_seconds": (0.1, 60), "binlog.stall_seconds": (1, 3600),
           "critical_load_interval_millis": (0, 3600000), "max_lag_millis": (100, 86400000), "throttle_check_seconds": (0.05, 60),
           "hooks_status_seconds": (1, 86400), "hooks_timeout_seconds": (1, 86400)}

#: What an operator may change while a move runs (``dbferry set``, the control module): name -> config key.
RUNTIME_SETTINGS = {"batch_rows": "copy.batch_rows", "batch_events": "apply.batch_events", "max_load": "max_load",
                    "critical_load": "critical_load", "max_lag_millis": "max_lag_millis", "throttle_query": "throttle_query"}

_STATUS_VARIABLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
#: Connection options a control replica takes from the source when it does not set them.
_INHERITED_FROM_SOURCE = ("user", "password", "config_file", "ca_cert", "client_cert", "client_key", "check_hostname", "ssl_mode")

#: Binlog reader ids are drawn from this range when not configured: far from
#: the small ids people give servers, stable per move name so a resumed move
#: reuses its id (a duplicate id would make the source drop another replica).
_SERVER_ID_BASE, _SERVER_ID_SPAN = 0x60000000, 0x0FFFFFFF


@dataclass(frozen=True)
class MoveConfig:
    """A validated move configuration (see OPTIONS for each field's meaning)."""

    name: str
    source: ServerSpec
    target: ServerSpec
    selection: Selection
    rename_databases: dict[str, str] = field(default_factory=dict)
    rename_tables: dict[str, str] = field(default_factory=dict)
    batch_rows: int = 2000
    concurrency: int = 2
    read_ahead: int = 1
    writers: int = 2
    batch_events: int = 2000
    server_id: int = 0
    heartbeat_seconds: float = 1.0
    stall_seconds: float = 30.0
    state_dir: str = ""
    reuse_target: bool = False
    inline: bool = False
    max_load: dict[str, int] = field(default_factory=dict)
    critical_load: dict[str, int] = field(default_factory=dict)
    critical_load_interval_millis: int = 0
    throttle_control_replicas: tuple[ServerSpec, ...] = ()
    max_lag_millis: int = 1500
    throttle_query: Optional[str] = None
    throttle_flag_file: Optional[str] = None
    panic_flag_file: Optional[str] = None
    postpone_cutover_flag_file: Optional[str] = None
    throttle_check_seconds: float = 0.5
    hooks_path: Optional[str] = None
    hooks_status_seconds: float = 60.0
    hooks_timeout_seconds: float = 60.0
    digest: str = ""

    def target_name(self, schema: str, table: str) -> tuple[str, str]:
        """Where source ``schema.table`` goes on the target."""
        renamed = self.rename_tables.get("%s.%s" % (schema, table))
        target_schema = self.rename_databases.get(schema, schema)
        if renamed is None:
            return target_schema, table
        if "." in renamed:
            db, name = renamed.split(".", 1)
            return db, name
        return target_schema, renamed


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = prefix + str(key)
        nested = any(k.startswith(dotted + ".") for k in OPTIONS)
        if nested and isinstance(value, dict):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _bad(key: str, message: str, fix: str) -> DbferryError:
    return DbferryError("config key %s %s" % (key, message), obj=key, fix=fix)


def _number(flat: dict[str, Any], key: str, kind: type = int) -> Any:
    """A number within _LIMITS[key]; ``kind`` float also accepts whole numbers."""
    value = flat.get(key, OPTIONS[key][0])
    if value is None:
        return None
    low, high = _LIMITS[key]
    accepted = (int, float) if kind is float else (int,)
    if isinstance(value, bool) or not isinstance(value, accepted) or not low <= value <= high:
        what = "a number" if kind is float else "a whole number"
        raise _bad(key, "must be %s from %s to %s, got %r." % (what, low, high, value), "set %s: %s (%s)." % (key, OPTIONS[key][0], OPTIONS[key][1]))
    return kind(value)


def _mapping(flat: dict[str, Any], key: str) -> dict[str, str]:
    value = flat.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()):
        raise _bad(key, "must map names to names, got %r." % (value,), "write it as {old_name: new_name}.")
    return dict(value)


def _server(flat: dict[str, Any], key: str) -> ServerSpec:
    value = flat.get(key)
    if not isinstance(value, dict):
        raise _bad(key, "is required and must be a mapping of connection options.", "add %s: {host: ..., port: ..., user: ..., password: ...}." % key)
    try:
        return ServerSpec.from_options(value)
    except DbferryError as exc:
        raise _bad(key, "has " + exc.message, exc.fix) from None


def thresholds(key: str, value: Any) -> dict[str, int]:
    """``max_load``/``critical_load``: ``'Threads_running=25,Threads_connected=500'`` or a mapping, as {variable: limit}.

    Empty (or None) means no limit. Variable names are checked here, before
    they are ever put in a query.
    """
    fix = "write %s: 'Threads_running=25,Threads_connected=500' (status variable=whole number, comma separated)." % key
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        pairs = []
        for item in value.split(","):
            name, equals, limit = item.strip().partition("=")
            if not equals:
                raise _bad(key, "has %r, which is not variable=number." % item.strip(), fix)
            pairs.append((name.strip(), limit.strip()))
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        raise _bad(key, "must be a string or a mapping, got %r." % (value,), fix)
    limits: dict[str, int] = {}
    for name, limit in pairs:
        if not isinstance(name, str) or not _STATUS_VARIABLE_RE.match(name):
            raise _bad(key, "names %r, which is not a status variable name." % (name,), fix)
        if isinstance(limit, str) and limit.isdigit():
            limit = int(limit)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise _bad(key, "sets %s to %r; the limit must be a whole number, 0 or more." % (name, limit), fix)
        limits[name] = limit
    return limits


def format_thresholds(limits: dict[str, int]) -> str:
    """The operator's form of thresholds(): ``Threads_running=25,Threads_connected=500``."""
    return ",".join("%s=%d" % item for item in limits.items())


def _optional_text(flat: dict[str, Any], key: str, what: str) -> Optional[str]:
    value = flat.get(key, OPTIONS[key][0])
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(key, "must be %s, got %r." % (what, value), "write %s: %s, or leave it out." % (key, what))
    return value


def _replicas(flat: dict[str, Any], source: ServerSpec) -> tuple[ServerSpec, ...]:
    """``throttle_control_replicas``; what an entry leaves out of _INHERITED_FROM_SOURCE is the source's (gh-ost style)."""
    key = "throttle_control_replicas"
    value = flat.get(key) or []
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise _bad(key, "must be a list of connection mappings, got %r." % (value,), "write %s: [{host: replica1, port: 3306}]." % key)
    replicas = []
    for index, entry in enumerate(value):
        options = {k: getattr(source, k) for k in _INHERITED_FROM_SOURCE}
        options.update({k: v for k, v in entry.items() if v is not None})
        try:
            replicas.append(ServerSpec.from_options(options))
        except DbferryError as exc:
            raise _bad("%s[%d]" % (key, index), "has " + exc.message, exc.fix) from None
    return tuple(replicas)


def runtime_setting(name: str, value: Any) -> Any:
    """Validate one run-time change (``dbferry set NAME=VALUE``) by the rules of its configuration key.

    Text from a command line is accepted for numbers (``batch_rows=500``).
    """
    key = RUNTIME_SETTINGS.get(name)
    if key is None:
        raise DbferryError("%s cannot be set while a move runs." % name, obj=name, fix="settable: %s." % ", ".join(RUNTIME_SETTINGS))
    if key in ("max_load", "critical_load"):
        return thresholds(key, value)
    if key == "throttle_query":
        return _optional_text({key: value}, key, "a query")
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            pass  # _number names the key and the range
    return _number({key: value}, key)


def check_name(name: Any) -> str:
    """``name`` when it is a valid move name; else DbferryError.

    Checked wherever a name is taken, not only when a move starts: it becomes a folder name
    (``~/.dbferry/moves/<name>``), and ``dbferry status ../../x`` must not read outside the moves folder.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _bad("name", "must be 1-64 letters, digits, - or _, got %r." % (name,), "pick a name like shop-move.")
    return name


def default_state_dir(name: str) -> str:
    """Where a move keeps its status, log and lock when state_dir is not set (``name`` is checked first)."""
    return os.path.join(os.path.expanduser("~"), ".dbferry", "moves", check_name(name))


def default_server_id(name: str) -> int:
    """The binlog reader's server id for a move that does not set one."""
    return _SERVER_ID_BASE + zlib.crc32(name.encode()) % _SERVER_ID_SPAN


def _identity_digest(source: ServerSpec, target: ServerSpec, selection: Selection, rename_db: dict, rename_tables: dict) -> str:
    """What makes a move this move: the servers, the selection and the renames.

    A restart with another digest is refused (its state would describe other
    data). Tuning and credentials may change between runs: they are not in it.
    """
    identity = {
        "source": [source.host, source.port, source.unix_socket],
        "target": [target.host, target.port, target.unix_socket],
        "selection": [list(selection.databases_include), list(selection.databases_exclude),
                      list(selection.tables_include), list(selection.tables_exclude)],
        "rename": [rename_db, rename_tables],
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def parse_config(data: Any) -> MoveConfig:
    """Validate a configuration dict; the first problem raises DbferryError naming the key."""
    if not isinstance(data, dict):
        raise DbferryError("the move configuration must be a mapping.", obj="config", fix="see OPTIONS in config.py or README.md.")
    flat = _flatten(data)
    for key in flat:
        if key not in OPTIONS:
            close = difflib.get_close_matches(key, list(OPTIONS), n=1)
            raise _bad(key, "is not a known option.", "did you mean %s?" % close[0] if close else "known keys: %s." % ", ".join(OPTIONS))
    missing = [k for k, (default, _doc) in OPTIONS.items() if default is ... and k not in flat]
    if missing:
        raise _bad(missing[0], "is required.", "add %s: %s." % (missing[0], OPTIONS[missing[0]][1]))
    name = check_name(flat["name"])
    selection = Selection.from_options(
        {k: flat[f"databases.{k}"] for k in ("include", "exclude") if f"databases.{k}" in flat},
        {k: flat[f"tables.{k}"] for k in ("include", "exclude") if f"tables.{k}" in flat},
    )
    reuse = flat.get("reuse_target", False)
    if not isinstance(reuse, bool):
        raise _bad("reuse_target", "must be true or false, got %r." % (reuse,), "write reuse_target: true or false.")
    inline = flat.get("verify.inline", False)
    if not isinstance(inline, bool):
        raise _bad("verify.inline", "must be true or false, got %r." % (inline,), "write verify: {inline: true} or leave it out.")
    state_dir = flat.get("state_dir") or default_state_dir(name)
    if not isinstance(state_dir, str):
        raise _bad("state_dir", "must be a path.", "write state_dir: /path/to/folder.")
    heartbeat, stall = _number(flat, "binlog.heartbeat_seconds", float), _number(flat, "binlog.stall_seconds", float)
    if heartbeat > stall / 2:
        raise _bad("binlog.heartbeat_seconds", "(%s) must be at most half of binlog.stall_seconds (%s)." % (heartbeat, stall),
                   "lower the heartbeat or raise stall_seconds: a healthy idle connection must never look stalled.")
    source, target = _server(flat, "source"), _server(flat, "target")
    # Paths are made absolute here: the agent runs in its state folder, not where the move was started.
    paths = {key: _optional_text(flat, key, "a path") for key in ("throttle_flag_file", "panic_flag_file", "postpone_cutover_flag_file", "hooks_path")}
    paths = {key: path and os.path.abspath(os.path.expanduser(path)) for key, path in paths.items()}
    digest = _identity_digest(source, target, selection, _mapping(flat, "rename.databases"), _mapping(flat, "rename.tables"))
    return MoveConfig(
        name=name,
        source=source,
        target=target,
        selection=selection,
        rename_databases=_mapping(flat, "rename.databases"),
        rename_tables=_mapping(flat, "rename.tables"),
        batch_rows=_number(flat, "copy.batch_rows"),
        concurrency=_number(flat, "copy.concurrency"),
        read_ahead=_number(flat, "copy.read_ahead"),
        writers=_number(flat, "copy.writers"),
        batch_events=_number(flat, "apply.batch_events"),
        server_id=_number(flat, "binlog.server_id") or default_server_id(name),
        heartbeat_seconds=heartbeat,
        stall_seconds=stall,
        state_dir=os.path.abspath(os.path.expanduser(state_dir)),
        reuse_target=reuse,
        inline=inline,
        max_load=thresholds("max_load", flat.get("max_load")),
        critical_load=thresholds("critical_load", flat.get("critical_load")),
        critical_load_interval_millis=_number(flat, "critical_load_interval_millis"),
        throttle_control_replicas=_replicas(flat, source),
        throttle_query=_optional_text(flat, "throttle_query", "a query"),
        max_lag_millis=_number(flat, "max_lag_millis"),
        throttle_check_seconds=_number(flat, "throttle_check_seconds", float),
        hooks_status_seconds=_number(flat, "hooks_status_seconds", float),
        hooks_timeout_seconds=_number(flat, "hooks_timeout_seconds", float),
        digest=digest,
        **paths,
    )


def load_config(path: str) -> MoveConfig:
    """Read a YAML or JSON file and validate it."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise DbferryError("cannot read the move configuration %s: %s" % (path, exc.strerror), obj=path, fix="check the path.") from None
    try:
        data = json.loads(text)
    except ValueError:
        try:
            import yaml  # pylint: disable=import-outside-toplevel  # optional on ferry hosts: JSON needs nothing
        except ImportError:
            raise DbferryError("%s is not JSON, and PyYAML is not installed to read YAML." % path, obj=path,
                               fix="pip install PyYAML, or write the configuration as JSON.") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DbferryError("%s is not valid YAML: %s" % (path, exc), obj=path, fix="correct the syntax at the place named.") from None
    return parse_config(data)
