#!/usr/bin/python
# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module dbferry.mysql.replica: the read-only step of a rehearsal from a replica, and its undoing."""

from __future__ import annotations

DOCUMENTATION = r"""
module: replica
short_description: Stop a replica's SQL threads at a final position for a rehearsal, and start them again
version_added: 0.1.0
description:
  - "The read-only step of a move rehearsal from a replica of the source (the move role's C(dbferry_source_is_replica),
    docs/rehearsals.md), in place of M(dbferry.mysql.read_only) on the source: the primary is never touched."
  - "V(stopped): checks that the server is a replica that writes what it applies to its own binlog (C(log_bin) and
    C(log_slave_updates) ON), stops the SQL thread of every replication connection that runs one (the IO threads go on),
    switches C(read_only) on, waits for local transactions that had written (O(wait_for_writes)), looks for sessions that
    may write despite C(read_only) (O(privileged_sessions)), and only then reads the final position, the replica's
    C(@@gtid_binlog_pos) (RV(position)). A failure undoes what was done."
  - "V(started): starts the SQL threads of O(connections) again (RV(stopped) of the stop) and sets C(read_only) back to
    O(read_only_before); the replica catches up with its primary."
  - Idempotent; supports check mode, in which nothing is stopped, started or set.
author:
  - dbferry maintainers (@dbferry)
options:
  state:
    description:
      - V(stopped) freezes the replica at a final position, V(started) undoes it.
    type: str
    choices: [stopped, started]
    required: true
  wait_for_writes:
    description:
      - With V(stopped), seconds to wait for local transactions that had written before C(read_only) went on; the task fails
        (and starts replication again) when some are still open then.
    type: float
    default: 10
  privileged_sessions:
    description:
      - With V(stopped), what to do about local sessions of accounts that can write despite C(read_only) (replication
        threads aside); V(fail) (replication is started again) or V(warn).
    type: str
    choices: [fail, warn]
    default: fail
  ignore_users:
    description:
      - Users whose sessions are not counted as privileged sessions, e.g. the move's own source user.
    type: list
    elements: str
    default: []
  connections:
    description:
      - With V(started), the replication connections whose SQL thread to start (RV(stopped) of the stop; V('') is the
        default connection).
    type: list
    elements: str
    default: []
  read_only_before:
    description:
      - With V(started), what C(read_only) was before the stop (RV(read_only_before) of the stop).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: Nothing is stopped, started or set; the result says what would be.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action_group:
    support: full
    membership:
      - dbferry.mysql.login
seealso:
  - module: dbferry.mysql.read_only
  - module: dbferry.mysql.cutover
  - name: Rehearsals
    description: Rehearsing a move from a replica.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/rehearsals.md
  - name: Action groups
    description: Setting the common options once with module_defaults.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/module_defaults.md
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - dbferry.mysql.connection
notes:
  - The login user needs C(SLAVE ADMIN) and C(SLAVE MONITOR) (or C(SUPER)), C(READ_ONLY ADMIN), C(PROCESS), and
    C(SELECT) on the C(mysql) schema to see other accounts' privileges.
"""

EXAMPLES = r"""
- name: Freeze the replica the rehearsal moves from
  dbferry.mysql.replica:
    login_unix_socket: /run/mysqld/mysqld.sock
    login_user: root
    state: stopped
    ignore_users: [ferry]
  register: frozen

- name: Let it replicate again
  dbferry.mysql.replica:
    login_unix_socket: /run/mysqld/mysqld.sock
    login_user: root
    state: started
    connections: "{{ frozen.stopped }}"
    read_only_before: "{{ frozen.read_only_before }}"
"""

RETURN = r"""
position:
  description: The replica's final position, its C(@@gtid_binlog_pos) once frozen (now, in check mode).
  returned: state is stopped
  type: str
  sample: 0-1-4242
stopped:
  description: The replication connections whose SQL thread was stopped (would be, in check mode); V('') is the default one.
  returned: state is stopped
  type: list
  elements: str
  sample: [""]
read_only_before:
  description: C(read_only) before the stop.
  returned: state is stopped
  type: bool
  sample: false
privileged_sessions:
  description: Local sessions that can write despite C(read_only), when O(privileged_sessions=warn) let the stop go on.
  returned: state is stopped
  type: list
  elements: dict
  sample: []
waited_seconds:
  description: How long the stop waited for local transactions.
  returned: state is stopped
  type: float
  sample: 0.1
started:
  description: The connections whose SQL thread was started (would be, in check mode).
  returned: state is started
  type: list
  elements: str
  sample: [""]
read_only:
  description: C(read_only) as the start left it.
  returned: state is started
  type: bool
  sample: false
queries:
  description:
    - The statements the task ran that change its servers, in the order run (as community.mysql's modules return them);
      not its reads, its session set-up (C(SET SESSION)) or its writes to the rows of dbferry's own C(_dbferry) schema
      (checkpoints, records). A bound value other than a number shows as C(?), a password written into a statement as
      C('********').
    - C(STOP SLAVE ? SQL_THREAD) or C(START SLAVE ? SQL_THREAD) for each connection, and C(SET GLOBAL read_only).
      Empty in check mode.
    - A failed task returns them too - what ran before it failed.
  returned: always
  type: list
  elements: str
  sample: ["STOP SLAVE ? SQL_THREAD", "SET GLOBAL read_only = ON"]
"""


from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_errors import call_or_fail
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_queries import report_queries
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.read_only import FAIL
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.replica import REPLICA_PRIVILEGED_ACTIONS, start, stop
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import PYMYSQL_IMPORT_ERROR, ServerSpec, login_argument_spec


def main() -> None:
    argument_spec = login_argument_spec()
    argument_spec.update(
        state={"type": "str", "choices": ["stopped", "started"], "required": True},
        wait_for_writes={"type": "float", "default": 10},
        privileged_sessions={"type": "str", "choices": list(REPLICA_PRIVILEGED_ACTIONS), "default": FAIL},
        ignore_users={"type": "list", "elements": "str", "default": []},
        connections={"type": "list", "elements": "str", "default": []},
        read_only_before={"type": "bool", "default": True},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    report_queries(module)
    if PYMYSQL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    params = module.params
    spec = call_or_fail(module, "replica", lambda: ServerSpec.from_login_params(params))
    if params["state"] == "started":
        module.exit_json(**call_or_fail(module, "replica start on %s" % spec.describe(), lambda: start(
            spec, params["connections"], params["read_only_before"], check_mode=module.check_mode)))
    done = call_or_fail(module, "replica stop on %s" % spec.describe(), lambda: stop(
        spec, wait_for_writes=params["wait_for_writes"], privileged=params["privileged_sessions"],
        ignore_users=tuple(params["ignore_users"]), check_mode=module.check_mode))
    for warning in done.warnings():
        module.warn(warning)
    module.exit_json(**done.result())


if __name__ == "__main__":
    main()
