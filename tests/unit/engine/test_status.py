"""The engine's status: which call completes the copy (pure logic, threads racing for it)."""

from __future__ import annotations

import threading

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.status import Status


def test_the_call_that_completes_the_copy_is_the_only_one_told_so():
    status = Status("m")
    for name in ("s.a", "s.b"):
        status.add_table(name, 10, 0, False)
    assert status.copied("s.a", 10, True) == (True, False)  # s.b is not done yet
    assert status.copied("s.b", 5, False) == (False, False)
    assert status.copied("s.b", 5, True) == (True, True)
    assert status.copied("s.b", 0, True) == (False, False)  # done already: the hook must not run again


def _finish(status: Status, start: threading.Barrier, told: list, name: str) -> None:
    start.wait()
    told.append(status.copied(name, 1, True)[1])


def test_two_copiers_finishing_at_once_complete_the_copy_once():
    """Two copier threads finish the last two tables together: on-copy-complete once, never twice (it ran twice)."""
    for _attempt in range(200):
        status = Status("m")
        for name in ("s.a", "s.b"):
            status.add_table(name, 1, 0, False)
        start = threading.Barrier(2)
        told: list[bool] = []
        threads = [threading.Thread(target=_finish, args=(status, start, told, name)) for name in ("s.a", "s.b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(told) == [False, True]


def test_a_table_of_several_ranges_is_done_with_its_last_range_and_shows_each():
    status = Status("m")
    status.add_table("s.big", 100, 10, False, [(10, True), (0, False), (0, False)])
    assert status.copied("s.big", 30, False, 1) == (False, False)
    assert status.copied("s.big", 0, True, 1) == (False, False)
    shown = status.snapshot()["tables"]["s.big"]
    assert (shown["copied"], shown["copied_range"], shown["ranges_done"], shown["done"]) == (40, [10, 30, 0], 2, False)
    assert status.copied("s.big", 20, True, 2) == (True, True)
    shown = status.snapshot()["tables"]["s.big"]
    assert (shown["copied"], shown["copied_range"], shown["ranges_done"], shown["done"]) == (60, [10, 30, 20], 3, True)


def test_a_table_of_one_range_shows_no_ranges():
    status = Status("m")
    status.add_table("s.a", 5, 0, False, [(0, False)])
    assert "copied_range" not in status.snapshot()["tables"]["s.a"]
