"""The copy of an online schema change in key ranges, ``copy_concurrency`` chunks at a time.

One chunk stream (copy.py) keeps one server thread busy: the server copies
a chunk with one thread, and the agent only waits for it. Where the server
has more cores, several streams copy at once, each in a key range of its
own with its own cursor. Why ranges and not chunks handed out from one
cursor: a cursor may only move over chunks with every chunk before them
committed, or a crash would skip a chunk that had not; a range's cursor
is moved by its stream alone, in the chunk's own transaction, exactly as
with one stream (state.py records a cursor per range).

The bounds are chosen once, when the change is recorded (engine/
key_ranges.py: an integer key is cut between its MIN and MAX, any other by
the server's n-th key), and a resumed change copies the same ranges from
their cursors, with however many streams its run is given. Ranges are
disjoint and cover every key (the first has no start, the last no end), so
copy.py's consistency argument, which holds for any key range, holds for
each. There are twice as many ranges as streams, so that a stream whose
range had fewer rows takes another instead of idling at the end.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from ..engine import state
from ..engine.key_ranges import choose_bounds
from ..engine.keys import KeyValue
from ..engine.tables import MovedTable
from .copy import ChunkCopy

#: Ranges per stream: a stream that finishes its range early takes the next one.
RANGES_PER_STREAM = 2


def range_bounds(conn: Any, table: MovedTable, streams: int, estimated_rows: int) -> list[KeyValue]:
    """The keys between the ranges of a change copied by ``streams`` streams (none for one stream)."""
    if streams < 2:
        return []
    return choose_bounds(conn, table, streams * RANGES_PER_STREAM, estimated_rows, min_rows=0)


class _Either:
    """Set when the caller's ``stop`` is, or when a stream failed: what each stream waits on (is_set, wait)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.failed = threading.Event()

    def is_set(self) -> bool:
        return self.stop.is_set() or self.failed.is_set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        step = 0.05 if timeout is None else min(0.05, timeout)
        waited = 0.0
        while not self.is_set() and (timeout is None or waited < timeout):
            self.stop.wait(step)
            waited += step
        return self.is_set()


def copy_in_ranges(ranges: list[state.Cursor], streams: int, chunk_copy: Callable[[int], ChunkCopy],
                   progress: Callable[[int, bool], None], stop: threading.Event) -> bool:
    """Copy the ``ranges`` (copy.recorded_ranges) not done yet, ``streams`` at a time, each by ``chunk_copy(range_no)``.

    True when every range is done, False when ``stop`` was set first. The
    first stream that fails stops the others at their next chunk (each has
    committed what it copied) and its error is raised. ``progress`` is told
    of rows as chunks commit, and of the end once, when every range is done.
    """
    pending = [cursor.range_no for cursor in ranges if not cursor.done]
    halt = _Either(stop)
    errors: list[BaseException] = []
    taken = threading.Lock()

    def stream() -> None:
        while not halt.is_set():
            with taken:
                if not pending:
                    return
                range_no = pending.pop(0)
            try:
                if not chunk_copy(range_no).run(halt):  # type: ignore[arg-type]  # an Event's is_set and wait
                    return
            except BaseException as exc:  # noqa: BLE001 - raised below, in the caller's thread  # pylint: disable=broad-exception-caught
                errors.append(exc)
                halt.failed.set()
                return

    threads = [threading.Thread(target=stream, name="osc-copy-%d" % n, daemon=True) for n in range(max(1, min(streams, len(pending))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    if halt.is_set() or pending:
        return False
    progress(0, True)
    return True
