"""Shared test set-up: make sure the checkout is importable as ansible_collections.dbferry.mysql, and hand out the
long test files first.

pytest.ini puts .build/collections on sys.path; scripts/setup.sh creates the
link there, and this creates it too so that a bare `pytest` works.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

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


#: Folders whose files take a minute or more each (whole playbook runs, a virtualenv built and a collection installed).
_LONG_FILES_FIRST = ("tests/integration/roles/", "tests/integration/playbooks/", "tests/integration/install/")


def _file_rank(item: pytest.Item) -> int:
    """0 for the long files, 1 for the other integration tests, 2 for the unit tests (a second or less each)."""
    path = item.nodeid.split("::", 1)[0]
    if path.startswith(_LONG_FILES_FIRST):
        return 0
    return 1 if path.startswith("tests/integration/") else 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long files first, unit tests last (a stable sort: each file's tests stay together and in their order).

    Why: pytest-xdist's --dist loadfile hands whole files to the two workers in collection order (pytest.ini turns off
    its own reordering by test count, which put these few-test, minute-long files last). A long file handed out last
    keeps one worker busy while the other idles; handed out first, the many short files even out the workers' ends.
    """
    items.sort(key=_file_rank)
