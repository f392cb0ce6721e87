"""Read-only, verify and cutover in one call (the ``switchover`` module).

The three steps are the ones of the ``read_only``, ``verify`` and
``cutover`` modules, unchanged and in that order. Run as three Ansible
tasks, the source stays read-only while Ansible starts each module, about
half a second a task on a quiet ferry host and more under load: the read-only
window of a playbook was 1.8-3.1 s for 0.3 s of work. In one process the
window is the work only.

A step that fails ends the call. When this call made the source read-only
and the move was not cut over, the source is made writable again (unless
``restore_source_on_failure`` is off), so a failed switchover leaves the
application where it was: writing to the source, the agent still tailing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

from .connection import ServerSpec, error_text, is_database_error
from .cutover import cut_over
from .errors import DbferryError
from .readonly import DEFAULT_LOCK_WAIT_TIMEOUT, switch_read_only
from .verify import DEFAULT_CHUNK_ROWS, DEFAULT_PARALLEL, DEFAULT_TIMEOUT, verify

T = TypeVar("T")


@dataclass(frozen=True)
class ReadOnlyStep:
    """How the source is made read-only (the read_only module's options of the same names)."""

    wait_for_writes: float = 0.0
    kill_after: Optional[float] = None
    lock_wait_timeout: int = DEFAULT_LOCK_WAIT_TIMEOUT


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
    except DbferryError as exc:
        raise _StepFailed(step, str(exc)) from exc
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if not is_database_error(exc):
            raise
        raise _StepFailed(step, "%s stopped by a server error: %s" % (step, error_text(exc))) from exc


def switch_over(admin: ServerSpec, source: ServerSpec, target: ServerSpec, name: str, state_dir: str, *,
                read_only: ReadOnlyStep, verification: VerifyStep, cutover: CutoverStep, restore_source_on_failure: bool = True,
                check_mode: bool = False) -> tuple[dict[str, Any], Optional[str]]:
    """Make the source read-only (as ``admin``), verify the move, cut it over: the module's result, and the failure
    message (None on success). In check mode only the read-only step is looked at: the others need a read-only source."""
    result: dict[str, Any] = {"changed": False}
    called = time.time()
    outcome = None
    try:
        outcome = _step("read_only", lambda: switch_read_only(
            admin, True, wait_for_writes=read_only.wait_for_writes, kill_after=read_only.kill_after,
            lock_wait_timeout=read_only.lock_wait_timeout, check_mode=check_mode))
        result.update(changed=outcome.changed, read_only=outcome.result())
        if check_mode:
            return result, None
        # The window opens when read_only is set, just after the connection is made.
        opened = called + outcome.timings.get("connect", 0.0)
        refused = outcome.failure()
        if refused:
            raise _StepFailed("read_only", refused)
        report = _step("verify", lambda: verify(source, target, name, method=verification.method, position=outcome.position,
                                                timeout=verification.timeout, chunk_rows=verification.chunk_rows,
                                                parallel=verification.parallel))
        result["verify"] = dict(report.as_dict(), changed=False)
        if report.mismatched:
            raise _StepFailed("verify", report.failure_message())
        done = _step("cutover", lambda: cut_over(source, target, name, state_dir, timeout=cutover.timeout, stop_timeout=cutover.stop_timeout,
                                                 target_writable=cutover.target_writable, check_mode=False,
                                                 postpone_timeout=cutover.postpone_timeout))
        result.update(changed=result["changed"] or done["changed"], cutover=done, final_position=done["final_position"])
        if "finished_at" in done:
            result.update(finished_at=done["finished_at"], window_seconds=round(done["finished_at"] - opened, 3))
        return result, None
    except _StepFailed as failed:
        made_read_only = outcome is not None and not check_mode and not outcome.before["read_only"] and outcome.after["read_only"]
        restored = _restore(admin, made_read_only and restore_source_on_failure)
        return dict(result, failed_step=failed.step, **restored), _failure_message(failed, admin, made_read_only, restored)


def _restore(admin: ServerSpec, wanted: bool) -> dict[str, Any]:
    """Make the source writable again when ``wanted``; what happened, for the result."""
    if not wanted:
        return {"source_writable_again": False}
    try:
        switch_read_only(admin, False)
    except Exception as exc:  # noqa: BLE001 - reported, the step's own failure is what the task fails with  # pylint: disable=broad-exception-caught
        return {"source_writable_again": False, "restore_error": str(exc) if isinstance(exc, DbferryError) else error_text(exc)}
    return {"source_writable_again": True}


def _failure_message(failed: _StepFailed, admin: ServerSpec, made_read_only: bool, restored: dict[str, Any]) -> str:
    """The step's own message, then where that leaves the source."""
    source = admin.describe()
    if not made_read_only:
        where = ""
    elif restored["source_writable_again"]:
        where = " The source %s, made read-only by this task, is writable again; the move goes on tailing." % source
    elif "restore_error" in restored:
        where = " The source %s is STILL READ-ONLY: making it writable again failed (%s). Make it writable with " \
                "dbferry.mysql.read_only (read_only: false)." % (source, restored["restore_error"])
    else:
        where = " The source %s is still read-only (restore_source_on_failure is off): make it writable with " \
                "dbferry.mysql.read_only (read_only: false), or correct the failure and run the switchover again." % source
    return "switchover stopped at %s: %s%s" % (failed.step, failed, where)
