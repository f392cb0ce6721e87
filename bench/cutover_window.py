"""Part 3, cutover: the read-only window of a 1M-row move under 500 writes/s, with inline verification.

The window is what the application feels: from the moment the source is made read-only (its writes start
failing) to the moment the cutover has ended the move. In between: read_only (wait for open writers), verify
(method inline: only rows changed since their last check), cutover (the target has applied the final position;
the agent stops; the move is recorded complete). The three run as the dbferry.mysql.switchover module runs them
(the cutover role's default), through the engine call it makes; the window is the one it reports. (Run as three
tasks, with an after-read-only hook between them, Ansible's start of two more modules adds about a second.)

The writers start before the move (its copy runs under load, inline verification on) and go on until the
source refuses them; the move tails under that load for SETTLE_SECONDS before the window opens.
"""

from __future__ import annotations

import random
import time
from typing import Any

from ansible_collections.dbferry.mysql.plugins.module_utils.agent import process as agent
from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.dev.load import Load, ServerSession, Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.read_only import WARN, switch_read_only
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.switchover import CutoverStep, ReadOnlyStep, VerifyStep, switch_over
from harness import WINDOW_SECONDS, Agent, Bench, BenchError, Figure, Options, log, narrow_table

WRITES_PER_SECOND = 500.0
SETTLE_SECONDS = 20.0
COPY_TIMEOUT = 600.0


class OneRowUpdates:
    """What each writer connection of this part runs: single-row updates of random rows of ``bench.t``, seeded."""

    def __init__(self, rows: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.rows = rows

    def next_transaction(self) -> Transaction:
        return Transaction(("UPDATE bench.t SET a = a + 1, f = f * 1.0001 WHERE id = %d" % self.rng.randint(1, self.rows),))


def paced_writer(box: sandbox.Sandbox, rows: int, per_second: float, connections: int = 4) -> Load:
    """OneRowUpdates at a steady total rate from several ``app`` connections; those refused once the source is
    read-only are counted, and the writers go on until finish()."""
    spec = box.spec("app")
    return Load(lambda _index: ServerSession(spec), [OneRowUpdates(rows, i) for i in range(connections)], per_second=per_second)


def measure(bench: Bench, options: Options) -> tuple[list[Figure], dict[str, Any]]:
    table = narrow_table(options.rows)
    bench.ensure(table)
    bench.written(table)
    admin = bench.source.spec("root")
    writer = paced_writer(bench.source, table.rows, WRITES_PER_SECOND)
    try:
        move = Agent(bench, "cutover", [table], inline=True)
        started = move.start()
        copy_seconds = move.wait_copied(COPY_TIMEOUT) - started
        log("copied under load with inline verification in %.1f s; tailing %.0f s before the cutover" % (copy_seconds, SETTLE_SECONDS))
        time.sleep(SETTLE_SECONDS)
        status = agent.read_status(move.state_dir)
        rss = move.peak_rss_mb()
        config = move.config
        try:
            result, failure = switch_over(admin, config.source, config.target, config.name, config.state_dir,
                                          # warn: the bench's own root sessions (harness.py) would fail the default check
                                          read_only=ReadOnlyStep(wait_for_writes=5, privileged_sessions=WARN), verification=VerifyStep(method="inline"),
                                          cutover=CutoverStep(timeout=60))
        finally:
            switch_read_only(admin, False)
    finally:
        written = writer.finish()
    move.remove()
    if failure:
        raise BenchError("the switchover failed: %s" % failure)
    window = result["window_seconds"]
    read_only_seconds = result["read_only"]["timings"]["total"] - result["read_only"]["timings"]["connect"]
    verify_seconds = result["verify"]["seconds"]
    cutover_seconds = result["cutover"]["timings"]["total"]
    report_tables = result["verify"]["tables"]
    mismatches = sum(len(t["mismatches"]) for t in report_tables)
    log("read-only window %.3f s" % window)
    data = {
        "rows": table.rows,
        "writes_per_second_target": WRITES_PER_SECOND,
        "writes_done": written.written,
        "copy_seconds_under_load": round(copy_seconds, 1),
        "lag_before_cutover_seconds": status.get("lag_seconds"),
        "inline_dirty_rows_before_cutover": status.get("inline_dirty_rows"),
        "window_seconds": round(window, 3),
        "read_only_seconds": round(read_only_seconds, 3),
        "verify_inline_seconds": round(verify_seconds, 3),
        "verify_rows_compared": result["verify"].get("rows_compared"),
        "verify_mismatches": mismatches,
        "cutover_seconds": round(cutover_seconds, 3),
        "cutover_timings": result["cutover"].get("timings"),
        "agent_peak_rss_mb_before_cutover": round(rss, 1),
    }
    figure = Figure("read-only window: %s-row move, %.0f writes/s" % (format(table.rows, ","), WRITES_PER_SECOND), "%.3f s" % window,
                    "read_only %.3f, verify %.3f (%d mismatches), cutover %.3f" % (read_only_seconds, verify_seconds, mismatches, cutover_seconds),
                    target="<= %.1f s" % WINDOW_SECONDS, met=window <= WINDOW_SECONDS and mismatches == 0)
    return [figure], data
