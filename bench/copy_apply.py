"""Copy and apply throughput on a 1M-row table, next to mariadb-dump | mariadb.

Both run in the same process run, between the same two fresh sandboxes, on
the same table, so the figure that matters is the ratio, not the rows/s of
this particular machine:

1. baseline: ``mariadb-dump --single-transaction bench | mariadb`` into
   another database on the target;
2. copy: ``dbferry`` moves the table (shared locks, binlog tailed) until every
   row is copied;
3. apply, backlog: with the ferry stopped, the source changes rows in
   1,000-row transactions and in single-row autocommit transactions; the
   ferry restarts and the time to apply the backlog is measured.

Writes bench/results/copy_apply-<UTC time>.json and prints a table.
Run it with `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ansible_collections.dbferry.mysql.plugins.module_utils import gtid, sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.config import parse_config
from ansible_collections.dbferry.mysql.plugins.module_utils.connection import connect, execute, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import Ferry
from ansible_collections.dbferry.mysql.plugins.module_utils.eventlog import EventLog

RESULTS = Path(__file__).resolve().parent / "results"

#: About 200 bytes a row, mixed types, generated server-side from MariaDB's sequence engine.
TABLE = """CREATE TABLE bench.t (
  id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(100) NOT NULL, c DECIMAL(12,2) NOT NULL,
  d DATETIME(6) NOT NULL, e TEXT NOT NULL, f DOUBLE NOT NULL, g TINYINT UNSIGNED NOT NULL) ENGINE=InnoDB"""
FILL = """INSERT INTO bench.t SELECT seq, seq % 100000, CONCAT('name-', seq, '-', REPEAT('x', seq % 50)), seq / 7,
  TIMESTAMPADD(MICROSECOND, seq * 1234567, '2020-01-01'), REPEAT(MD5(seq), 2), seq / 3, seq % 256 FROM seq_1_to_{rows}"""


def _root_defaults(box: sandbox.Sandbox, folder: str) -> str:
    """A 0600 option file for the mariadb clients: the password never appears in a process list."""
    path = os.path.join(folder, "%s.cnf" % box.name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("[client]\nuser=root\npassword=%s\nsocket=%s\n" % (box.passwords["root"], box.socket))
    return path


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _dump_load(source: sandbox.Sandbox, target: sandbox.Sandbox, folder: str) -> None:
    conn = connect(target.spec("root"))
    execute(conn, "CREATE DATABASE bench_dump")
    conn.close()
    dump = subprocess.Popen(["mariadb-dump", "--defaults-extra-file=" + _root_defaults(source, folder), "--single-transaction", "bench"],
                            stdout=subprocess.PIPE)
    load = subprocess.run(["mariadb", "--defaults-extra-file=" + _root_defaults(target, folder), "bench_dump"], stdin=dump.stdout, check=False)
    dump.stdout.close()
    if dump.wait() != 0 or load.returncode != 0:
        raise SystemExit("mariadb-dump | mariadb failed")


class _Run:
    """A ferry in a thread, and a way to wait for what the target's checkpoints say."""

    def __init__(self, config: Any, target: sandbox.Sandbox) -> None:
        self.ferry = Ferry(config, EventLog(config.name, os.path.join(config.state_dir, "ferry.log")))
        self.stop = threading.Event()
        self.errors: list = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.target = connect(target.spec("root"))
        self.name = config.name
        self.thread.start()

    def _run(self) -> None:
        try:
            self.ferry.run(self.stop)
        except Exception as exc:  # noqa: BLE001  # pylint: disable=broad-exception-caught
            self.errors.append(exc)

    def wait(self, done: Callable[[Any], bool]) -> None:
        while not done(self.target):
            if self.errors:
                raise self.errors[0]
            time.sleep(0.05)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()
        self.target.close()
        if self.errors:
            raise self.errors[0]


def _checkpoint(conn: Any, sql: str, name: str) -> Any:
    """A value from the move's checkpoints; None until the ferry has created them."""
    if fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '_dbferry'") < 2:
        return None
    return fetch_value(conn, sql, (name,))


