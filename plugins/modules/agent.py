#!/usr/bin/python
# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module dbferry.mysql.agent: start, stop or remove a move's ferry agent."""

from __future__ import annotations

DOCUMENTATION = r"""
module: agent
short_description: Start, stop or remove the ferry agent of a MySQL/MariaDB move
version_added: 0.1.0
description:
  - Runs a move's engine as a detached process on the host the task runs on (the ferry host; use C(delegate_to)),
    which outlives the task and the SSH connection. The engine copies the selected tables in primary-key batches
    under shared locks while it applies the source's binlog, until stopped.
  - The agent runs from code the module ships into the state folder; the ferry host needs only python3 and PyMySQL
    (the binlog is read with the replication protocol directly), not this collection.
  - The state folder (mode 0700) holds C(config.json) (mode 0600, it has credentials), C(ferry.lock) (the pid),
    C(ferry.log) (JSON lines), C(status.json) and the control socket C(control.sock) (mode 0600). It is created
    0700; an existing one owned by another user, or that group or others may enter, is refused (files planted in
    it would be trusted). The agent runs with C(python -I) in C(/), with only the shipped code on its path.
  - V(started) returns once the agent has published its first status (with its pid), or fails with the agent's own
    error. On a move that was cut over it fails, and the move's status stays C(complete).
author:
  - dbferry maintainers (@dbferry)
options:
  state:
    description:
      - V(started) starts the agent; on a running move with the same configuration nothing changes, with another
        configuration the task fails.
      - V(stopped) stops it at a checkpoint; it resumes from there when started again.
      - V(absent) stops it, drops the move's checkpoints (C(_dbferry)) on the target and removes the state folder.
    type: str
    choices: [started, stopped, absent]
    default: started
  rename:
    description: Target names. C(databases) maps a source database to a target database; C(tables) maps a source C(db.table)
      to a target table name (in the renamed database) or C(db.table).
    type: dict
  copy:
    description: "Copy settings: C(batch_rows) (default 2000: rows per batch, which holds shared locks on the source while it is
      written), C(concurrency) (default 2: tables, or ranges of one, copied at once), C(read_ahead) (default 1, 0 to 8: batches of a table
      read ahead while the one before is written, each holding its shared locks until it is written; 0 reads a batch only
      after the one before is written, fewer locks held and a slower copy), C(writers) (default 2, 1 to 8: target
      sessions writing a table's batches at once, each batch in its own transaction; the table's cursor moves only over
      batches with every batch before them committed), C(ranges) (default 4, 1 to 64: ranges a big table's key space is
      cut into, copied at once as C(concurrency) allows, each with its own cursor; chosen when the move starts and kept for
      its restarts) and C(range_min_rows) (default 1000000: tables with fewer estimated rows are one range)."
    type: dict
  apply:
    description: "Apply settings: C(batch_events) (default 2000: row changes per target transaction at most)."
    type: dict
  binlog:
    description: "Binlog reader settings: C(server_id) (default derived from the name), C(heartbeat_seconds) (default 1),
      C(stall_seconds) (default 30: a silent connection is reopened)."
    type: dict
  verify:
    description: "Verification settings: C(inline) (default true) hashes each copied batch on both sides as it is written and
      keeps a dirty set of the rows changed since, re-verified in the background, so that dbferry.mysql.verify with
      C(method=inline) compares only those rows: the read-only window at cutover grows with the recent change rate, not
      with the table size."
    type: dict
  reuse_target:
    description: Accept existing empty target tables instead of refusing them; each must have the moved columns and the source's unique keys, no other.
    type: bool
    default: false
  stop_timeout:
    description: Seconds to wait for the agent to stop at a checkpoint.
    type: float
    default: 60
  source:
    # The rest comes from the servers fragment; only V(started) needs the servers.
    required: false
  target:
    required: false
attributes:
  check_mode:
    support: full
    details: Reports whether the agent would be started, stopped or removed; starts, stops and removes nothing.
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
  - module: dbferry.mysql.wait
  - module: dbferry.mysql.status
  - module: dbferry.mysql.control
  - module: dbferry.mysql.cutover
  - name: dbferry design
    description: How a move copies and stays consistent.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/design.md
  - name: Action groups
    description: Setting the common options once with module_defaults.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/module_defaults.md
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - dbferry.mysql.move
  - dbferry.mysql.move.selection
  - dbferry.mysql.move.throttling
  - dbferry.mysql.connection.servers
notes:
  - O(source) and O(target) are required for V(started) only; V(stopped) and V(absent) read them from the state folder.
"""

