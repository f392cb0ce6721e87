"""A move's state folder: made private, and refused when anyone else could have put something in it.

The folder holds the move's credentials (config.json), the code the agent
runs and the control socket. An existing folder is not trusted as found: one
owned by another user, or open to group or others, may hold files planted
there (a ``config.json.tmp`` link that makes the password readable, a module
the agent would import), so it is refused, not repaired. A path that cannot
be a folder (a file is there, the file system is read-only) is one message
naming the path and the fix, not a raw OS error.
"""

from __future__ import annotations

import os
import stat

from ..common.errors import DbferryError


def ensure_private_dir(path: str, move: str) -> str:
    """Create ``path`` (mode 0700) or check the one there; return it.

    Raises DbferryError, before anything is written in it, when it cannot be
    made, is not a folder, is not ours or can be entered by others.
    """
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except FileExistsError:
        raise DbferryError("the state folder %s of move %s is a file, not a folder." % (path, move), obj=path,
                           fix="remove or rename that file, or set state_dir to another path.") from None
    except OSError as exc:
        raise DbferryError("the state folder %s of move %s cannot be created: %s." % (path, move, exc.strerror or exc), obj=path,
                           fix="set state_dir to a path on a writable file system, in a folder this user may write to.") from None
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise DbferryError("the state folder %s of move %s is not a folder (a symbolic link?)." % (path, move), obj=path,
                           fix="give the real folder in state_dir, or remove what is there.")
    if info.st_uid != os.geteuid():
        raise DbferryError("the state folder %s of move %s belongs to user id %d, not to this user (%d): files planted in it would be "
                           "trusted." % (path, move, info.st_uid, os.geteuid()), obj=path,
                           fix="remove it, or set state_dir to a folder of this user's own.")
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise DbferryError("the state folder %s of move %s has mode %04o: group or others may enter it, and it holds the move's "
                           "credentials." % (path, move, stat.S_IMODE(info.st_mode)), obj=path,
                           fix="check that nothing in it was planted, then chmod 700 %s (or remove it)." % path)
    if not os.access(path, os.W_OK | os.X_OK):
        raise DbferryError("the state folder %s of move %s is not writable for this user." % (path, move), obj=path,
                           fix="make it writable (chmod 700), or set state_dir to another path.")
    return path
