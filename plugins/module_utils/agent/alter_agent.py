"""A schema change with the controls a move has: its run lock, its control socket, and a detached agent.

Every run of a change goes through ``run_controlled``, in whichever process
runs it (the module's ``state: present``, ``dbferry alter``, or the agent of
``state: started``): it holds the state folder's run lock (agent/runlock.py:
one run per folder, and "is it running?" asked of the lock, never of a pid
file), serves the control socket (``dbferry status|pause|resume|throttle|
unthrottle|set``, and ``cut_over``), and writes the result to
``result.json`` when the change ends, for the task that asked for the
cut-over. The table's named lock (osc/runner.py) still decides which run may
change the table: the run lock only names the one running from this folder.

``state: started`` (``start``) launches this module as a detached agent,
which copies, applies, verifies and then waits, applying the binlog, until
``state: cut_over`` (``cut_over``) tells it to swap; it ends once swapped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import sys
import threading
import time
from typing import Any, Optional

from ..common.errors import DbferryError
from ..common.eventlog import EventLog
from ..common.private import write_private
from ..config.alter_config import AlterConfig, parse_alter_config
from ..controls import control_socket as control
from ..osc.copy import ChunkHook
from ..osc.plan import alter_name
from ..osc.runner import AlterResult, AlterRun
from . import process
from .runlock import RunLock, running_pid
from .statedir import ensure_private_dir

#: The agent's configuration (0600: it has the credentials), next to a move's config.json in the same kind of folder.
CONFIG_FILE = "alter.json"
#: The ended change's result (AlterResult's fields), for the task that waits for it.
RESULT_FILE = "result.json"
LOG_FILE = "ferry.log"
#: gh-ost's names of the run-time settings (``dbferry set chunk_size=2000``) -> the engine's (config/tunables.py).
SETTING_NAMES = {"chunk_size": "batch_rows", "dml_batch_size": "batch_events"}


def what(config: AlterConfig) -> str:
    """How messages name the change."""
    return "the change of %s.%s" % (config.database, config.table)


def _alter_handlers(run: AlterRun, stop: threading.Event) -> dict[str, control.Handler]:
    """A move's commands (process.handlers) on the change's throttle and settings, with gh-ost's setting names, and
    ``cut_over``: the operator's word to swap once ready."""
    commands = process.handlers(process.Controlled(run.throttle, run.tunables, run.log, run.snapshot), stop)
    move_set = commands["set"]
    engine_names = {engine: alter for alter, engine in SETTING_NAMES.items()}

    def set_command(request: dict) -> dict:
        settings = {SETTING_NAMES.get(name, name): value for name, value in (request.get("settings") or {}).items()}
        answer = move_set(dict(request, settings=settings))
        return dict(answer, changes={engine_names.get(k, k): v for k, v in answer["changes"].items()},
                    settings={engine_names.get(k, k): v for k, v in answer["settings"].items()})

    def cut_over_command(request: dict) -> dict:
        changed = not run.cut_over_asked.is_set()
        if changed and not request.get("dry_run"):
            run.ask_cut_over()
        return {"changed": changed, "phase": run.phase}

    return dict(commands, set=set_command, cut_over=cut_over_command)


def run_controlled(config: AlterConfig, log: EventLog, stop: threading.Event, *, hold_cut_over: bool = False,
                   chunk_hook: Optional[ChunkHook] = None) -> AlterResult:
    """Run the change in this process under the folder's run lock, serving its control socket; write its result."""
    ensure_private_dir(config.state_dir, alter_name(config.database, config.table))
    with RunLock(config.state_dir, what(config)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(config.state_dir, RESULT_FILE))  # an earlier change's, not this one's
        run = AlterRun(config, log, stop, chunk_hook, hold_cut_over)
        server = control.ControlServer(config.state_dir, _alter_handlers(run, stop))
        try:
            result = run.run()
        finally:
            server.close()
        write_private(os.path.join(config.state_dir, RESULT_FILE), json.dumps(dataclasses.asdict(result), sort_keys=True))
        return result


def agent_raw(config: AlterConfig, raw: dict[str, Any]) -> dict[str, Any]:
    """What the agent is started with: the options as given, the ALTER as parsed (a trailing newline or ";" does not make
    another change) and the state folder they resolve to (the agent must not resolve it again under another home)."""
    return dict(raw, alter=config.alter, state_dir=config.state_dir)


