#!/usr/bin/python
# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module dbferry.mysql.preflight: check that a move can start."""

from __future__ import annotations

DOCUMENTATION = r"""
module: preflight
short_description: Check that a MySQL/MariaDB move can start, without writing anything
version_added: 0.1.0
description:
  - Connects to the source and the target and checks everything that would make a move fail or lose data
    before anything is written; every finding names the object and the fix.
  - "Source: C(log_bin) on, C(binlog_format=ROW), C(binlog_row_image=FULL), C(binlog_row_metadata=FULL),
    binlog retention, C(server_id), the current binlog position."
  - "Privileges of both users, from C(SHOW GRANTS) and by trying what the move reads: a row of each table
    and a binlog dump that ends at once."
  - "Tables: a key on every moved table (its primary key, or a unique key on NOT NULL columns, of columns the server
    compares exactly: integers, DECIMAL, CHAR/VARCHAR, BINARY/VARBINARY, temporal types; any number of them), InnoDB,
    foreign keys (moved when both tables are moved; one to or from a table outside the move is an error the operator may allow;
    ON DELETE/UPDATE CASCADE and SET NULL are followed when both tables are moved, and refused, with no way to accept them,
    when a cascade's changes cannot be followed: a parent outside the move, SET DEFAULT, a table on itself, a chain of
    cascades, ON UPDATE CASCADE onto unique columns), triggers and views
    (not moved), tables without rows, and ENUM/SET members or column defaults that C(SHOW CREATE TABLE) prints
    as C(?) (4-byte characters such as emoji): a target table created from that output would differ, so such a table
    must be created on the target by hand and moved with reuse_target (check C(definitions))."
  - "Target: moved tables absent or empty, writable, every collation known, version not older than the source."
  - "The cutover's login (O(source_admin)): it connects, reaches the source, and may switch read_only and see sessions,
    so that a wrong port or a missing grant is found before the copy, not after it."
  - The module never changes anything; it reports C(changed=false) and supports check mode.
author:
  - dbferry maintainers (@dbferry)
options:
  fail_on:
    description:
      - V(error) fails the task when any check reports an error that is not allowed.
      - V(warning) fails it on warnings too, e.g. for a production run.
    type: str
    choices: [error, warning]
    default: error
  allow:
    description:
      - Checks whose findings the operator accepts; they are reported with C(allowed=true) and do not fail the task.
      - Only checks that cannot make the target differ from the source silently can be allowed.
    type: list
    elements: str
    choices: [binlog_retention, foreign_keys, triggers, views, target_not_empty, target_version, source_replica]
    default: []
  min_binlog_retention_hours:
    description:
      - Binlogs that expire sooner than this are reported as a warning by the C(binlog_retention) check.
    type: float
    default: 72
  kill_sessions:
    description:
      - Whether the cutover may end other sessions with O(source_admin) (the role's C(dbferry_read_only_kill_after),
        or C(privileged_sessions=kill)); the C(source_admin) check then also wants C(CONNECTION ADMIN) (MariaDB),
        C(CONNECTION_ADMIN) (MySQL) or C(SUPER).
    type: bool
    default: false
  privileged_sessions:
    description:
      - What the cutover does with source sessions that can write despite C(read_only) (the role's C(dbferry_privileged_sessions),
        see M(dbferry.mysql.read_only)). Unless V(warn), the C(source_admin) check also wants C(SELECT) on the C(mysql) schema
        (C(GRANT SELECT ON mysql.*)), without which the cutover cannot see other accounts' privileges (MariaDB).
    type: str
    choices: [fail, kill, warn]
    default: fail
attributes:
  check_mode:
    support: full
    details: Behaves the same in check mode, as it never writes.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action_group:
    support: full
    membership:
      - dbferry.mysql.servers
seealso:
  - module: dbferry.mysql.agent
  - module: dbferry.mysql.verify
  - name: Action groups
    description: Setting the common options once with module_defaults.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/module_defaults.md
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - dbferry.mysql.move.selection
  - dbferry.mysql.connection.servers
  - dbferry.mysql.connection.source_admin
"""

