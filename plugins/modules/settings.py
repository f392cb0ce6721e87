#!/usr/bin/python
# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the action dbferry.mysql.settings (plugins/action/settings.py), which runs on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
module: settings
short_description: Show a role's effective settings for a host and the layer each one comes from
version_added: 0.1.0
description:
  - For every variable of a C(dbferry.mysql) role's entry point, returns its effective value for the host and where it
    comes from, lowest layer first - C(role defaults), C(group_vars/all), C(group_vars/<group>) (by group depth, as Ansible
    merges them), C(host_vars/<host>), C(environment DBFERRY_<OPTION>), C(-e).
  - The environment layer is dbferry's own - C(DBFERRY_<OPTION>) (the variable's name in capitals, e.g. C(DBFERRY_CHUNK_SIZE)
    for C(dbferry_chunk_size)) sets the variable for one run, above the inventory's layers and below C(-e). Its text is
    read as the variable's type (YAML for lists, mappings and raw values); such values are returned as facts.
  - A value that no layer gives (play vars, C(set_fact), vars written in the inventory file itself) is reported as
    C(play or task vars). Layers are read from the inventory's sources, not from group_vars next to the playbook.
  - Passwords are shown as C(********).
  - Runs on the controller only (an action); it changes nothing.
author:
  - dbferry maintainers (@dbferry)
options:
  role:
    description: The collection's role whose argument specs list the variables.
    type: str
    default: alter
  entry_point:
    description: The role's entry point.
    type: str
    default: main
attributes:
  check_mode:
    support: full
    details: Behaves the same in check mode, as it changes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Runs on the controller (an action plugin), whatever host the task is for.
seealso:
  - name: dbferry design
    description: Configuration in layers, lowest first.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/design.md
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Print the alter role's settings and where each comes from
  dbferry.mysql.settings:
    role: alter
    entry_point: migrate
  register: migrate_settings

- name: Show them
  ansible.builtin.debug:
    var: migrate_settings.lines
"""

RETURN = r"""
settings:
  description: One entry per variable - C(name), C(value) (passwords masked), C(source) (the layer).
  returned: always
  type: list
  elements: dict
  sample: [{name: dbferry_chunk_size, value: 500, source: group_vars/all}]
lines:
  description: The same, one line per variable, for printing.
  returned: always
  type: list
  elements: str
  sample: ["dbferry_chunk_size = 500  (environment DBFERRY_CHUNK_SIZE)"]
ansible_facts:
  description: The variables set from the environment, with their values.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(argument_spec={"role": {"type": "str", "default": "alter"}, "entry_point": {"type": "str", "default": "main"}},
                           supports_check_mode=True)
    module.fail_json(msg="dbferry.mysql.settings runs on the controller as an action; it was run as a module.")


if __name__ == "__main__":
    main()
