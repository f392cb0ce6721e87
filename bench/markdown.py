"""A bench run's table as Markdown, for the README: ``python bench/markdown.py bench/results/bench-<time>.json``.

The README's Performance table is this output of a full run, pasted as it is, so that every figure in it can be
traced to the JSON file it names (and so to the run's machine, load and commit, which the first line gives).
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _cell(text: Any) -> str:
    """A table cell: Markdown's column separator escaped, nothing else changed."""
    return str(text).replace("|", "\\|")


def markdown(results: dict[str, Any]) -> str:
    machine, options = results["machine"], results["options"]
    head = "`make bench` of %s: %s cores, MariaDB %s, commit %s, %s rows, load average %.1f before and %.1f after, %dm%02ds." % (
        results["when"], machine["cores"], machine["mariadb"].split("-")[0], machine["git_commit"][:10], format(options["rows"], ","),
        results["load_average_before"][0], results["load_average_after"][0], results["wall_seconds"] // 60, results["wall_seconds"] % 60)
    lines = [head, "", "| what | figure | reference | ratio | target | |", "|---|---|---|---|---|---|"]
    for row in results["table"]:
        verdict = "" if row["met"] is None else "ok" if row["met"] else "**MISS**"
        ratio = "" if row["ratio"] is None else "%.2fx" % row["ratio"]
        lines.append("| %s |" % " | ".join(_cell(cell) for cell in (row["what"].strip(), row["figure"], row["reference"], ratio, row["target"], verdict)))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python bench/markdown.py bench/results/bench-<time>.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        print(markdown(json.load(handle)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
