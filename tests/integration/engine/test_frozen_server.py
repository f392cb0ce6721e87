"""A server that stops answering (SIGSTOP, as a hung host or a frozen VM would) must not freeze the move (issue 13, item 18).

The target's mariadbd is stopped with SIGSTOP while the move applies the
source's writes: its kernel still accepts connections and acknowledges
packets, so only a read timeout notices. The server is always continued
(try/finally), and the move must then resume and converge.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from typing import Iterator

from ferry_support import assert_same, make_load_tables
from integration_support import sql, until

from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox


@contextlib.contextmanager
def frozen(server: sandbox.Sandbox) -> Iterator[None]:
    """``server``'s mariadbd stopped (SIGSTOP) inside the block, and continued after it, whatever happens."""
    assert server.is_running()
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)


def _log(state_dir) -> list[dict]:
    return [json.loads(line) for line in (state_dir / "ferry.log").read_text().splitlines()]


def test_the_agent_stops_while_the_target_is_frozen_and_resumes_after(ansible, servers, db, tmp_path):
    make_load_tables(servers, db, 300)
    name = "frozen-" + db[:40].replace("_", "-")
    state_dir = tmp_path / "state"
    variables = {"src": servers.source.connection_options("ferry_source"),
                 "dst": dict(servers.target.connection_options("ferry_target"), read_timeout=3)}
    move = {"name": name, "state_dir": str(state_dir)}
    start = dict(move, source="{{ src }}", target="{{ dst }}", databases={"include": [db]})
    try:
        _freeze_stop_and_resume(ansible, servers, db, state_dir, move, start, variables)
    finally:  # an agent that did not stop is removed once the target answers again
        ansible.run("dbferry.mysql.agent", dict(move, state="absent"), variables)
    assert_same(servers, db)


def _freeze_stop_and_resume(ansible, servers, db, state_dir, move, start, variables) -> None:
    assert ansible.run("dbferry.mysql.agent", start, variables).result["changed"] is True
    assert not ansible.run("dbferry.mysql.wait", dict(move, max_lag=0, timeout=120), variables).failed
    with frozen(servers.target):
        # Writes the applier must take to the frozen target: its statement waits for an answer that does not come.
        sql(servers.source, "UPDATE `%s`.a SET v = v + 1 WHERE id <= 50" % db, "DELETE FROM `%s`.b WHERE id <= 20" % db)
        stopped = ansible.run("dbferry.mysql.agent", dict(move, state="stopped", stop_timeout=30), variables).result
        # Stopped by the request, or ended already by its lock check's timeout (see below): either way no agent runs.
        assert stopped.get("failed") is not True and stopped["pid"] is None, stopped
        assert servers.target.is_running()  # still frozen: the agent ended without it
        _assert_ended_by_stop_or_timeout(state_dir)
    # Continued, the target gets what it missed from the move's checkpoint.
    assert ansible.run("dbferry.mysql.agent", start, variables).result["changed"] is True
    assert not ansible.run("dbferry.mysql.wait", dict(move, max_lag=0, timeout=120), variables).failed
    seen = len(_log(state_dir))
    with frozen(servers.target):
        sql(servers.source, "UPDATE `%s`.a SET s = CONCAT(s, '!') WHERE id > 250" % db)
        # Frozen for longer than read_timeout (3 s): the move's sessions time out and it cannot take its target lock
        # again, so it stops with that error (the operator sees it) rather than tailing on in silence.
        failure = until(lambda: next((e for e in _log(state_dir)[seen:] if e["event"] == "failed"), None), "the move reports the frozen target", 60)
    assert "timed out" in failure["error"] and variables["dst"]["password"] not in failure["error"]
    reported = ansible.run("dbferry.mysql.status", move, variables).result["status"]
    assert reported["phase"] == "failed" and "timed out" in reported["last_error"], reported
    assert ansible.run("dbferry.mysql.agent", start, variables).result["changed"] is True
    assert not ansible.run("dbferry.mysql.wait", dict(move, max_lag=0, timeout=120), variables).failed


def _assert_ended_by_stop_or_timeout(state_dir) -> None:
    """The agent ended at a checkpoint, asked to; or, when its target lock's check timed out first, with that error."""
    last = _log(state_dir)[-1]
    assert last["event"] == "stopped" or (last["event"] == "failed" and "timed out" in last["error"]), json.dumps(last)
