"""``dbferry status`` on a terminal: a figure not known yet reads "-", and a schema change says what its cut-over waits for."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.agent.cli import _render

TABLES = {"shop.orders": {"estimate": 1000, "copied": 1000, "done": True}}


def test_unknown_figures_read_as_a_dash_not_none():
    first = next(_render({"move": "m", "phase": "copying", "tables": {}, "rows_per_second": 0.0, "eta_seconds": None,
                          "lag_seconds": None, "lag_events": 3}))
    assert "None" not in first and "ETA -" in first and "lag - (3 events)" in first


def test_a_change_waiting_for_its_cut_over_says_so():
    lines = list(_render({"kind": "alter", "table": "shop.orders", "move": "alter-x", "phase": "tailing", "tables": TABLES,
                          "rows_per_second": 0.0, "eta_seconds": None, "lag_seconds": 0.0, "lag_events": 0,
                          "waiting_for": ["the cut-over command (dbferry cut-over)"], "cut_over_attempts": 2, "running": True}))
    assert lines[0].startswith("change of shop.orders: tailing") and "lag 0.0 s" in lines[0]
    assert "  ready; the cut-over waits for the cut-over command (dbferry cut-over)" in lines
    assert "  cut-over attempts: 2" in lines
