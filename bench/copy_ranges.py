"""Part ranges: one big table copied in key ranges at once (``copy.ranges``, issue 19) next to the same copy in one range.

One table, ``big``: the narrow table ``t``'s columns and values, 5M rows by default (``--rows`` sets it), analyzed
after the fill so that the source's row estimate, which decides whether a table is cut (``copy.range_min_rows``), is
fresh. It is copied by moves of its own, timed as copy_phase.py times its copies (from just before the agent starts
to the checkpoint that records every range done), its rows read into the source's buffer pool just before each:

1. one range (``copy.ranges: 1``): the copy as it was before ranges, one cursor;
2. the defaults a user gets (``copy.ranges`` 4, ``copy.concurrency`` 2: two ranges copied at a time);

each without and with inline verification. The ratio is the one range's seconds / the ranges' seconds; issue 19's
target is 1.3x. With ``--repeat N`` each is taken N times, interleaved, and the fastest kept (all are in the JSON).
"""

from __future__ import annotations

from typing import Any

from copy_phase import copy_table, fastest
from harness import DATABASE, Bench, Figure, Options, Table, narrow_table, number
from key_kinds import drop, replace_once, warm
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.config.options import BY_KEY
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all

#: Issue 19's target: the default ranges copy one big table this many times as fast as one range does.
RANGES_RATIO = 1.3


def big_table(rows: int) -> Table:
    """``big``: ``t``'s columns and rows, ``rows`` of them."""
    narrow = narrow_table(rows)
    return Table("big", replace_once(narrow.ddl, "{db}.t (", "{db}.big ("), replace_once(narrow.fill, "{db}.t ", "{db}.big "), rows)


def measure(bench: Bench, options: Options) -> tuple[list[Figure], dict[str, Any]]:
    table = big_table(options.ranges_rows)
    bench.ensure(table)
    fetch_all(bench.source_conn, "ANALYZE TABLE %s" % quote_table(DATABASE, table.name))
    ranges = BY_KEY["copy.ranges"].default
    variants = {"one_range": ({"ranges": 1}, "-1range"), "ranges": (None, "-ranges")}
    times: dict[tuple[str, bool], list[float]] = {(name, inline): [] for name in variants for inline in (False, True)}
    for _round in range(options.repeat):
        for inline in (False, True):
            for name, (copy, label) in variants.items():
                warm(bench, table)
                times[(name, inline)].append(copy_table(bench, table, inline, copy, label).seconds)
    data: dict[str, Any] = {"rows": table.rows, "ranges": ranges, "concurrency": BY_KEY["copy.concurrency"].default}
    figures = []
    for inline in (False, True):
        one, many = (fastest(times[(name, inline)], table.rows) for name in variants)
        ratio = round(one["seconds"] / many["seconds"], 3)
        data["inline" if inline else "plain"] = {"one_range": one, "ranges": many, "ratio": ratio}
        figures.append(Figure("copy big: %s rows in %d ranges%s" % (number(table.rows), ranges, ", inline verify" if inline else ""),
                              "%s rows/s (%.1f s)" % (number(many["rows_per_second"]), many["seconds"]),
                              "one range %s rows/s (%.1f s)" % (number(one["rows_per_second"]), one["seconds"]),
                              ratio, ">= %.1fx" % RANGES_RATIO, ratio >= RANGES_RATIO))
    drop(bench, [table])  # over 1 GB at 5M rows: it would crowd the other parts' tables out of the buffer pool
    return figures, data
