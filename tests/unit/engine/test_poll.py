"""When the wait module looks again (engine/poll.py): at the configured interval while the end is far, more often near it."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.poll import FASTEST, NO_RATE_YET, next_poll


def test_a_copy_far_from_its_end_is_looked_at_every_interval():
    assert next_poll({"phase": "copying", "eta_seconds": 3600}, interval=2.0, max_lag=1.0) == 2.0


@pytest.mark.parametrize("eta,expected", [(4, 1.0), (1, 0.25), (0, FASTEST)])
def test_a_copy_near_its_end_is_looked_at_a_quarter_of_its_eta_later(eta, expected):
    """An ETA of 0 (the estimated rows are copied, the copy is not seen done yet): as often as allowed."""
    assert next_poll({"phase": "copying", "eta_seconds": eta}, interval=2.0, max_lag=1.0) == pytest.approx(expected)


def test_a_copy_without_a_rate_yet_is_looked_at_again_soon():
    """The wait's first look comes right after the agent's first status, which has no rate: a small move's copy is over
    before a whole interval has passed."""
    assert next_poll({"phase": "copying", "eta_seconds": None, "throttled": False}, interval=2.0, max_lag=1.0) == NO_RATE_YET
    assert next_poll({"phase": "copying", "eta_seconds": None}, interval=0.2, max_lag=1.0) == 0.2


def test_a_throttled_copy_of_unknown_rate_is_looked_at_every_interval():
    """Throttled, the copy has no rate for as long as the throttle holds: nothing says the end is near."""
    assert next_poll({"phase": "copying", "eta_seconds": None, "throttled": True}, interval=2.0, max_lag=1.0) == 2.0


@pytest.mark.parametrize("lag,expected", [(101.0, 2.0), (3.0, 0.5), (1.2, FASTEST)])
def test_a_lag_above_max_lag_is_looked_at_a_quarter_of_what_is_left_to_shed_later(lag, expected):
    assert next_poll({"phase": "tailing", "lag_seconds": lag}, interval=2.0, max_lag=1.0) == pytest.approx(expected)


@pytest.mark.parametrize("status", [{"phase": "starting"}, {"phase": "tailing", "lag_seconds": None},
                                    {"phase": "tailing", "lag_seconds": 0.5}])
def test_anything_else_is_looked_at_every_interval(status):
    """Unknown lag, or caught up and still waiting (the cutover postponed by its flag file): nothing says the end is near."""
    assert next_poll(status, interval=2.0, max_lag=1.0) == 2.0


def test_an_interval_below_the_fastest_is_kept():
    """A user who asked for 0.05 s gets it; the module never looks less often than asked."""
    assert next_poll({"phase": "copying", "eta_seconds": 0}, interval=0.05, max_lag=1.0) == 0.05
    assert next_poll({"phase": "copying", "eta_seconds": 100}, interval=0.05, max_lag=1.0) == 0.05
