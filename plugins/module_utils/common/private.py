"""Files that hold credentials or status: created with mode 0600 and replaced atomically.

The mode is set when the file is created (never chmod after writing, which
would leave a moment where others could read it), and the new content goes
to a temporary file renamed over the old one, so a reader sees the old or
the new file, never half of one. The temporary file gets a fresh, unguessable
name (mkstemp: O_CREAT|O_EXCL), never a fixed ``<path>.tmp`` that a link
planted beforehand could redirect elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


def write_private(path: str, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only."""
    folder, name = os.path.split(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix="." + name + ".", suffix=".tmp", dir=folder)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
