"""The wait task's progress lines (engine/progress.py): every figure a person needs, none printed as "None"."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.progress import duration, progress_lines

COPYING = {"move": "shop", "phase": "copying", "rows_copied": 2500, "rows_estimated": 10000, "rows_per_second": 1250.5, "eta_seconds": 3725,
           "lag_seconds": 0.4, "lag_events": 12, "throttled": False, "throttle_reason": None,
           "tables": {"shop.orders": {"copied": 500, "estimate": 8000, "done": False}, "shop.items": {"copied": 2000, "estimate": 2000, "done": True}}}


def test_a_copying_move_shows_rows_rate_eta_lag_and_its_unfinished_tables():
    lines = progress_lines(COPYING, waited=75)
    assert lines == ["shop: copying, 2500 / 10000 rows (25.0%), 1250.5 rows/s, ETA 1 h 02 min, lag 0.4 s (12 transactions behind) [waited 1 min 15 s]",
                     "  shop.orders: 500 / 8000 rows (6.2%)"]


def test_unknown_figures_are_said_unknown_never_none():
    status = dict(COPYING, rows_per_second=0.0, eta_seconds=None, lag_seconds=None, lag_events=None, tables={})
    line = progress_lines(status)[0]
    assert "None" not in line and "ETA unknown" in line and "lag unknown" in line


def test_a_throttled_or_paused_move_says_why():
    line = progress_lines(dict(COPYING, throttled=True, throttle_reason="max_load: Threads_running=30 > 25", paused=True))[0]
    assert line.endswith("PAUSED, throttled: max_load: Threads_running=30 > 25")


def test_cascaded_rows_still_to_re_copy_are_said_and_none_is_not():
    """Verification and the cutover wait for them: the line says why; with none pending it says nothing of them."""
    line = progress_lines(dict(COPYING, phase="tailing", recopy_pending_rows=3))[0]
    assert "3 cascaded row(s) held by application transactions, still to re-copy" in line
    assert "cascaded" not in progress_lines(dict(COPYING, phase="tailing", recopy_pending_rows=0))[0]


def test_once_copied_no_eta_and_copied_beyond_the_estimate_is_100_percent():
    status = dict(COPYING, phase="tailing", rows_copied=10400, rows_estimated=10000, eta_seconds=None, tables={})
    line = progress_lines(status)[0]
    assert "ETA" not in line and "10400 / 10400 rows (100.0%)" in line


def test_the_last_error_is_shown():
    assert progress_lines(dict(COPYING, phase="died", last_error="killed"))[-1] == "  last error: killed"


def test_durations():
    assert [duration(s) for s in (None, 0, 9.6, 75, 3600, 3725)] == ["unknown", "0 s", "10 s", "1 min 15 s", "1 h 00 min", "1 h 02 min"]
