"""Part many: several moves at once from one ferry host (issue 19), as a user runs them: one ``ansible-playbook
playbooks/rehearse.yml`` run, a host per move in the inventory, ``dbferry_moves_at_once`` of them side by side through
Ansible's forks, each its own agent; no coordinator of ours.

Each move copies the same source table (``t``, ``--rows`` rows) into a target database of its own, so one, two and
four moves differ only in how many run at once. The time runs from ``ansible-playbook``'s start to its exit (every
move preflighted, copied and caught up, as a rehearsal ends); the figure is the rows of all the moves over that time,
next to one move's rows/s measured the same way in the same run. Each move's target table is then compared with the
source (``CHECKSUM TABLE``, nothing writes meanwhile) and its rows copied counted: a move that is not exact fails the
part. Target: two and four moves at once >= 1.5x one move's rows/s on this 2-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

from userlevel import task_starts
from harness import ROOT, Agent, Bench, BenchError, Figure, Options, Table, log, narrow_table, number, DATABASE
from ansible_collections.dbferry.mysql.plugins.module_utils.common.private import write_private
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all

#: The issue's target (#19): the moves' combined rows/s against one move's.
COMBINED_RATIO = 1.5
COUNTS = (1, 2, 4)
PLAYBOOK_TIMEOUT = 1800.0


def _inventory(bench: Bench, moves: list[Agent]) -> str:
    """A YAML inventory (JSON is YAML) of group ``shards``, a host per move with what is its own; 0600, it holds the
    servers' passwords through the shared variables."""
    first = moves[0].raw
    hosts = {move.name: {"dbferry_name": move.name, "dbferry_state_dir": move.state_dir, "dbferry_rename": move.raw["rename"]}
             for move in moves}
    shared = {"ansible_connection": "local", "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python"),
              "dbferry_source": first["source"], "dbferry_target": first["target"], "dbferry_databases": first["databases"],
              "dbferry_tables": first["tables"]}
    path = os.path.join(bench.folder, "many-inventory.yml")
    write_private(path, json.dumps({"all": {"children": {"shards": {"hosts": hosts, "vars": shared}}}}))
    return path


def _checksum(bench: Bench, conn: Any, database: str, table: str) -> int:
    return int(fetch_all(conn, "CHECKSUM TABLE `%s`.`%s` EXTENDED" % (database, table))[0][1])


def run_moves(bench: Bench, table: Table, count: int) -> dict[str, Any]:
    """``count`` moves of ``table`` by one rehearse.yml run, once every move is found exact and removed: its seconds, and
    when each task started (seconds from the playbook's start, Ansible's log), which says where the seconds went."""
    moves = [Agent(bench, "many-%d-%d" % (count, index), [table]) for index in range(count)]
    inventory = _inventory(bench, moves)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=os.path.join(bench.folder, "ansible-home"),
               ANSIBLE_LOG_PATH=os.path.join(bench.folder, "many-ansible.log"))
    cmd = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(ROOT / "playbooks" / "rehearse.yml"), "-i", inventory,
           "-l", "shards", "-f", str(count),
           "-e", "dbferry_moves_at_once=%d" % count]  # an extra var: the play's batch size is set before any inventory variable is read
    wall = time.time()
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=PLAYBOOK_TIMEOUT, check=False)
    seconds = time.perf_counter() - started
    try:
        if proc.returncode != 0:
            raise BenchError("ansible-playbook of %d moves failed (exit %d): %s" % (count, proc.returncode, proc.stdout[-2000:]))
        tasks = task_starts(env["ANSIBLE_LOG_PATH"], wall)
        expected = _checksum(bench, bench.source_conn, DATABASE, table.name)
        for move in moves:
            copied = move.rows_copied()
            if copied != table.rows or _checksum(bench, bench.target_conn, move.target_db, table.name) != expected:
                raise BenchError("move %s is not exact: %d rows copied of %d, or its checksum differs" % (move.name, copied, table.rows))
    finally:
        for move in moves:
            move.remove()
        if os.path.exists(env["ANSIBLE_LOG_PATH"]):
            os.unlink(env["ANSIBLE_LOG_PATH"])
    log("%d move(s) of %s rows each by one playbook run in %.1f s: %s rows/s together" % (
        count, number(table.rows), seconds, number(count * table.rows / seconds)))
    return {"seconds": round(seconds, 2), "task_start_seconds": tasks}


def measure(bench: Bench, options: Options) -> tuple[list[Figure], dict[str, Any]]:
    table = narrow_table(options.rows)
    bench.ensure(table)
    runs: dict[int, list[dict[str, Any]]] = {count: [] for count in COUNTS}
    for _round in range(options.repeat):
        for count in COUNTS:
            runs[count].append(run_moves(bench, table, count))
    fastest = {count: min(run["seconds"] for run in done) for count, done in runs.items()}
    rate = {count: count * table.rows / fastest[count] for count in COUNTS}
    figures = [Figure("1 move of %s rows by rehearse.yml, start to caught up" % number(table.rows), "%s rows/s" % number(rate[1]),
                      "%.1f s" % fastest[1])]
    for count in COUNTS[1:]:
        ratio = rate[count] / rate[1]
        figures.append(Figure("%d moves at once (dbferry_moves_at_once, -f %d), rows/s together" % (count, count),
                              "%s rows/s (%.1f s)" % (number(rate[count]), fastest[count]), "1 move %s rows/s" % number(rate[1]),
                              round(ratio, 3), ">= %.1fx" % COMBINED_RATIO, ratio >= COMBINED_RATIO))
    return figures, {"rows_per_move": table.rows, "runs": {str(count): runs[count] for count in COUNTS},
                     "rows_per_second": {str(count): round(rate[count]) for count in COUNTS}}
