#!/usr/bin/python
# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module dbferry.mysql.read_only: switch a server's read_only, and make "on" final."""

from __future__ import annotations

DOCUMENTATION = r"""
module: read_only
short_description: Switch a MySQL/MariaDB server's read_only on or off, and read its final position
version_added: 0.1.0
description:
  - Sets C(read_only) on one server; on MySQL, C(super_read_only) too (on after C(read_only), off before it),
    so that accounts with C(SUPER) cannot write either. MariaDB has only C(read_only).
  - When switching on, the position returned is read only after C(read_only) took effect and the write
    transactions that were open then have ended or were killed (see O(wait_for_writes) and O(kill_after)),
    so it is the source's final position for a cutover.
  - "What the server does (MariaDB 10.11): C(SET GLOBAL read_only=ON) waits for the statements other sessions
    are running and for their C(LOCK TABLES), for up to O(lock_wait_timeout) seconds; new writes wait behind it,
    and are refused once it is on. It does not wait for open transactions. A transaction with uncommitted writes cannot commit afterwards
    (its C(COMMIT) fails with error 1290 and rolls it back). Sessions of accounts with C(READ_ONLY ADMIN)
    (or C(ALL PRIVILEGES)), and replication threads, can still write: see O(privileged_sessions)."
  - Idempotent; killing a session counts as a change. Supports check mode and diff mode.
author:
  - dbferry maintainers (@dbferry)
options:
  read_only:
    description:
      - V(true) makes the server read-only, V(false) writable again.
    type: bool
    required: true
  wait_for_writes:
    description:
      - Seconds to wait, after C(read_only) is on, for other sessions' open write transactions to end.
        When some are still open at the end, the task fails naming them (the server stays read-only).
      - V(0) does not wait; open write transactions are then returned in RV(open_writers) and the task does not fail.
      - A transaction that wrote only to temporary tables counts too, as the server does not tell them apart.
      - Ignored when O(read_only=false).
    type: float
    default: 0
  kill_after:
    description:
      - When set, the sessions whose write transactions are still open this many seconds after C(read_only)
        took effect are killed (C(KILL CONNECTION)) and returned in RV(killed); the rest of O(wait_for_writes)
        lets their rollback finish. Must not be longer than O(wait_for_writes).
      - Needs C(CONNECTION ADMIN) (MariaDB), C(CONNECTION_ADMIN) (MySQL 8) or C(SUPER); this is checked before
        anything is changed.
      - A prepared XA transaction whose session has gone cannot be killed; it stays in RV(open_writers).
      - Ignored when O(read_only=false).
    type: float
  privileged_sessions:
    description:
      - What to do, when switching on, with other sessions that can write despite C(read_only) (accounts with
        C(READ_ONLY ADMIN) or C(ALL PRIVILEGES), replication threads), whose writes after the final position would never
        reach the target.
      - Accounts count whether they hold the privilege directly or through a role (default role or not), or through
        C(PUBLIC). Finding other accounts' privileges needs C(SELECT) on the C(mysql) schema (C(GRANT SELECT ON mysql.*));
        without it V(fail) and V(kill) fail before anything is changed, naming that grant, and V(warn) warns that it could not look.
      - V(fail) (the default) looks before anything is changed and fails naming each session (id, user, host); the
        server is left as it was. One that appears while the switch runs fails it too (the server is then read-only).
      - V(kill) kills them (C(KILL CONNECTION)) once C(read_only) is on and before the position is read, and returns them
        in RV(killed); it needs the privilege O(kill_after) needs, checked first. A replication thread cannot be killed,
        and one that appears after the position was read is not; either fails the task.
      - V(warn) only returns them in RV(privileged_sessions), with a warning.
      - Ignored when O(read_only=false).
    type: str
    choices: [fail, kill, warn]
    default: fail
  ignore_users:
    description:
      - User names whose sessions O(privileged_sessions) does not count, for the move's own logins (the agent reads the
        source as the move's source user; the cutover role passes it). The module's own session never counts.
      - Every session of such a user is left out, the application's too if it logs in with the same user. So the move's
        source user should be a login of its own without C(READ_ONLY ADMIN); preflight's C(source_bypasses_read_only) check
        warns when it is not.
    type: list
    elements: str
    default: []
  lock_wait_timeout:
    description:
      - Seconds that switching C(read_only) on may wait for running statements and table locks of other
        sessions. Their new writes wait as long, so keep it short; when it runs out the server stays as it was
        and the task fails naming the sessions that held it up.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    details: Nothing is set or killed; the result says what would be.
  diff_mode:
    support: full
    details: C(read_only) (and C(super_read_only) on MySQL) before and after.
  platform:
    platforms: posix
  action_group:
    support: full
    membership:
      - dbferry.mysql.login
seealso:
  - module: dbferry.mysql.switchover
  - module: dbferry.mysql.cutover
  - module: dbferry.mysql.replica
  - name: Action groups
    description: Setting the common options once with module_defaults.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/module_defaults.md
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - dbferry.mysql.connection
notes:
  - The login user needs C(READ_ONLY ADMIN) (MariaDB 10.5.2 and later), C(SYSTEM_VARIABLES_ADMIN) (MySQL 8) or C(SUPER),
    and C(PROCESS) to see other sessions' transactions.
  - "With C(READ_ONLY ADMIN) (MariaDB), the login needs C(SELECT) on the C(mysql) schema too (C(SELECT) on its single tables
    does not do), to read every account's privileges (C(information_schema.USER_PRIVILEGES)) and roles (C(mysql.roles_mapping),
    C(SHOW GRANTS FOR)); the server shows a login without it only its own. O(privileged_sessions=warn) goes on without it."
"""

