"""Action ``write_test_result``: write ``content`` to ``dest`` (mode 0600) on the controller, in the worker process.

Why not ansible.builtin.copy: its action runs two modules (stat, then copy), each a Python process of its own, about
1 s per integration test run on a loaded 2-core machine, for a file the test reads on this same machine (the tests
run every task against localhost). Integration_support.Ansible uses it to hand a task's registered result to the test.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    """Writes the already templated ``content`` as it is, like ansible.builtin.copy's ``content``."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("content", "dest"))

    def run(self, tmp: Optional[str] = None, task_vars: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        dest = self._task.args["dest"]
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self._task.args["content"])
        result.update(changed=True, dest=dest)
        return result
