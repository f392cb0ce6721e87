"""Cutover: prove the target has everything, then end the move.

Nothing is assumed: the source must be read-only now (so its position can
no longer move), the position is read after that, and the target's own
checkpoint must show it applied. Then the target's AUTO_INCREMENT counters
are raised to the source's (auto_increment.py), still before the agent is
stopped, so that a failure there leaves the move tailing; so are the rows
of foreign keys to parents outside the move, which nothing enforced on the
target (orphans.py). Only then is the
agent stopped and the move recorded as complete, in the target's ``_dbferry``.

Before that, the cutover waits while the move's ``postpone_cutover_flag_file``
exists (up to ``postpone_timeout``), then runs the ``on-before-cutover``
hooks, any of which can veto it by failing; ``on-after-cutover`` and
``on-success`` run at the end (hooks.py). Flag file and hooks come from the
configuration the agent was started with, in the state folder.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Optional

from ..agent import process as agent
from . import auto_increment, orphans
from ..binlog import gtid
from ..engine import state
from ..engine import status
from ..config.move_config import MoveConfig
from ..server.connection import ServerSpec, close_quietly, connect, execute, fetch_value
from ..common.errors import DbferryError
from ..common.eventlog import EventLog
from ..server.flavor import detect_flavor
from ..controls.hooks import Hooks
from .window import WindowSteps


def _applied(target: Any, name: str) -> str:
    recorded = state.load(target, name)
    return recorded.applied_position if recorded else ""


def _wait_recopied(target: Any, name: str, state_dir: str, timeout: float) -> None:
    """Wait until the agent re-copied every cascaded child row it carried (engine/applier.py): an application transaction
    that holds one on the source keeps it from the target, read-only source or not; refuse when ``timeout`` passed."""
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        pending = state.pending_count(target, name)
        if not pending:
            return
        if agent.running_pid(state_dir) is None:
            raise DbferryError("the agent of move %s is not running, and %d cascaded child row(s) are still to re-copy: %s" % (
                name, pending, agent.last_error(state_dir)), obj=name, fix="start the agent again (it resumes), then run the cutover again.")
        if time.monotonic() > deadline:
            raise DbferryError("%d cascaded child row(s) of move %s are still to re-copy: application transactions hold them locked on "
                               "the source (read-only does not end a transaction that only locks)." % (pending, name), obj=name,
                               fix="end the transactions that hold them (information_schema.INNODB_TRX on the source; the move's log "
                                   "names the tables, event recopy_pending), then run the cutover again.")
        time.sleep(0.05)


def postpone_flag(config: Optional[MoveConfig]) -> Optional[str]:
    """The move's postpone_cutover_flag_file when it exists now, else None."""
    flag = config.postpone_cutover_flag_file if config else None
    return flag if flag and os.path.exists(flag) else None


def wait_postponed(config: Optional[MoveConfig], timeout: float) -> float:
    """Wait while the postpone flag file exists; return the seconds waited (0 without the file: the read-only window's
    steps leave out a wait that did not happen), or raise when ``timeout`` passed first."""
    started = time.monotonic()
    waited = 0.0
    while postpone_flag(config):
        waited = time.monotonic() - started
        if waited > timeout:
            flag = postpone_flag(config) or ""
            raise DbferryError("the cutover was postponed by %s for %.0f s and the file still exists: gave up waiting (postpone_timeout)." % (
                flag, waited), obj=flag, fix="remove the file when the cutover may go ahead, then run the cutover again; or raise postpone_timeout.")
        time.sleep(0.2)
        waited = time.monotonic() - started
    return waited


def _hooks(config: Optional[MoveConfig], state_dir: str) -> Optional[Hooks]:
    if config is None or not config.hooks_path:
        return None
    return Hooks(config, EventLog(config.name, os.path.join(state_dir, "ferry.log")))


