"""A module's ``queries`` result: the statements it ran on its servers, in every result it ends with.

Ansible-free: it is handed the module. ``report_queries(module)``, called
once right after the module is made, starts keeping statements
(server/queries.py) and has ``exit_json`` and ``fail_json`` add them, so a
failed task lists what it had already changed too, whichever of the module's
many exits ends it (its own, or ``call_or_fail``'s). Statements that a
detached agent runs are not in it: they run in another process.
"""

from __future__ import annotations

from typing import Any, Callable

from ..server import queries


def report_queries(module: Any) -> None:
    """Keep the statements this module process runs from now on, and put them in its result as ``queries``."""
    recorded = queries.start()

    def with_queries(end: Callable[..., Any]) -> Callable[..., Any]:
        def ending(*args: Any, **result: Any) -> Any:
            return end(*args, **dict(result, queries=list(recorded)))
        return ending

    module.exit_json = with_queries(module.exit_json)
    module.fail_json = with_queries(module.fail_json)
