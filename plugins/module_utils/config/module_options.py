"""Module options that name a move, declared once for every module that takes them.

The keys are those of the move configuration (options.py), so a playbook's
variables and a `dbferry run` file say the same thing the same way; the types
of the throttling and run-time options come from there too.
"""

from __future__ import annotations

import os
from typing import Any

from .move_config import check_name, default_state_dir
from .options import OPTIONS, THROTTLING
from ..server.connection import SERVER_OPTIONS, server_argument_spec
from ..engine.selection import selection_argument_spec


def move_ref_argument_spec() -> dict[str, Any]:
    """``name`` and ``state_dir``: enough to find a move on the ferry host."""
    return {"name": {"type": "str", "required": True}, "state_dir": {"type": "path"}}


def cutover_argument_spec() -> dict[str, Any]:
    """The cutover's options (doc fragment dbferry.mysql.move.cutover), for the cutover and switchover modules."""
    return {"timeout": {"type": "float", "default": 300}, "stop_timeout": {"type": "float", "default": 60},
            "postpone_timeout": {"type": "float", "default": 3600}, "target_writable": {"type": "bool", "default": False}}


def move_argument_spec(servers_required: bool = True) -> dict[str, Any]:
    """Everything that configures a move."""
    spec = move_ref_argument_spec()
    for role in ("source", "target"):
        spec[role] = dict(server_argument_spec(), required=servers_required)
    spec.update({
        "databases": selection_argument_spec(),
        "tables": selection_argument_spec(),
        "rename": {"type": "dict"},
        "copy": {"type": "dict"},
        "apply": {"type": "dict"},
        "binlog": {"type": "dict"},
        "verify": {"type": "dict"},
        "reuse_target": {"type": "bool", "default": False},
    })
    spec.update(throttle_argument_spec())
    return spec


def throttle_argument_spec() -> dict[str, Any]:
    """Throttling, flag files and hooks, typed as options.THROTTLING declares them; no defaults, so that options.py decides them."""
    spec: dict[str, Any] = {option.key: {"type": option.type} for option in THROTTLING}
    # A replica's connection options without defaults: what it leaves out is the source's (move_config._replicas).
    replica = {k: {key: value for key, value in v.items() if key != "default"} for k, v in SERVER_OPTIONS.items()}
    spec["throttle_control_replicas"].update(elements="dict", options=replica)
    return spec


def runtime_argument_spec() -> dict[str, Any]:
    """The control module's ``settings``: every option an operator may change while a move runs, by its run-time name."""
    return {option.name: {"type": option.type} for option in OPTIONS if option.runtime}


def state_dir_of(params: dict[str, Any]) -> str:
    """The move's state folder: as given, or ``~/.dbferry/moves/<name>``; the name is checked either way (DbferryError)."""
    name = check_name(params["name"])
    return os.path.abspath(os.path.expanduser(params.get("state_dir") or default_state_dir(name)))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


def move_config(params: dict[str, Any]) -> dict[str, Any]:
    """The move configuration dict (config.parse_config's input) from module parameters."""
    keys = ("name", "source", "target", "databases", "tables", "rename", "copy", "apply", "binlog", "verify") + tuple(throttle_argument_spec())
    raw = {key: params.get(key) for key in keys}
    raw["state_dir"] = state_dir_of(params)
    raw["reuse_target"] = params.get("reuse_target", False)
    return _without_none({k: v for k, v in raw.items() if v not in (None, {})})