def cut_over(source_spec: ServerSpec, target_spec: ServerSpec, name: str, state_dir: str, *, timeout: float,
             stop_timeout: float, target_writable: bool, check_mode: bool, postpone_timeout: float = 3600) -> dict[str, Any]:
    """Run the cutover; the result says whether anything changed, the positions and the timings."""
    started = time.monotonic()
    config = agent.stored_config(state_dir)
    hooks = None if check_mode else _hooks(config, state_dir)
    source = connect(source_spec)
    target = connect(target_spec)
    try:
        recorded = state.load(target, name)
        if recorded is None:
            raise DbferryError("no move %s is recorded on the target %s." % (name, target_spec.describe()), obj=name,
                               fix="check the name and the target, and that the move was started (dbferry.mysql.agent).")
        if recorded.phase == state.COMPLETE:
            return {"changed": False, "final_position": recorded.applied_position, "applied_position": recorded.applied_position,
                    "timings": {}, "message": "move %s was cut over already." % name}
        postponed = wait_postponed(config, postpone_timeout)
        flavor = detect_flavor(source)
        if not int(fetch_value(source, "SELECT @@GLOBAL.read_only")):
            raise DbferryError("the source %s is writable; cutover needs it read-only, so that its final position holds." % source_spec.describe(),
                               obj=source_spec.describe(), fix="make it read-only first (dbferry.mysql.read_only), then run the cutover again.")
        if hooks is not None:
            vetoes = hooks.run("on-before-cutover", agent.read_status(state_dir))
            if vetoes:
                raise DbferryError("the cutover did not start: %s" % "; ".join(vetoes), obj=name,
                                   fix="correct what the on-before-cutover hook reports (or remove the hook), then run the cutover again.")
        final = fetch_value(source, flavor.gtid_position_sql) or ""
        while not gtid.reached(_applied(target, name), final):
            if agent.running_pid(state_dir) is None:
                raise DbferryError("the agent of move %s is not running, and the target has applied %s of %s: %s" % (
                    name, _applied(target, name) or "nothing", final, agent.last_error(state_dir)), obj=name,
                    fix="start the agent again (it resumes), then run the cutover again.")
            if time.monotonic() - started - postponed > timeout:
                held = agent.read_status(state_dir).get("throttle_reason")
                raise DbferryError("the target has not applied the source's final position %s within %.0f s (applied: %s)%s." % (
                    final, timeout, _applied(target, name), "; the move is throttled: %s" % held if held else ""), obj=name,
                    fix="look at the move's status and lag (a throttled move does not catch up); run the cutover again.")
            time.sleep(0.02)
        _wait_recopied(target, name, state_dir, timeout - (time.monotonic() - started - postponed))
        caught_up = time.monotonic()
        # Before the agent stops: a failure here leaves the move tailing, and the source may be made writable again.
        moved = state.read_move_tables(target, name)
        checked = orphans.refuse_orphans(target, [(t.target_schema, t.target_name) for t in moved])
        orphans_checked = time.monotonic()
        raised = [b.as_dict() for b in auto_increment.raise_counters(source, target, [
            (t.schema, t.name, t.target_schema, t.target_name) for t in moved], check_mode)]
        counted = time.monotonic()
        if check_mode:
            return {"changed": True, "final_position": final, "applied_position": _applied(target, name), "timings": {},
                    "auto_increment_raised": raised, "foreign_keys_checked": checked}
        agent.stop(state_dir, stop_timeout)
        stopped = time.monotonic()
        state.record_complete(target, name, final)
        target.commit()
        with contextlib.suppress(OSError):  # the target's record is what counts; status.json only reports it
            status.record_complete(state_dir, final)
        if target_writable:
            for variable in reversed(flavor.read_only_variables):
                execute(target, "SET GLOBAL %s = OFF" % variable)
        done = time.monotonic()
        # One list of the steps for the move's log (the report's window) and the returned timings.
        steps = (("postponed", started, started + postponed), ("wait_applied", started + postponed, caught_up),
                 ("foreign_keys", caught_up, orphans_checked), ("auto_increment", orphans_checked, counted),
                 ("stop_agent", counted, stopped), ("record", stopped, done))
        window = WindowSteps(name, state_dir)
        for step, began, ended in steps:
            if ended > began:
                window.add(step, began, ended)
        window.write()
        hook_failures = []
        if hooks is not None:
            snapshot = dict(agent.read_status(state_dir), phase=state.COMPLETE)
            hook_failures = hooks.run("on-after-cutover", snapshot) + hooks.run("on-success", snapshot)
        return {
            "changed": True,
            "hook_failures": hook_failures,
            "final_position": final,
            "applied_position": _applied(target, name),
            "auto_increment_raised": raised,
            "foreign_keys_checked": checked,
            "finished_at": time.time(),
            "timings": dict({step: round(ended - began, 3) for step, began, ended in steps}, total=round(done - started, 3)),
        }
    finally:
        close_quietly(source, target)
        if hooks is not None:
            hooks.log.close()


def recorded_phase(target: ServerSpec, name: str) -> Optional[str]:
    """The move's phase on the target; None when the target cannot say (no such move, no state schema, no connection):
    then the caller's next step finds out, and says why."""
    try:
        conn = connect(target)
        try:
            recorded = state.load(conn, name)
        finally:
            close_quietly(conn)
    except Exception:  # noqa: BLE001 - the caller's next step connects again and reports it  # pylint: disable=broad-exception-caught
        return None
    return recorded.phase if recorded is not None else None


def source_must_stay_read_only(target: ServerSpec, name: str, state_dir: str) -> str:
    """Why the source must stay read-only after a failed cutover: "" when making it writable again is safe.

    Up to the cutover's point of no return it is: the agent still tails the source. Once the cutover has
    stopped the agent, writes to the source would reach no one; once the move is complete, they belong on the target.
    """
    if recorded_phase(target, name) == state.COMPLETE:
        return "the move is recorded complete, so writes belong on the target now"
    if agent.running_pid(state_dir) is None:
        return "the move's agent is not running (the cutover stops it), so writes to the source would not reach the target; " \
               "start the agent again (dbferry.mysql.agent, it resumes), then run the cutover again"
    return ""
