"""The read-only window's budget and which tables inline vouches for, without a server (verify/budget.py,
checksum.coverage_of): pure logic over what the target records."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.state import InlineState
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.tables import MovedTable
from ansible_collections.dbferry.mysql.plugins.module_utils.verify import budget
from ansible_collections.dbferry.mysql.plugins.module_utils.verify.checksum import TableResult, coverage_of

A = MovedTable("shop", "a", "shop", "a", (), ("id",))
B = MovedTable("shop", "b", "shop", "b", (), ("id",))


def _state(covered=(), checked=None, tracked_since="0-1-100", current=True) -> InlineState:
    return InlineState(tracked_since, current, frozenset(covered), dict(checked or {}))


def test_a_move_without_inline_or_with_a_gap_now_vouches_for_nothing():
    assert set(coverage_of(None, [A, B]).values()) == {"the move does not run with verify.inline"}
    gap = coverage_of(_state(covered=[("shop", "a")], current=False), [A, B])
    assert all("verify.inline was off" in why for why in gap.values())


def test_a_table_is_vouched_for_by_its_hashed_copy_or_by_a_pass_begun_after_tracking_began():
    """A pass that began before tracking_since (an agent restarted without inline since) no longer counts."""
    found = coverage_of(_state(covered=[("shop", "a")], checked={("shop", "b"): "0-1-150"}), [A, B])
    assert found == {"shop.a": None, "shop.b": None}
    stale = coverage_of(_state(checked={("shop", "b"): "0-1-99"}), [A, B])
    assert stale["shop.b"] is not None and "no checksum pass vouched for it since" in stale["shop.b"]
    assert stale["shop.a"] is not None


def test_the_estimate_counts_dirty_rows_for_vouched_tables_and_every_row_for_the_others():
    coverage = {"shop.a": None, "shop.b": "not hashed"}
    found = budget.estimate([A, B], coverage, {("shop", "a"): 2000, ("shop", "b"): 5}, {("shop", "a"): 10**6, ("shop", "b"): 10**6},
                            parallel=2)
    parts = {p.table: p for p in found.parts}
    assert (parts["shop.a"].method, parts["shop.a"].rows) == ("inline", 2000)
    assert (parts["shop.b"].method, parts["shop.b"].rows) == ("checksum", 10**6)
    assert found.seconds == pytest.approx(10**6 / budget.CHECKSUM_ROWS_PER_SECOND)  # the largest table, the other alongside
    assert found.largest().table == "shop.b"
    assert "shop.b: all 1000000 rows by checksum" in found.describe()


def test_method_checksum_counts_every_row_a_measured_rate_and_the_lag_count_too():
    found = budget.estimate([A, B], None, {}, {("shop", "a"): 1000, ("shop", "b"): 3000}, parallel=1, checksum_rate=1000.0,
                            catch_up_seconds=0.5)
    assert found.seconds == pytest.approx(0.5 + 4.0)
    assert found.as_dict()["tables"][1] == {"table": "shop.b", "method": "checksum", "rows": 3000, "seconds": 3.0}
    assert "catching up 0.5 s of binlog lag" in found.describe()


def test_a_rate_is_measured_only_from_a_pass_that_read_enough_rows():
    assert budget.measured_rate([TableResult(A, rows=100, seconds=0.01)]) is None
    assert budget.measured_rate([TableResult(A, rows=20000, seconds=0.5), TableResult(B, rows=20000, seconds=0.5)]) == 40000


def test_an_estimate_over_the_limit_is_refused_naming_the_table_and_0_is_no_limit():
    found = budget.estimate([A, B], {"shop.a": None, "shop.b": "not hashed"}, {}, {("shop", "b"): 10**6}, parallel=2)
    with pytest.raises(DbferryError) as refused:
        budget.refuse_over(found, 5)
    assert refused.value.obj == "shop.b" and "over max_read_only_seconds 5" in str(refused.value)
    assert "shop.b is compared by checksum in the window" in refused.value.fix
    budget.refuse_over(found, 0)
    budget.refuse_over(found, found.seconds)


def test_an_overrun_names_the_step_and_what_took_the_time():
    assert budget.overrun(5, 4.9, "verify") is None
    assert budget.overrun(0, 100, "verify") is None
    slowest = budget.slowest_table([TableResult(A, rows=10, seconds=0.1, method="inline"), TableResult(B, rows=900, seconds=7.5)])
    assert slowest == "shop.b, 900 rows by checksum in 7.500 s"
    message = budget.overrun(5, 7.75, "verify", slowest)
    assert message == ("the source has been read-only for 7.750 s, over max_read_only_seconds 5, after step verify "
                       "(the longest: shop.b, 900 rows by checksum in 7.500 s).")


def test_the_cutovers_orphan_scans_come_after_the_verification():
    found = budget.Estimate((budget.Part("d.a", "checksum", 100, 2.0), budget.Part("d.b", "checksum", 100, 2.0)), 2, 1.0, 3.0)
    assert found.seconds == 1.0 + 2.0 + 3.0
    assert "orphan scans of foreign keys to parents outside the move 3.0 s" in found.describe()
    assert found.as_dict()["orphan_scan_seconds"] == 3.0
