#!/usr/bin/python
# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module dbferry.mysql.wait: wait until a move has copied every row and caught up."""

from __future__ import annotations

DOCUMENTATION = r"""
module: wait
short_description: Wait until a MySQL/MariaDB move has copied every row and its binlog lag is small
version_added: 0.1.0
description:
  - Polls the move's status on the ferry host (use C(delegate_to)) until the row copy is complete and the binlog lag
    is at most O(max_lag) seconds.
  - Fails at once when the agent is not running (its run lock is free), with its last error and how old its last
    status is, and with a clear message on timeout; the move keeps running then.
  - While the move's C(postpone_cutover_flag_file) exists, the move does not count as caught up, so that a playbook
    that waits before it makes the source read-only does not start the cutover while it is postponed.
  - Prints a progress line every O(progress_seconds) while it waits - rows copied of estimated (per table while its
    copy runs), rows/s, ETA, binlog lag, and why the move is throttled. The task's action on the controller prints them
    (an Ansible module cannot print while it runs); it runs this module on the ferry host once per O(progress_seconds).
author:
  - dbferry maintainers (@dbferry)
options:
  max_lag:
    description: The largest binlog lag, in seconds, that counts as caught up. 0 means the applier has applied everything the source has.
    type: float
    default: 1
  timeout:
    description: Seconds to wait before failing.
    type: float
    default: 3600
  poll_interval:
    description:
      - The longest time, in seconds, between two looks at the status. Near the end it looks more often, down to every
        0.1 s - while copying, by a quarter of the copy's ETA; while the lag is above O(max_lag), by a quarter of the
        lag still to shed - so that the task ends within a fraction of a second of the move catching up, whatever
        the interval. A copy with no rate yet (the first look after the agent starts) is looked at again after 0.5 s,
        so that a copy shorter than the interval is not waited for a whole interval.
    type: float
    default: 1
  progress_seconds:
    description:
      - Seconds between two progress lines in the output of C(ansible-playbook) while the task waits. 0 prints none, and
        the module then waits in one call.
    type: float
    default: 30
  _waited_before:
    description:
      - Seconds the task has waited already, in the calls of the module before this one; its action sets it when it runs
        the module again, so that O(timeout) and the returned figures count from the start of the task. Leave it out.
    type: float
    default: 0
attributes:
  check_mode:
    support: full
    details: Behaves the same in check mode, as it only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action_group:
    support: full
    membership:
      - dbferry.mysql.move_ref
seealso:
  - module: dbferry.mysql.agent
  - module: dbferry.mysql.status
  - module: dbferry.mysql.alter
  - name: Action groups
    description: Setting the common options once with module_defaults.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/module_defaults.md
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - dbferry.mysql.move
"""

EXAMPLES = r"""
- name: Wait for the shop move to catch up (up to 6 hours)
  dbferry.mysql.wait:
    name: shop-move
    max_lag: 1
    timeout: 21600
  delegate_to: ferry1.example.com
"""

RETURN = r"""
status:
  description: The status when the move was caught up, as dbferry.mysql.status returns it.
  returned: always
  type: dict
samples:
  description: Progress seen while waiting (at most the last 100 polls), each with C(seconds), C(phase), C(rows_copied),
    C(rows_per_second), C(lag_seconds), C(lag_events) and C(throttled).
  returned: always
  type: list
  elements: dict
waited:
  description: Seconds waited.
  returned: always
  type: float
caught_up:
  description: Whether the move has caught up. Always true when the task succeeds; the module itself returns false after
    O(progress_seconds), so that the task's action prints a progress line and runs it again.
  returned: success
  type: bool
progress:
  description: The progress lines the task printed while it waited (the last 100).
  returned: always
  type: list
  elements: str
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dbferry.mysql.plugins.module_utils.agent.process import read_status, stored_config
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.cutover import postpone_flag
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.poll import next_poll
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_errors import call_or_fail
from ansible_collections.dbferry.mysql.plugins.module_utils.config.module_options import move_ref_argument_spec, state_dir_of

_SAMPLE_KEYS = ("phase", "rows_copied", "rows_per_second", "lag_seconds", "lag_events", "throttled")


def main() -> None:
    spec = move_ref_argument_spec()
    spec.update({
        "max_lag": {"type": "float", "default": 1},
        "timeout": {"type": "float", "default": 3600},
        "poll_interval": {"type": "float", "default": 1},
        "progress_seconds": {"type": "float", "default": 30},
        "_waited_before": {"type": "float", "default": 0},
    })
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    state_dir = call_or_fail(module, "wait", lambda: state_dir_of(params))
    config = call_or_fail(module, "wait", lambda: stored_config(state_dir))
    started = time.monotonic()
    samples: list[dict] = []
    while True:
        status = read_status(state_dir)
        this_call = time.monotonic() - started
        waited = round(params["_waited_before"] + this_call, 3)
        samples = (samples + [dict({k: status.get(k) for k in _SAMPLE_KEYS}, seconds=waited)])[-100:]
        result = {"status": status, "samples": samples, "waited": waited}
        if not status["running"]:
            # The agent's error names its fix when it has one: the message says "Fix:" once.
            error = (status.get("last_error") or "no error recorded").rstrip(".") + "."
            fix = "" if " Fix: " in error else " Fix: see the move's ferry.log in %s, then start the move again: it resumes." % state_dir
            module.fail_json(msg="the agent of move %s is not running (phase %s, its last status %s s old): %s%s" % (
                params["name"], status.get("phase"), status.get("stale_seconds"), error, fix), **result)
        lag = status.get("lag_seconds")
        postponed = postpone_flag(config)
        if status.get("phase") == "tailing" and lag is not None and lag <= params["max_lag"] and not postponed:
            module.exit_json(changed=False, caught_up=True, **result)
        if waited > params["timeout"]:
            held = "; the cutover is postponed while %s exists" % postponed if postponed else ""
            if status.get("throttled"):
                held += "; the move is throttled: %s" % status.get("throttle_reason")
            module.fail_json(msg="move %s has not caught up after %.0f s: phase %s, %s of %s rows copied, lag %s s (%s events)%s. "
                                 "The move keeps running; wait again or look at its status." % (
                                     params["name"], waited, status.get("phase"), status.get("rows_copied"), status.get("rows_estimated"),
                                     "-" if lag is None else lag, status.get("lag_events"), held), **result)
        if 0 < params["progress_seconds"] <= this_call:
            module.exit_json(changed=False, caught_up=False, **result)  # the action prints a progress line and calls again
        time.sleep(next_poll(status, params["poll_interval"], params["max_lag"]))


if __name__ == "__main__":
    main()
