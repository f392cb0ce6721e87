"""The copy's batch lock times in the status: nearest-rank percentiles over a bounded window (pure logic)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.batch_times import WINDOW, BatchTimes
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.status import Status


def test_no_batch_no_figures_and_none_in_the_status():
    assert BatchTimes().summary() is None
    assert "copy_batch_lock_ms" not in Status("m").snapshot()


def test_percentiles_are_nearest_rank_in_milliseconds():
    times = BatchTimes()
    for ms in range(200, 0, -1):  # 1..200 ms, added in reverse order
        times.add(ms / 1000)
    assert times.summary() == {"batches": 200, "p50": 100.0, "p99": 198.0, "max": 200.0}


def test_a_single_batch_is_every_percentile():
    times = BatchTimes()
    times.add(0.0125)
    assert times.summary() == {"batches": 1, "p50": 12.5, "p99": 12.5, "max": 12.5}


def test_only_the_last_window_of_batches_counts():
    """A slow start (say, a cold buffer pool) leaves the figures once WINDOW later batches are in."""
    times = BatchTimes()
    for _slow in range(100):
        times.add(5.0)
    assert times.summary()["max"] == 5000.0
    for _fast in range(WINDOW):
        times.add(0.002)
    assert times.summary() == {"batches": WINDOW, "p50": 2.0, "p99": 2.0, "max": 2.0}


def test_the_summary_follows_batches_added_after_it_was_taken():
    """The summary is kept between snapshots; a batch added since must show in the next one."""
    status = Status("m")
    status.batch_times.add(0.001)
    assert status.snapshot()["copy_batch_lock_ms"]["batches"] == 1
    status.batch_times.add(0.003)
    assert status.snapshot()["copy_batch_lock_ms"] == {"batches": 2, "p50": 1.0, "p99": 3.0, "max": 3.0}
