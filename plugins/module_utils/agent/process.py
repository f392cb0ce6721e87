"""The ferry agent: a move's engine as a detached process on the ferry host.

The Ansible modules start, stop, query and remove it through this file.
The agent runs from code it is given, not from an installed collection: at
start, the engine's source files are written into ``<state_dir>/code`` (read
from the modules already loaded, which works from Ansible's module zip as
from a checkout), so the ferry host needs only python3 and PyMySQL (the
binlog is read with the replication protocol directly, binlog_dump.py). The state folder (0700) holds ``config.json`` (0600: it
has credentials), ``ferry.lock`` (the pid, see runlock.py), ``ferry.log``,
``status.json`` and ``control.sock`` (0600).

The state folder is created 0700 and refused when another user owns it or
others may enter it (statedir.py), and the agent starts with ``python -I`` in
``/`` with only the shipped code added to its sys.path (_launcher): nothing
in the state folder or the working folder is ever imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..controls import control_socket as control
from ..engine import servers_seen, state
from ..engine import status
from ..config.move_config import MoveConfig, load_config, parse_config
from ..server.connection import close_quietly, connect
from ..engine.ferry import Ferry
from ..common.errors import DbferryError
from ..common.eventlog import EventLog
from ..common.private import write_private
from .runlock import RunLock, running_pid
from .statedir import ensure_private_dir
from ..config.tunables import Tunables
from ..controls.throttle import OPERATOR, PAUSE, Throttle

#: The module_utils package: the agent ships every loaded module under it, package by package.
PACKAGE = __name__.rsplit(".", 2)[0]
CONFIG_FILE = "config.json"
CODE_DIR = "code"
#: What the agent process writes to stderr (a crash before its log is open).
STDERR_FILE = "agent.stderr"


def _launcher(module: str) -> str:
    """Run by ``python -I -c`` with the code folder and the state folder as arguments: the code folder goes first on the
    interpreter's own sys.path, and the user's site-packages last (-I leaves it out, and PyMySQL may have been installed
    with pip --user; it is the user's own folder, not one anybody else can write to); then ``module`` (this one for a
    move, agent/alter_agent.py for a schema change) runs as __main__ with the state folder."""
    return ("import runpy, site, sys; sys.path.insert(0, sys.argv.pop(1)); site.addsitedir(site.getusersitepackages()); "
            "runpy.run_module(%r, run_name='__main__', alter_sys=True)" % module)


def ship_code(code_dir: str) -> list[str]:
    """Write the source of every loaded engine module under ``code_dir``, in its package's folder; return their names.

    The source comes from each module's loader (a file in a checkout, Ansible's module zip on a managed node), not
    from ``inspect``, which cannot read an empty ``__init__.py``. A package is written as its ``__init__.py``.
    """
    shipped = []
    for name, module in sorted(sys.modules.items()):
        if module is None or not name.startswith(PACKAGE + ".") or getattr(module, "__file__", None) is None:
            continue  # not ours, or a namespace package (nothing to write)
        source = module.__loader__.get_source(name)  # type: ignore[union-attr]
        if source is None:
            raise DbferryError("the agent's code could not be read: module %s has no source." % name, obj=name,
                               fix="run the modules from the collection's files or Ansible's module zip, not from compiled files.")
        parts = name.split(".")
        is_package = hasattr(module, "__path__")
        folder = os.path.join(code_dir, *(parts if is_package else parts[:-1]))
        os.makedirs(folder, mode=0o700, exist_ok=True)
        with open(os.path.join(folder, "__init__.py" if is_package else parts[-1] + ".py"), "w", encoding="utf-8") as handle:
            handle.write(source)
        shipped.append(name[len(PACKAGE) + 1:])
    return shipped


def _tail(path: str, lines: int = 5) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return " | ".join(line.strip() for line in handle.readlines()[-lines:])
    except OSError:
        return ""


def last_error(state_dir: str, unknown: str = "no error recorded") -> str:
    """Why the agent stopped, from its status, its log or its stderr (in that order); ``unknown`` when none says."""
    with contextlib.suppress(OSError, ValueError):
        error = status.read(state_dir).get("last_error")
        if error:
            return error
    with contextlib.suppress(OSError, ValueError):
        with open(os.path.join(state_dir, "ferry.log"), encoding="utf-8") as handle:
            for line in reversed(handle.readlines()):  # the last run's failure only: an earlier run's is not why this one ended
                record = json.loads(line)
                if record.get("event") == "failed":
                    return record.get("error", "")
                if record.get("event") == "agent_started":
                    break
    return _tail(os.path.join(state_dir, STDERR_FILE)) or unknown


def exists(state_dir: str) -> bool:
    """Whether a move was ever started in ``state_dir`` (its configuration is there)."""
    return os.path.exists(os.path.join(state_dir, CONFIG_FILE))


def stored_config(state_dir: str) -> Optional[MoveConfig]:
    """The configuration the move's agent was started with (the cutover and wait modules read its flag files and hooks), or None."""
    return load_config(os.path.join(state_dir, CONFIG_FILE)) if exists(state_dir) else None