def _copied(name: str) -> Callable[[Any], bool]:
    return lambda conn: _checkpoint(conn, "SELECT COUNT(*) FROM _dbferry.cursors WHERE move = %s AND NOT done", name) == 0


def _applied(name: str, wanted: str) -> Callable[[Any], bool]:
    return lambda conn: gtid.reached(_checkpoint(conn, "SELECT applied_position FROM _dbferry.moves WHERE name = %s", name) or "", wanted)


def _backlog(source: sandbox.Sandbox, multi_rows: int, single_rows: int) -> None:
    """Row changes while the ferry is stopped: updates in 1,000-row transactions, then single-row autocommit updates."""
    conn = connect(source.spec("root"))
    for low in range(1, multi_rows + 1, 1000):
        execute(conn, "UPDATE bench.t SET a = a + 1 WHERE id BETWEEN %s AND %s", (low, low + 999))
    with conn.cursor() as cur:
        for key in range(1, single_rows + 1):
            cur.execute("UPDATE bench.t SET g = (g + 1) %% 256 WHERE id = %s", (multi_rows + key,))
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backlog-multi", type=int, default=200_000, help="rows changed in 1,000-row transactions")
    parser.add_argument("--backlog-single", type=int, default=30_000, help="single-row autocommit transactions")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="dbferry-bench-")
    try:
        source, target = sandbox.up(os.path.join(folder, "sandboxes"), ["source", "target"])
        conn = connect(source.spec("root"))
        execute(conn, "CREATE DATABASE bench")
        execute(conn, TABLE)
        execute(conn, "USE bench")  # the sequence engine's seq_1_to_N tables need a current database
        fill = _timed(lambda: execute(conn, FILL.format(rows=args.rows)))
        conn.close()
        print("filled bench.t with %d rows in %.1f s" % (args.rows, fill), file=sys.stderr)
        baseline = _timed(lambda: _dump_load(source, target, folder))

        config = parse_config({"name": "bench", "source": source.connection_options("ferry_source"),
                               "target": target.connection_options("ferry_target"), "databases": {"include": ["bench"]},
                               "state_dir": os.path.join(folder, "state")})
        os.makedirs(config.state_dir)
        run = _Run(config, target)
        copy = _timed(lambda: run.wait(_copied(config.name)))
        run.finish()

        _backlog(source, args.backlog_multi, args.backlog_single)
        conn = connect(source.spec("root"))
        wanted = fetch_value(conn, "SELECT @@GLOBAL.gtid_binlog_pos")
        conn.close()
        run = _Run(config, target)
        apply = _timed(lambda: run.wait(_applied(config.name, wanted)))
        run.finish()
    finally:
        sandbox.down(os.path.join(folder, "sandboxes"))
    backlog_rows = args.backlog_multi + args.backlog_single
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rows": args.rows,
        "baseline_dump_load_seconds": round(baseline, 2),
        "baseline_rows_per_second": round(args.rows / baseline),
        "copy_seconds": round(copy, 2),
        "copy_rows_per_second": round(args.rows / copy),
        "copy_ratio_to_baseline": round(baseline / copy, 3),
        "apply_backlog_rows": backlog_rows,
        "apply_backlog_transactions": args.backlog_multi // 1000 + args.backlog_single,
        "apply_seconds": round(apply, 2),
        "apply_rows_per_second": round(backlog_rows / apply),
        "machine": {"cpus": os.cpu_count()},
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ("copy_apply-%s.json" % result["when"].replace(":", ""))
    path.write_text(json.dumps(result, indent=2) + "\n")
    print("%-34s %12s %12s" % ("", "seconds", "rows/s"))
    print("%-34s %12.1f %12d" % ("mariadb-dump | mariadb (baseline)", baseline, result["baseline_rows_per_second"]))
    print("%-34s %12.1f %12d   %.2fx baseline" % ("dbferry copy", copy, result["copy_rows_per_second"], result["copy_ratio_to_baseline"]))
    print("%-34s %12.1f %12d   (%d rows, %d transactions)" % (
        "dbferry apply, backlog", apply, result["apply_rows_per_second"], backlog_rows, result["apply_backlog_transactions"]))
    print("written: %s" % path)


if __name__ == "__main__":
    main()
