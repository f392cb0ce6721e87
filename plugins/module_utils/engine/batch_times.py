"""How long the copy's batches hold their rows' locks on the source: what an application's write to those rows waits on.

A batch's time runs from the start of its locking read to the source commit that ends its transaction, once its rows
are committed on the target (copier.py, steps 1-4). A batch read ahead waits for a free writer inside that time, still
holding its locks, so the wait counts too. The status shows the median, the 99th percentile and the longest of the last
WINDOW batches (``copy_batch_lock_ms``); the bench compares the 99th percentile of a big table's copy with a small one's
(issue 19: the cost of a batch must not grow with the table).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Optional

#: Batches the figures are taken over: the whole copy of a table of 10M rows at the default 1,000 rows a batch.
WINDOW = 10_000


def _rank(ordered: list[float], percent: int) -> float:
    """The nearest-rank ``percent``-th percentile (1-100) of ``ordered``, a non-empty sorted list."""
    return ordered[-(-len(ordered) * percent // 100) - 1]


class BatchTimes:
    """The seconds of the last WINDOW batches, added by the copiers' writer threads, summed up for each status snapshot."""

    def __init__(self) -> None:
        self._seconds: deque[float] = deque(maxlen=WINDOW)
        self._lock = threading.Lock()
        self._added = 0
        #: The summary as of ``_added`` batches: a status is published twice a second, long after the copy has ended too.
        self._summary: tuple[int, Optional[dict[str, Any]]] = (0, None)

    def add(self, seconds: float) -> None:
        with self._lock:
            self._seconds.append(seconds)
            self._added += 1

    def summary(self) -> Optional[dict[str, Any]]:
        """``{"batches", "p50", "p99", "max"}`` in milliseconds over the last WINDOW batches (``batches``: how many); None
        before the first batch."""
        with self._lock:
            if self._summary[0] == self._added:
                return self._summary[1]
            added, ordered = self._added, sorted(self._seconds)
        summary = {"batches": len(ordered), "p50": round(_rank(ordered, 50) * 1000, 1),
                   "p99": round(_rank(ordered, 99) * 1000, 1), "max": round(ordered[-1] * 1000, 1)}
        with self._lock:
            self._summary = (added, summary)
        return summary
