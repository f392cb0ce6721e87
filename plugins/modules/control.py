#!/usr/bin/python
# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module dbferry.mysql.control: pause, resume, throttle or retune a running move."""

from __future__ import annotations

DOCUMENTATION = r"""
module: control
short_description: Pause, resume, throttle or retune a running MySQL/MariaDB move
version_added: 0.1.0
description:
  - Sends a command to the running agent of a move through its control socket, on the ferry host where it runs (use
    C(delegate_to)). The same commands as C(dbferry pause|resume|throttle|unthrottle|set).
  - Fails when no agent of the move runs.
  - Run-time changes last as long as the agent runs; a restarted agent starts from its configuration again.
author:
  - dbferry maintainers (@dbferry)
options:
  command:
    description:
      - V(pause) holds copy, apply and the inline re-verifier (a maintenance window); V(resume) ends it.
      - V(throttle) holds copy and apply (gh-ost's manual throttle; the re-verifier goes on); V(unthrottle) ends it.
        Throttle conditions (O(settings.max_load), flag files, replica lag) hold the move on their own besides.
      - V(set) changes O(settings) from the next batch or check on.
    type: str
    required: true
    choices: [pause, resume, throttle, unthrottle, set]
  settings:
    description:
      - With O(command=set), the values to change, validated as in the move configuration; an unknown key fails naming it.
    type: dict
    suboptions:
      batch_rows:
        description: Rows per copy batch (1 to 100000).
        type: int
      batch_events:
        description: Row changes per target transaction (1 to 100000).
        type: int
      max_load:
        description: Source status variable limits that throttle, C(Threads_running=25,Threads_connected=500); empty removes them.
        type: raw
      critical_load:
        description: Source status variable limits that stop the move, same form; empty removes them.
        type: raw
      max_lag_millis:
        description: Replica lag that throttles, in milliseconds (100 to 86400000).
        type: int
      throttle_query:
        description: Query on the source that throttles while it returns a number above 0; empty removes it.
        type: str
attributes:
  check_mode:
    support: full
    details: The agent says what the command would change and changes nothing.
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
  - name: Throttling
    description: Pausing and throttling a running move.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/throttling.md
  - name: Action groups
    description: Setting the common options once with module_defaults.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/module_defaults.md
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - dbferry.mysql.move
notes:
  - Pausing a paused move, or setting a value it has, reports C(changed=false).
"""

EXAMPLES = r"""
- name: Hold the move while the nightly batch runs
  dbferry.mysql.control:
    name: shop-move
    command: pause
  delegate_to: ferry1.example.com

- name: Go on, with smaller batches and a tighter load limit
  dbferry.mysql.control:
    name: shop-move
    command: set
    settings:
      batch_rows: 500
      max_load: Threads_running=20
  delegate_to: ferry1.example.com

- name: Resume
  dbferry.mysql.control:
    name: shop-move
    command: resume
  delegate_to: ferry1.example.com
"""

RETURN = r"""
paused:
  description: Whether the move is paused after the command (pause, resume, throttle, unthrottle).
  returned: unless command is set
  type: bool
throttled_by_operator:
  description: Whether the move is held by an operator's throttle after the command (pause, resume, throttle, unthrottle).
  returned: unless command is set
  type: bool
throttle_reason:
  description: Everything that holds the move now, separated by C(; ) (null when nothing does).
  returned: unless command is set
  type: str
  sample: "max_load: Threads_running=31 > 25; pause: paused by the operator (dbferry resume ends it)"
changes:
  description: For V(set), each changed setting with its old and new value.
  returned: when command is set
  type: dict
  sample: {"batch_rows": [2000, 500]}
settings:
  description: For V(set), every run-time setting in force (or that would be, in check mode) after the command.
  returned: when command is set
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dbferry.mysql.plugins.module_utils.agent.process import command
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_errors import call_or_fail
from ansible_collections.dbferry.mysql.plugins.module_utils.config.module_options import move_ref_argument_spec, runtime_argument_spec, state_dir_of


def main() -> None:
    spec = move_ref_argument_spec()
    spec.update({
        "command": {"type": "str", "required": True, "choices": ["pause", "resume", "throttle", "unthrottle", "set"]},
        "settings": {"type": "dict", "options": runtime_argument_spec()},
    })
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, required_if=[("command", "set", ("settings",))])
    params = module.params
    fields = {"dry_run": module.check_mode}
    if params["command"] == "set":
        fields["settings"] = {k: v for k, v in params["settings"].items() if v is not None}
    answer = call_or_fail(module, params["command"], lambda: command(state_dir_of(params), params["command"], **fields))
    module.exit_json(**answer)


if __name__ == "__main__":
    main()
