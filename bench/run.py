"""`make bench`: the figures of issue #6, each next to a baseline or target measured in the same run on this machine.

Starts two fresh sandboxes (source and target), runs the parts asked for, in this order, stops everything it
started however the run ends, writes bench/results/bench-<UTC time>.json and prints one line per figure:

  copy     copy_phase.py: dbferry's copy against mariadb-dump | mariadb, narrow and wide table, with and
           without inline verification; the agent's peak RSS
  keys     key_kinds.py: the copy of the same rows keyed by an integer, a composite (INT, VARCHAR), a BINARY(16)
           UUID-like and a VARCHAR key (issue 16: none more than 15 % slower than the integer)
  apply    binlog_apply.py: (a) a backlog's drain rate, (b) and (c) the lag under 4 connections writing flat out
           with single-row and with multi-row transactions; the agent's peak RSS
  replica  replica_backlog.py: the same backlog of 1-row and of 10-row transactions drained by dbferry and by a MariaDB
           replica with 4 optimistic parallel threads (issue 19: at least as fast)
  ranges   copy_ranges.py: one big table (5M rows unless --rows) copied in the default key ranges at once against one
           range, with and without inline verification (issue 19: 1.3x)
  cascades cascade_apply.py: the applier's rate on a backlog of parent deletes that cascade to children, next to
           one of changes that cascade nothing (issue 16)
  cutover  cutover_window.py: the read-only window of a move under 500 writes/s with inline verification
  alter    alter.py: an online schema change (issue 14) by dbferry next to the server's ALTER and pt-online-schema-change,
           idle and under 400 writes/s, with a GTID replica's lag; dbferry's peak RSS
  userlevel userlevel.py: ansible-playbook of the copy role, from its start until caught up, against mariadb-dump |
           mariadb and mydumper | myloader -t 4, with where its seconds go
  size     size_scale.py: the copy's rows/s and the agent's peak RSS at --rows against a tenth of it (cost flat in size)
  many     many_moves.py: one, two and four moves at once by one rehearse.yml run (dbferry_moves_at_once, Ansible's
           forks), their rows/s together against one move's

A part that fails (the agent died, a wait timed out) is reported as ERROR and the next part runs; the exit
status is then 1. A figure that misses its target is a result, not a failure. bench/README.md says more.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any, Callable, NoReturn, Optional

import alter
import binlog_apply
import cascade_apply
import copy_phase
import copy_ranges
import cutover_window
import key_kinds
import many_moves
import replica_backlog
import size_scale
import userlevel
from harness import RESULTS, Bench, Figure, Options, log

PARTS: dict[str, Callable[[Bench, Options], tuple[list[Figure], dict[str, Any]]]] = {
    "copy": copy_phase.measure, "keys": key_kinds.measure, "ranges": copy_ranges.measure, "apply": binlog_apply.measure,
    "replica": replica_backlog.measure, "cascades": cascade_apply.measure,
    "cutover": cutover_window.measure, "alter": alter.measure, "userlevel": userlevel.measure, "size": size_scale.measure,
    "many": many_moves.measure}


def _table(figures: list[Figure]) -> str:
    """The figures as aligned text columns."""
    head = ("what", "figure", "reference", "ratio", "target", "")
    rows = [head] + [(f.what, f.figure, f.reference, "" if f.ratio is None else "%.2fx" % f.ratio, f.target,
                      "" if f.met is None else "ok" if f.met else "MISS") for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _interrupted(signum: int, _frame: Any) -> NoReturn:
    raise KeyboardInterrupt("signal %d" % signum)


def _measure(bench: Bench, parts: list[str], options: Options, results: dict[str, Any]) -> tuple[list[Figure], bool]:
    """Run ``parts`` in order; their figures, and whether any failed. A failed part's agents and clients are stopped first."""
    figures: list[Figure] = []
    failed = False
    for name in parts:
        log("part %s" % name)
        try:
            part_figures, results[name] = PARTS[name](bench, options)
            # alter goes on past a failed run (one ERROR line among its others): the run still failed
            failed = failed or any(f.figure == "ERROR" for f in part_figures)
        except Exception as exc:  # noqa: BLE001 - reported, then the next part runs  # pylint: disable=broad-exception-caught
            failed = True
            results[name] = {"error": str(exc), "traceback": traceback.format_exc()}
            part_figures = [Figure(name, "ERROR", str(exc))]
            log("part %s failed: %s" % (name, exc))
            bench.reset()
        figures += part_figures
    return figures, failed


