"""The role files scripts/role_specs.py derives are up to date with what they are derived from.

Why: the move role repeats every variable of preflight, copy and cutover, and every
role's defaults repeat its argument specs; edited by hand, one copy drifts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_derived_role_files_are_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "role_specs.py"), "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
