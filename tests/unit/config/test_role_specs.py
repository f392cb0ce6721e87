"""The role files that repeat a role's argument specs agree with them.

Why: the move role repeats every variable of preflight, copy and cutover, every
role's defaults and README repeat its argument specs; edited by hand, one copy drifts.
scripts/role_specs.py writes the YAML ones; the README tables are checked.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = ("preflight", "copy", "cutover", "move")


def test_derived_role_files_are_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "role_specs.py"), "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def _readme_defaults(path: Path) -> dict[str, str]:
    """The default column of a README's table of variables: variable -> cell."""
    rows = re.findall(r"^\| `(dbferry_\w+)` \| ((?:[^|\\]|\\.)*?) \|", path.read_text(encoding="utf-8"), re.M)
    return dict(rows)


def _agrees(cell: str, spec: dict[str, Any]) -> bool:
    """Whether a README's default cell says what the argument spec declares (required, no default, or the value)."""
    if cell == "required":
        return bool(spec.get("required"))
    if cell.startswith("none"):
        return "default" not in spec and not spec.get("required")
    written = re.match(r"`(.*?)`( \(none\))?$", cell)
    if not written:
        return False
    text = written.group(1).replace("\\|", "|")
    # A Jinja expression is a string to Ansible, not the flow mapping YAML would read in it.
    return (text if text.startswith("{{") else yaml.safe_load(text)) == spec.get("default")


@pytest.mark.parametrize("readme,role", [("roles/%s/README.md" % role, role) for role in ROLES] + [("README.md", "move")])
def test_readme_tables_state_the_defaults_of_the_argument_specs(readme, role):
    """The README tables of variables are prose for people, but the default they show is the role's."""
    options = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))["argument_specs"]["main"]["options"]
    cells = _readme_defaults(ROOT / readme)
    assert cells and set(cells) <= set(options)
    wrong = {name: cell for name, cell in cells.items() if not _agrees(cell, options[name])}
    assert not wrong, "%s states defaults its argument specs do not: %s" % (readme, wrong)
