"""A fixed list of work items shared by a few threads: the engine's table
copiers and verification's table workers.

Each thread takes the next item until none is left or ``stop`` is set, so
a slow item holds up one thread only. Whatever a thread needs for all its
items (verification's own source and target sessions) it opens once, in
``work``, which is handed the items one by one as an iterator. The first
error sets ``stop``, so the other threads end after their current item.

The copier's writers (copier._Writers) are not such a pool: their batches
arrive while they run, in key order, and a failed batch is retried by the
copier with new sessions rather than stopping the others.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Generic, Iterable, Iterator, Optional, TypeVar

Item = TypeVar("Item")


class WorkerPool(Generic[Item]):
    """``count`` threads named ``name-0``, ``name-1``, ..., each running ``work`` over the items it takes.

    ``failed`` is told of each error (from the thread that raised it); by
    default the pool keeps them and ``join`` raises the first. Either way
    the first error sets ``stop``.
    """

    def __init__(self, name: str, count: int, items: Iterable[Item], work: Callable[[Iterator[Item]], None],
                 stop: Optional[threading.Event] = None, failed: Optional[Callable[[BaseException], None]] = None) -> None:
        self.pending: queue.Queue = queue.Queue()
        for item in items:
            self.pending.put(item)
        self.work = work
        self.stop = stop if stop is not None else threading.Event()
        self.errors: list[BaseException] = []
        self.failed = failed if failed is not None else self.errors.append
        self.threads = [threading.Thread(target=self._run, name="%s-%d" % (name, i), daemon=True) for i in range(count)]

    def start(self) -> "WorkerPool[Item]":
        for thread in self.threads:
            thread.start()
        return self

    def join(self) -> None:
        """Wait for every thread; raise the first error the pool kept."""
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]

    def _items(self) -> Iterator[Item]:
        while not self.stop.is_set():
            try:
                item = self.pending.get_nowait()
            except queue.Empty:
                return
            yield item

    def _run(self) -> None:
        try:
            self.work(self._items())
        except BaseException as exc:  # noqa: BLE001 - handed to the pool's owner  # pylint: disable=broad-exception-caught
            self.failed(exc)
            self.stop.set()