EXAMPLES = r"""
- name: Check that shop can move from db1 to db2
  dbferry.mysql.preflight:
    source:
      host: db1.example.com
      user: ferry
      password: "{{ vault_ferry_source_password }}"
    target:
      host: db2.example.com
      user: ferry
      password: "{{ vault_ferry_target_password }}"
    databases:
      include: [shop]
    tables:
      exclude: ["shop.tmp_*"]
  register: preflight

- name: Production run, warnings stop it too, views accepted
  dbferry.mysql.preflight:
    source: "{{ dbferry_source }}"
    target: "{{ dbferry_target }}"
    databases:
      include: [shop, "crm_*"]
    fail_on: warning
    allow: [views]

- name: Check the cutover's login too, before hours of copying
  dbferry.mysql.preflight:
    source: "{{ dbferry_source }}"
    target: "{{ dbferry_target }}"
    source_admin: "{{ dbferry_source_admin }}"
    databases:
      include: [shop]
"""

RETURN = r"""
checks:
  description: Every finding, in report order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The check, e.g. C(primary_key) or C(binlog_format).
      type: str
      sample: primary_key
    status:
      description: V(ok), V(warning) or V(error).
      type: str
      sample: error
    object:
      description: What the finding is about (server, table, constraint, user).
      type: str
      sample: shop.audit_log
    message:
      description: What was found.
      type: str
      sample: shop.audit_log has no primary key; rows cannot be copied in key order or found by key.
    fix:
      description: What to do about it (empty when status is ok).
      type: str
      sample: add one (ALTER TABLE `shop`.`audit_log` ADD PRIMARY KEY (...)), or exclude it with tables.exclude.
    allowed:
      description: Whether the finding was accepted through O(allow).
      type: bool
      sample: false
summary:
  description: How many checks came out ok, warning, error and allowed, and the total.
  returned: always
  type: dict
  sample: {ok: 21, warning: 1, error: 1, allowed: 0, total: 23}
tables:
  description: The tables the selection picked on the source, as C(db.table).
  returned: always
  type: list
  elements: str
  sample: [shop.customers, shop.orders]
servers:
  description: Product and version of each server that answered.
  returned: always
  type: dict
  sample: {source: MariaDB 10.11.19, target: MariaDB 10.11.19}
report:
  description: The findings as aligned text lines, for a person reading the output.
  returned: always
  type: list
  elements: str
"""


from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import (
    PYMYSQL_IMPORT_ERROR,
    ServerSpec,
    server_argument_spec,
)
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_errors import call_or_fail
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.binlog import DEFAULT_MIN_BINLOG_RETENTION_HOURS
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.registry import ALLOWABLE
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.run import run_preflight
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.read_only import FAIL, PRIVILEGED_ACTIONS
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.selection import Selection, selection_argument_spec


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "source": server_argument_spec(),
            "target": server_argument_spec(),
            "databases": selection_argument_spec(),
            "tables": selection_argument_spec(),
            "fail_on": {"type": "str", "choices": ["error", "warning"], "default": "error"},
            "allow": {"type": "list", "elements": "str", "choices": list(ALLOWABLE), "default": []},
            "min_binlog_retention_hours": {"type": "float", "default": DEFAULT_MIN_BINLOG_RETENTION_HOURS},
            "source_admin": dict(server_argument_spec(), required=False),
            "kill_sessions": {"type": "bool", "default": False},
            "privileged_sessions": {"type": "str", "choices": list(PRIVILEGED_ACTIONS), "default": FAIL},
        },
        supports_check_mode=True,
    )
    if PYMYSQL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    params = module.params
    report = call_or_fail(module, "preflight", lambda: run_preflight(
        ServerSpec.from_options(params["source"]),
        ServerSpec.from_options(params["target"]),
        Selection.from_options(params["databases"], params["tables"]),
        allow=params["allow"],
        min_binlog_retention_hours=params["min_binlog_retention_hours"],
        source_admin=ServerSpec.from_options(params["source_admin"]) if params["source_admin"] else None,
        kill_sessions=params["kill_sessions"],
        privileged_sessions=params["privileged_sessions"],
    ))
    result = {
        "changed": False,
        "checks": [c.as_dict() for c in report.checks],
        "summary": report.summary(),
        "tables": report.tables,
        "servers": report.servers,
        "report": report.lines(),
    }
    if report.failures(params["fail_on"]):
        module.fail_json(msg=report.failure_message(params["fail_on"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
