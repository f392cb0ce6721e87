"""Files that hold credentials: created with mode 0600 and replaced atomically.

The mode is set when the file is created (never chmod after writing, which
would leave a moment where others could read it), and the new content goes
to a temporary file renamed over the old one, so a reader sees the old or
the new file, never half of one.
"""

from __future__ import annotations

import os


def write_private(path: str, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only."""
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)
