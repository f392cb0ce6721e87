"""The ``dbferry`` command line.

bin/dbferry calls ``run``. Output is for two readers: a person at a terminal gets aligned text, a
program (stdout not a terminal) gets one JSON object per line. Errors are one
line on stderr naming the object and the fix, with exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from typing import Any, Iterator, Optional

from . import process as agent
from ..controls import control_socket as control
from ..dev import sandbox, sandbox_vars
from ..engine import servers_seen, status
from ..config.move_config import check_name, default_state_dir, load_config
from ..config.alter_config import ALTER_OPTIONS, default_state_dir as default_alter_state_dir, parse_alter_config
from ..config.options import REQUIRED, RUNTIME_SETTINGS, Option
from ..engine.ferry import Ferry
from ..common.errors import DbferryError
from ..common.eventlog import EventLog
from ..common.module_errors import operator_message
from ..osc.plan import alter_name
from ..osc.runner import noop_alter
from .alter_agent import SETTING_NAMES, run_controlled
from ..server.connection import SERVER_OPTIONS, SSL_MODES, login_name, option_file_values
from .runlock import RunLock
from .statedir import ensure_private_dir
from . import watch
from ..report import page as report_page

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
    sandbox.up(args.dir, names, options=args.option, replica_of=args.replica_of)
    _emit([row for row in sandbox.status(args.dir) if row["name"] in names], ["name", "port", "socket", "pid", "running", "replication"])


def _sandbox_down(args: argparse.Namespace) -> None:
    if not args.name:  # all of them: what `sandbox vars` wrote goes too, so that the folder (and its passwords) is gone
        sandbox_vars.remove_vars(args.dir)
    for name in sandbox.down(args.dir, args.name or None):
        _emit([{"name": name, "stopped": True}], ["name", "stopped"])


def _sandbox_status(args: argparse.Namespace) -> None:
    _emit(sandbox.status(args.dir), ["name", "port", "socket", "pid", "running", "replication", "folder"])


def _sandbox_vars(args: argparse.Namespace) -> None:
    """Write conn.json, admin.json and inventory.yml for a source/target pair into the sandboxes' folder (0600: passwords)."""
    paths = sandbox_vars.write_vars(args.dir, args.source, args.target, check_name(args.move), args.output)
    _emit([{"written": path, "holds": what} for what, path in paths.items()], ["written", "holds"])


def _sandbox_sql(args: argparse.Namespace) -> None:
    """Run statements as a sandbox's root: rows of a query, else how many rows each statement changed."""
    try:
        rows = sandbox_vars.run_sql(args.dir, args.name, args.statements)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        message = operator_message("SQL on sandbox %s" % args.name, exc)
        if message is None:
            raise  # a bug: its traceback
        raise DbferryError(message) from None
    _emit(rows, list(dict.fromkeys(key for row in rows for key in row)))


def _figure(value: Any, unit: str = "") -> str:
    """A figure of a status for a person: "-" when it is not known (no rate yet, nothing to estimate), not "None"."""
    return "-" if value is None else "%s%s" % (value, unit)


def _render(snapshot: dict[str, Any]) -> Iterator[str]:
    """A status as terminal lines (a move's, or a schema change's: ``kind`` alter)."""
    what = "change of %s" % snapshot.get("table") if snapshot.get("kind") == "alter" else "move %s" % snapshot.get("move")
    yield "%s: %s   rows/s %s   ETA %s   lag %s (%s events)" % (
        what, snapshot["phase"], _figure(snapshot.get("rows_per_second")), _figure(snapshot.get("eta_seconds"), " s"),
        _figure(snapshot.get("lag_seconds"), " s"), _figure(snapshot.get("lag_events")))
    for name, table in snapshot["tables"].items():
        estimate = max(table["estimate"], table["copied"], 1)
        done = "  done" if table["done"] else ""
        yield "  %-40s %12d / %-12d %5.1f%%%s" % (name, table["copied"], estimate, 100.0 * table["copied"] / estimate, done)
    if not snapshot.get("running", True):
        yield "  the agent is not running; this status is %s s old" % snapshot.get("stale_seconds")
    if snapshot.get("throttled"):
        yield "  throttled: %s" % snapshot["throttle_reason"]
    for waiting in snapshot.get("waiting_for") or []:
        yield "  ready; the cut-over waits for %s" % waiting
    if snapshot.get("cut_over_attempts"):
        yield "  cut-over attempts: %s" % snapshot["cut_over_attempts"]
    if snapshot.get("last_error"):
        yield "  last error: %s" % snapshot["last_error"]


