"""How a module turns a failure into one message for the operator.

Ansible-free: it is handed the module. A DbferryError already names the
object and the fix; a server error is named as such, with the traceback kept
for -vvv. Anything else is a bug and is raised as is.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, TypeVar

from .connection import error_text, is_database_error
from .errors import DbferryError

T = TypeVar("T")


def call_or_fail(module: Any, what: str, call: Callable[[], T]) -> T:
    """Return ``call()``, or end the task with ``module.fail_json`` and a message that says what stopped."""
    try:
        return call()
    except DbferryError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if not is_database_error(exc):
            raise
        module.fail_json(msg="%s stopped by a server error: %s" % (what, error_text(exc)), exception=traceback.format_exc())
    raise RuntimeError("fail_json returned instead of ending the module")
