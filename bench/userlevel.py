"""Part userlevel: a copy as a user runs it, ``ansible-playbook`` from its start until the move is caught up, next to
``mariadb-dump | mariadb`` and ``mydumper | myloader`` (4 threads) of the same table in the same run.

The engine's own copy figure (copy_phase.py) runs from the agent's process start to the checkpoint that records the
copy done; a user waits longer: Ansible starting, the agent module shipping the code and waiting for the agent's first
status, the wait module's polling, and the playbook ending. This part times that: ``ansible-playbook`` of a play with
the ``dbferry.mysql.copy`` role (the agent module, then the wait module) and its defaults, on ``tj`` (the narrow table
``t``'s columns and a JSON column), and splits the time with the agent's event log (ferry.log):

- ``start``: from ``ansible-playbook``'s start to the agent's ``agent_started`` event (Ansible, the agent module, the
  agent's interpreter);
- ``engine``: from there to the ``copy_complete`` event;
- ``caught up``: from there to ``ansible-playbook``'s exit (the wait module seeing the move caught up, the play's end).

The JSON has, for the playbook, when each task started (Ansible's log, ANSIBLE_LOG_PATH) and each of the agent's
events, in seconds from ``ansible-playbook``'s start.

The engine alone (the agent started as copy_phase.py starts it) is measured too, for the same split seen from below.
mydumper writes the table in chunks (``--rows``, 20 of them; picked with ``--regex``: 0.10's ``--tables-list`` dumps
nothing) to a folder with 4 threads, then myloader loads them with 4 threads into a scratch database; the time is both
together. Without Debian's ``mydumper`` (``scripts/setup.sh
--bench``) its line says so and the playbook is compared with dump|load only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from datetime import datetime
from typing import Any, Optional

from harness import COPY_RATIO, ROOT, Agent, Bench, BenchError, Figure, Options, Table, dump_load, log, narrow_table, number
from ansible_collections.dbferry.mysql.plugins.module_utils.common.private import write_private
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import execute, fetch_value

#: The issue's targets (#19): the playbook at least as fast as mydumper | myloader -t 4, and 1.5x dump|load.
MYDUMPER_RATIO = 1.0
DUMP_LOAD_RATIO = 1.5
THREADS = 4
PLAYBOOK_TIMEOUT = 900.0
#: A play's or task's banner in Ansible's log: ``2026-12-04 00:35:41,562 p=15334 u=root n=ansible INFO| TASK [name] ***``.
_BANNER = re.compile(r"^(\S+ \S+) p=.*?\| ((?:PLAY|TASK) \[.*?\])")


def json_table(rows: int) -> Table:
    """``tj``: ``t``'s mixed types plus a JSON document of about 100 bytes a row (issue 19's table); a table of its own,
    so that the copy part's figures stay comparable with earlier runs."""
    narrow = narrow_table(rows)
    return Table("tj", narrow.ddl.replace("{db}.t (", "{db}.tj (").replace(") ENGINE", ",\n  j JSON NOT NULL) ENGINE"),
                 narrow.fill.replace("{db}.t ", "{db}.tj ").replace(
                     ", seq % 256 FROM", ", seq % 256, JSON_OBJECT('id', seq, 'name', CONCAT('item-', seq), 'price', seq / 7, "
                     "'tags', JSON_ARRAY('a', seq % 10, seq % 3 = 0), 'meta', JSON_OBJECT('ok', seq % 2 = 0, 'n', NULL)) FROM"), rows)


def _playbook(bench: Bench, move: Agent) -> str:
    """A play of the copy role with its defaults for ``move``'s settings; the passwords in a 0600 vars file."""
    raw = move.raw
    variables = {"dbferry_name": raw["name"], "dbferry_state_dir": raw["state_dir"], "dbferry_source": raw["source"],
                 "dbferry_target": raw["target"], "dbferry_databases": raw["databases"], "dbferry_tables": raw["tables"],
                 "dbferry_rename": raw["rename"], "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python")}
    vars_path = os.path.join(bench.folder, "userlevel-vars.json")
    write_private(vars_path, json.dumps(variables))
    path = os.path.join(bench.folder, "userlevel.yml")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump([{"name": "copy", "hosts": "localhost", "connection": "local", "gather_facts": False,
                    "roles": [{"role": "dbferry.mysql.copy"}]}], handle)  # JSON is YAML
    return path


