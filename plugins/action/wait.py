# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action dbferry.mysql.wait: the wait module, with a progress line every progress_seconds in the playbook's output.

Why an action plugin: a module runs on the ferry host and reports once, when it ends, so a copy of hours was a silent
task for hours. The action, on the controller, runs the module (wherever the task is delegated) for at most
progress_seconds at a time and prints the move's progress between the calls through Ansible's display. The module keeps
the whole wait logic (what counts as caught up, the failure messages); this only slices it and prints.
"""

from __future__ import annotations

import time
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.progress import progress_lines

display = Display()

#: Samples and progress lines kept in the result, as the module keeps its samples.
_KEEP = 100


class ActionModule(ActionBase):
    """See the module's documentation (plugins/modules/wait.py)."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("name", "state_dir", "max_lag", "timeout", "poll_interval", "progress_seconds"))

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        super().run(tmp, task_vars)
        args = dict(self._task.args)
        host = (task_vars or {}).get("inventory_hostname", "")
        samples: list[dict[str, Any]] = []
        printed: list[str] = []
        started = time.monotonic()
        while True:
            # The controller's clock counts the whole task, the time Ansible takes to run each call included.
            result = self._execute_module(module_name="dbferry.mysql.wait", module_args=dict(args, _waited_before=time.monotonic() - started),
                                          task_vars=task_vars)
            samples = (samples + list(result.get("samples") or []))[-_KEEP:]
            waited = float(result.get("waited") or time.monotonic() - started)
            if result.get("failed") or result.get("caught_up", True):
                return dict(result, samples=samples, progress=printed[-_KEEP:])
            for line in progress_lines(result.get("status") or {}, waited):
                printed.append(line)
                display.display("[%s] %s" % (host, line) if host else line)
