"""Shared test set-up: make sure the checkout is importable as ansible_collections.dbferry.mysql.

pytest.ini puts .build/collections on sys.path; scripts/setup.sh creates the
link there, and this creates it too so that a bare `pytest` works.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".build" / "collections"
_LINK = COLLECTIONS / "ansible_collections" / "dbferry" / "mysql"

if not _LINK.exists():  # scripts/setup.sh makes it; a bare `pytest` run should work too
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("../../../..", _LINK)