def _events(state_dir: str) -> dict[str, float]:
    """The first time of each event of the agent's log, as epoch seconds."""
    found: dict[str, float] = {}
    with open(os.path.join(state_dir, "ferry.log"), encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            found.setdefault(record["event"], datetime.fromisoformat(record["ts"]).timestamp())
    return found


def task_starts(log_path: str, wall: float) -> dict[str, float]:
    """Seconds from ``wall`` (the playbook's start) to the play's and each task's start, from Ansible's log
    (ANSIBLE_LOG_PATH): its lines are stamped to the millisecond (local time), a banner is ``PLAY [...]`` or
    ``TASK [role : name]``."""
    starts: dict[str, float] = {}
    with open(log_path, encoding="utf-8") as handle:
        for line in handle:
            banner = _BANNER.match(line)
            if banner:
                at = datetime.strptime(banner.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                starts.setdefault(banner.group(2), round(at - wall, 2))
    return starts


def playbook_copy(bench: Bench, table: Table) -> dict[str, Any]:
    """Run the copy role through ansible-playbook for ``table``; its seconds and their split (see the module's docstring)."""
    move = Agent(bench, "userlevel", [table])
    path = _playbook(bench, move)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=os.path.join(bench.folder, "ansible-home"),
               ANSIBLE_LOG_PATH=os.path.join(bench.folder, "userlevel-ansible.log"))
    cmd = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", path, "-e", "@" + os.path.join(bench.folder, "userlevel-vars.json")]
    wall = time.time()
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=PLAYBOOK_TIMEOUT, check=False)
    seconds = time.perf_counter() - started
    ended = wall + seconds
    if proc.returncode != 0:
        move.halt()
        raise BenchError("ansible-playbook failed (exit %d): %s" % (proc.returncode, proc.stdout[-2000:]))
    events = _events(move.state_dir)
    tasks = task_starts(env["ANSIBLE_LOG_PATH"], wall)
    os.unlink(env["ANSIBLE_LOG_PATH"])
    copied = move.rows_copied()
    move.remove()
    if copied != table.rows:
        raise BenchError("the playbook's move copied %d rows of %d" % (copied, table.rows))
    split = {"start": events["agent_started"] - wall, "engine": events["copy_complete"] - events["agent_started"],
             "caught_up": ended - events["copy_complete"]}
    log("ansible-playbook copied %s and caught up in %.1f s (%s)" % (table.name, seconds, ", ".join("%s %.2f s" % kv for kv in split.items())))
    return {"seconds": round(seconds, 2), "split_seconds": {k: round(v, 2) for k, v in split.items()}, "task_start_seconds": tasks,
            "event_seconds": {name: round(at - wall, 2) for name, at in events.items()}}


def engine_copy(bench: Bench, table: Table) -> dict[str, Any]:
    """The agent started as the agent module starts it, until the checkpoint records the copy done (copy_phase.py's figure)."""
    move = Agent(bench, "userlevel-engine", [table])
    wall = time.time()
    started = move.start()
    seconds = move.wait_copied(600.0) - started
    events = _events(move.state_dir)
    move.remove()
    return {"seconds": round(seconds, 2), "start_seconds": round(events["agent_started"] - wall, 2)}


