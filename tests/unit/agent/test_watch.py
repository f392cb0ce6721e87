"""`dbferry status --watch`: follows the status until the agent ends; JSON lines for programs, tqdm's bar on a terminal."""

from __future__ import annotations

import io
import json

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.agent import watch

RUNNING = {"move": "m", "phase": "copying", "running": True, "rows_copied": 40, "rows_estimated": 100, "lag_seconds": None,
           "throttled": True, "throttle_reason": "throttle_flag_file: /f exists", "tables": {}}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _follow(snapshots, view):
    feed = iter(snapshots)
    waits = []
    code = watch.watch(lambda: next(feed), view, 0.5, sleep=waits.append)
    return code, waits


def test_json_lines_until_the_agent_ends_then_the_exit_status_of_its_end():
    out = io.StringIO()
    code, waits = _follow([RUNNING, dict(RUNNING, phase="tailing"), dict(RUNNING, phase="stopped", running=False)], watch.make_view(out, "m", None))
    assert code == 0 and waits == [0.5, 0.5]
    assert [json.loads(line)["phase"] for line in out.getvalue().splitlines()] == ["copying", "tailing", "stopped"]


def test_a_move_not_started_yet_is_waited_for_not_shown():
    out = io.StringIO()
    waiting = {"phase": "not started", "running": False, "tables": {}}
    code, waits = _follow([waiting, waiting, dict(RUNNING, phase="complete", running=False)], watch.make_view(out, "m", None))
    assert code == 0 and waits == [0.5, 0.5]
    assert [json.loads(line)["phase"] for line in out.getvalue().splitlines()] == ["complete"]


@pytest.mark.parametrize("phase,code", [("complete", 0), ("stopped", 0), ("failed", 1), ("died", 1)])
def test_exit_status(phase, code):
    assert _follow([dict(RUNNING, phase=phase, running=False)], watch.JsonLines(io.StringIO()))[0] == code


def test_a_terminal_gets_the_bar_of_tqdm_with_what_holds_the_move():
    out = _Terminal()
    view = watch.make_view(out, "m", None)
    assert isinstance(view, watch.ProgressBar)
    _follow([RUNNING, dict(RUNNING, rows_copied=100, phase="complete", running=False, lag_seconds=0.0, throttled=False)], view)
    drawn = out.getvalue()
    assert "40/100 rows" in drawn and "copying, 0 rows/s, ETA unknown, lag unknown, throttled: throttle_flag_file: /f exists" in drawn
    assert "None" not in drawn
    assert "100/100 rows" in drawn and "complete, 0 rows/s, lag 0.0 s]" in drawn


def test_a_terminal_without_tqdm_gets_text_lines(monkeypatch):
    monkeypatch.setattr(watch, "tqdm", None)
    out = _Terminal()
    view = watch.make_view(out, "m", lambda snapshot: ["%s at %s" % (snapshot["move"], snapshot["phase"])])
    assert isinstance(view, watch.TextLines)
    _follow([RUNNING, dict(RUNNING, phase="stopped", running=False)], view)
    assert out.getvalue() == "m at copying\n\nm at stopped\n\n"
