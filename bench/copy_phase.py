"""Part 1, copy: dbferry's copy phase next to ``mariadb-dump --single-transaction | mariadb``, per table.

For the narrow 1M-row table and the wide one, in this order, between the same two sandboxes:

1. baseline: ``mariadb-dump --single-transaction bench TABLE | mariadb`` into a scratch database on the target;
2. dbferry: a move of that table alone (its own target database), defaults as a user gets them (shared locks, the
   binlog tailed); the time runs from just before the agent process is started (interpreter start, preparing the
   move: target table created, start position read) until the target's checkpoints record the table's copy done;
3. the same with ``verify.inline: true`` (each batch hashed on both sides as it is written).

The ratio is baseline seconds / dbferry seconds: 1.0x copies as fast as dump|load. With ``--repeat N`` the three
are taken N times, interleaved, and the fastest of each kept (all are in the JSON). Each agent's peak RSS is read
from /proc just before it is stopped. Every move is removed and its database dropped before the next starts.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from harness import COPY_INLINE_RATIO, COPY_RATIO, Agent, Bench, BenchError, Figure, Options, Table, dump_load, log, narrow_table, number, \
    rss_figure, wide_table

#: Generous: the copies take well under a minute each at the issue's targets; a timeout only ends a hung run.
COPY_TIMEOUT = 600.0


class CopyRun(NamedTuple):
    """One timed copy: its seconds, its agent's peak RSS in MB, and how long its batches held their source locks
    (the status' ``copy_batch_lock_ms``: batches, p50, p99, max)."""

    seconds: float
    rss_mb: float
    batch_lock_ms: dict[str, Any]


def copy_table(bench: Bench, table: Table, inline: bool, copy: Optional[dict[str, Any]] = None, label: str = "") -> CopyRun:
    """Copy ``table`` with a move of its own (``copy``: copy options other than the defaults, ``label`` in its name),
    timed (the keys, ranges and size parts' copies too)."""
    move = Agent(bench, "copy-%s%s%s" % (table.name, label, "-inline" if inline else ""), [table], inline=inline, copy=copy)
    started = move.start()
    seconds = move.wait_copied(COPY_TIMEOUT) - started
    rss = move.peak_rss_mb()
    batches = move.batch_lock_ms()
    copied = move.rows_copied()
    move.remove()
    if copied != table.rows:
        raise BenchError("move %s copied %d rows of %d" % (move.name, copied, table.rows))
    log("copied %s%s in %.1f s (batches held their locks p99 %s ms)" % (
        table.name, " with inline verification" if inline else "", seconds, batches["p99"]))
    return CopyRun(seconds, rss, batches)


def fastest(seconds: list[float], rows: int) -> dict[str, Any]:
    """The fastest of a measurement's runs, as the JSON has it, with every run's seconds."""
    best = min(seconds)
    return {"seconds": round(best, 2), "rows_per_second": round(rows / best), "all_seconds": [round(s, 2) for s in seconds]}


def measure(bench: Bench, options: Options) -> tuple[list[Figure], dict[str, Any]]:
    figures: list[Figure] = []
    data: dict[str, Any] = {}
    peaks: list[float] = []
    for table in (narrow_table(options.rows), wide_table(options.wide_rows)):
        bench.ensure(table)
        times: dict[str, list[float]] = {"baseline": [], "dbferry": [], "dbferry_inline": []}
        for _round in range(options.repeat):
            times["baseline"].append(dump_load(bench, table))
            log("mariadb-dump | mariadb of %s in %.1f s" % (table.name, times["baseline"][-1]))
            for inline in (False, True):
                seconds, rss, _batches = copy_table(bench, table, inline)
                times["dbferry_inline" if inline else "dbferry"].append(seconds)
                peaks.append(rss)
        entry = {key: fastest(values, table.rows) for key, values in times.items()}
        baseline = entry["baseline"]["seconds"]
        row_bytes = table.row_bytes(bench.source_conn)
        reference = "dump|load %s rows/s (%.1f s)" % (number(table.rows / baseline), baseline)
        for key, target, suffix in (("dbferry", COPY_RATIO, ""), ("dbferry_inline", COPY_INLINE_RATIO, ", inline verify")):
            run = entry[key]
            run["ratio_to_baseline"] = round(baseline / run["seconds"], 3)
            figures.append(Figure("copy %s: %s rows, %s B/row%s" % (table.name, number(table.rows), number(row_bytes), suffix),
                                  "%s rows/s (%.1f s)" % (number(run["rows_per_second"]), run["seconds"]), reference,
                                  run["ratio_to_baseline"], ">= %.1fx" % target, run["ratio_to_baseline"] >= target))
        data[table.name] = dict(entry, rows=table.rows, row_bytes=row_bytes)
    figures.append(rss_figure("agent peak RSS, copy", peaks))
    data["agent_peak_rss_mb"] = round(max(peaks), 1)
    return figures, data
