"""Many moves from one ferry host at once (issue 19): one rehearse.yml run, a host per move in the inventory,
``dbferry_moves_at_once`` moves side by side through Ansible's forks, each its own agent, each exact."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any, Optional

import yaml
from ferry_support import DmlLoad, assert_same, make_load_tables, settle
from playbook_support import checkpoints, failure_message, move_variables, run_playbook
from integration_support import sql

from ansible_collections.dbferry.mysql.plugins.module_utils.agent import process as agent
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident

#: What differs between the moves: set per host in the inventory (an extra var would win over every host's value).
PER_MOVE = ("dbferry_name", "dbferry_databases", "dbferry_state_dir", "dbferry_report_file")
#: The copy role's first task, whose banner Ansible prints once per batch of hosts.
START_TASK = "TASK [dbferry.mysql.copy : Start the agent of move"


def _rehearse_shards(ansible: Any, servers: Any, db: str, tmp_path: Path, rows: int, at_once: Optional[int],
                     load: bool) -> tuple[subprocess.CompletedProcess, dict[str, dict[str, Any]]]:
    """Two shards of the source (``db`` and a second database, ``rows`` rows in each of tables a and b), each a host of
    group ``shards`` in an inventory of their own, rehearsed by one rehearse.yml run with -f 2 (and
    dbferry_moves_at_once unless None), the app writing to both when ``load``; then each move's writes settled (the
    source read-only while the applier catches up), each shard compared with its target exactly, each move removed."""
    shards = [db, db[:50] + "_2"]
    sql(servers.source, "CREATE DATABASE %s" % quote_ident(shards[1]))
    try:
        moves = {}
        for index, shard in enumerate(shards):
            make_load_tables(servers, shard, rows)
            name = "shard%d-%s" % (index, re.sub(r"\W", "-", db[:30]))
            moves[name] = {"dbferry_name": name, "dbferry_databases": {"include": [shard]},
                           "dbferry_state_dir": str(tmp_path / ("state-%d" % index)),
                           "dbferry_report_file": str(tmp_path / ("report-%d.json" % index))}
        inventory = tmp_path / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {"children": {"shards": {"hosts": moves}}}}))
        variables = {k: v for k, v in move_variables(servers, db, tmp_path, "unused").items() if k not in PER_MOVE}
        if at_once is not None:
            variables["dbferry_moves_at_once"] = at_once
        loads = [DmlLoad(servers, shard, connections=1, seed=11 + i, per_second=40) for i, shard in enumerate(shards)] if load else []
        try:
            proc = run_playbook(ansible, "rehearse.yml", variables, "-l", "shards", "-f", "2", inventory=inventory)
            assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
            assert all(current.statements > 0 for current in loads)
        finally:
            for index, current in enumerate(loads):
                settle(servers, current, list(moves)[index])
        for index, (name, move) in enumerate(moves.items()):
            assert json.loads(Path(move["dbferry_report_file"]).read_text())["rows_copied"] >= 2 * rows
            assert assert_same(servers, shards[index]) >= 2 * rows - 50  # the load deletes some
            agent.remove(move["dbferry_state_dir"], timeout=60)
            assert checkpoints(servers, name) == 0
        return proc, moves
    finally:
        for server in (servers.source, servers.target):
            sql(server, "DROP DATABASE IF EXISTS %s" % quote_ident(shards[1]))


def test_two_moves_rehearse_at_once_each_exact(ansible, servers, db, tmp_path):
    """dbferry_moves_at_once=2 while the app writes to both shards: one batch of both moves (each task's banner once,
    both hosts under it), each move its own agent and state, each target database exactly its source."""
    proc, moves = _rehearse_shards(ansible, servers, db, tmp_path, 2000, 2, load=True)
    assert proc.stdout.count(START_TASK) == 1, proc.stdout
    assert all("changed: [%s]" % name in proc.stdout for name in moves)


def test_rehearse_runs_one_move_after_another_by_default(ansible, servers, db, tmp_path):
    """Without dbferry_moves_at_once the moves of one run are rehearsed one after another (a batch each), however many
    forks Ansible has: a grown inventory does not load the source with all its moves at once by itself."""
    proc, _moves = _rehearse_shards(ansible, servers, db, tmp_path, 100, None, load=False)
    assert proc.stdout.count(START_TASK) == 2, proc.stdout


def test_moves_at_once_from_the_inventory_is_refused_with_the_fix(ansible, servers, db, tmp_path):
    """dbferry_moves_at_once in the inventory cannot size the play's batches (Ansible reads it too late): the run stops
    before any move starts and says to give it with -e, instead of rehearsing one move after another unasked."""
    hosts = {"inv%d" % i: {"dbferry_name": "inv%d-%s" % (i, re.sub(r"\W", "-", db[:30])), "dbferry_databases": {"include": [db]},
                           "dbferry_state_dir": str(tmp_path / ("state-%d" % i))} for i in range(2)}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"shards": {"hosts": hosts, "vars": {"dbferry_moves_at_once": 2}}}}}))
    variables = {k: v for k, v in move_variables(servers, db, tmp_path, "unused").items() if k not in PER_MOVE}
    proc = run_playbook(ansible, "rehearse.yml", variables, "-l", "shards", "-f", "2", inventory=inventory)
    assert proc.returncode != 0
    assert "-e dbferry_moves_at_once=2" in failure_message(proc.stdout)
    assert not any((tmp_path / ("state-%d" % i)).exists() for i in range(2))
