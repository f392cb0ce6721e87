"""Cutover: prove the target has everything, then end the move.

Nothing is assumed: the source must be read-only now (so its position can
no longer move), the position is read after that, and the target's own
checkpoint must show it applied. Only then is the agent stopped and the move
recorded as complete, in the target's ``_dbferry``.
"""

from __future__ import annotations

import time
from typing import Any

from . import agent, gtid, state
from .connection import ServerSpec, close_quietly, connect, execute, fetch_value
from .errors import DbferryError
from .flavor import detect_flavor


def _applied(target: Any, name: str) -> str:
    recorded = state.load(target, name)
    return recorded.applied_position if recorded else ""


def cut_over(source_spec: ServerSpec, target_spec: ServerSpec, name: str, state_dir: str, *, timeout: float,
             stop_timeout: float, target_writable: bool, check_mode: bool) -> dict[str, Any]:
    """Run the cutover; the result says whether anything changed, the positions and the timings."""
    started = time.monotonic()
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
        flavor = detect_flavor(source)
        if not int(fetch_value(source, "SELECT @@GLOBAL.read_only")):
            raise DbferryError("the source %s is writable; cutover needs it read-only, so that its final position holds." % source_spec.describe(),
                               obj=source_spec.describe(), fix="make it read-only first (dbferry.mysql.read_only), then run the cutover again.")
        final = fetch_value(source, flavor.gtid_position_sql) or ""
        while not gtid.reached(_applied(target, name), final):
            if agent.running_pid(state_dir) is None:
                raise DbferryError("the agent of move %s is not running, and the target has applied %s of %s: %s" % (
                    name, _applied(target, name) or "nothing", final, agent.last_error(state_dir)), obj=name,
                    fix="start the agent again (it resumes), then run the cutover again.")
            if time.monotonic() - started > timeout:
                raise DbferryError("the target has not applied the source's final position %s within %.0f s (applied: %s)." % (
                    final, timeout, _applied(target, name)), obj=name, fix="look at the move's status and lag; run the cutover again.")
            time.sleep(0.02)
        caught_up = time.monotonic()
        if check_mode:
            return {"changed": True, "final_position": final, "applied_position": _applied(target, name), "timings": {}}
        agent.stop(state_dir, stop_timeout)
        stopped = time.monotonic()
        state.set_phase(target, name, state.COMPLETE)
        target.commit()
        if target_writable:
            for variable in reversed(flavor.read_only_variables):
                execute(target, "SET GLOBAL %s = OFF" % variable)
        done = time.monotonic()
        return {
            "changed": True,
            "final_position": final,
            "applied_position": _applied(target, name),
            "finished_at": time.time(),
            "timings": {"wait_applied": round(caught_up - started, 3), "stop_agent": round(stopped - caught_up, 3),
                        "record": round(done - stopped, 3), "total": round(done - started, 3)},
        }
    finally:
        close_quietly(source, target)
