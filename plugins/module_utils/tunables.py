"""Settings an operator may change while a move runs (``dbferry set``, the control module).

They start from the configuration; copy and apply read them again at every
batch, so a change takes effect at the next batch boundary. Plain int
attributes: one assignment replaces the value whole, so readers in other
threads never see half of a change.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import MoveConfig


@dataclass
class Tunables:
    """Batch sizes in force now (see config.OPTIONS ``copy.batch_rows`` and ``apply.batch_events``)."""

    batch_rows: int
    batch_events: int

    @classmethod
    def of(cls, config: MoveConfig) -> "Tunables":
        return cls(batch_rows=config.batch_rows, batch_events=config.batch_events)