def start(raw: dict[str, Any], timeout: float = 30.0) -> tuple[bool, int, MoveConfig]:
    """Start the agent for ``raw`` (a move configuration dict); (changed, pid, config).

    A running agent with the same configuration is left alone (changed
    False); one with another configuration is an error, not a restart.
    """
    config = parse_config(raw)
    ensure_private_dir(config.state_dir, config.name)
    servers_seen.check_move(config)
    status.refuse_complete(config.state_dir, config.name)
    changed, pid = launch(config.state_dir, "move %s" % config.name, CONFIG_FILE, raw, __name__, timeout)
    return changed, pid, config


def launch(state_dir: str, what: str, config_file: str, raw: dict[str, Any], module: str, timeout: float) -> tuple[bool, int]:
    """Start ``module`` detached as the agent of ``state_dir`` (a private folder), its configuration ``raw`` written to
    ``config_file`` (0600: it has credentials); (changed, pid). Return once it has published its first status.

    A running agent with the same configuration is left alone (changed False); one with another configuration is an
    error naming ``what`` (``move NAME``, ``the change of DB.TABLE``), not a restart.
    """
    config_path = os.path.join(state_dir, config_file)
    pid = running_pid(state_dir)
    if pid is not None:
        with open(config_path, encoding="utf-8") as handle:
            if json.load(handle) != raw:
                raise DbferryError("%s is running (pid %d) with another configuration." % (what, pid), obj=what,
                                   fix="stop it first (state: stopped, or state: absent for a change), then start it with the new "
                                       "configuration.")
        return False, pid
    write_private(config_path, json.dumps(raw, indent=1, sort_keys=True))
    code_dir = os.path.join(state_dir, CODE_DIR)
    shutil.rmtree(code_dir, ignore_errors=True)
    ship_code(code_dir)
    stderr_fd = os.open(os.path.join(state_dir, STDERR_FILE), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(stderr_fd, "wb") as stderr:
        # -I: no PYTHON* variables, no user site, no script folder or working folder on sys.path; the launcher puts the
        # shipped code there and nothing else, and the agent runs in "/", so no file lying in a folder can be imported.
        process = subprocess.Popen(  # pylint: disable=consider-using-with  # it outlives us on purpose
            [sys.executable, "-I", "-c", _launcher(module), code_dir, state_dir],
            cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    _wait_started(what, state_dir, process, launched=time.time(), timeout=timeout)
    return True, process.pid


def _wait_started(what: str, state_dir: str, process: subprocess.Popen, launched: float, timeout: float) -> None:
    """Return once the engine has prepared its work and published its first status; raise why it exited if it did."""
    deadline = time.monotonic() + timeout
    fix = "correct what the error names, then start it again."
    while True:
        exited = process.poll() is not None  # before the status is read: an agent that ended wrote its last one before
        with contextlib.suppress(OSError, ValueError):
            published = status.read(state_dir)
            if published.get("pid") == process.pid and published.get("updated_at", 0) >= launched:
                if published.get("phase") == "failed":
                    raise DbferryError("the agent for %s stopped at start: %s" % (what, published.get("last_error")), obj=what, fix=fix)
                return  # running, or already done (a schema change the table already had)
        if exited:
            raise DbferryError("the agent for %s stopped at start: %s" % (what, last_error(state_dir)), obj=what, fix=fix)
        if time.monotonic() > deadline:
            raise DbferryError("the agent for %s did not report within %.0f s." % (what, timeout), obj=what,
                               fix="look at its log in %s; it may still be preparing." % state_dir)
        time.sleep(0.05)


def stop(state_dir: str, timeout: float = 60.0) -> bool:
    """Stop a running agent at a checkpoint; False when none was running."""
    pid = running_pid(state_dir)
    if pid is None:
        return False
    deadline = time.monotonic() + timeout
    asked = False
    while pid is not None:
        asked = asked or _ask_to_stop(state_dir, pid)
        if time.monotonic() > deadline:
            raise DbferryError("the agent (pid %s) did not stop within %.0f s." % (pid if pid > 0 else "not known yet", timeout), obj=state_dir,
                               fix="wait for its current batch to finish, or kill it: the move resumes from its last checkpoint.")
        time.sleep(0.05)
        pid = running_pid(state_dir)
    return True


def _ask_to_stop(state_dir: str, pid: int) -> bool:
    """Ask the agent to stop, by its socket or else by SIGTERM; False while neither is possible yet (ask again)."""
    try:
        control.request(state_dir, "stop")
        return True
    except OSError:
        pass
    if pid <= 0:  # its pid is not written yet: os.kill(-1) would signal every process of this user
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    return True


#: Phases only a running agent is in: read from the status of an agent that is gone, they are not true any more (a
#: schema change's own phases too: osc/runner.py).
LIVE_PHASES = ("starting", "copying", "tailing", "preparing", "verifying", "cutting over")
#: The phase of a move whose agent ended while in a live phase, without a word (kill -9, the OOM killer, a reboot).
DIED = "died"


def read_status(state_dir: str) -> dict[str, Any]:
    """The move's status: live from the agent when it runs, else the last one it published.

    ``running`` comes from the run lock, never from the status file, and ``stale_seconds`` says how old the
    status is. The last status of an agent that died says it was copying or tailing with a small lag; that is
    reported as phase ``died`` (``last_phase`` keeps what it said), with no lag, rate or ETA, and why it ended
    as far as anything recorded it.
    """
    pid = running_pid(state_dir)
    snapshot: Optional[dict[str, Any]] = None
    if pid is not None:
        with contextlib.suppress(OSError, ValueError):
            snapshot = control.request(state_dir, "status")
    if snapshot is None:
        try:
            snapshot = status.read(state_dir)
        except (OSError, ValueError):
            snapshot = {"phase": "starting" if pid else "not started", "tables": {}}
    snapshot["running"] = pid is not None
    snapshot["pid"] = pid
    updated_at = snapshot.get("updated_at")
    snapshot["stale_seconds"] = None if updated_at is None else round(max(0.0, time.time() - updated_at), 1)
    if pid is None and snapshot["phase"] in LIVE_PHASES:
        snapshot.update(last_phase=snapshot["phase"], phase=DIED, lag_seconds=None, rows_per_second=0.0, eta_seconds=None,
                        last_error=last_error(state_dir, unknown=(
                            "the agent ended without recording why (killed: kill -9, the OOM killer, or its host restarted); "
                            "its last status, %s s old, said %s" % (snapshot["stale_seconds"], snapshot["phase"]))))
    elif pid is None and snapshot["phase"] not in ("stopped", "complete", "not started"):
        snapshot["last_error"] = snapshot.get("last_error") or last_error(state_dir)
    return snapshot


def remove(state_dir: str, timeout: float = 60.0) -> bool:
    """Stop the agent, drop the move's checkpoints on the target and the state folder; False when nothing existed."""
    if not exists(state_dir):
        return False
    stop(state_dir, timeout)
    config = load_config(os.path.join(state_dir, CONFIG_FILE))
    target = connect(config.target)
    try:
        if state.load(target, config.name) is not None:
            state.drop(target, config.name)
    finally:
        close_quietly(target)
    shutil.rmtree(state_dir)
    return True


@dataclass
class Controlled:
    """What the control socket's commands act on: a move's Ferry (``of_ferry``) or a schema change's run."""

    throttle: Throttle
    tunables: Tunables
    log: EventLog
    #: The live status, as ``dbferry status`` shows it.
    snapshot: Callable[[], dict[str, Any]]

    @classmethod
    def of_ferry(cls, ferry: Ferry) -> "Controlled":
        return cls(ferry.throttle, ferry.tunables, ferry.log, ferry.status.snapshot)


def handlers(engine: Controlled, stop_event: threading.Event) -> dict[str, control.Handler]:
    """The control socket's commands for a running engine (the agent's, and a foreground ``dbferry run``'s or
    ``dbferry alter``'s).

    Every command answers ``changed`` (whether it changed anything) and takes
    ``dry_run`` (say what would change, change nothing: check mode).
    """
    throttle = engine.throttle

    def holding(holder: str, reason: str, hold: bool) -> control.Handler:
        def answer(request: dict) -> dict:
            changed = throttle.holds(holder) != hold
            if changed and not request.get("dry_run"):
                if hold:
                    throttle.hold(holder, reason)
                else:
                    throttle.release(holder)
                engine.log.event("operator", command=request["cmd"])
            return {"changed": changed, "paused": throttle.holds(PAUSE), "throttled_by_operator": throttle.holds(OPERATOR),
                    "throttle_reason": "; ".join(throttle.reasons()) or None}
        return answer

    def set_command(request: dict) -> dict:
        changes = engine.tunables.update(request.get("settings") or {}, dry_run=bool(request.get("dry_run")))
        if changes and not request.get("dry_run"):
            engine.log.event("operator", command="set", changes=changes)
        return {"changed": bool(changes), "changes": changes, "settings": engine.tunables.settings()}

    def stop_command(_request: dict) -> dict:
        stop_event.set()
        return {"stopping": True}

    return {
        "status": lambda _request: engine.snapshot(),
        "stop": stop_command,
        "pause": holding(PAUSE, "pause: paused by the operator (dbferry resume ends it)", True),
        "resume": holding(PAUSE, "", False),
        "throttle": holding(OPERATOR, "operator: throttled by the operator (dbferry unthrottle ends it)", True),
        "unthrottle": holding(OPERATOR, "", False),
        "set": set_command,
    }


def command(state_dir: str, cmd: str, **fields: Any) -> dict[str, Any]:
    """Send an operator command to the move's running agent; its answer, or DbferryError naming what went wrong."""
    answer = None
    if running_pid(state_dir) is not None:
        with contextlib.suppress(OSError):
            answer = control.request(state_dir, cmd, **fields)
    if answer is None:
        raise DbferryError("nothing running in %s answers; %s needs a running move or schema change." % (state_dir, cmd), obj=state_dir,
                           fix="start it first (a move: dbferry.mysql.agent or dbferry run; a change: dbferry.mysql.alter state: "
                               "started, or dbferry alter), and check the name and state_dir.")
    if "error" in answer:
        raise DbferryError("%s refused: %s" % (cmd, answer["error"]), obj=cmd, fix=answer.get("fix") or "correct the request.")
    return answer


#: How long a thread holds the GIL before another may take it (Python's default: 5 ms). While the applier waits for
#: the target, other threads of this process work (copier threads; until the binlog reader became a process of its
#: own, binlog/reader.py, the decoding too), and each of the applier's round trips ended with a wait for the GIL of
#: up to the whole interval. At 1 ms a backlog drained about 25% faster then (make bench: 26,400 against 20,700 txn/s).
GIL_SWITCH_SECONDS = 0.001


def main(argv: list[str]) -> int:
    """The agent process: run the move in ``argv[0]`` until told to stop."""
    state_dir = os.path.abspath(argv[0])
    config = load_config(os.path.join(state_dir, CONFIG_FILE))
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    with RunLock(state_dir, "move %s" % config.name):
        log = EventLog(config.name, os.path.join(state_dir, "ferry.log"))
        stop_event = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_args: stop_event.set())
        ferry = Ferry(config, log)
        server = control.ControlServer(state_dir, handlers(Controlled.of_ferry(ferry), stop_event))
        log.event("agent_started", pid=os.getpid())
        try:
            return exit_status(lambda: ferry.run(stop_event), log)
        finally:
            server.close()
            log.close()


def exit_status(body: Callable[[], Any], log: EventLog) -> int:
    """Run an agent's work; its process exit status: 0 done or stopped, 2 a DbferryError (which the engine has logged and
    published), 3 anything else, logged here with its traceback for the operator."""
    try:
        body()
        return 0
    except DbferryError:
        return 2
    except Exception as exc:  # noqa: BLE001 - logged for the operator, then the process ends  # pylint: disable=broad-exception-caught
        log.event("failed", error="%s: %s" % (type(exc).__name__, exc), traceback=traceback.format_exc())
        return 3


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
