"""How a module turns a failure into one message for the operator.

Ansible-free: it is handed the module. A DbferryError already names the
object and the fix; a server error is named as such, with the traceback kept
for -vvv. Anything else is a bug and is raised as is.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, Optional, TypeVar

from ..server.connection import error_text, is_database_error
from .errors import DbferryError

T = TypeVar("T")


def operator_message(what: str, exc: BaseException) -> Optional[str]:
    """The one-line message for a failure the operator can act on (a DbferryError, a server error); None for a bug."""
    if isinstance(exc, DbferryError):
        return str(exc)
    if is_database_error(exc):
        return "%s stopped by a server error: %s" % (what, error_text(exc))
    return None


def call_or_fail(module: Any, what: str, call: Callable[[], T], failed: Optional[Callable[[], dict[str, Any]]] = None) -> T:
    """Return ``call()``, or end the task with ``module.fail_json`` and a message that says what stopped.

    ``failed`` returns more fields for the failed task's result, for what comes after it (a rescue) to act on; with
    any such field, even an unexpected exception ends the task with fail_json, so that the fields are not lost.
    """
    try:
        return call()
    except Exception as exc:  # pylint: disable=broad-exception-caught
        message = operator_message(what, exc)
        extra = failed() if failed is not None else {}
        if message is None:
            if not extra:
                raise  # a bug: its traceback as Ansible shows a module crash
            # A bug, but the fields must reach the rescue that acts on them (they may keep the source read-only).
            message = "%s failed unexpectedly: %s: %s" % (what, type(exc).__name__, exc)
        module.fail_json(msg=message, **extra, **({} if isinstance(exc, DbferryError) else {"exception": traceback.format_exc()}))
    raise RuntimeError("fail_json returned instead of ending the module")
