"""``dbferry status --watch``: follow a move (or a schema change) until its agent is no longer running.

On a terminal, a live progress bar drawn by tqdm (rows copied of estimated, rows/s, ETA, then lag and why the move is
held); a program reading stdout gets one JSON status a line instead. tqdm is optional: the installed collection's
``bin/dbferry`` needs only Python 3 and PyMySQL, so without tqdm a terminal gets the status as text lines, one block a
poll. The bar is tqdm's, not drawn here: resizing, rate smoothing and terminal quirks are what a library is for.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterable, TextIO

try:
    from tqdm import tqdm
except ImportError:  # bin/dbferry of an installed collection: Python 3 and PyMySQL only
    tqdm = None

from ..engine.progress import pace_parts

#: Phases after which the agent has ended for good, or for now: watching stops, with exit status 0 or 1.
_ENDED_WELL = ("complete", "stopped")


class JsonLines:
    """One JSON object a poll: for programs (stdout not a terminal)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def show(self, snapshot: dict[str, Any]) -> None:
        self.out.write(json.dumps(snapshot, sort_keys=True) + "\n")
        self.out.flush()

    def close(self) -> None:
        """Nothing to tidy: every line is complete."""


class TextLines:
    """The status as text lines a poll (a terminal without tqdm)."""

    def __init__(self, out: TextIO, render: Callable[[dict[str, Any]], Iterable[str]]) -> None:
        self.out = out
        self.render = render

    def show(self, snapshot: dict[str, Any]) -> None:
        self.out.write("\n".join(self.render(snapshot)) + "\n\n")
        self.out.flush()

    def close(self) -> None:
        """Nothing to tidy: every line is complete."""


def bar_postfix(snapshot: dict[str, Any]) -> str:
    """The agent's own figures after the bar: phase, then those of the progress lines (rows/s, ETA while copying, lag,
    why the move is held). Not tqdm's rate and ETA: it would see the rows copied before the watch started arrive all at
    once."""
    return ", ".join([snapshot.get("phase", "unknown")] + pace_parts(snapshot))


class ProgressBar:
    """A tqdm bar of all tables' rows: its position is the agent's count, not tqdm's own (the agent may have copied rows
    before this watch started, and a restarted agent counts from its checkpoints)."""

    #: The bar and the counts; the figures are the agent's (bar_postfix).
    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n}/{total} rows [{elapsed}{postfix}]"

    def __init__(self, out: TextIO, name: str) -> None:
        if tqdm is None:
            raise RuntimeError("tqdm is not installed")
        self.out = out
        self.name = name
        self.drawn: Any = None

    def show(self, snapshot: dict[str, Any]) -> None:
        copied = int(snapshot.get("rows_copied") or 0)
        total = max(int(snapshot.get("rows_estimated") or 0), copied)
        if self.drawn is None:  # made with the first status: its total known, no empty bar drawn first
            self.drawn = tqdm(total=total, initial=copied, desc=self.name, bar_format=self.FORMAT, dynamic_ncols=True, file=self.out, leave=True)
        self.drawn.total = total
        self.drawn.n = copied
        self.drawn.set_postfix_str(bar_postfix(snapshot), refresh=False)
        self.drawn.refresh()

    def close(self) -> None:
        if self.drawn is not None:
            self.drawn.close()


def exit_status(snapshot: dict[str, Any]) -> int:
    """0 when the move ended well (complete, or stopped at a checkpoint), 1 when it failed or died."""
    return 0 if snapshot.get("phase") in _ENDED_WELL else 1


def watch(read: Callable[[], dict[str, Any]], view: Any, interval: float, sleep: Callable[[float], None] = time.sleep) -> int:
    """Show ``read()`` every ``interval`` seconds until the agent is not running; the exit status of its last phase.

    A move not started yet is waited for, not shown: a watch is often started in a second terminal just before the
    playbook that starts the agent.
    """
    try:
        while True:
            snapshot = read()
            if snapshot.get("phase") == "not started" and not snapshot.get("running", False):
                sleep(interval)
                continue
            view.show(snapshot)
            if not snapshot.get("running", False):
                return exit_status(snapshot)
            sleep(interval)
    finally:
        view.close()


def make_view(out: TextIO, name: str, render: Callable[[dict[str, Any]], Iterable[str]]) -> Any:
    """The view for ``out``: JSON lines unless it is a terminal; there tqdm's bar, or text lines without tqdm."""
    if not out.isatty():
        return JsonLines(out)
    if tqdm is None:
        return TextLines(out, render)
    return ProgressBar(out, name)
