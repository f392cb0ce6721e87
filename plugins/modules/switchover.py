#!/usr/bin/python
# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module dbferry.mysql.switchover: read-only, verify and cutover in one task, for the shortest read-only window."""

from __future__ import annotations

DOCUMENTATION = r"""
module: switchover
short_description: Make the source read-only, verify a MySQL/MariaDB move and cut it over, in one task
version_added: 0.1.0
description:
  - Does what M(dbferry.mysql.read_only) (with C(read_only=true)), M(dbferry.mysql.verify) and M(dbferry.mysql.cutover) do,
    in that order, in one module run. Between three tasks the source stays read-only while Ansible starts each module
    (about half a second a task, more on a busy host); here the read-only window is the steps' own work, returned in
    RV(window_seconds).
  - Use the three modules instead when tasks of your own must run between the steps (after read-only, before the cutover).
  - The login options are the account that sets C(read_only) on the source (it needs the privilege to); O(source) and
    O(target) are the move's accounts, as for M(dbferry.mysql.verify) and M(dbferry.mysql.cutover).
  - A step that fails ends the task, and RV(failed_step) names it. When the source was writable before the task, it is made
    writable again (O(restore_source_on_failure)); the agent goes on tailing, so the switchover can simply be run again.
    Not past the cutover's point of no return, though. Once the cutover has stopped the agent or recorded the move complete, the
    source stays read-only, and RV(source_kept_read_only) says why.
  - On a move that is complete already, changes nothing and does not touch the source.
  - Runs on the ferry host where the agent runs (use C(delegate_to)).
author:
  - dbferry maintainers (@dbferry)
options:
  wait_for_writes:
    description: Seconds to wait, once the source is read-only, for open write transactions to end (as in M(dbferry.mysql.read_only)).
    type: float
    default: 0
  kill_after:
    description: Kill the sessions whose write transactions are still open this many seconds after read-only took effect (as in
      M(dbferry.mysql.read_only)). Must not be longer than O(wait_for_writes).
    type: float
  lock_wait_timeout:
    description: Seconds that switching C(read_only) on may wait for other sessions' running statements and table locks.
    type: int
    default: 10
  privileged_sessions:
    description:
      - What to do with other sessions that can write despite C(read_only) (as in M(dbferry.mysql.read_only)). V(fail) (the
        default) fails naming them (id, user, host) before anything is changed; V(kill) kills them once the source is
        read-only, before the final position is read; V(warn) warns. Accounts holding the privilege through a role count.
      - With V(fail) or V(kill), the login needs C(SELECT) on the C(mysql) schema (C(GRANT SELECT ON mysql.*)) to see other accounts'
        privileges; without it the task fails before anything is changed, naming that grant. V(warn) warns that it could not look.
      - Sessions of the move's source user (O(source)), the agent's, do not count; all of them, so the application's sessions too
        if it logs in as that user. Give the move a login of its own without C(READ_ONLY ADMIN); preflight's
        C(source_bypasses_read_only) check warns when it has one.
    type: str
    choices: [fail, kill, warn]
    default: fail
  verify_method:
    description:
      - V(inline) (the default) compares only the rows changed since they were last verified, for moves running with
        C(verify.inline) (the agent's default; see M(dbferry.mysql.verify), option C(method)); V(checksum) compares every row.
      - With V(inline), before the source is made read-only, the tables inline cannot vouch for (copied, or their changes
        applied, while C(verify.inline) was off, e.g. by a rehearsal without it) get a checksum pass while the source is
        still writable; their differing rows are marked, and in the read-only window only their changed rows are compared.
        RV(window.prepared) tells what it compared.
    type: str
    choices: [checksum, inline]
    default: inline
  max_read_only_seconds:
    description:
      - The longest the source may stay read-only. Before read-only goes on, the window is estimated from what is left to
        verify (dirty rows of the tables inline vouches for, all rows of the others, the binlog lag; see RV(window)); over
        this, the task fails there and the source is not touched.
      - In the window, once a step leaves the source read-only for longer, the task fails at that step, naming it and the table
        that took the longest, and the source is made writable again (O(restore_source_on_failure)). The cutover itself is
        not interrupted (past its point of no return the source stays read-only).
      - V(0) means no limit.
    type: float
    default: 5
  verify_timeout:
    description: Seconds the verification waits for the move to apply the source's final position.
    type: float
    default: 300
  verify_chunk_rows:
    description: Source rows per compared key range (M(dbferry.mysql.verify), option C(chunk_rows)).
    type: int
    default: 1000
  verify_parallel:
    description: Tables verified at the same time.
    type: int
    default: 2
  restore_source_on_failure:
    description: When a step fails and the source was writable before this task, make it writable again; never past the
      cutover's point of no return (see RV(source_kept_read_only)). V(false) leaves it read-only, for an operator to decide.
    type: bool
    default: true
attributes:
  check_mode:
    support: partial
    details: Only the read-only step is looked at (nothing is set); verification and cutover need a read-only source, so
      they are not run.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action_group:
    support: full
    membership:
      - dbferry.mysql.move
      - dbferry.mysql.move_ref
      - dbferry.mysql.servers
      - dbferry.mysql.login
seealso:
  - module: dbferry.mysql.read_only
  - module: dbferry.mysql.verify
  - module: dbferry.mysql.cutover
  - name: Action groups
    description: Setting the common options once with module_defaults.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/module_defaults.md
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - dbferry.mysql.connection
  - dbferry.mysql.move
  - dbferry.mysql.move.cutover
  - dbferry.mysql.connection.servers
"""

