"""The move configuration: one documented schema for the CLI and the agent.

Every option is declared once in options.py with its default, limits and
meaning; ``parse_config`` validates a dict (from YAML or JSON) against it and
stops at the first problem with an error that names the key and the fix.
Unknown keys are errors: a misspelt ``batch_row`` silently ignored would be a
move run with settings nobody chose.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import zlib
from dataclasses import dataclass
from typing import Any, Optional

from ..server.connection import ServerSpec
from ..common.errors import DbferryError
from ..engine.selection import Selection
from .options import BY_KEY, OPTIONS, REQUIRED, RUNTIME_SETTINGS

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STATUS_VARIABLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
#: Connection options a control replica takes from the source when it does not set them.
INHERITED_FROM_SOURCE = ("user", "password", "config_file", "ca_cert", "client_cert", "client_key", "check_hostname", "ssl_mode")

#: Binlog reader ids are drawn from this range when not configured: far from
#: the small ids people give servers, stable per move name so a resumed move
#: reuses its id (a duplicate id would make the source drop another replica).
_SERVER_ID_BASE, _SERVER_ID_SPAN = 0x60000000, 0x0FFFFFFF


@dataclass(frozen=True)
class MoveConfig:
    """A validated move configuration (options.py has each field's meaning and default).

    No field has a default here: parse_config fills every one from the options' defaults,
    so that a default is written once, in options.py.
    """

    name: str
    source: ServerSpec
    target: ServerSpec
    selection: Selection
    rename_databases: dict[str, str]
    rename_tables: dict[str, str]
    batch_rows: int
    concurrency: int
    read_ahead: int
    writers: int
    ranges: int
    range_min_rows: int
    batch_events: int
    server_id: int
    heartbeat_seconds: float
    stall_seconds: float
    state_dir: str
    reuse_target: bool
    inline: bool
    max_load: dict[str, int]
    critical_load: dict[str, int]
    critical_load_interval_millis: int
    throttle_control_replicas: tuple[ServerSpec, ...]
    max_lag_millis: int
    throttle_query: Optional[str]
    throttle_flag_file: Optional[str]
    panic_flag_file: Optional[str]
    postpone_cutover_flag_file: Optional[str]
    throttle_check_seconds: float
    hooks_path: Optional[str]
    hooks_status_seconds: float
    hooks_timeout_seconds: float
    digest: str

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
        nested = any(option.section == dotted for option in OPTIONS)
        if nested and isinstance(value, dict):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _bad(key: str, message: str, fix: str) -> DbferryError:
    return DbferryError("config key %s %s" % (key, message), obj=key, fix=fix)


def _number(flat: dict[str, Any], key: str) -> Any:
    """A number within the option's limits; a float option also accepts whole numbers."""
    option = BY_KEY[key]
    value = flat.get(key, option.default)
    if value is None:
        return None
    low, high = option.limits
    kind = float if option.type == "float" else int
    accepted = (int, float) if kind is float else (int,)
    if isinstance(value, bool) or not isinstance(value, accepted) or not low <= value <= high:
        what = "a number" if kind is float else "a whole number"
        raise _bad(key, "must be %s from %s to %s, got %r." % (what, low, high, value), "set %s: %s (%s)." % (key, option.default, option.doc))
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
    value = flat.get(key, BY_KEY[key].default)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(key, "must be %s, got %r." % (what, value), "write %s: %s, or leave it out." % (key, what))
    return value


def _replicas(flat: dict[str, Any], source: ServerSpec) -> tuple[ServerSpec, ...]:
    """``throttle_control_replicas``; what an entry leaves out of INHERITED_FROM_SOURCE is the source's (gh-ost style)."""
    key = "throttle_control_replicas"
    value = flat.get(key) or []
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise _bad(key, "must be a list of connection mappings, got %r." % (value,), "write %s: [{host: replica1, port: 3306}]." % key)
    replicas = []
    for index, entry in enumerate(value):
        options = {k: getattr(source, k) for k in INHERITED_FROM_SOURCE}
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
        raise DbferryError("the move configuration must be a mapping.", obj="config", fix="see config/options.py or README.md.")
    flat = _flatten(data)
    for key in flat:
        if key not in BY_KEY:
            close = difflib.get_close_matches(key, list(BY_KEY), n=1)
            raise _bad(key, "is not a known option.", "did you mean %s?" % close[0] if close else "known keys: %s." % ", ".join(BY_KEY))
    missing = [option for option in OPTIONS if option.default is REQUIRED and option.key not in flat]
    if missing:
        raise _bad(missing[0].key, "is required.", "add %s: %s." % (missing[0].key, missing[0].doc))
    name = check_name(flat["name"])
    selection = Selection.from_options(
        {k: flat[f"databases.{k}"] for k in ("include", "exclude") if f"databases.{k}" in flat},
        {k: flat[f"tables.{k}"] for k in ("include", "exclude") if f"tables.{k}" in flat},
    )
    reuse = flat.get("reuse_target", BY_KEY["reuse_target"].default)
    if not isinstance(reuse, bool):
        raise _bad("reuse_target", "must be true or false, got %r." % (reuse,), "write reuse_target: true or false.")
    inline = flat.get("verify.inline", BY_KEY["verify.inline"].default)
    if not isinstance(inline, bool):
        raise _bad("verify.inline", "must be true or false, got %r." % (inline,), "write verify: {inline: true} or leave it out.")
    state_dir = flat.get("state_dir") or default_state_dir(name)
    if not isinstance(state_dir, str):
        raise _bad("state_dir", "must be a path.", "write state_dir: /path/to/folder.")
    heartbeat, stall = _number(flat, "binlog.heartbeat_seconds"), _number(flat, "binlog.stall_seconds")
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
        ranges=_number(flat, "copy.ranges"),
        range_min_rows=_number(flat, "copy.range_min_rows"),
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
        throttle_check_seconds=_number(flat, "throttle_check_seconds"),
        hooks_status_seconds=_number(flat, "hooks_status_seconds"),
        hooks_timeout_seconds=_number(flat, "hooks_timeout_seconds"),
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
