"""The read-only window of a 1M-row move under 500 writes/s, with inline verification.

The window is what the application feels: from the moment the source is
made read-only (its writes start failing) to the moment the cutover has
ended the move. In between: read_only (wait for open writers), verify
(method inline: only rows changed since their last check), cutover (the
target has applied the final position; the agent stops; the move is
recorded complete). Each step is the engine call its module makes; what
Ansible adds per task (starting a module, about a second) is not counted.

Writes bench/results/cutover_window-<UTC time>.json and prints the steps.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import threading
import time
from datetime import datetime, timezone
from typing import Any

from ansible_collections.dbferry.mysql.plugins.module_utils import agent, sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.connection import connect, execute
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover import cut_over
from ansible_collections.dbferry.mysql.plugins.module_utils.readonly import switch_read_only
from ansible_collections.dbferry.mysql.plugins.module_utils.verify import verify

from copy_apply import FILL, RESULTS, TABLE  # pylint: disable=wrong-import-order  # the same table as the copy benchmark


class PacedWriter:
    """Single-row writes at a steady total rate from several app connections, until the source refuses them."""

    def __init__(self, box: sandbox.Sandbox, rows: int, per_second: float, connections: int = 4) -> None:
        self.stop = threading.Event()
        self.written = 0
        self.refused = 0
        self.threads = [threading.Thread(target=self._run, args=(box, rows, per_second / connections, i), daemon=True)
                        for i in range(connections)]
        for thread in self.threads:
            thread.start()

    def _run(self, box: sandbox.Sandbox, rows: int, per_second: float, seed: int) -> None:
        rng = random.Random(seed)
        conn = connect(box.spec("app"))
        next_at = time.monotonic()
        try:
            while not self.stop.is_set():
                key = rng.randint(1, rows)
                try:
                    execute(conn, "UPDATE bench.t SET a = a + 1, f = f * 1.0001 WHERE id = %s", (key,))
                    self.written += 1
                except Exception:  # noqa: BLE001 - read-only refusals, from the window on  # pylint: disable=broad-exception-caught
                    self.refused += 1
                next_at += 1.0 / per_second
                time.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            conn.close()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def _timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--writes-per-second", type=float, default=500)
    parser.add_argument("--settle-seconds", type=float, default=20, help="how long the move tails under load before the cutover")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="dbferry-window-")
    base = os.path.join(folder, "sandboxes")
    try:
        source, target = sandbox.up(base, ["source", "target"])
        conn = connect(source.spec("root"))
        execute(conn, "CREATE DATABASE bench")
        execute(conn, TABLE)
        execute(conn, "USE bench")
        execute(conn, FILL.format(rows=args.rows))
        conn.close()
        writer = PacedWriter(source, args.rows, args.writes_per_second)
        raw = {"name": "window", "source": source.connection_options("ferry_source"), "target": target.connection_options("ferry_target"),
               "databases": {"include": ["bench"]}, "state_dir": os.path.join(folder, "state"), "verify": {"inline": True}}
        copy_started = time.perf_counter()
        _changed, _pid, config = agent.start(raw)
        while agent.read_status(config.state_dir).get("phase") != "tailing":
            time.sleep(0.2)
        copy_seconds = time.perf_counter() - copy_started
        time.sleep(args.settle_seconds)
        status = agent.read_status(config.state_dir)
        admin = source.spec("root")

        window_started = time.perf_counter()
        read_only_seconds, outcome = _timed(lambda: switch_read_only(admin, True, wait_for_writes=5))
        verify_seconds, report = _timed(lambda: verify(config.source, config.target, config.name, method="inline", position=outcome.position))
        cutover_seconds, result = _timed(lambda: cut_over(config.source, config.target, config.name, config.state_dir, timeout=60,
                                                          stop_timeout=60, target_writable=False, check_mode=False))
        window = time.perf_counter() - window_started
        writer.finish()
        switch_read_only(admin, False)
        mismatches = sum(len(t.mismatches) for t in report.tables)
    finally:
        sandbox.down(base)
    measured = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rows": args.rows,
        "writes_per_second_target": args.writes_per_second,
        "writes_done": writer.written,
        "lag_before_cutover_seconds": status.get("lag_seconds"),
        "inline_dirty_rows_before_cutover": status.get("inline_dirty_rows"),
        "window_seconds": round(window, 3),
        "read_only_seconds": round(read_only_seconds, 3),
        "verify_inline_seconds": round(verify_seconds, 3),
        "verify_rows_compared": report.as_dict().get("rows_compared"),
        "verify_mismatches": mismatches,
        "cutover_seconds": round(cutover_seconds, 3),
        "cutover_timings": result.get("timings"),
        "copy_seconds_under_load": round(copy_seconds, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ("cutover_window-%s.json" % measured["when"].replace(":", ""))
    path.write_text(json.dumps(measured, indent=2) + "\n")
    print(json.dumps(measured, indent=2))
    print("written: %s" % path)


if __name__ == "__main__":
    main()
