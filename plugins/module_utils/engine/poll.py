"""How long the wait module sleeps before its next look at a move's status.

Why not a fixed interval: the wait task ends at the first look that finds the move caught up, so a fixed interval of
2 s left the playbook idle for 1 s on average (2 s at worst) after the agent's last row, on a copy of a few seconds a
third of the user's wait. A look is one request on the agent's control socket (a status snapshot, under a millisecond),
so looking often is cheap; but a look every 0.1 s for a copy of hours would fill the task's samples with the same
figures. So: the configured interval while the end is far, and more often as the move nears it, by the figures the
status already has (the copy's ETA, the lag's distance to ``max_lag``), down to FASTEST.

Pure: no I/O, unit-tested.
"""

from __future__ import annotations

from typing import Any, Optional

#: The shortest sleep between two looks: the task ends at most this long after the move is caught up.
FASTEST = 0.1
#: The sleep while a copy has no rate yet (the first look after the agent module returns sees one status, so no rate): a
#: second look this soon measures one, and a move whose copy takes less than the interval (a small move, a shard) is not
#: left idle for the rest of the interval after its end.
NO_RATE_YET = 0.5
#: The share of the time the move still needs that is slept: the figures are estimates (the copy's ETA is from
#: information_schema's row estimate), so looking a few times before the estimated end bounds what an error costs.
_SHARE = 0.25


def _near(remaining: Optional[float], interval: float) -> float:
    """A share of ``remaining`` seconds, between FASTEST and ``interval``; ``interval`` when nothing is known."""
    if remaining is None:
        return interval
    return max(min(interval, FASTEST), min(interval, remaining * _SHARE))


def next_poll(status: dict[str, Any], interval: float, max_lag: float) -> float:
    """Seconds to sleep before the next look at ``status`` (agent.process.read_status's), at most ``interval``.

    Copying: a share of the ETA (0 once the estimated rows are copied: FASTEST until the copy is seen done); NO_RATE_YET
    while it has no rate and is not throttled (it just started, or no row arrived in the rate's window).
    Tailing with the lag above ``max_lag``: a share of the lag still to shed (the applier sheds at least one second of
    lag a second unless the source writes faster than it applies; then the interval bounds the looks).
    Anything else (starting, throttled with no rate, caught up but postponed): ``interval``.
    """
    phase = status.get("phase")
    if phase == "copying":
        eta = status.get("eta_seconds")
        if eta is None and not status.get("throttled"):
            return min(interval, NO_RATE_YET)
        return _near(None if eta is None else float(eta), interval)
    lag = status.get("lag_seconds")
    if phase == "tailing" and lag is not None and lag > max_lag:
        return _near(float(lag) - max_lag, interval)
    return interval
