"""Settings an operator may change while a move runs (``dbferry set``, the control module).

They start from the configuration; copy and apply read the batch sizes again
at every batch, the throttle checks read the limits at every check, so a
change takes effect at the next batch or check. Each attribute is replaced
whole by one assignment (a new dict for the thresholds), so readers in other
threads never see half of a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .move_config import MoveConfig, format_thresholds, runtime_setting
from .options import RUNTIME_SETTINGS
from ..common.errors import DbferryError


@dataclass
class Tunables:
    """The values in force now: one field per option options.py marks ``runtime``, of the same name.

    No defaults: they start from the move's configuration (``of``), whose defaults options.py holds.
    """

    batch_rows: int
    batch_events: int
    max_load: dict[str, int]
    critical_load: dict[str, int]
    max_lag_millis: int
    throttle_query: Optional[str]

    @classmethod
    def of(cls, config: MoveConfig) -> "Tunables":
        """The settings a move starts with: its configuration's."""
        return cls(**{name: getattr(config, name) for name in RUNTIME_SETTINGS})

    def settings(self) -> dict[str, Any]:
        """The values as an operator writes them (thresholds as ``Threads_running=25,...``)."""
        values = {name: getattr(self, name) for name in RUNTIME_SETTINGS}
        for name in ("max_load", "critical_load"):
            values[name] = format_thresholds(values[name])
        return values

    def update(self, changes: dict[str, Any], dry_run: bool = False) -> dict[str, list]:
        """Validate every change first (a bad one changes nothing), then apply; return {name: [old, new]} of those that differ."""
        if not changes:
            raise DbferryError("nothing to set.", obj="set", fix="name at least one of: %s." % ", ".join(RUNTIME_SETTINGS))
        parsed = {name: runtime_setting(name, value) for name, value in changes.items()}
        before = self.settings()
        differ = {name: value for name, value in parsed.items() if value != getattr(self, name)}
        if not dry_run:
            for name, value in differ.items():
                setattr(self, name, value)
        after = dict(before, **{name: (format_thresholds(v) if isinstance(v, dict) else v) for name, v in differ.items()})
        return {name: [before[name], after[name]] for name in differ}
