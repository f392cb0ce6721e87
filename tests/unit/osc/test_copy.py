"""The copy's chunk sizing (osc/copy.py's next_chunk_rows): toward CHUNK_SECONDS a chunk, within its bounds."""

from __future__ import annotations

import random

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import ALTER_BY_KEY, CHUNK_GROWTH, CHUNK_SECONDS
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.copy import MAX_CHUNK_ROWS, MIN_CHUNK_ROWS, next_chunk_rows


def test_bounds_are_the_options_limits():
    assert (MIN_CHUNK_ROWS, MAX_CHUNK_ROWS) == ALTER_BY_KEY["chunk_size"].limits


def test_a_chunk_on_time_keeps_its_size():
    assert next_chunk_rows(4000, CHUNK_SECONDS, 1000) == 4000


def test_a_fast_chunk_at_most_doubles():
    assert next_chunk_rows(1000, CHUNK_SECONDS / 100, 1000) == 2000
    assert next_chunk_rows(1000, CHUNK_SECONDS / 1.5, 1000) == 1500


def test_growth_stops_at_growth_times_chunk_size_and_at_the_options_limit():
    assert next_chunk_rows(8000, CHUNK_SECONDS / 100, 1000) == CHUNK_GROWTH * 1000
    assert next_chunk_rows(90000, CHUNK_SECONDS / 100, 50000) == MAX_CHUNK_ROWS
    assert next_chunk_rows(1000, 0.0, 1000) == 2000  # a chunk too fast to time


def test_a_slow_chunk_shrinks_the_next_at_once_but_not_below_the_least():
    assert next_chunk_rows(10000, CHUNK_SECONDS * 4, 1000) == 2500
    assert next_chunk_rows(100, CHUNK_SECONDS * 1000, 1000) == MIN_CHUNK_ROWS


def test_a_smaller_chunk_size_bounds_chunks_lower():
    """An operator who sets chunk_size lower (dbferry set) gets smaller chunks: the ceiling follows it."""
    assert next_chunk_rows(5000, CHUNK_SECONDS / 100, 100) == 100 * CHUNK_GROWTH


@pytest.mark.parametrize("seed", range(5))
def test_any_pace_stays_within_the_bounds(seed):
    rng = random.Random(seed)
    low, high = (int(bound) for bound in ALTER_BY_KEY["chunk_size"].limits)
    for _draw in range(2000):
        chunk_size = rng.randint(low, high)
        rows = rng.randint(low, min(high, CHUNK_GROWTH * chunk_size))
        seconds = rng.choice([0.0, rng.uniform(0, 0.001), rng.uniform(0, 10)])
        size = next_chunk_rows(rows, seconds, chunk_size)
        assert MIN_CHUNK_ROWS <= size <= min(MAX_CHUNK_ROWS, CHUNK_GROWTH * chunk_size, 2 * rows)
