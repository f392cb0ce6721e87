# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lookup dbferry.mysql.migrations: a folder of migration files on the controller, read into the migrations to apply."""

from __future__ import annotations

DOCUMENTATION = r"""
name: migrations
short_description: Read a folder of versioned migration files into migrations and statements
version_added: 0.1.0
description:
  - Reads every C(<version>_<name>.sql) file of a folder on the controller and returns its migrations in version order,
    each with its statements; an C(ALTER TABLE) comes with its table, its specification and the columns it renames, for
    the online schema change (the C(dbferry.mysql.alter) role).
  - A statement ends at a C(;) outside strings, backtick names and comments. What cannot be cut that way safely
    (C(DELIMITER), stored program bodies, C(/*! */) comments), a file not named C(<version>_<name>.sql), two files of one
    version, an C(ALTER TABLE) of another database or C(ALTER IGNORE TABLE) fail the lookup, naming the file, the line and
    the fix, before anything is written. Other files than C(*.sql) are left out.
author:
  - dbferry maintainers (@dbferry)
options:
  _terms:
    description: The folder of migration files.
    type: path
    required: true
  database:
    description: The database the migrations change; an C(ALTER TABLE) that names another is refused.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Show the migrations of a folder
  ansible.builtin.debug:
    msg: "{{ item.version }} {{ item.name }}: {{ item.statements | length }} statement(s)"
  loop: "{{ query('dbferry.mysql.migrations', playbook_dir ~ '/migrations', database='shop') }}"
"""

RETURN = r"""
_list:
  description: One entry per migration, in version order.
  type: list
  elements: dict
  contains:
    version:
      description: The version, as the file name has it (what the migration table records).
      type: str
    name:
      description: The name after the version.
      type: str
    file:
      description: The file's name.
      type: str
    statements:
      description:
        - Each statement, with C(kind) (C(alter) or C(sql)), C(line), C(sql) (its text without comments) and, for an
          C(ALTER TABLE), C(table), C(alter) (what follows the table's name) and C(rename_columns).
      type: list
      elements: dict
"""

import os  # noqa: E402 - below the documentation, as ansible-test wants
from typing import Any  # noqa: E402 - below the documentation, as ansible-test wants

from ansible.errors import AnsibleLookupError  # noqa: E402 - below the documentation, as ansible-test wants
from ansible.plugins.lookup import LookupBase  # noqa: E402 - below the documentation, as ansible-test wants

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError  # noqa: E402 - below the documentation, as ansible-test wants
from ansible_collections.dbferry.mysql.plugins.module_utils.migrate.plan import migrations  # noqa: E402 - below the documentation, as ansible-test wants


class LookupModule(LookupBase):
    """The folder's files are read here, on the controller, where the playbook and its migrations are."""

    def run(self, terms: list[Any], variables: Any = None, **kwargs: Any) -> list[Any]:
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError("dbferry.mysql.migrations takes one folder, got %d terms." % len(terms))
        folder = os.path.expanduser(str(terms[0]))
        if not os.path.isdir(folder):
            raise AnsibleLookupError("the migrations folder %s was not found. Fix: give the folder of <version>_<name>.sql files "
                                     "with -e dbferry_migrations_dir=DIR (a path relative to where ansible-playbook runs, or "
                                     "absolute)." % folder)
        files = {}
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if name.endswith(".sql") and os.path.isfile(path):
                with open(path, encoding="utf-8") as handle:
                    files[name] = handle.read()
        try:
            return [migration.as_dict() for migration in migrations(files, self.get_option("database"))]
        except DbferryError as exc:
            raise AnsibleLookupError("%s: %s" % (folder, exc)) from None
