"""`dbferry report`: the timeline read from a move's log, and the page drawn from it (pure: a log written here)."""

from __future__ import annotations

import json
import re

from ansible_collections.dbferry.mysql.plugins.module_utils.report.page import render, write_report
from ansible_collections.dbferry.mysql.plugins.module_utils.report.timeline import read_timeline


def _line(second: float, event: str, **fields) -> str:
    return json.dumps(dict({"ts": "2026-01-02T03:04:%06.3f+00:00" % second, "move": "shop", "event": event}, **fields))


def _progress(second, phase, copied, rate, lag):
    return _line(second, "progress", phase=phase, rows_copied=copied, rows_estimated=1000, rows_per_second=rate, eta_seconds=None,
                 lag_seconds=lag, lag_events=0, applied_position="0-1-5")


BASE = 1767323040.0  # 2026-01-02T03:04:00Z
LOG = [
    _line(0, "agent_started", pid=7),
    _line(0.5, "throttled", cause="max_load", reason="max_load: Threads_running=30 > 25"),
    _progress(1, "copying", 0, 0.0, None),
    _line(3, "throttle_released", cause="max_load"),
    _line(4, "operator", command="pause"),
    _progress(5, "copying", 400, 200.0, 1.5),
    _line(6, "operator", command="resume"),
    '{"ts": "2026-01-02T03:04:07',  # a torn line
    _line(8, "table_copied", table="shop.orders", rows=1000),
    _progress(9, "tailing", 1000, 150.0, 0.2),
    _line(10, "window_step", step="read_only", started_at=BASE + 10, seconds=0.1),
    _line(10.2, "window_step", step="verify", started_at=BASE + 10.1, seconds=0.4),
    _line(10.6, "stopped", applied_position="0-1-9"),
    _line(10.7, "window_step", step="wait_applied", started_at=BASE + 10.5, seconds=0.05),
    _line(10.7, "window_step", step="record", started_at=BASE + 10.55, seconds=0.01),
]


def test_the_timeline_of_a_log():
    timeline = read_timeline(LOG)
    assert timeline.move == "shop" and timeline.skipped_lines == 1 and timeline.first == BASE and timeline.last == BASE + 10.7
    assert [(p.at - BASE, p.rows_copied, p.rows_per_second, p.lag_seconds) for p in timeline.points] == [
        (1, 0, 0.0, None), (5, 400, 200.0, 1.5), (9, 1000, 150.0, 0.2)]
    assert [(h.start - BASE, h.end - BASE, h.label) for h in timeline.holds] == [
        (0.5, 3, "max_load: Threads_running=30 > 25"), (4, 6, "operator: pause")]
    assert [s.label for s in timeline.window] == ["read_only", "verify", "wait_applied", "record"]
    assert timeline.tables == [(BASE + 8, "shop.orders", 1000)] and timeline.phase == "complete"


def test_a_hold_still_open_ends_with_the_agent():
    timeline = read_timeline([_line(0, "throttled", cause="throttle_flag_file", reason="flag"), _line(2, "failed", error="boom")])
    assert [(h.start - BASE, h.end - BASE) for h in timeline.holds] == [(0, 2)]
    assert timeline.phase == "failed" and timeline.errors == [(BASE + 2, "boom")]


def test_the_page_is_self_contained_with_a_chart_per_figure():
    page = render(read_timeline(LOG))
    assert not re.search(r"<(script|link|img)\b|https?://(?!www\.w3\.org/2000/svg)", page)
    for series, points in (("rows_copied", 3), ("rows_per_second", 3), ("lag_seconds", 2)):
        found = re.search(r'<polyline class="series" data-series="%s" points="([^"]*)"' % series, page)
        assert found and len(found.group(1).split()) == points, series
    window = re.search(r'<svg[^>]*data-chart="window".*?</svg>', page, re.S).group(0)
    assert re.findall(r'data-step="([^"]+)"', window) == ["read_only", "verify", "wait_applied", "record"]
    assert 'data-held="operator: pause"' in page and "read-only window</th><td>0.560 s" in page


def test_text_from_the_log_is_escaped():
    page = render(read_timeline([_line(0, "failed", error="<b>table `x`</b> & more")]))
    assert "&lt;b&gt;table `x`&lt;/b&gt; &amp; more" in page and "<b>table" not in page


def test_the_page_goes_to_the_state_folder_unless_told_otherwise(tmp_path):
    (tmp_path / "ferry.log").write_text("\n".join(LOG) + "\n")
    assert write_report(str(tmp_path)) == str(tmp_path / "report.html")
    assert (tmp_path / "report.html").stat().st_mode & 0o077 == 0
    assert write_report(str(tmp_path), str(tmp_path / "other.html")) == str(tmp_path / "other.html")
