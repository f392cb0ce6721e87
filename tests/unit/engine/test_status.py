"""The engine's status: which call completes the copy (pure logic, threads racing for it)."""

from __future__ import annotations

import threading

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.status import Status


def test_the_call_that_completes_the_copy_is_the_only_one_told_so():
    status = Status("m")
    for name in ("s.a", "s.b"):
        status.add_table(name, 10, 0, False)
    assert status.copied("s.a", 10, True) is False  # s.b is not done yet
    assert status.copied("s.b", 5, False) is False
    assert status.copied("s.b", 5, True) is True
    assert status.copied("s.b", 0, True) is False  # done already: the hook must not run again


def _finish(status: Status, start: threading.Barrier, told: list, name: str) -> None:
    start.wait()
    told.append(status.copied(name, 1, True))


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
