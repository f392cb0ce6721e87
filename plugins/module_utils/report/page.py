"""``dbferry report``: a move's timeline as one self-contained HTML page, for the post-mortem and the change ticket.

One file, no script, no stylesheet or font from elsewhere: it is attached to tickets and opened months later, offline.
The figures come from the move's log only (report/timeline.py), so a report can be made of a running move, a finished
one, or one whose servers are gone.
"""

from __future__ import annotations

import os
import time
from html import escape
from typing import Optional

from ..common.private import write_private
from ..engine.progress import duration
from .svg import bar_chart, line_chart
from .timeline import Timeline, load_timeline

LOG_FILE = "ferry.log"
REPORT_FILE = "report.html"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 920px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; } td, th { padding: 2px 12px 2px 0; text-align: left; vertical-align: top; }
.chart { display: block; margin: 0.5em 0; }
.chart .title { font-size: 13px; font-weight: bold; } .chart .tick, .chart .unit, .chart .label, .chart .empty { font-size: 11px; fill: #444; }
.chart .axis { stroke: #666; } .chart .grid { stroke: #e4e4e4; }
.chart .series { fill: none; stroke: #1f6fb2; stroke-width: 2; } .chart .point { fill: #1f6fb2; }
.chart .held { fill: #f6c244; fill-opacity: 0.3; } .chart .bar { fill: #5b9e4d; } .chart .bar.failed { fill: #c0392b; }
"""


def _when(at: Optional[float]) -> str:
    return "-" if at is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _summary(timeline: Timeline) -> list[tuple[str, str]]:
    points = timeline.points
    lags = [p.lag_seconds for p in points if p.lag_seconds is not None]
    window = (min(s.start for s in timeline.window), max(s.end or s.start for s in timeline.window)) if timeline.window else None
    held = sum((h.end or timeline.last or h.start) - h.start for h in timeline.holds)
    rows = ("%d of about %d" % (points[-1].rows_copied, max(points[-1].rows_estimated, points[-1].rows_copied))) if points else "-"
    return [("move", timeline.move), ("last phase in the log", timeline.phase), ("first event", _when(timeline.first)),
            ("last event", _when(timeline.last)),
            ("logged time", duration(timeline.last - timeline.first) if timeline.first is not None and timeline.last is not None else "-"),
            ("rows copied", rows), ("highest rows/s", "%s" % max((p.rows_per_second for p in points), default="-")),
            ("highest lag", "%s s" % max(lags) if lags else "-"), ("held (throttled or paused)", "%s in %d intervals" % (duration(held), len(timeline.holds))),
            ("read-only window", "%.3f s, from %s" % (window[1] - window[0], _when(window[0])) if window else "not in the log")]


def render(timeline: Timeline) -> str:
    """The page for ``timeline``."""
    first = timeline.first if timeline.first is not None else 0.0
    span = (first, timeline.last if timeline.last is not None else first + 1)
    shaded = [(h.start, h.end or span[1], h.label) for h in timeline.holds]
    points = timeline.points
    charts = [
        line_chart("rows_copied", "Rows copied", "rows", [(p.at, p.rows_copied) for p in points], span, shaded),
        line_chart("rows_per_second", "Copy speed (shaded: throttled or paused)", "rows/s", [(p.at, p.rows_per_second) for p in points], span, shaded),
        line_chart("lag_seconds", "Binlog lag", "seconds", [(p.at, p.lag_seconds) for p in points if p.lag_seconds is not None], span, shaded),
        bar_chart("holds", "Throttled or paused", [(h.start, h.end or span[1], h.label, None) for h in timeline.holds], span),
    ]
    window = timeline.window
    window_span = (min(s.start for s in window), max(s.end or s.start for s in window)) if window else span
    window_chart = bar_chart("window", "Read-only window, step by step", [(s.start, s.end or s.start, s.label, s.failed) for s in window], window_span)
    rows = "".join("<tr><th>%s</th><td>%s</td></tr>" % (escape(k), escape(str(v))) for k, v in _summary(timeline))
    tables = "".join("<tr><td>%s</td><td>%s</td><td>%d rows</td></tr>" % (_when(at), escape(name), count) for at, name, count in timeline.tables)
    marks = "".join("<tr><td>%s</td><td>%s</td></tr>" % (_when(at), escape(label)) for at, label in timeline.marks)
    errors = "".join("<tr><td>%s</td><td>%s</td></tr>" % (_when(at), escape(text)) for at, text in timeline.errors)
    note = ("<p>%d line(s) of the log could not be read and were skipped.</p>" % timeline.skipped_lines) if timeline.skipped_lines else ""
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dbferry move %(move)s</title><style>%(style)s</style></head>
<body>
<h1>dbferry move %(move)s</h1>
<table class="summary">%(rows)s</table>%(note)s
<h2>Copy and catch-up</h2>
%(charts)s
<h2>Read-only window</h2>
<p>From the source made read-only to the move recorded complete. A read_only task run on its own (not the switchover)
does not know the move: then the window starts at the cutover.</p>
%(window)s
<h2>Tables copied</h2><table>%(tables)s</table>
<h2>Events</h2><table>%(marks)s</table>
<h2>Errors</h2><table>%(errors)s</table>
<p>Made by dbferry report at %(now)s from the move's log.</p>
</body></html>
""" % {"move": escape(timeline.move), "style": _STYLE, "rows": rows, "note": note, "charts": "\n".join(charts), "window": window_chart,
       "tables": tables or "<tr><td>none in the log</td></tr>", "marks": marks or "<tr><td>none</td></tr>",
       "errors": errors or "<tr><td>none</td></tr>", "now": _when(time.time())}


def write_report(state_dir: str, output: Optional[str] = None) -> str:
    """Render the log of the move in ``state_dir`` into ``output`` (default ``<state_dir>/report.html``, mode 0600: the
    log names servers and tables); return the path written."""
    timeline = load_timeline(os.path.join(state_dir, LOG_FILE))
    path = output or os.path.join(state_dir, REPORT_FILE)
    write_private(path, render(timeline))
    return path