def start(raw: dict[str, Any], timeout: float = 60.0) -> tuple[bool, int, AlterConfig]:
    """``state: started``: the change's agent, detached, holding its cut-over; (changed, pid, config). A running agent of
    the same change is left alone (changed False); of another change of the table, an error."""
    config = parse_alter_config(raw)
    ensure_private_dir(config.state_dir, alter_name(config.database, config.table))
    raw = agent_raw(config, raw)
    changed, pid = process.launch(config.state_dir, what(config), CONFIG_FILE, raw, __name__, timeout)
    return changed, pid, config


def running(config: AlterConfig) -> Optional[int]:
    """The pid of the process running the change from its folder (an agent, or a foreground run), or None."""
    return running_pid(config.state_dir) if os.path.isdir(config.state_dir) else None


def cut_over(config: AlterConfig, timeout: float) -> AlterResult:
    """``state: cut_over``: tell the running change to swap once ready, wait until its process ends, return its result.
    DbferryError with why it failed, or when nothing runs the change."""
    if running(config) is None:
        raise nothing_runs(config)
    process.command(config.state_dir, "cut_over")
    return wait_result(config, timeout)


def nothing_runs(config: AlterConfig) -> DbferryError:
    """The refusal of a cut-over that no running change can make."""
    return DbferryError("no agent runs %s: nothing to cut over." % what(config), obj=what(config),
                        fix="start it with state: started (it resumes from its checkpoints), wait for it with dbferry.mysql.wait, "
                            "then cut over; or run it to its end with state: present.")


def wait_result(config: AlterConfig, timeout: float) -> AlterResult:
    """Wait until the process running the change ends (at most ``timeout`` s); its result, or why it ended without one."""
    deadline = time.monotonic() + timeout
    while running(config) is not None:
        if time.monotonic() > deadline:
            snapshot = process.read_status(config.state_dir)
            raise DbferryError("%s has not ended within %.0f s: phase %s, waiting for %s." % (
                what(config), timeout, snapshot.get("phase"), ", ".join(snapshot.get("waiting_for") or []) or "nothing"),
                obj=what(config), fix="it keeps running: look at `dbferry status %s.%s`, then wait again (state: cut_over)." % (
                    config.database, config.table))
        time.sleep(0.1)
    try:
        with open(os.path.join(config.state_dir, RESULT_FILE), encoding="utf-8") as handle:
            return AlterResult(**json.load(handle))
    except FileNotFoundError:
        raise DbferryError("%s ended without a result: %s" % (what(config), process.last_error(config.state_dir)), obj=what(config),
                           fix="correct what the error names, then run the change again (state: started, or present): it "
                               "resumes from its checkpoints.") from None


def forget(config: AlterConfig, timeout: float = 60.0) -> bool:
    """``state: absent``: stop the process running the change from its folder, if any, and remove the folder's agent
    files (configuration, shipped code, result, socket); True when anything was there. The status and log stay."""
    stopped = process.stop(config.state_dir, timeout) if os.path.isdir(config.state_dir) else False
    removed = False
    for name in (CONFIG_FILE, RESULT_FILE, control.SOCKET_NAME):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(config.state_dir, name))
            removed = True
    code = os.path.join(config.state_dir, process.CODE_DIR)
    if os.path.isdir(code):
        shutil.rmtree(code)
        removed = True
    return stopped or removed


def main(argv: list[str]) -> int:
    """The agent process: run the change in the state folder ``argv[0]`` until it has swapped, or is told to stop."""
    state_dir = os.path.abspath(argv[0])
    with open(os.path.join(state_dir, CONFIG_FILE), encoding="utf-8") as handle:
        config = parse_alter_config(json.load(handle))
    sys.setswitchinterval(process.GIL_SWITCH_SECONDS)
    log = EventLog(alter_name(config.database, config.table), os.path.join(state_dir, LOG_FILE))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_args: stop.set())
    log.event("agent_started", pid=os.getpid(), table="%s.%s" % (config.database, config.table))
    try:
        return process.exit_status(lambda: run_controlled(config, log, stop, hold_cut_over=True), log)
    finally:
        # Its credentials are not kept at rest once the agent has ended, and a later run in the foreground from the folder
        # is not taken for this agent (modules/alter.py reads the file to tell which change an agent runs).
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(state_dir, CONFIG_FILE))
        log.close()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
