#!/usr/bin/python
# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module dbferry.mysql.migration: the application's migration table, and a migration's plain statements."""

from __future__ import annotations

DOCUMENTATION = r"""
module: migration
short_description: Read and write the application's migration table; run a migration's plain SQL statements
version_added: 0.1.0
description:
  - Reads which of O(versions) the application's migration table records (Rails' C(schema_migrations(version)) by default),
    so that C(playbooks/migrate.yml) skips the migrations that ran, whichever tool ran them.
  - With O(version), runs O(statements) in order in O(database), then records O(version) in the table, so that the
    application's own migration tool sees the migration as run. A version recorded already is left alone and its statements
    are not run (C(changed=false)).
  - The ALTER TABLE statements of a migration are not given here - C(playbooks/migrate.yml) runs them online through the
    C(dbferry.mysql.alter) role, and this module only for the rest (or for everything, with C(dbferry_online=false)).
  - Statements are not undone when a later one fails (DDL commits at once on MySQL and MariaDB); the version is then not
    recorded. Write plain statements so that running them again does no harm (C(IF NOT EXISTS), C(IF EXISTS)).
author:
  - dbferry maintainers (@dbferry)
options:
  database:
    description: The application's database - its migration table's, and the one the statements run in.
    type: str
    required: true
  table:
    description: The migration table, in O(database).
    type: str
    default: schema_migrations
  column:
    description: The column of O(table) that holds the versions.
    type: str
    default: version
  versions:
    description: Versions to look up; RV(recorded) and RV(pending) sort them out.
    type: list
    elements: str
    default: []
  statements:
    description:
      - SQL statements run in order, each as it is written, then O(version) is recorded. Without O(version) they run every
        time the task runs.
    type: list
    elements: str
    default: []
  version:
    description: The version to record once O(statements) ran; when it is recorded already, nothing runs.
    type: str
attributes:
  check_mode:
    support: full
    details: Nothing is run or written; C(changed) says whether it would be.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action_group:
    support: full
    membership:
      - dbferry.mysql.login
seealso:
  - module: dbferry.mysql.alter
  - plugin: dbferry.mysql.migrations
    plugin_type: lookup
  - name: Migrations
    description: Versioned schema migrations with dbferry.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/migrations.md
  - name: Action groups
    description: Setting the common options once with module_defaults.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/module_defaults.md
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - dbferry.mysql.connection
notes:
  - The login user needs C(SELECT) and C(INSERT) on the migration table, and what the statements need.
"""

EXAMPLES = r"""
- name: Which migrations ran
  dbferry.mysql.migration:
    login_unix_socket: /run/mysqld/mysqld.sock
    database: shop
    versions: ["20240501120000", "20240502090000"]
  register: shop_migrations

- name: Run a migration's plain statements and record it as run
  dbferry.mysql.migration:
    login_unix_socket: /run/mysqld/mysqld.sock
    database: shop
    statements:
      - CREATE TABLE IF NOT EXISTS notes (id INT PRIMARY KEY, body TEXT)
    version: "20240503100000"
"""

RETURN = r"""
recorded:
  description: Those of O(versions) the table records, in the order given.
  returned: always
  type: list
  elements: str
  sample: ["20240501120000"]
pending:
  description: Those of O(versions) the table does not record, in the order given.
  returned: always
  type: list
  elements: str
  sample: ["20240502090000"]
queries:
  description:
    - The statements the task ran that change its servers, in the order run (as community.mysql's modules return them);
      not its reads, its session set-up (C(SET SESSION)) or its writes to the rows of dbferry's own C(_dbferry) schema
      (checkpoints, records). A bound value other than a number shows as C(?), a password written into a statement as
      C('********').
    - C(USE) of O(database), the migration's statements, and the C(INSERT) of its version into the migration table.
      Empty in check mode.
    - A failed task returns them too - what ran before it failed.
  returned: always
  type: list
  elements: str
  sample: ["USE `shop`", "ALTER TABLE orders ADD COLUMN note TEXT", "INSERT INTO `shop`.`schema_migrations` (`version`) VALUES (?)"]
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_errors import call_or_fail
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_queries import report_queries
from ansible_collections.dbferry.mysql.plugins.module_utils.migrate import history
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import (
    PYMYSQL_IMPORT_ERROR, ServerSpec, close_quietly, connect, execute, login_argument_spec)


def _run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    where = (params["database"], params["table"], params["column"])
    conn = connect(ServerSpec.from_login_params(params))
    try:
        recorded = history.recorded(conn, *where, params["versions"])
        result: dict[str, Any] = {"changed": False, "recorded": recorded,
                                  "pending": [v for v in params["versions"] if v not in recorded]}
        version = params["version"]
        if version is not None and history.recorded(conn, *where, [version]):
            return result
        result["changed"] = bool(params["statements"]) or version is not None
        if not module.check_mode:
            execute(conn, "USE %s" % quote_ident(params["database"]))
            for statement in params["statements"]:
                execute(conn, statement)
            if version is not None:
                history.record(conn, *where, version)
        return result
    finally:
        close_quietly(conn)


def main() -> None:
    spec = login_argument_spec()
    spec.update({
        "database": {"type": "str", "required": True},
        "table": {"type": "str", "default": "schema_migrations"},
        "column": {"type": "str", "default": "version"},
        "versions": {"type": "list", "elements": "str", "default": []},
        "statements": {"type": "list", "elements": "str", "default": []},
        "version": {"type": "str"},
    })
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    report_queries(module)
    if PYMYSQL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    module.exit_json(**call_or_fail(module, "migration %s" % (module.params["version"] or "lookup"), lambda: _run(module)))


if __name__ == "__main__":
    main()
