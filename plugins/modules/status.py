#!/usr/bin/python
# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module dbferry.mysql.status: the status of a move."""

from __future__ import annotations

DOCUMENTATION = r"""
module: status
short_description: Report the status of a MySQL/MariaDB move
version_added: 0.1.0
description:
  - Reads a move's status on the ferry host where its agent runs (use C(delegate_to)), live from the agent's control
    socket when it runs, else the last status it published. Never changes anything.
author:
  - dbferry maintainers (@dbferry)
options:
  writes_after_cutover:
    description:
      - Once the move is complete, read the source's binlog after the cutover's final position for writes to the moved
        tables (C(writes_after_cutover) in the result; the read may take up to a minute on a busy source).
      - V(false) skips it, for a look at the phase only, or when the source is gone.
    type: bool
    default: true
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
  - module: dbferry.mysql.wait
  - module: dbferry.mysql.control
  - module: dbferry.mysql.agent
  - name: Action groups
    description: Setting the common options once with module_defaults.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/module_defaults.md
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - dbferry.mysql.move
"""

EXAMPLES = r"""
- name: How far is the shop move?
  dbferry.mysql.status:
    name: shop-move
  delegate_to: ferry1.example.com
  register: move
"""

RETURN = r"""
status:
  description:
    - "The move's status: C(phase) (not started, starting, copying, tailing, stopped, failed, complete: cut over; died: the agent
      ended without a word, killed or its host restarted, with C(last_phase) the phase its last status said), C(running) (from
      the agent's run lock, not from its last status), C(pid), C(updated_at) (when the status was published, Unix time),
      C(stale_seconds) (its age; a dead agent's status gets older),
      C(tables) (per table C(copied), C(estimate), C(done), and for a table copied in several key ranges C(copied_range),
      the rows copied of each, and C(ranges_done)), C(rows_copied), C(rows_estimated), C(rows_per_second),
      C(eta_seconds), C(lag_seconds) (the source's clock now minus the time of the last applied transaction, so a skew
      between the ferry host's and the source's clocks does not count), C(source_clock_offset_seconds) (the source's clock
      minus the ferry host's), C(lag_events), C(applied_position), C(source_position), C(throttled),
      C(throttle_reason) (everything that holds copy and apply now, separated by C(; )), C(paused), C(settings) (the
      run-time settings in force, see dbferry.mysql.control), C(last_error); with cascading foreign keys, once the
      applier reports, C(recopy_pending_rows) and C(recopy_pending_tables) (cascaded child rows that application
      transactions hold on the source, still to re-copy, in all and per child table: verification and the cutover
      wait for them); once a batch is copied
      C(copy_batch_lock_ms) (how long the copy's batches held their rows' locks on the source, from the locking read to
      the source commit after the target's: C(p50), C(p99) and C(max) in milliseconds over the last C(batches), at most
      10,000)."
    - "Once the move is complete, unless O(writes_after_cutover=false): C(writes_after_cutover), what the source's binlog
      holds after the cutover's final position
      for the moved tables, read from the source on each call: C(count) (transactions that changed a moved table; they are
      not on the target), C(first_gtid) (the first one's GTID), C(tables), C(final_position), C(checked_to) (the source's
      position read up to); C(error) instead when the check could not be made (C(count) is then null)."
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.after_cutover import for_status
from ansible_collections.dbferry.mysql.plugins.module_utils.agent.process import read_status
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_errors import call_or_fail
from ansible_collections.dbferry.mysql.plugins.module_utils.config.module_options import move_ref_argument_spec, state_dir_of


def main() -> None:
    module = AnsibleModule(argument_spec=dict(move_ref_argument_spec(), writes_after_cutover={"type": "bool", "default": True}),
                           supports_check_mode=True)
    state_dir = call_or_fail(module, "status", lambda: state_dir_of(module.params))
    status = read_status(state_dir)
    if status.get("phase") == "complete" and module.params["writes_after_cutover"]:
        status["writes_after_cutover"] = for_status(state_dir)
    module.exit_json(changed=False, status=status)


if __name__ == "__main__":
    main()
