"""Shared test set-up: make sure the checkout is importable as ansible_collections.dbferry.mysql.

pytest.ini puts .build/collections on sys.path; scripts/setup.sh creates the
link there, and this creates it too so that a bare `pytest` works.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".build" / "collections"
_LINK = COLLECTIONS / "ansible_collections" / "dbferry" / "mysql"

if not _LINK.exists():  # scripts/setup.sh makes it; a bare `pytest` run should work too
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("../../../..", _LINK)
    # pytest put .build/collections on sys.path before it existed, and Python remembered that there was nothing to
    # import from there: forget that, or the first bare run fails with "No module named 'ansible_collections'".
    sys.path_importer_cache.pop(str(COLLECTIONS), None)
    importlib.invalidate_caches()
