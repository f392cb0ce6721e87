"""What a parent's children add to the cut-over's lock (issue 16): an online change of a parent table with 0, 1, 10
and 50 child tables referencing it, each run's lock time (``cut_over_swapped``'s lock_seconds: from the LOCK TABLES
request to the end of the RENAME, what writes to the table and its children wait) and the re-pointing's share of it.

    PYTHONPATH=.build/collections .venv/bin/python bench/fk_children.py [--rows 10000] [--repeat 3]

One fresh sandbox (dev/sandbox.py), no load; each figure is the median of ``--repeat`` changes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from typing import Any

from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import parse_alter_config
from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.runner import run_alter
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import close_quietly, connect, execute

CHILDREN = (0, 1, 10, 50)
CHILD_ROWS = 1000


def _make(box: sandbox.Sandbox, rows: int, children: int) -> None:
    conn = connect(box.spec())
    try:
        execute(conn, "DROP DATABASE IF EXISTS fkb")
        execute(conn, "CREATE DATABASE fkb")
        execute(conn, "CREATE TABLE fkb.p (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
        execute(conn, "INSERT INTO fkb.p SELECT seq, 0 FROM fkb.seq_1_to_%d" % rows)
        for n in range(children):
            execute(conn, "CREATE TABLE fkb.c%d (id INT PRIMARY KEY, pid INT NOT NULL, KEY (pid), CONSTRAINT fk_c%d "
                          "FOREIGN KEY (pid) REFERENCES fkb.p (id)) ENGINE=InnoDB" % (n, n))
            execute(conn, "INSERT INTO fkb.c%d SELECT seq, 1 + seq %% %d FROM fkb.seq_1_to_%d" % (n, rows, CHILD_ROWS))
    finally:
        close_quietly(conn)


def _change(box: sandbox.Sandbox, folder: str, run: int) -> dict[str, Any]:
    spec = box.spec()
    config = parse_alter_config({"server": {"user": spec.user, "password": spec.password, "unix_socket": spec.unix_socket},
                                 "database": "fkb", "table": "p", "alter": "ADD COLUMN note%d INT" % run,
                                 "state_dir": "%s/state%d" % (folder, run), "ok_to_drop_table": True})
    path = "%s/alter%d.log" % (folder, run)
    log = EventLog("alter", path)
    try:
        run_alter(config, log)
    finally:
        log.close()
    found: dict[str, Any] = {"repoint_seconds": 0.0}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            if event["event"] == "cut_over_swapped":
                found["lock_seconds"] = event["lock_seconds"]
            elif event["event"] == "cut_over_children_repointed":
                found["repoint_seconds"] = event["seconds"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--rows", type=int, default=10000, help="rows of the parent table")
    parser.add_argument("--repeat", type=int, default=3, help="changes per figure (the median is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fkbench") as folder:
        box, = sandbox.up(folder, ["fkbench"])
        try:
            print("children  lock ms  re-pointing ms")
            for children in CHILDREN:
                _make(box, args.rows, children)
                runs = [_change(box, folder, run) for run in range(args.repeat)]
                lock = statistics.median(r["lock_seconds"] for r in runs)
                print("%8d  %7.1f  %14.1f" % (children, 1000 * lock, 1000 * statistics.median(r["repoint_seconds"] for r in runs)))
        finally:
            sandbox.down(folder)


if __name__ == "__main__":
    main()
