#!/usr/bin/python
# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module dbferry.mysql.cutover: end a move once the target provably has everything."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cutover
short_description: End a MySQL/MariaDB move once the target provably has every change
version_added: 0.1.0
description:
  - Checks, never assumes, that the source is read-only and that the target has applied the source's final position
    (read after read-only took effect); then raises each moved table's C(AUTO_INCREMENT) counter on the target to at least
    the source's (RV(auto_increment_raised)) and, for each foreign key of a moved table to a parent outside the move (which
    preflight's C(foreign_keys) lets through only when allowed), counts on the target the child rows whose parent row is
    missing there, refusing on any (RV(foreign_keys_checked)); then stops the agent, records the move as complete on the target and, when
    asked, makes the target writable. The target login needs C(ALTER) on the moved tables for the counters.
  - Runs on the ferry host where the agent runs (use C(delegate_to)).
  - On a move that is complete already, changes nothing.
  - When it fails with the move recorded complete, or with the agent not running (the cutover stops it; or it had
    stopped already), it says so in RV(source_kept_read_only); the source then stays read-only (the cutover role's
    rescue leaves it so) until the agent runs again or an operator decides.
  - While the move's C(postpone_cutover_flag_file) exists, waits (up to O(postpone_timeout)) before anything else; the
    source is read-only by then, so a playbook waits for the flag file with dbferry.mysql.wait before it makes the
    source read-only, and this wait is a guard for runbooks that do not.
  - Runs the move's C(on-before-cutover) hooks before it reads the final position (one that fails stops the cutover
    before anything changed), and C(on-after-cutover) then C(on-success) at the end (failures are returned in
    RV(hook_failures)). Hooks and flag file come from the configuration the agent was started with. Check mode runs no hook.
author:
  - dbferry maintainers (@dbferry)
attributes:
  check_mode:
    support: full
    details: Checks and waits, but stops, records and runs no hook.
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
seealso:
  - module: dbferry.mysql.read_only
  - module: dbferry.mysql.verify
  - module: dbferry.mysql.switchover
  - module: dbferry.mysql.wait
  - name: Action groups
    description: Setting the common options once with module_defaults.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/module_defaults.md
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - dbferry.mysql.move
  - dbferry.mysql.move.cutover
  - dbferry.mysql.connection.servers
"""

EXAMPLES = r"""
- name: Make the source read-only
  dbferry.mysql.read_only:
    login_host: db1.example.com
    login_user: admin
    login_password: "{{ vault_admin_password }}"
    read_only: true

- name: Cut over
  dbferry.mysql.cutover:
    name: shop-move
    source: "{{ dbferry_source }}"
    target: "{{ dbferry_target }}"
  delegate_to: ferry1.example.com
  register: cutover
"""

RETURN = r"""
final_position:
  description: The source's position read while it was read-only.
  returned: success
  type: str
  sample: 0-1-10428
applied_position:
  description: The position the target has applied (includes the final position).
  returned: success
  type: str
finished_at:
  description: When the cutover finished (seconds since the epoch), to measure the read-only window against the read_only task.
  returned: when changed
  type: float
hook_failures:
  description: Why each failed C(on-after-cutover) or C(on-success) hook failed (the cutover is done regardless).
  returned: when changed
  type: list
  elements: str
foreign_keys_checked:
  description:
    - The foreign keys of moved tables to a parent outside the move (C(name on schema.table)) whose rows were checked on the
      target before the agent stopped, as nothing enforced them during the move (it writes with C(foreign_key_checks=0)); one
      anti-join scan of the child table each, in the read-only window. The cutover fails, the move still tailing, when a
      child row references a parent row the target lacks, or the parent table is not on the target.
  returned: success, unless the move was complete already
  type: list
  elements: str
auto_increment_raised:
  description:
    - The moved tables whose next C(AUTO_INCREMENT) value on the target was lower than the source's, raised to the source's
      (C(ALTER TABLE ... AUTO_INCREMENT)) while the source was read-only and before the agent stopped (in check mode, those that
      would be). Ids the source handed out to rows that are gone (a row inserted and deleted, a rolled-back insert) leave no
      row to copy, and the target would hand them out again.
  returned: success, unless the move was complete already
  type: list
  elements: dict
  sample: [{table: shop.orders, target_table: shop.orders, source: 5, target: 4}]
timings:
  description: Seconds spent postponed by the flag file (C(postponed)), waiting for the final position (C(wait_applied)),
    counting the rows of foreign keys to parents outside the move (C(foreign_keys)), raising AUTO_INCREMENT counters
    (C(auto_increment)), stopping the agent (C(stop_agent)), recording the move (C(record)), and in all (C(total)).
  returned: success
  type: dict
source_kept_read_only:
  description: On failure with the move recorded complete or its agent not running, why the source must stay
    read-only; writes let in then would belong on the target, or reach no one until the agent runs again. The cutover
    role's rescue then leaves the source read-only.
  returned: on failure with the move complete or its agent not running
  type: str
  sample: the move is recorded complete, so writes belong on the target now
queries:
  description:
    - The statements the task ran that change its servers, in the order run (as community.mysql's modules return them);
      not its reads, its session set-up (C(SET SESSION)) or its writes to the rows of dbferry's own C(_dbferry) schema
      (checkpoints, records). A bound value other than a number shows as C(?), a password written into a statement as
      C('********').
    - On the target, C(ALTER TABLE ... AUTO_INCREMENT) and, with O(target_writable), C(SET GLOBAL read_only = OFF).
      Statements of the detached agent are not listed. Empty in check mode.
    - A failed task returns them too - what ran before it failed.
  returned: always
  type: list
  elements: str
  sample: ["ALTER TABLE `shop`.`orders` AUTO_INCREMENT = 4712", "SET GLOBAL read_only = OFF"]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import PYMYSQL_IMPORT_ERROR, ServerSpec, server_argument_spec
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.cutover import cut_over, source_must_stay_read_only
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_errors import call_or_fail
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_queries import report_queries
from ansible_collections.dbferry.mysql.plugins.module_utils.config.module_options import cutover_argument_spec, move_ref_argument_spec, state_dir_of


def main() -> None:
    spec = move_ref_argument_spec()
    spec.update(cutover_argument_spec())
    spec.update({
        "source": server_argument_spec(),
        "target": server_argument_spec(),
    })
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    report_queries(module)
    if PYMYSQL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    params = module.params
    target = call_or_fail(module, "cutover", lambda: ServerSpec.from_options(params["target"]))
    state_dir = call_or_fail(module, "cutover", lambda: state_dir_of(params))

    def past_the_point_of_no_return() -> dict:
        # A rescue that makes the source writable again after this would lose the writes it lets in.
        kept = "" if module.check_mode else source_must_stay_read_only(target, params["name"], state_dir)
        return {"source_kept_read_only": kept} if kept else {}

    result = call_or_fail(module, "cutover", lambda: cut_over(
        ServerSpec.from_options(params["source"]), target, params["name"], state_dir,
        timeout=params["timeout"], stop_timeout=params["stop_timeout"], target_writable=params["target_writable"], check_mode=module.check_mode,
        postpone_timeout=params["postpone_timeout"]), past_the_point_of_no_return)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
