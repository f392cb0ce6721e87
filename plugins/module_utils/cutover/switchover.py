"""Read-only, verify and cutover in one call (the ``switchover`` module).

The three steps are the ones of the ``read_only``, ``verify`` and
``cutover`` modules, unchanged and in that order. Run as three Ansible
tasks, the source stays read-only while Ansible starts each module, about
half a second a task on a quiet ferry host and more under load: the read-only
window of a playbook was 1.8-3.1 s for 0.3 s of work. In one process the
window is the work only.

A step that fails ends the call. When the source was writable before the
call, it is made writable again (unless ``restore_source_on_failure`` is
off), so a failed switchover leaves the application where it was: writing
to the source, the agent still tailing. Not past the cutover's point of no
return, though: once the cutover has stopped the agent, or recorded the move
complete, the source stays read-only and the result says why. A move that is
complete already is left alone, the source untouched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

from ..engine import state
from ..server.connection import ServerSpec
from .cutover import cut_over, recorded_phase, source_must_stay_read_only
from ..common.module_errors import operator_message
from .read_only import DEFAULT_LOCK_WAIT_TIMEOUT, FAIL, switch_read_only
from .window import WindowSteps
from ..verify.checksum import DEFAULT_CHUNK_ROWS, DEFAULT_PARALLEL, DEFAULT_TIMEOUT, verify

T = TypeVar("T")


@dataclass(frozen=True)
class ReadOnlyStep:
    """How the source is made read-only (the read_only module's options of the same names)."""

    wait_for_writes: float = 0.0
    kill_after: Optional[float] = None
    lock_wait_timeout: int = DEFAULT_LOCK_WAIT_TIMEOUT
    privileged_sessions: str = FAIL


@dataclass(frozen=True)
class VerifyStep:
    """How the target is verified (the verify module's options of the same names)."""

    method: str = "checksum"
    timeout: float = DEFAULT_TIMEOUT
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    parallel: int = DEFAULT_PARALLEL


@dataclass(frozen=True)
class CutoverStep:
    """How the move is cut over (the cutover module's options of the same names)."""

    timeout: float = 300.0
    stop_timeout: float = 60.0
    postpone_timeout: float = 3600.0
    target_writable: bool = False


class _StepFailed(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


def _step(step: str, call: Callable[[], T]) -> T:
    """``call()``; a failure the operator can act on (a DbferryError, a server error) becomes a _StepFailed."""
    try:
        return call()
    except Exception as exc:  # pylint: disable=broad-exception-caught
        message = operator_message(step, exc)
        if message is None:
            raise
        raise _StepFailed(step, message) from exc


def switch_over(admin: ServerSpec, source: ServerSpec, target: ServerSpec, name: str, state_dir: str, *,
                read_only: ReadOnlyStep, verification: VerifyStep, cutover: CutoverStep, restore_source_on_failure: bool = True,
                check_mode: bool = False) -> tuple[dict[str, Any], Optional[str]]:
    """Make the source read-only (as ``admin``), verify the move, cut it over: the module's result, and the failure
    message (None on success). In check mode only the read-only step is looked at: the others need a read-only source."""
    recorded = recorded_phase(target, name)
    if recorded == state.COMPLETE:  # before the source is touched: a finished move's target has moved on since
        return {"changed": False, "message": "move %s was cut over already." % name}, None
    # The agent's source sessions are the move's own: a source login that may bypass read_only does not count.
    own = (source.user,) if source.user else ()
    # What the source is before anything changes (check mode reads only): whether a failure should make it writable again.
    # With privileged_sessions: fail, sessions that could write after the final position end the switchover here.
    looked = switch_read_only(admin, True, wait_for_writes=read_only.wait_for_writes, kill_after=read_only.kill_after,
                              lock_wait_timeout=read_only.lock_wait_timeout, check_mode=True,
                              privileged=read_only.privileged_sessions, ignore_users=own)
    result: dict[str, Any] = {"changed": looked.changed, "read_only": looked.result()}
    if check_mode:
        return result, None
    was_writable = not looked.before["read_only"]
    step = "read_only"
    window = WindowSteps(name, state_dir)
    began = time.monotonic()
    try:
        called = time.time()
        outcome = _step(step, lambda: switch_read_only(
            admin, True, wait_for_writes=read_only.wait_for_writes, kill_after=read_only.kill_after,
            lock_wait_timeout=read_only.lock_wait_timeout, privileged=read_only.privileged_sessions, ignore_users=own))
        result.update(changed=outcome.changed, read_only=outcome.result(), warnings=outcome.warnings())
        opened = called + outcome.timings.get("connect", 0.0)  # read_only is set just after the connection is made
        refused = outcome.failure()
        if refused:
            raise _StepFailed(step, refused)
        began = window.ended(step, began + outcome.timings.get("connect", 0.0))
        step = "verify"
        report = _step(step, lambda: verify(source, target, name, method=verification.method, position=outcome.position,
                                            timeout=verification.timeout, chunk_rows=verification.chunk_rows,
                                            parallel=verification.parallel))
        result["verify"] = dict(report.as_dict(), changed=False)
        if report.mismatched:
            raise _StepFailed(step, report.failure_message())
        window.ended(step, began)
        window.write()  # before the cutover, which logs its own steps after these
        step = "cutover"
        done = _step(step, lambda: cut_over(source, target, name, state_dir, timeout=cutover.timeout, stop_timeout=cutover.stop_timeout,
                                            target_writable=cutover.target_writable, check_mode=False,
                                            postpone_timeout=cutover.postpone_timeout))
        result.update(changed=True, cutover=done, final_position=done["final_position"])
        if "finished_at" in done:
            result.update(finished_at=done["finished_at"], window_seconds=round(done["finished_at"] - opened, 3))
        return result, None
    except BaseException as exc:
        window.add(step, began, time.monotonic(), failed=str(exc) or type(exc).__name__)
        window.write()
        kept = source_must_stay_read_only(target, name, state_dir) if step == "cutover" else ""
        restored = _restore(admin, was_writable and restore_source_on_failure and not kept)
        if kept:
            restored["source_kept_read_only"] = kept
        if not isinstance(exc, _StepFailed):
            raise  # a bug: its traceback, once the source is writable again
        return dict(result, failed_step=exc.step, **restored), _failure_message(exc, admin, was_writable, restored)


def _restore(admin: ServerSpec, wanted: bool) -> dict[str, Any]:
    """Make the source writable again when ``wanted``; what happened, for the result."""
    if not wanted:
        return {"source_writable_again": False}
    try:
        switch_read_only(admin, False)
    except Exception as exc:  # noqa: BLE001 - reported, the step's own failure is what the task fails with  # pylint: disable=broad-exception-caught
        return {"source_writable_again": False, "restore_error": operator_message("making the source writable", exc) or str(exc)}
    return {"source_writable_again": True}


def _failure_message(failed: _StepFailed, admin: ServerSpec, was_writable: bool, restored: dict[str, Any]) -> str:
    """The step's own message, then where that leaves the source."""
    source = admin.describe()
    if "source_kept_read_only" in restored:
        where = " The source %s stays READ-ONLY on purpose: %s." % (source, restored["source_kept_read_only"])
    elif not was_writable:
        where = " The source %s was read-only before this task and stays so." % source
    elif restored["source_writable_again"]:
        where = " The source %s is writable again, as before this task; the move goes on tailing." % source
    elif "restore_error" in restored:
        where = " The source %s is STILL READ-ONLY: making it writable again failed (%s). Make it writable with " \
                "dbferry.mysql.read_only (read_only: false)." % (source, restored["restore_error"])
    else:
        where = " The source %s is still read-only (restore_source_on_failure is off): make it writable with " \
                "dbferry.mysql.read_only (read_only: false), or correct the failure and run the switchover again." % source
    return "switchover stopped at %s: %s%s" % (failed.step, failed, where)