def _terminal_display(snapshot: dict[str, Any]) -> None:
    lines = list(_render(snapshot))
    # Redraw in place: cursor to the top-left, clear to the end of the screen.
    sys.stdout.write("\x1b[H\x1b[J" + "\n".join(lines) + "\n")
    sys.stdout.flush()


def _run(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    ensure_private_dir(config.state_dir, config.name)
    servers_seen.check_move(config)
    status.refuse_complete(config.state_dir, config.name)
    tty = sys.stdout.isatty()
    with RunLock(config.state_dir, "move %s" % config.name):
        log = EventLog(config.name, os.path.join(config.state_dir, "ferry.log"), echo=None if tty else sys.stdout)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_args: stop.set())
        ferry = Ferry(config, log, on_status=_terminal_display if tty else None)
        # The same socket as the agent's: dbferry pause/resume/throttle/unthrottle/set work on a foreground run too.
        server = control.ControlServer(config.state_dir, agent.handlers(agent.Controlled.of_ferry(ferry), stop))
        try:
            ferry.run(stop)
        finally:
            server.close()
            log.close()


def _state_dir(args: argparse.Namespace) -> str:
    """The state folder: --state-dir, or the default of the name: ``DATABASE.TABLE`` names a schema change (its folder is
    ~/.dbferry/alters/DATABASE.TABLE), anything else a move, whose name is checked either way."""
    database, dot, table = args.name.partition(".")
    if dot and database and table and "/" not in args.name:
        return args.state_dir or default_alter_state_dir(database, table)
    name = check_name(args.name)
    return args.state_dir or default_state_dir(name)


def _status(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args)
    snapshot = agent.read_status(state_dir)  # running or not is asked of the run lock, not read from the last status
    not_started = snapshot["phase"] == "not started" and not snapshot["running"]
    if not_started and not args.watch:
        raise DbferryError("no status for %s in %s (no move or schema change of that name ran from there)." % (args.name, state_dir), obj=args.name,
                           fix="check the name, or pass --state-dir as configured in state_dir.")
    if args.watch:
        if not_started:
            sys.stderr.write("dbferry: waiting for %s to start in %s (Ctrl-C to stop)\n" % (args.name, state_dir))
        try:
            return watch.watch(lambda: agent.read_status(state_dir), watch.make_view(sys.stdout, args.name, _render), args.interval)
        except BrokenPipeError:  # the reader went away (`| head`): nothing is wrong with the move
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit's flush does not fail again
            return 0
    if sys.stdout.isatty():
        sys.stdout.write("\n".join(_render(snapshot)) + "\n")
    else:
        sys.stdout.write(json.dumps(snapshot, sort_keys=True) + "\n")
    return 0


def _report(args: argparse.Namespace) -> None:
    """Render the move's log as one HTML page (report/page.py) and say where it is."""
    state_dir = _state_dir(args)
    if not os.path.exists(os.path.join(state_dir, report_page.LOG_FILE)):
        raise DbferryError("no log for %s in %s (no move or schema change of that name ran from there)." % (args.name, state_dir), obj=args.name,
                           fix="check the name, or pass --state-dir as configured in state_dir.")
    _emit([{"written": report_page.write_report(state_dir, args.output), "name": args.name}], ["written", "name"])