def mydumper_myloader(bench: Bench, table: Table) -> Optional[float]:
    """Seconds for ``mydumper -t 4`` of the table into a folder then ``myloader -t 4`` into a scratch database; None
    when Debian's mydumper is not installed. As root over each server's socket, from 0600 option files."""
    if not (shutil.which("mydumper") and shutil.which("myloader")):
        return None
    folder = os.path.join(bench.folder, "mydumper")
    shutil.rmtree(folder, ignore_errors=True)
    options = {}
    for box in (bench.source, bench.target):
        options[box.name] = os.path.join(bench.folder, "%s-mydumper.cnf" % box.name)
        login = "user=root\npassword=%s\nsocket=%s\n" % (box.passwords["root"], box.socket)
        write_private(options[box.name], "".join("[%s]\n%s" % (group, login) for group in ("client", "mydumper", "myloader")))
    execute(bench.target_conn, "CREATE DATABASE baseline")
    try:
        started = time.perf_counter()
        for argv in (["mydumper", "--defaults-file=" + options[bench.source.name], "--threads", str(THREADS), "--database", "bench",
                      "--regex", "^bench[.]%s$" % table.name, "--rows", str(max(1000, table.rows // 20)), "--outputdir", folder],
                     ["myloader", "--defaults-file=" + options[bench.target.name], "--threads", str(THREADS), "--directory", folder,
                      "--database", "baseline"]):
            done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, check=False)
            if done.returncode != 0:
                raise BenchError("%s failed (exit %d): %s" % (argv[0], done.returncode, done.stdout[-2000:]))
        seconds = time.perf_counter() - started
        loaded = fetch_value(bench.target_conn, "SELECT COUNT(*) FROM baseline.`%s`" % table.name)
        if loaded != table.rows:
            raise BenchError("mydumper | myloader loaded %s rows of %d" % (loaded, table.rows))
        return seconds
    finally:
        execute(bench.target_conn, "DROP DATABASE IF EXISTS baseline")
        shutil.rmtree(folder, ignore_errors=True)


def measure(bench: Bench, options: Options) -> tuple[list[Figure], dict[str, Any]]:
    table = json_table(options.rows)
    bench.ensure(table)
    runs: dict[str, list[Any]] = {"dump_load": [], "mydumper": [], "playbook": [], "engine": []}
    for _round in range(options.repeat):
        runs["dump_load"].append(dump_load(bench, table))
        log("mariadb-dump | mariadb of %s in %.1f s" % (table.name, runs["dump_load"][-1]))
        runs["mydumper"].append(mydumper_myloader(bench, table))
        if runs["mydumper"][-1] is not None:
            log("mydumper | myloader -t %d of %s in %.1f s" % (THREADS, table.name, runs["mydumper"][-1]))
        runs["playbook"].append(playbook_copy(bench, table))
        runs["engine"].append(engine_copy(bench, table))
    dump = min(runs["dump_load"])
    mydumper = None if runs["mydumper"][0] is None else min(runs["mydumper"])
    playbook = min(runs["playbook"], key=lambda run: run["seconds"])
    engine = min(runs["engine"], key=lambda run: run["seconds"])
    what = "playbook copy %s: %s rows, start to caught up" % (table.name, number(table.rows))
    split = playbook["split_seconds"]
    figure = "%.1f s (start %.1f, engine %.1f, caught up %.1f)" % (playbook["seconds"], split["start"], split["engine"], split["caught_up"])
    figures = [Figure(what, figure, "dump|load %.1f s" % dump, round(dump / playbook["seconds"], 3), ">= %.1fx" % DUMP_LOAD_RATIO,
                      dump / playbook["seconds"] >= DUMP_LOAD_RATIO)]
    if mydumper is None:
        figures.append(Figure(what, "", "mydumper | myloader: not installed (scripts/setup.sh --bench)", None, ">= %.1fx" % MYDUMPER_RATIO))
    else:
        figures.append(Figure(what, figure, "mydumper|myloader -t %d %.1f s" % (THREADS, mydumper), round(mydumper / playbook["seconds"], 3),
                              ">= %.1fx" % MYDUMPER_RATIO, mydumper / playbook["seconds"] >= MYDUMPER_RATIO))
    figures.append(Figure("engine copy %s (agent start to copy done)" % table.name, "%.1f s" % engine["seconds"], "dump|load %.1f s" % dump,
                          round(dump / engine["seconds"], 3), ">= %.1fx" % COPY_RATIO, dump / engine["seconds"] >= COPY_RATIO))
    data = {"rows": table.rows, "dump_load_seconds": [round(s, 2) for s in runs["dump_load"]],
            "mydumper_seconds": None if mydumper is None else [round(s, 2) for s in runs["mydumper"]], "threads": THREADS,
            "playbook": runs["playbook"], "engine": runs["engine"]}
    return figures, data