EXAMPLES = r"""
- name: Make the source read-only; give open transactions 30 s, kill what is left after 20 s
  dbferry.mysql.read_only:
    login_host: db1.example.com
    login_user: ferry_admin
    login_password: "{{ vault_ferry_admin_password }}"
    read_only: true
    wait_for_writes: 30
    kill_after: 20
  register: source_read_only

- name: Wait for the agent to apply up to the final position
  ansible.builtin.debug:
    msg: "final source position {{ source_read_only.position }}"

- name: Make the source writable again (rollback of a cutover)
  dbferry.mysql.read_only:
    login_unix_socket: /run/mysqld/mysqld.sock
    read_only: false
"""

RETURN = r"""
read_only:
  description: Whether the server is read-only at the end (in check mode, whether it would be).
  returned: always
  type: bool
  sample: true
position:
  description:
    - The server's GTID position (MariaDB C(@@gtid_binlog_pos), MySQL C(@@gtid_executed)), read after
      C(read_only) took effect and the open write transactions ended or were killed.
    - Null when O(read_only=false) and in check mode.
  returned: always
  type: str
  sample: 0-1-4711
waited_seconds:
  description: Seconds from C(read_only) taking effect to the last look at open write transactions.
  returned: always
  type: float
  sample: 0.31
killed:
  description: Sessions killed because their write transactions were still open after O(kill_after) seconds, and privileged
    sessions killed with O(privileged_sessions=kill).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The session (connection) id.
      type: int
      sample: 4242
    user:
      description: Its user name.
      type: str
      sample: app
    host:
      description: Where it connected from.
      type: str
      sample: "10.0.0.7:51234"
    seconds:
      description: How long its transaction had been open.
      type: int
      sample: 12
open_writers:
  description:
    - Sessions whose write transactions were still open when the wait ended (now, in check mode), same keys as RV(killed).
    - Id 0 is a prepared XA transaction whose session has gone.
  returned: always
  type: list
  elements: dict
  sample: [{id: 4243, user: app, host: "10.0.0.7:51240", seconds: 31}]
privileged_sessions:
  description:
    - Other sessions that can write although the server is read-only (accounts with a privilege that bypasses it,
      replication threads as C(system user)), with the seconds each has been in its current state.
      The position is final only if they do not write. With O(privileged_sessions=warn) each run with some warns; with
      V(fail) or V(kill), the task fails when some are left.
    - Empty when O(read_only=false); in check mode, those there now.
  returned: always
  type: list
  elements: dict
  sample: [{id: 17, user: root, host: localhost, seconds: 3}]
timings:
  description: Seconds spent connecting, switching, waiting for writers, and in all.
  returned: always
  type: dict
  sample: {connect: 0.01, set_read_only: 0.002, wait_for_writes: 0.3, total: 0.33}
queries:
  description:
    - The statements the task ran that change its servers, in the order run (as community.mysql's modules return them);
      not its reads, its session set-up (C(SET SESSION)) or its writes to the rows of dbferry's own C(_dbferry) schema
      (checkpoints, records). A bound value other than a number shows as C(?), a password written into a statement as
      C('********').
    - C(SET GLOBAL) of C(read_only) (and C(super_read_only) on MySQL) and each C(KILL CONNECTION). Empty in check mode
      and when nothing changed.
    - A failed task returns them too - what ran before it failed.
  returned: always
  type: list
  elements: str
  sample: ["SET GLOBAL `read_only` = ON", "KILL CONNECTION 4242"]
"""


from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import (
    PYMYSQL_IMPORT_ERROR,
    ServerSpec,
    login_argument_spec,
)
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_errors import call_or_fail
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_queries import report_queries
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.read_only import DEFAULT_LOCK_WAIT_TIMEOUT, FAIL, PRIVILEGED_ACTIONS, switch_read_only


def main() -> None:
    argument_spec = login_argument_spec()
    argument_spec.update(
        read_only={"type": "bool", "required": True},
        wait_for_writes={"type": "float", "default": 0},
        kill_after={"type": "float"},
        lock_wait_timeout={"type": "int", "default": DEFAULT_LOCK_WAIT_TIMEOUT},
        privileged_sessions={"type": "str", "choices": list(PRIVILEGED_ACTIONS), "default": FAIL},
        ignore_users={"type": "list", "elements": "str", "default": []},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    report_queries(module)
    if PYMYSQL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    params = module.params
    spec = call_or_fail(module, "read_only", lambda: ServerSpec.from_login_params(params))
    outcome = call_or_fail(module, "read_only on %s" % spec.describe(), lambda: switch_read_only(
        spec,
        params["read_only"],
        wait_for_writes=params["wait_for_writes"],
        kill_after=params["kill_after"],
        lock_wait_timeout=params["lock_wait_timeout"],
        check_mode=module.check_mode,
        privileged=params["privileged_sessions"],
        ignore_users=tuple(params["ignore_users"]),
    ))
    result = outcome.result()
    if module._diff:
        result["diff"] = {"before": outcome.before, "after": outcome.after}
    for warning in outcome.warnings():
        module.warn(warning)
    failure = outcome.failure()
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
