"""A move's status as a few lines of text for a person watching a long step (the wait task's progress lines).

Pure formatting of what ``status.json`` holds (``Status.snapshot``, ``agent.process.read_status``): no I/O, so the
action plugin on the controller can print it from a result, and unit tests can pin it. A figure the status does not
know yet is said to be unknown (or left out), never printed as "None": a line at 3 a.m. that reads "ETA None" makes
people think the move is broken.
"""

from __future__ import annotations

from typing import Any, Optional

#: The phase in which rows are still being copied: only then is an ETA meaningful.
_COPYING = "copying"


def duration(seconds: Optional[float]) -> str:
    """``3725`` -> ``1 h 02 min``, ``75`` -> ``1 min 15 s``, ``9`` -> ``9 s``; None -> ``unknown``."""
    if seconds is None:
        return "unknown"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return "%d h %02d min" % (hours, minutes)
    if minutes:
        return "%d min %02d s" % (minutes, secs)
    return "%d s" % secs


def _percent(copied: int, estimated: int) -> str:
    """Share copied; the estimate (information_schema's TABLE_ROWS) may be below what is copied already."""
    return "%.1f%%" % (100.0 * copied / max(estimated, copied, 1))


def _lag(status: dict[str, Any]) -> str:
    seconds = status.get("lag_seconds")
    events = status.get("lag_events")
    text = "lag unknown" if seconds is None else "lag %s s" % seconds
    return text if events is None else "%s (%s transactions behind)" % (text, events)


def pace_parts(status: dict[str, Any]) -> list[str]:
    """rows/s, ETA while copying, lag, and why the move is held: the agent's own figures, shared by the progress lines
    and the bar of ``dbferry status --watch`` (agent/watch.py)."""
    parts = ["%s rows/s" % (status.get("rows_per_second") or 0)]
    if status.get("phase") == _COPYING:
        parts.append("ETA %s" % duration(status.get("eta_seconds")))
    parts.append(_lag(status))
    if status.get("recopy_pending_rows"):
        parts.append("%s cascaded row(s) held by application transactions, still to re-copy" % status["recopy_pending_rows"])
    if status.get("paused"):
        parts.append("PAUSED")
    if status.get("throttled"):
        parts.append("throttled: %s" % (status.get("throttle_reason") or "reason not reported"))
    return parts


def summary_line(status: dict[str, Any]) -> str:
    """One line: phase, rows copied of estimated, rows/s, ETA while copying, lag, and why it is held."""
    copied = int(status.get("rows_copied") or 0)
    estimated = int(status.get("rows_estimated") or 0)
    parts = ["%s: %s" % (status.get("move") or "move", status.get("phase", "unknown")),
             "%d / %d rows (%s)" % (copied, max(estimated, copied), _percent(copied, estimated))]
    return ", ".join(parts + pace_parts(status))


def table_lines(status: dict[str, Any]) -> list[str]:
    """One line per table whose copy is not done (done tables only add noise to a line printed every 30 s), in name order."""
    lines = []
    for name, table in sorted((status.get("tables") or {}).items()):
        if table.get("done"):
            continue
        copied, estimate = int(table.get("copied") or 0), int(table.get("estimate") or 0)
        lines.append("  %s: %d / %d rows (%s)" % (name, copied, max(estimate, copied), _percent(copied, estimate)))
    return lines


def progress_lines(status: dict[str, Any], waited: Optional[float] = None) -> list[str]:
    """The summary line (after how long the caller has waited, when given), the unfinished tables, the last error."""
    first = summary_line(status)
    if waited is not None:
        first = "%s [waited %s]" % (first, duration(waited))
    lines = [first] + table_lines(status)
    if status.get("last_error"):
        lines.append("  last error: %s" % status["last_error"])
    return lines