EXAMPLES = r"""
- name: Read-only, verify, cut over
  dbferry.mysql.switchover:
    name: shop-move
    login_host: db1.example.com
    login_user: admin
    login_password: "{{ vault_admin_password }}"
    source: "{{ dbferry_source }}"
    target: "{{ dbferry_target }}"
    wait_for_writes: 10
    verify_method: inline
  delegate_to: ferry1.example.com
  register: switched

- name: Show the read-only window
  ansible.builtin.debug:
    msg: "The source was read-only for {{ switched.window_seconds }} s"
"""

RETURN = r"""
read_only:
  description: The read-only step's result, as M(dbferry.mysql.read_only) returns it (C(position) is the source's final position).
  returned: unless the move was complete already
  type: dict
message:
  description: Why nothing was done.
  returned: when the move was complete already
  type: str
  sample: move shop-move was cut over already.
verify:
  description: The verification's result, as M(dbferry.mysql.verify) returns it.
  returned: when the verification ran
  type: dict
cutover:
  description: The cutover's result, as M(dbferry.mysql.cutover) returns it.
  returned: when the cutover ran
  type: dict
final_position:
  description: The source's position read while it was read-only, which the target has applied.
  returned: success, not in check mode
  type: str
  sample: 0-1-10428
window:
  description: The read-only window as expected before read-only went on (verify/budget.py), and the checksum pass made while
    the source was writable.
  returned: unless the move was complete already, not in check mode
  type: dict
  contains:
    seconds:
      description: The expected window.
      type: float
      sample: 0.4
    summary:
      description: The same in one line, with the largest parts.
      type: str
      sample: "expected read-only window 0.4 s (shop.orders: its 3120 dirty rows, 0.3 s; shop.users: its 12 dirty rows, 0.0 s)"
    tables:
      description: Per table, how it will be compared (V(inline) or V(checksum)), the rows that takes and the seconds expected.
      type: list
      elements: dict
    catch_up_seconds:
      description: The agent's binlog lag, which the target catches up on before verifying.
      type: float
    parallel:
      description: Tables verified at the same time.
      type: int
    prepared:
      description: The checksum pass made while the source was writable (with O(verify_method=inline)), with the tables it
        compared (C(checked), each with C(dirty_marked)), and those still compared by checksum in the window and why
        (C(unvouched)).
      type: dict
window_seconds:
  description: Seconds from read-only taking effect on the source to the end of the cutover.
  returned: when changed, not in check mode
  type: float
  sample: 0.27
finished_at:
  description: When the cutover finished (seconds since the epoch).
  returned: when changed, not in check mode
  type: float
failed_step:
  description: The step that failed, V(prepare) (before read-only, the source untouched; the checksum pass, or the window
    estimate over O(max_read_only_seconds)), V(read_only), V(verify) or V(cutover).
  returned: failure
  type: str
source_writable_again:
  description: Whether this task made the source writable again after the failure.
  returned: failure
  type: bool
restore_error:
  description: Why making the source writable again failed (it is still read-only).
  returned: when that failed
  type: str
source_kept_read_only:
  description: Why the source was left read-only on purpose after a failure past the cutover's point of no return.
  returned: when that happened
  type: str
queries:
  description:
    - The statements the task ran that change its servers, in the order run (as community.mysql's modules return them);
      not its reads, its session set-up (C(SET SESSION)) or its writes to the rows of dbferry's own C(_dbferry) schema
      (checkpoints, records). A bound value other than a number shows as C(?), a password written into a statement as
      C('********').
    - The read-only step's (as M(dbferry.mysql.read_only) lists them) and the cutover's (as M(dbferry.mysql.cutover)
      lists them). Empty in check mode.
    - A failed task returns them too - what ran before it failed.
  returned: always
  type: list
  elements: str
  sample: ["SET GLOBAL `read_only` = ON", "ALTER TABLE `shop`.`orders` AUTO_INCREMENT = 4712"]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import (
    PYMYSQL_IMPORT_ERROR,
    ServerSpec,
    login_argument_spec,
    server_argument_spec,
)
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_errors import call_or_fail
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_queries import report_queries
from ansible_collections.dbferry.mysql.plugins.module_utils.config.module_options import cutover_argument_spec, move_ref_argument_spec, state_dir_of
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.read_only import DEFAULT_LOCK_WAIT_TIMEOUT, FAIL, PRIVILEGED_ACTIONS
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.switchover import CutoverStep, ReadOnlyStep, VerifyStep, switch_over
from ansible_collections.dbferry.mysql.plugins.module_utils.verify.budget import DEFAULT_MAX_SECONDS
from ansible_collections.dbferry.mysql.plugins.module_utils.verify.checksum import (
    DEFAULT_CHUNK_ROWS,
    DEFAULT_METHOD,
    DEFAULT_PARALLEL,
    DEFAULT_TIMEOUT,
    METHODS,
)


def main() -> None:
    spec = login_argument_spec()
    spec.update(move_ref_argument_spec())
    spec.update(cutover_argument_spec())
    spec.update({
        "source": server_argument_spec(),
        "target": server_argument_spec(),
        "wait_for_writes": {"type": "float", "default": 0},
        "kill_after": {"type": "float"},
        "lock_wait_timeout": {"type": "int", "default": DEFAULT_LOCK_WAIT_TIMEOUT},
        "privileged_sessions": {"type": "str", "choices": list(PRIVILEGED_ACTIONS), "default": FAIL},
        "verify_method": {"type": "str", "choices": list(METHODS), "default": DEFAULT_METHOD},
        "max_read_only_seconds": {"type": "float", "default": DEFAULT_MAX_SECONDS},
        "verify_timeout": {"type": "float", "default": DEFAULT_TIMEOUT},
        "verify_chunk_rows": {"type": "int", "default": DEFAULT_CHUNK_ROWS},
        "verify_parallel": {"type": "int", "default": DEFAULT_PARALLEL},
        "restore_source_on_failure": {"type": "bool", "default": True},
    })
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    report_queries(module)
    if PYMYSQL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    params = module.params
    result, failure = call_or_fail(module, "switchover", lambda: switch_over(
        ServerSpec.from_login_params(params), ServerSpec.from_options(params["source"]), ServerSpec.from_options(params["target"]),
        params["name"], state_dir_of(params),
        read_only=ReadOnlyStep(params["wait_for_writes"], params["kill_after"], params["lock_wait_timeout"], params["privileged_sessions"]),
        verification=VerifyStep(params["verify_method"], params["verify_timeout"], params["verify_chunk_rows"], params["verify_parallel"],
                                params["max_read_only_seconds"]),
        cutover=CutoverStep(params["timeout"], params["stop_timeout"], params["postpone_timeout"], params["target_writable"]),
        restore_source_on_failure=params["restore_source_on_failure"], check_mode=module.check_mode))
    for warning in result.pop("warnings", []):  # module.warn: a warnings key in the result is deprecated (ansible-core 2.23)
        module.warn(warning)
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