EXAMPLES = r"""
- name: Start moving shop from db1 to db2, with the agent on the ferry host; held while db1 is busy or its replica lags
  dbferry.mysql.agent:
    name: shop-move
    source: "{{ dbferry_source }}"
    target: "{{ dbferry_target }}"
    databases:
      include: [shop]
    copy:
      batch_rows: 5000
    verify:
      inline: true
    max_load: Threads_running=25,Threads_connected=500
    critical_load: Threads_running=200
    critical_load_interval_millis: 1000
    throttle_control_replicas:
      - host: db1-replica.example.com
    max_lag_millis: 1500
    panic_flag_file: /tmp/shop-move.panic
    hooks_path: /etc/dbferry/hooks
  delegate_to: ferry1.example.com

- name: Stop it at a checkpoint
  dbferry.mysql.agent:
    name: shop-move
    state: stopped
  delegate_to: ferry1.example.com
"""

RETURN = r"""
pid:
  description: The agent's process id (null when it does not run).
  returned: always
  type: int
  sample: 48213
state_dir:
  description: The move's state folder.
  returned: always
  type: str
  sample: /root/.dbferry/moves/shop-move
status:
  description: The move's status, as dbferry.mysql.status returns it.
  returned: always
  type: dict
queries:
  description:
    - The statements the task ran that change its servers, in the order run (as community.mysql's modules return them);
      not its reads, its session set-up (C(SET SESSION)) or its writes to the rows of dbferry's own C(_dbferry) schema
      (checkpoints, records). A bound value other than a number shows as C(?), a password written into a statement as
      C('********').
    - Statements of the detached agent are not listed. With V(absent), the C(DROP DATABASE) of C(_dbferry) when the
      move was the last one recorded there. Empty in check mode.
    - A failed task returns them too - what ran before it failed.
  returned: always
  type: list
  elements: str
  sample: ["DROP DATABASE `_dbferry`"]
"""

from typing import Optional

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dbferry.mysql.plugins.module_utils.agent import process as agent
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import PYMYSQL_IMPORT_ERROR
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_errors import call_or_fail
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_queries import report_queries
from ansible_collections.dbferry.mysql.plugins.module_utils.config.module_options import move_argument_spec, move_config, state_dir_of


def main() -> None:
    spec = move_argument_spec(servers_required=False)
    spec.update({
        "state": {"type": "str", "choices": ["started", "stopped", "absent"], "default": "started"},
        "stop_timeout": {"type": "float", "default": 60},
    })
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=[("state", "started", ("source", "target"))])
    report_queries(module)
    if PYMYSQL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    params = module.params
    state_dir = call_or_fail(module, "agent", lambda: state_dir_of(params))
    changed, pid = call_or_fail(module, "agent", lambda: _reach_state(params, state_dir, module.check_mode))
    module.exit_json(changed=changed, pid=pid, state_dir=state_dir, status=agent.read_status(state_dir) if agent.exists(state_dir) else {})


def _reach_state(params: dict, state_dir: str, check_mode: bool) -> tuple[bool, Optional[int]]:
    """Bring the agent to the wanted state; (changed, pid)."""
    # What there is decides `changed`; look before acting, acting changes it.
    running = agent.running_pid(state_dir) is not None
    if params["state"] == "started":
        if check_mode:
            return not running, agent.running_pid(state_dir)
        changed, pid, _config = agent.start(move_config(params))
        return changed, pid
    changed = running if params["state"] == "stopped" else running or agent.exists(state_dir)
    if not check_mode:
        if params["state"] == "stopped":
            agent.stop(state_dir, params["stop_timeout"])
        else:
            agent.remove(state_dir, params["stop_timeout"])
    return changed, None


if __name__ == "__main__":
    main()
