"""What a playbook needs to move between two sandboxes: variables and an inventory, written where git ignores them.

``dbferry sandbox vars`` writes three files into the sandboxes' folder (``.sandbox/`` in a checkout, which .gitignore
lists), each with mode 0600 since two of them hold passwords:

- ``conn.json``: ``dbferry_source`` and ``dbferry_target``, the documented ferry users over TCP, as
  ``-e @.sandbox/conn.json`` reads them;
- ``admin.json``: ``dbferry_source_admin``, the source's root over its private socket, the login that may switch
  the source read-only (only the real move reads it, a rehearsal never does);
- ``inventory.yml``: one host, the move, run on this machine by the python that wrote it (which has PyMySQL), so
  that ``-i .sandbox/inventory.yml -l MOVE`` replaces Ansible's implicit localhost and its "no inventory" warnings.

``sql`` runs statements as a sandbox's root, so that a walk-through creates its demo data without a Python block.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any, Iterable, Optional

from ..common.private import write_private
from ..server.connection import connect
from . import sandbox

CONNECTIONS = "conn.json"
ADMIN = "admin.json"
INVENTORY = "inventory.yml"


def write_vars(base: str, source: str, target: str, move: str, output: Optional[str] = None) -> dict[str, str]:
    """Write conn.json (or ``output``), admin.json and inventory.yml for moving ``source`` to ``target``; return their paths."""
    source_box, target_box = sandbox.get(base, source), sandbox.get(base, target)
    paths = {"connections": output or os.path.join(base, CONNECTIONS), "admin": os.path.join(base, ADMIN),
             "inventory": os.path.join(base, INVENTORY)}
    write_private(paths["connections"], json.dumps({"dbferry_source": source_box.connection_options("ferry_source"),
                                                    "dbferry_target": target_box.connection_options("ferry_target")}, indent=2) + "\n")
    root = source_box.spec("root")
    write_private(paths["admin"], json.dumps({"dbferry_source_admin": {"unix_socket": root.unix_socket, "user": root.user,
                                                                       "password": root.password}}, indent=2) + "\n")
    # JSON is YAML: no YAML library needed by an installed collection's python.
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    write_private(paths["inventory"], "# dbferry sandbox vars: move %s runs here, from sandbox %s to %s\n%s\n" % (
        move, source, target, json.dumps({"all": {"hosts": {move: host}}}, indent=2)))
    return paths


def remove_vars(base: str) -> None:
    """Remove what write_vars wrote into ``base`` (passwords among it), as `dbferry sandbox down` stops the last sandbox."""
    for name in (CONNECTIONS, ADMIN, INVENTORY):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(base, name))


def run_sql(base: str, name: str, statements: Iterable[str]) -> list[dict[str, Any]]:
    """Run ``statements`` one by one as root of sandbox ``name``: the rows of those that return rows, else the count affected."""
    conn = connect(sandbox.get(base, name).spec("root"))
    rows: list[dict[str, Any]] = []
    try:
        for number, statement in enumerate(statements, 1):
            with conn.cursor() as cur:
                affected = cur.execute(statement)
                if cur.description:
                    names = [column[0] for column in cur.description]
                    rows += [dict(zip(names, row)) for row in cur.fetchall()]
                else:
                    rows.append({"statement": number, "rows_affected": affected})
    finally:
        conn.close()
    return rows
