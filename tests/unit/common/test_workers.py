"""WorkerPool: threads share the items, each opens what it needs once, and the first error stops the others."""

from __future__ import annotations

import threading

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.workers import WorkerPool


def test_every_item_is_taken_once_by_one_of_the_threads():
    taken: list[tuple[str, int]] = []
    opened: list[str] = []

    def work(pending):
        opened.append(threading.current_thread().name)  # once per thread, not per item
        for item in pending:
            taken.append((threading.current_thread().name, item))

    WorkerPool("w", 3, range(20), work).start().join()
    assert sorted(item for _name, item in taken) == list(range(20))
    assert sorted(opened) == ["w-0", "w-1", "w-2"]
    assert {name for name, _item in taken} <= set(opened)


def test_the_first_error_stops_the_others_and_is_raised():
    started = threading.Event()
    taken: list[int] = []

    def work(pending):
        for item in pending:
            if item == 0:
                started.wait(5)  # the other thread is busy with an item when this one fails
                raise ValueError("item 0")
            taken.append(item)
            started.set()
            pool.stop.wait(5)  # hold the item until the pool is stopped

    pool = WorkerPool("w", 2, range(10), work)
    with pytest.raises(ValueError, match="item 0"):
        pool.start().join()
    assert pool.stop.is_set() and taken == [1]


def test_errors_go_to_the_owner_with_its_own_stop():
    stop = threading.Event()
    errors: list[BaseException] = []

    def work(pending):
        for _item in pending:
            raise RuntimeError("boom")

    WorkerPool("w", 1, [1], work, stop=stop, failed=errors.append).start().join()  # the owner raises, not the pool
    assert stop.is_set() and [str(e) for e in errors] == ["boom"]
