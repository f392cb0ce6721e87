"""Part size: whether a copy's cost stays flat as the table grows (issue 19): the same table at a tenth of ``--rows``
and at ``--rows``, each copied by a move of its own, as copy_phase.py copies (agent start to the checkpoint that records
the copy done). ``make bench BENCH_ARGS="--only size --rows 10000000"`` compares 10M rows with 1M.

Figures: the copy's rows/s at the full size against the tenth (target: within 10 %, >= 0.9x) and the agent's peak
RSS, its binlog reader included, at the full size against the tenth (target: within 10 %, <= 1.1x). The small table
is ``t``'s definition and rows under another name (``t_tenth``), so that the copy part's table is shared.
"""

from __future__ import annotations

from typing import Any

from copy_phase import copy_table
from harness import Bench, Figure, Options, Table, narrow_table, number

#: The issue's targets (#19): rows/s and peak RSS at the full size within 10 % of a tenth of it.
RATE_RATIO = 0.9
RSS_RATIO = 1.1


def tenth_table(rows: int) -> Table:
    """``t`` with a tenth of ``rows`` (at least 1000), as ``t_tenth``."""
    full = narrow_table(max(1000, rows // 10))
    return Table("t_tenth", full.ddl.replace("{db}.t (", "{db}.t_tenth ("), full.fill.replace("{db}.t ", "{db}.t_tenth "), full.rows)


def measure(bench: Bench, options: Options) -> tuple[list[Figure], dict[str, Any]]:
    tables = (tenth_table(options.rows), narrow_table(options.rows))
    runs: dict[str, list[tuple[float, float]]] = {table.name: [] for table in tables}
    for table in tables:
        bench.ensure(table)
    for _round in range(options.repeat):
        for table in tables:
            runs[table.name].append(copy_table(bench, table, inline=False))
    rate = {table.name: table.rows / min(seconds for seconds, _rss in runs[table.name]) for table in tables}
    rss = {table.name: max(peak for _seconds, peak in runs[table.name]) for table in tables}
    small, full = tables
    rate_ratio = rate[full.name] / rate[small.name]
    rss_ratio = rss[full.name] / rss[small.name]
    figures = [
        Figure("copy rows/s at %s rows against %s" % (number(full.rows), number(small.rows)), "%s rows/s" % number(rate[full.name]),
               "%s rows/s" % number(rate[small.name]), round(rate_ratio, 3), ">= %.1fx" % RATE_RATIO, rate_ratio >= RATE_RATIO),
        Figure("agent peak RSS at %s rows against %s" % (number(full.rows), number(small.rows)), "%.0f MB" % rss[full.name],
               "%.0f MB" % rss[small.name], round(rss_ratio, 3), "<= %.1fx" % RSS_RATIO, rss_ratio <= RSS_RATIO)]
    return figures, {table.name: {"rows": table.rows, "runs": [{"seconds": round(s, 2), "peak_rss_mb": round(r, 1)} for s, r in runs[table.name]],
                                  "rows_per_second": round(rate[table.name]), "peak_rss_mb": round(rss[table.name], 1)} for table in tables}
