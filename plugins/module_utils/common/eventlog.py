"""The move's log: one JSON object per line, for people at 3 a.m. and for tools.

Every line has a UTC timestamp, the move name and an event name; the other
fields depend on the event. Nothing here ever receives a configuration or a
connection spec, so no credential can reach the log.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from typing import Any, Optional, TextIO


class EventLog:
    """Appends events to ``path`` (when given) and echoes them to ``echo``."""

    def __init__(self, move: str, path: Optional[str] = None, echo: Optional[TextIO] = None) -> None:
        self.move = move
        self.echo = echo
        self._lock = threading.Lock()
        self._file = None
        if path:
            # O_NOFOLLOW: a link planted where the log goes must not send the log elsewhere.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8")

    def event(self, name: str, **fields: Any) -> None:
        record = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "move": self.move, "event": name}
        record.update(fields)
        line = json.dumps(record, default=str, sort_keys=False) + "\n"
        with self._lock:
            for stream in (self._file, self.echo):
                if stream is not None:
                    stream.write(line)
                    stream.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
