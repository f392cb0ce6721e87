"""Helpers for online schema change tests: options, a change run in a thread, the exact comparison of the new table
with the original's rows projected through the column mapping, and a whole change run under an application's writes."""

from __future__ import annotations

import datetime

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from integration_support import ROOT, Servers, root_session, until

from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident, quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import AlterConfig, parse_alter_config
from ansible_collections.dbferry.mysql.plugins.module_utils.dev.load import Load
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.keys import decode_key
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.plan import alter_name
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.runner import AlterResult, already_applied, noop_alter, run_alter
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all, fetch_value


def alter_options(servers: Servers, db: str, table: str, alter: str, state_dir: Path, **overrides: Any) -> dict[str, Any]:
    """The options of a change of ``db.table`` on the source sandbox, as root over its socket."""
    spec = servers.source.spec("root")
    options: dict[str, Any] = {
        "server": {"user": spec.user, "password": spec.password, "unix_socket": spec.unix_socket},
        "database": db, "table": table, "alter": alter, "chunk_size": 100, "state_dir": str(state_dir),
    }
    options.update(overrides)
    return options


class AlterThread:
    """run_alter in a background thread, as the module runs it in the foreground."""

    def __init__(self, options: dict[str, Any], log_path: Path, **kwargs: Any) -> None:
        self.config: AlterConfig = parse_alter_config(options)
        self.log = EventLog("alter", str(log_path))
        self.stop = threading.Event()
        self.result: Optional[AlterResult] = None
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, kwargs=kwargs, daemon=True)
        self.thread.start()

    def _run(self, **kwargs: Any) -> None:
        try:
            self.result = run_alter(self.config, self.log, stop=self.stop, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - surfaced by finish()  # pylint: disable=broad-exception-caught
            self.error = exc

    def finish(self, timeout: float = 180.0) -> AlterResult:
        """Wait for the change; raise what it raised."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the change did not end within %.0f s" % timeout
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


#: A key: one column's name, or the names of its columns.
Key = Union[str, Sequence[str]]


def _columns(key: Key) -> tuple[str, ...]:
    return (key,) if isinstance(key, str) else tuple(key)


def projected_rows(server: Any, db: str, table: str, columns: list[str], key: Key) -> list[tuple]:
    """``columns`` of every row of ``db.table`` in ``key`` order (the server's: a text key in its collation), as PyMySQL
    reads them (a value kept through a type widening reads the same: 7 as INT or BIGINT, '1.50' as DECIMAL(5,2) or
    DECIMAL(9,2), text in any length, a DATE as the DATETIME at its midnight); text compares exactly in Python ('a' is
    not 'A')."""
    with root_session(server) as conn:
        return [tuple(_midnight(value) for value in row) for row in fetch_all(conn, "SELECT %s FROM %s ORDER BY %s" % (
            ", ".join(quote_ident(c) for c in columns), quote_table(db, table), ", ".join(quote_ident(c) for c in _columns(key))))]


def _midnight(value: Any) -> Any:
    """A date (not a datetime) as the datetime at its midnight, what it becomes in a DATETIME column; anything else as it is."""
    return datetime.datetime.combine(value, datetime.time()) if type(value) is datetime.date else value  # pylint: disable=unidiomatic-typecheck


def assert_projection(server: Any, db: str, expected: list[tuple], table: str, mapping: dict[str, str], key: Key) -> int:
    """The new ``db.table`` holds exactly ``expected`` (the original's rows projected on ``mapping``'s keys, in key order)
    in the mapped columns; returns the number of rows compared."""
    new_rows = projected_rows(server, db, table, list(mapping.values()), [mapping[c] for c in _columns(key)])
    if new_rows != expected:
        missing = sorted(set(expected) - set(new_rows))[:5]
        extra = sorted(set(new_rows) - set(expected))[:5]
        raise AssertionError("%s.%s differs from the original's rows through %r: %d expected, %d found; missing %r; unexpected %r" % (
            db, table, mapping, len(expected), len(new_rows), missing, extra))
    return len(new_rows)


#: An on-before-cutover hook that holds the cut-over (after the verification) until the test lets it go on.
HOLD_HOOK = "#!/bin/sh\ntouch at_cut_over\nwhile [ ! -e go ]; do sleep 0.05; done\n"


def change_under_load(servers: Servers, db: str, tmp_path: Path, table: str, alter: str, mapping: dict[str, str], load: Load,
                      rows: int, key: Key = "id", **options: Any) -> AlterResult:
    """Change ``table`` (keyed by ``key``, ``rows`` rows) under ``load``, already writing to it, which runs through the copy,
    the tail and the verification, and is stopped just before the swap (held there by an on-before-cutover hook); then the
    new table must hold the original's rows at the swap, through ``mapping``, and a second run must change nothing."""
    hooks, state_dir = tmp_path / "hooks", tmp_path / "state"
    hooks.mkdir(mode=0o755)
    (hooks / "on-before-cutover-hold").write_text(HOLD_HOOK)
    (hooks / "on-before-cutover-hold").chmod(0o755)
    written = load.counts.written
    first_half = set(projected_rows(servers.source, db, table, list(_columns(key)), key)[:rows // 2])

    def hold_chunk(_low: Any, high: Any) -> None:
        """A short pause per chunk, and the chunks past the first half of the keys (as the table held them when the change
        started) held (no locks are held here) until the load has written across the copy: on a busy machine the load's
        threads could otherwise start only after the copy."""
        time.sleep(0.03)
        if high not in first_half:
            until(lambda: load.counts.written > written + 50, "the load to write during the copy", timeout=60)

    run = AlterThread(alter_options(servers, db, table, alter, state_dir, hooks_path=str(hooks), **options), tmp_path / "alter.log",
                      chunk_hook=hold_chunk)
    until(lambda: (state_dir / "at_cut_over").exists() or not run.thread.is_alive(), "the cut-over to start", timeout=120)
    assert load.counts.written > written + 50
    assert load.finish().written > 0, "the load wrote nothing"
    assert run.thread.is_alive(), run.error
    expected = projected_rows(servers.source, db, table, list(mapping), key)
    (state_dir / "go").touch()
    result = run.finish()
    assert result.changed and result.mapping == mapping
    # the applier meeting the swap's own RENAME is how it ends, never an error in the log
    assert not logged(tmp_path / "alter.log", "after_swap"), (tmp_path / "alter.log").read_text()[-2000:]
    assert assert_projection(servers.source, db, expected, table, mapping, key) == len(expected) > rows // 2
    assert result.old_table == "%s._%s_del" % (db, table) and result.cut_over_attempts >= 1 and result.events_applied > 0
    again = parse_alter_config(alter_options(servers, db, table, alter, state_dir, **options))
    assert already_applied(again)
    unchanged = AlterThread(alter_options(servers, db, table, alter, state_dir, **options), tmp_path / "again.log").finish()
    assert not unchanged.changed and unchanged.old_create == unchanged.new_create == result.new_create
    assert not noop_alter(again, EventLog("alter")).changed
    with root_session(servers.source) as conn:
        assert fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                           (db, "_%s_gho" % table)) == 0
        assert fetch_all(conn, "SELECT phase FROM _dbferry.moves WHERE name = %s", (alter_name(db, table),)) == [("complete",)]
    return result


def alter_process(options: dict[str, Any], tmp_path: Path) -> subprocess.Popen:
    """run_alter in a process of its own, to be killed with -9."""
    config_path = tmp_path / "alter.json"
    fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(options, handle)
    script = ("import json, sys\n"
              "from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog\n"
              "from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import parse_alter_config\n"
              "from ansible_collections.dbferry.mysql.plugins.module_utils.osc.runner import run_alter\n"
              "run_alter(parse_alter_config(json.load(open(sys.argv[1]))), EventLog('alter', sys.argv[2]))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / ".build" / "collections"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-c", script, str(config_path), str(tmp_path / "killed.log")], env=env,  # pylint: disable=consider-using-with
                            stdout=open(tmp_path / "killed.out", "ab"), stderr=subprocess.STDOUT)


def copy_cursor(servers: Servers, db: str, table: str) -> tuple[Any, bool]:
    """The copy cursor of the change of ``db.table`` (a key value, None before the first chunk) and whether it is done."""
    with root_session(servers.source) as conn:
        if not fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '_dbferry' AND TABLE_NAME = 'cursors'"):
            return None, False
        rows = fetch_all(conn, "SELECT last_key, done FROM _dbferry.cursors WHERE move = %s", (alter_name(db, table),))
    return (decode_key(rows[0][0]), bool(rows[0][1])) if rows else (None, False)


def kill_process(proc: subprocess.Popen, tmp_path: Path) -> None:
    """kill -9 of a running alter_process."""
    assert proc.poll() is None, (tmp_path / "killed.out").read_text()[-3000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def logged(log_path: Path, event: str) -> bool:
    """Whether a change's event log has an ``event`` line."""
    return log_path.exists() and any(json.loads(line).get("event") == event for line in log_path.read_text().splitlines() if line)


def alter_runs(log_path: Path) -> list[dict[str, Any]]:
    """The ``alter_run`` lines of a change's event log: one per run, resumed or not."""
    return [json.loads(line) for line in log_path.read_text().splitlines() if '"alter_run"' in line]


def run_until_postponed(options: dict[str, Any], tmp_path: Path, load: Any, what: str) -> tuple[AlterThread, list[dict[str, Any]]]:
    """A run of the change in this process, once it tails the binlog with its cut-over postponed; then ``load`` stops.
    The run, and its ``alter_run`` lines."""
    log_path = tmp_path / "alter.log"
    run = AlterThread(options, log_path)
    until(lambda: logged(log_path, "cut_over_postponed") or not run.thread.is_alive(), what, timeout=120)
    load.finish()
    assert run.thread.is_alive(), run.error
    return run, alter_runs(log_path)
