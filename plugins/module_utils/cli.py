"""The ``dbferry`` command line.

bin/dbferry calls ``run``. Output is for two readers: a person at a terminal gets aligned text, a
program (stdout not a terminal) gets one JSON object per line. Errors are one
line on stderr naming the object and the fix, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Optional

from . import sandbox
from .errors import DbferryError

DEFAULT_SANDBOX_DIR = os.environ.get("DBFERRY_SANDBOX_DIR", ".sandbox")


def _emit(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not sys.stdout.isatty():
        for row in rows:
            sys.stdout.write(json.dumps(row, sort_keys=True) + "\n")
        return
    widths = [max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns]
    sys.stdout.write("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)) + "\n")
    for row in rows:
        sys.stdout.write("  ".join(str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths)) + "\n")


def _sandbox_up(args: argparse.Namespace) -> None:
    names = args.name or ["s%d" % (i + 1) for i in range(args.count)]
    sandbox.up(args.dir, names, options=args.option)
    _emit([row for row in sandbox.status(args.dir) if row["name"] in names], ["name", "port", "socket", "pid", "running"])


def _sandbox_down(args: argparse.Namespace) -> None:
    for name in sandbox.down(args.dir, args.name or None):
        _emit([{"name": name, "stopped": True}], ["name", "stopped"])


def _sandbox_status(args: argparse.Namespace) -> None:
    _emit(sandbox.status(args.dir), ["name", "port", "socket", "pid", "running", "folder"])


def _sandbox_vars(args: argparse.Namespace) -> None:
    """Write Ansible variables for a source/target pair of sandboxes (mode 0600: passwords)."""
    source = sandbox.get(args.dir, args.source)
    target = sandbox.get(args.dir, args.target)
    variables = {
        "dbferry_source": source.connection_options("ferry_source"),
        "dbferry_target": target.connection_options("ferry_target"),
    }
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(variables, handle, indent=2)
    _emit([{"written": args.output, "source": source.name, "target": target.name}], ["written", "source", "target"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dbferry", description="Move MySQL/MariaDB databases online.")
    commands = parser.add_subparsers(dest="command", required=True)

    sb = commands.add_parser("sandbox", help="private MariaDB servers for tests and rehearsals")
    sb_commands = sb.add_subparsers(dest="action", required=True)
    dir_help = "folder that holds the sandboxes (default: $DBFERRY_SANDBOX_DIR or ./.sandbox)"

    up = sb_commands.add_parser("up", help="start sandboxes (already running ones are kept)")
    up.add_argument("--dir", default=DEFAULT_SANDBOX_DIR, help=dir_help)
    up.add_argument("--count", type=int, default=2, help="how many, named s1, s2, ... (default 2)")
    up.add_argument("--name", action="append", help="start a sandbox with this name (repeatable; overrides --count)")
    up.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="extra mariadbd option, e.g. binlog-format=STATEMENT (repeatable)",
    )
    up.set_defaults(func=_sandbox_up)

    down = sb_commands.add_parser("down", help="stop sandboxes started here and remove their folders")
    down.add_argument("--dir", default=DEFAULT_SANDBOX_DIR, help=dir_help)
    down.add_argument("--name", action="append", help="only this sandbox (repeatable; default all)")
    down.set_defaults(func=_sandbox_down)

    st = sb_commands.add_parser("status", help="list sandboxes and whether they run")
    st.add_argument("--dir", default=DEFAULT_SANDBOX_DIR, help=dir_help)
    st.set_defaults(func=_sandbox_status)

    va = sb_commands.add_parser("vars", help="write dbferry_source/dbferry_target Ansible variables (0600)")
    va.add_argument("--dir", default=DEFAULT_SANDBOX_DIR, help=dir_help)
    va.add_argument("--source", default="s1", help="sandbox used as source (default s1)")
    va.add_argument("--target", default="s2", help="sandbox used as target (default s2)")
    va.add_argument("--output", required=True, help="file to write (JSON, mode 0600)")
    va.set_defaults(func=_sandbox_vars)
    return parser


def run(argv: Optional[list[str]] = None) -> int:
    """Run one command; return the process exit status (bin/dbferry exits with it)."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except DbferryError as exc:
        sys.stderr.write("dbferry: error: %s\n" % exc)
        return 2
    return 0
