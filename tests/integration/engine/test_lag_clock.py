"""Lag in seconds is measured against the source's own clock (issue 13, item 12).

Binlog event timestamps are the source's clock. Measured against the ferry
host's clock, a skew between the two hosts was added to every lag figure:
with the source 5 s behind, lag never fell under a wait's max_lag of 1 s.
A second clock cannot be given to a sandbox server, so this test skews the
ferry host's clock instead (30 s ahead), which is the same skew seen from
the other side; the servers, the binlog and the engine are real.
"""

from __future__ import annotations

import time

from ferry_support import DmlLoad, FerryThread, make_load_tables, move_config, wait_caught_up

#: The skew the test gives the ferry host's clock.
SKEW_SECONDS = 30.0


def test_lag_does_not_include_the_clock_skew_between_hosts(servers, db, tmp_path, monkeypatch):
    make_load_tables(servers, db, 200)
    snapshots: list[dict] = []
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + SKEW_SECONDS)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"), on_status=snapshots.append)
    load = DmlLoad(servers, db, connections=3, per_second=50)
    try:
        wait_caught_up(servers, ferry.config.name)
        seen = len(snapshots)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            time.sleep(0.5)
        # lag_seconds is None (unknown) until the applier has applied a transaction of this run: no skew in that.
        while_writing = [s for s in snapshots[seen:] if s["lag_events"] > 0 and s["lag_seconds"] is not None]
    finally:
        load.finish()
        ferry.finish()
    assert while_writing, "no status was taken while transactions were pending: %r" % snapshots[seen:]
    # The source's clock is 30 s behind the (skewed) ferry host's, and status says so.
    assert abs(while_writing[-1]["source_clock_offset_seconds"] + SKEW_SECONDS) < 2, while_writing[-1]
    # Real lag at 150 transactions/s is well under a second; with the skew added it was 30 s and more.
    worst = max(s["lag_seconds"] for s in while_writing)
    assert worst < SKEW_SECONDS / 3, [(s["lag_seconds"], s["lag_events"]) for s in while_writing]