def _print(results: dict[str, Any], figures: list[Figure], path: str) -> None:
    machine, options = results["machine"], results["options"]
    print("dbferry bench %s: %s cores, MariaDB %s, commit %s%s; %s rows%s" % (
        results["when"], machine["cores"], machine["mariadb"], machine["git_commit"][:10],
        " + uncommitted plugins/ changes" if machine["plugins_uncommitted_diff_sha256"] else "", format(options["rows"], ","),
        ", copy fastest of %d" % options["repeat"] if options["repeat"] > 1 else ""))
    print(_table(figures))
    wall = results["wall_seconds"]
    print("wall time %dm%02ds, load average %.1f before, %.1f after; written: %s" % (
        wall // 60, wall % 60, results["load_average_before"][0], results["load_average_after"][0], path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--only", action="append", choices=sorted(PARTS), help="run only this part (repeatable); default: all")
    parser.add_argument("--rows", type=int, default=None,
                        help="rows of the narrow table and of alter's (default %d); the wide table gets a tenth, the backlog 0.3 per row; "
                             "the ranges part's big table gets as many (default %d)" % (Options.rows, Options.ranges_rows))
    parser.add_argument("--write-seconds", type=float, default=Options.write_seconds,
                        help="how long the writers of apply (b) and (c) run (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=Options.repeat,
                        help="take each copy measurement this many times and keep the fastest (default %(default)s)")
    args = parser.parse_args()
    if (args.rows is not None and args.rows < 1000) or args.write_seconds <= 0 or args.repeat < 1:
        parser.error("--rows must be at least 1000, --write-seconds more than 0, --repeat at least 1")
    sizes = {} if args.rows is None else {"rows": args.rows, "ranges_rows": args.rows}
    options = Options(write_seconds=args.write_seconds, repeat=args.repeat, **sizes)
    parts = [name for name in PARTS if not args.only or name in args.only]
    for signum in (signal.SIGINT, signal.SIGTERM):  # an interrupted run still stops its servers and agents (the finally below)
        signal.signal(signum, _interrupted)

    started = time.perf_counter()
    when = datetime.now(timezone.utc)
    results: dict[str, Any] = {"when": when.isoformat(timespec="seconds"), "options": dict(asdict(options), parts=parts,
                               wide_rows=options.wide_rows, backlog=options.backlog), "load_average_before": os.getloadavg(), "parts": {}}
    folder = tempfile.mkdtemp(prefix="dbferry-bench-")
    bench: Optional[Bench] = None
    try:
        bench = Bench(folder)
        results["machine"] = bench.machine()
        figures, failed = _measure(bench, parts, options, results["parts"])
    finally:
        # The clean-up stops the servers and agents: a second Ctrl-C or SIGTERM must not cut it short.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        if bench is not None:
            bench.close()
        shutil.rmtree(folder, ignore_errors=True)
    results.update(load_average_after=os.getloadavg(), wall_seconds=round(time.perf_counter() - started, 1), table=[asdict(f) for f in figures])
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ("bench-%s.json" % when.strftime("%Y-%m-%dT%H%M%SZ"))
    path.write_text(json.dumps(results, indent=2) + "\n")
    _print(results, figures, os.path.relpath(path))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; every server, agent and client it started is stopped, no results written")
        sys.exit(130)
