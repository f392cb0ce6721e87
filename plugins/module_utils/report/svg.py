"""Inline SVG charts, drawn here from numbers: a report page must open anywhere (a change ticket, a laptop offline),
so it loads no script and no file; an SVG in the page is text like the rest of it.

Two shapes: a line over time (rows/s, lag, rows copied), with the intervals the move was held shaded behind it, and
bars over time (the read-only window's steps, the holds). Every element that carries data has a ``data-*`` attribute
and a ``<title>`` (the browser's tooltip), so that a test, or a person, can read the figures back.
"""

from __future__ import annotations

import time
from html import escape
from typing import Optional, Sequence

WIDTH, HEIGHT = 860, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 34
#: Tick marks on each axis.
TICKS = 5


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(at))


def _number(value: float) -> str:
    """A tick label: whole numbers without decimals, small ones with up to three."""
    if abs(value) >= 100 or value == int(value):
        return "{:,.0f}".format(value)
    return ("%.3f" % value).rstrip("0").rstrip(".")


class _Frame:
    """Maps time (epoch seconds) and a value to the chart's pixels."""

    def __init__(self, t0: float, t1: float, top_value: float, height: int = HEIGHT) -> None:
        self.t0, self.t1 = t0, max(t1, t0 + 1e-3)
        self.top_value = top_value if top_value > 0 else 1.0
        self.height = height

    def x(self, at: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (at - self.t0) / (self.t1 - self.t0)

    def y(self, value: float) -> float:
        return self.height - BOTTOM - (self.height - TOP - BOTTOM) * value / self.top_value

    def axes(self, title: str, unit: str, values: bool = True) -> list[str]:
        parts = ['<text class="title" x="%d" y="18">%s</text>' % (LEFT, escape(title)),
                 '<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>' % (LEFT, self.height - BOTTOM, WIDTH - RIGHT, self.height - BOTTOM)]
        for i in range(TICKS + 1):
            at = self.t0 + (self.t1 - self.t0) * i / TICKS
            anchor = "start" if i == 0 else "end" if i == TICKS else "middle"  # the ends inside the frame
            # A span of seconds (a read-only window) has every tick in the same second: its ticks count from the first.
            label = _clock(at) if i == 0 or self.t1 - self.t0 >= 2 * TICKS else "+%s s" % _number(round(at - self.t0, 3))
            parts.append('<text class="tick" x="%.1f" y="%d" text-anchor="%s">%s</text>' % (self.x(at), self.height - BOTTOM + 16, anchor, label))
            if values:
                value = self.top_value * i / TICKS
                parts.append('<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>' % (LEFT, self.y(value), WIDTH - RIGHT, self.y(value)))
                parts.append('<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>' % (LEFT - 6, self.y(value) + 4, _number(value)))
        if values and unit:
            parts.append('<text class="unit" x="%d" y="18" text-anchor="end">%s</text>' % (WIDTH - RIGHT, escape(unit)))
        return parts


def _svg(name: str, parts: Sequence[str], height: int = HEIGHT) -> str:
    return ('<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img">%s</svg>'
            % (escape(name), WIDTH, height, WIDTH, height, "".join(parts)))


def line_chart(name: str, title: str, unit: str, points: Sequence[tuple[float, float]], span: tuple[float, float],
               shaded: Sequence[tuple[float, float, str]] = ()) -> str:
    """``points`` (time, value) as one polyline over ``span``, with the ``shaded`` (start, end, label) intervals behind it.
    With no point, the chart says so instead of drawing an empty frame."""
    top = max([value for _at, value in points] + [0.0]) * 1.1
    frame = _Frame(span[0], span[1], top)
    parts = frame.axes(title, unit)
    for start, end, label in shaded:
        x0, x1 = frame.x(max(start, span[0])), frame.x(min(end, span[1]))
        parts.append('<rect class="held" data-held="%s" x="%.1f" y="%d" width="%.1f" height="%d"><title>%s</title></rect>' % (
            escape(label), x0, TOP, max(x1 - x0, 1.0), HEIGHT - TOP - BOTTOM, escape("held: %s" % label)))
    if not points:
        parts.append('<text class="empty" x="%d" y="%d" text-anchor="middle">no data in the log</text>' % (WIDTH // 2, HEIGHT // 2))
        return _svg(name, parts)
    coordinates = " ".join("%.1f,%.1f" % (frame.x(at), frame.y(value)) for at, value in points)
    parts.append('<polyline class="series" data-series="%s" points="%s"/>' % (escape(name), coordinates))
    for at, value in points:
        parts.append('<circle class="point" cx="%.1f" cy="%.1f" r="2.5"><title>%s: %s %s</title></circle>' % (
            frame.x(at), frame.y(value), _clock(at), _number(value), escape(unit)))
    return _svg(name, parts)


def bar_chart(name: str, title: str, bars: Sequence[tuple[float, float, str, Optional[str]]], span: tuple[float, float]) -> str:
    """``bars`` (start, end, label, failure or None) one row each, over ``span``: a Gantt chart of steps or holds."""
    height = TOP + BOTTOM + 26 * max(len(bars), 1)
    frame = _Frame(span[0], span[1], 1.0, height)
    parts = frame.axes(title, "", values=False)
    if not bars:
        parts.append('<text class="empty" x="%d" y="%d" text-anchor="middle">none in the log</text>' % (WIDTH // 2, TOP + 16))
    for row, (start, end, label, failed) in enumerate(bars):
        x0, x1 = frame.x(start), frame.x(end)
        y = TOP + 26 * row
        seconds = end - start
        text = "%s %s s%s" % (label, _number(round(seconds, 3)), " FAILED: %s" % failed if failed else "")
        parts.append('<rect class="bar%s" data-step="%s" data-seconds="%.3f" x="%.1f" y="%d" width="%.1f" height="18"><title>%s</title></rect>' % (
            " failed" if failed else "", escape(label), seconds, x0, y + 4, max(x1 - x0, 2.0), escape("%s, from %s" % (text, _clock(start)))))
        parts.append('<text class="label" x="%.1f" y="%d">%s</text>' % (min(x0, WIDTH - RIGHT - 200) + 4, y + 17, escape(text)))
    return _svg(name, parts, height)