def _assignments(items: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` words as a dict; the value may hold ``=`` itself (max_load=Threads_running=25)."""
    settings = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals:
            raise DbferryError("%r is not KEY=VALUE." % item, obj=item, fix="write e.g. batch_rows=500; settable: %s." % ", ".join(RUNTIME_SETTINGS))
        settings[key.strip()] = value.strip()
    return settings


def _control(args: argparse.Namespace) -> None:
    """Send pause, resume, throttle, unthrottle or set to a running move and show what changed."""
    state_dir = _state_dir(args)
    if args.command == "set":
        answer = agent.command(state_dir, "set", settings=_assignments(args.assignments))
        rows = [{"setting": name, "old": old, "new": new} for name, (old, new) in answer["changes"].items()]
        _emit(rows or [{"setting": "(nothing changed)"}], ["setting", "old", "new"])
        return
    if args.command == "cut-over":
        answer = agent.command(state_dir, "cut_over")
        _emit([dict(answer, change=args.name)], ["change", "changed", "phase"])
        return
    answer = agent.command(state_dir, args.command)
    _emit([dict(answer, move=args.name)], ["move", "changed", "paused", "throttled_by_operator", "throttle_reason"])


#: Connection options of `dbferry alter`: ``--login-`` and the key; the password never, as a command line is visible to
#: every user of the host (ps): it comes from the option file or the environment (MYSQL_PWD).
ALTER_LOGIN_KEYS = tuple(key for key in SERVER_OPTIONS if key not in ("password", "check_hostname"))
#: Where the password comes from when the option file (--login-config-file) has none, as for the mysql client.
PASSWORD_VARIABLE = "MYSQL_PWD"
_ARGUMENT_TYPES = {"int": int, "float": float}


def _login_flag(key: str) -> str:
    return "--login-" + key.replace("_", "-")


def _option_flag(option: Option) -> str:
    """gh-ost's spelling of an alter option: ``chunk_size`` is ``--chunk-size``."""
    return "--" + option.key.replace("_", "-")


def _pairs(text: str) -> dict[str, str]:
    """``OLD=NEW[,OLD=NEW...]`` as a dict (--rename-columns)."""
    pairs = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        old, equals, new = item.partition("=")
        if not equals or not old.strip() or not new.strip():
            raise argparse.ArgumentTypeError("%r is not OLD=NEW" % item)
        pairs[old.strip()] = new.strip()
    return pairs


def _replicas(text: str) -> list[dict[str, Any]]:
    """``HOST[:PORT][,HOST[:PORT]...]`` as connections (--throttle-control-replicas); the rest of each is the alter's login."""
    replicas = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        host, colon, port = item.rpartition(":") if ":" in item else (item, "", "")
        if colon and not port.isdigit():
            raise argparse.ArgumentTypeError("%r is not HOST[:PORT]" % item)
        replicas.append(dict({"host": host}, **({"port": int(port)} if colon else {})))
    return replicas


def _add_alter_option(parser: argparse.ArgumentParser, option: Option) -> None:
    """One ALTER_OPTIONS key as a flag. No flag has a default of its own: what is not given is left to parse_alter_config."""
    text = option.doc + ("" if option.default is None or option.default is REQUIRED else " (default %s)" % json.dumps(option.default))
    kwargs: dict[str, Any] = {"dest": option.key, "help": text.replace("%", "%%")}
    if option.default is REQUIRED:
        kwargs["required"] = True
    if option.type == "bool":
        kwargs["action"] = argparse.BooleanOptionalAction
    elif option.type == "dict":
        kwargs.update(type=_pairs, action="append", metavar="OLD=NEW")
    elif option.type == "list":
        kwargs.update(type=_replicas, action="append", metavar="HOST[:PORT]")
    else:
        kwargs["type"] = _ARGUMENT_TYPES.get(option.type, str)
    parser.add_argument(_option_flag(option), **kwargs)


def _alter_raw(args: argparse.Namespace) -> dict[str, Any]:
    """parse_alter_config's input from the command line: the options given, and the server's as a module's login_* options."""
    raw: dict[str, Any] = {}
    for option in ALTER_OPTIONS:
        value = getattr(args, option.key, None)
        if value is None:
            continue
        if option.type == "dict":  # repeated --rename-columns merge
            value = {old: new for pairs in value for old, new in pairs.items()}
        elif option.type == "list":
            value = [replica for replicas in value for replica in replicas]
        raw[option.key] = value
    for key in ALTER_LOGIN_KEYS:
        if getattr(args, "login_" + key) is not None:
            raw[login_name(key)] = getattr(args, "login_" + key)
    option_file = raw.get("config_file", SERVER_OPTIONS["config_file"]["default"])
    if os.environ.get(PASSWORD_VARIABLE) and not (option_file and "password" in option_file_values(option_file)):
        raw[login_name("password")] = os.environ[PASSWORD_VARIABLE]
    return raw


class _TerminalEcho:
    """The change's events as short text lines for a person at a terminal; a program gets the JSON lines as they are."""

    @staticmethod
    def write(line: str) -> None:
        record = json.loads(line)
        fields = " ".join("%s=%s" % (key, value) for key, value in record.items() if key not in ("ts", "move", "event"))
        sys.stdout.write("%s %-20s %s\n" % (record["ts"][11:19], record["event"], fields))

    @staticmethod
    def flush() -> None:
        sys.stdout.flush()


def _alter(args: argparse.Namespace) -> None:
    """Run an online schema change in the foreground (gh-ost's shape); --noop only tries it on the ghost table."""
    config = parse_alter_config(_alter_raw(args))
    what = "alter of %s.%s" % (config.database, config.table)
    tty = sys.stdout.isatty()
    log = EventLog(alter_name(config.database, config.table), echo=_TerminalEcho() if tty else sys.stdout)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_args: stop.set())
    try:
        # run_alter leaves a table that already has the change alone (changed false); noop_alter compares the same way.
        outcome = noop_alter(config, log) if args.noop else run_controlled(config, log, stop)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        message = operator_message(what, exc)
        if message is None:
            raise  # a bug: its traceback
        raise DbferryError(message) from None
    fields = dataclasses.asdict(outcome)
    if tty:
        sys.stdout.write("".join("%s: %s\n" % item for item in fields.items()))
    else:
        log.event("result", **fields)


def _collection_version() -> str:
    """The collection's version, for --version. An installed collection has the MANIFEST.json that ansible-galaxy writes
    from galaxy.yml (which it leaves out of the tarball); a checkout has galaxy.yml (its virtualenv has PyYAML)."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, os.pardir)
    try:
        with open(os.path.join(root, "MANIFEST.json"), encoding="utf-8") as handle:
            return json.load(handle)["collection_info"]["version"]
    except FileNotFoundError:
        import yaml  # pylint: disable=import-outside-toplevel  # a checkout only

        with open(os.path.join(root, "galaxy.yml"), encoding="utf-8") as handle:
            return str(yaml.safe_load(handle)["version"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dbferry", description="Move MySQL/MariaDB databases online.")
    parser.add_argument("--version", action="version", version="%(prog)s " + _collection_version(),
                        help="print the dbferry.mysql collection's version and exit")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a move: copy and apply until stopped (Ctrl-C stops at a checkpoint)")
    run.add_argument("config", help="move configuration, YAML or JSON")
    run.set_defaults(func=_run)

    name_help = "move name, or DATABASE.TABLE for a schema change (dbferry alter, dbferry.mysql.alter)"
    dir_help = "the state folder (default ~/.dbferry/moves/NAME, or ~/.dbferry/alters/DATABASE.TABLE)"
    st_move = commands.add_parser("status", help="print the status of a move or a schema change")
    st_move.add_argument("name", help=name_help)
    st_move.add_argument("--state-dir", help=dir_help)
    st_move.add_argument("--watch", action="store_true",
                         help="follow it until its agent is no longer running: a progress bar on a terminal (with tqdm installed; text "
                              "lines without it), one JSON status a line otherwise. Exit status 0 when it ended complete or stopped, 1 when not")
    st_move.add_argument("--interval", type=float, default=2.0, help="seconds between two looks with --watch (default 2)")
    st_move.set_defaults(func=_status)

    report = commands.add_parser("report", help="write a move's timeline (rows/s, lag, throttling, the read-only window) as one HTML page")
    report.add_argument("name", help=name_help)
    report.add_argument("--state-dir", help=dir_help)
    report.add_argument("--output", help="the HTML file to write (default report.html in the state folder)")
    report.set_defaults(func=_report)

    for name, text in (("pause", "hold copy, apply and re-verification of a running move or change"), ("resume", "end a pause"),
                       ("throttle", "hold copy and apply of a running move or change (gh-ost's manual throttle)"),
                       ("unthrottle", "end a manual throttle"),
                       ("set", "change batch sizes and throttle limits of a running move or change: KEY=VALUE ..."),
                       ("cut-over", "tell a running schema change (DATABASE.TABLE) to swap the tables as soon as it is ready")):
        control_command = commands.add_parser(name, help=text)
        control_command.add_argument("name", help=name_help)
        control_command.add_argument("--state-dir", help=dir_help)
        if name == "set":
            control_command.add_argument("assignments", nargs="+", metavar="KEY=VALUE", help="settable: %s; for a change also %s" % (
                ", ".join(RUNTIME_SETTINGS), ", ".join(SETTING_NAMES)))
        control_command.set_defaults(func=_control)

    alter = commands.add_parser("alter", help="change a table's schema online, in the foreground (gh-ost's options, same names)",
                                description="Change a table's schema online without triggers. The connection's password comes from "
                                "the --login-config-file option file ([client] password) or the %s environment variable, never "
                                "from the command line." % PASSWORD_VARIABLE)
    for key in ALTER_LOGIN_KEYS:
        entry = SERVER_OPTIONS[key]
        alter.add_argument(_login_flag(key), dest="login_" + key, type=_ARGUMENT_TYPES.get(entry["type"], str),
                           choices=SSL_MODES if key == "ssl_mode" else None,
                           help="connection: %s%s" % (key, " (default %s)" % entry["default"] if "default" in entry else ""))
    for option in ALTER_OPTIONS:
        if option.key != "server":
            _add_alter_option(alter, option)
    alter.add_argument("--noop", action="store_true",
                       help="check, create and alter an empty copy of the table, print the new CREATE TABLE and the column mapping, drop the copy; "
                            "change nothing (gh-ost without --execute, the module's check mode)")
    alter.set_defaults(func=_alter)

    sb = commands.add_parser("sandbox", help="private MariaDB servers for tests and rehearsals")
    sb_commands = sb.add_subparsers(dest="action", required=True)
    sandbox_dir_help = "folder that holds the sandboxes (default: $DBFERRY_SANDBOX_DIR or ./.sandbox)"

    up = sb_commands.add_parser("up", help="start sandboxes (already running ones are kept)")
    up.add_argument("--dir", default=DEFAULT_SANDBOX_DIR, help=sandbox_dir_help)
    up.add_argument("--count", type=int, default=2, help="how many, named s1, s2, ... (default 2)")
    up.add_argument("--name", action="append", help="start a sandbox with this name (repeatable; overrides --count)")
    up.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="extra mariadbd option, e.g. binlog-format=STATEMENT (repeatable)",
    )
    up.add_argument("--replica-of", metavar="NAME",
                    help="make the new sandboxes GTID replicas (log_slave_updates on) of this running sandbox of --dir")
    up.set_defaults(func=_sandbox_up)

    down = sb_commands.add_parser("down", help="stop sandboxes started here and remove their folders (all of them: the files "
                                  "`sandbox vars` wrote too)")
    down.add_argument("--dir", default=DEFAULT_SANDBOX_DIR, help=sandbox_dir_help)
    down.add_argument("--name", action="append", help="only this sandbox (repeatable; default all)")
    down.set_defaults(func=_sandbox_down)

    st = sb_commands.add_parser("status", help="list sandboxes, whether they run, and how replicas replicate")
    st.add_argument("--dir", default=DEFAULT_SANDBOX_DIR, help=sandbox_dir_help)
    st.set_defaults(func=_sandbox_status)

    va = sb_commands.add_parser("vars", help="write conn.json (dbferry_source/dbferry_target), admin.json (dbferry_source_admin: the "
                                "source's root over its socket) and inventory.yml (the move, run here) into --dir, mode 0600")
    va.add_argument("--dir", default=DEFAULT_SANDBOX_DIR, help=sandbox_dir_help)
    va.add_argument("--source", default="s1", help="sandbox used as source (default s1)")
    va.add_argument("--target", default="s2", help="sandbox used as target (default s2)")
    va.add_argument("--move", default="shop-move", help="the move's name: the inventory's one host (default shop-move)")
    va.add_argument("--output", help="write dbferry_source/dbferry_target to this file instead of conn.json in --dir (JSON, mode 0600)")
    va.set_defaults(func=_sandbox_vars)

    sq = sb_commands.add_parser("sql", help="run SQL statements as a sandbox's root, one argument each")
    sq.add_argument("--dir", default=DEFAULT_SANDBOX_DIR, help=sandbox_dir_help)
    sq.add_argument("name", help="the sandbox")
    sq.add_argument("statements", nargs="+", metavar="STATEMENT", help="one SQL statement (quote it for the shell)")
    sq.set_defaults(func=_sandbox_sql)
    return parser


def run(argv: Optional[list[str]] = None) -> int:
    """Run one command; return the process exit status (bin/dbferry exits with it)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except DbferryError as exc:
        sys.stderr.write("dbferry: error: %s\n" % exc)
        return 2
