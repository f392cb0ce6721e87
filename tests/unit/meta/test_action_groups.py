"""meta/runtime.yml's action_groups are honest: module_defaults for a group hands every one of its options to every module
in it, and a module refuses an option it does not take, so a group is exactly the modules that take all its options.

Also kept in step here: each module's documented action_group membership, and the ``queries`` result documented by
exactly the modules that report it (common/module_queries.py).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import login_argument_spec

ROOT = Path(__file__).resolve().parents[3]
MODULES = sorted(path.stem for path in (ROOT / "plugins" / "modules").glob("*.py"))
RUNTIME = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())

#: The options each group sets (docs/module_defaults.md).
GROUP_OPTIONS = {
    "move": {"name", "source", "target", "state_dir"},
    "move_ref": {"name", "state_dir"},
    "servers": {"source", "target"},
    "login": set(login_argument_spec()),
}


class _Made(Exception):
    """Raised by the stand-in AnsibleModule once it has the argument spec: nothing else of the module runs."""


def _made(module: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What main() hands AnsibleModule: the argument_spec and the rest (supports_check_mode)."""
    loaded = importlib.import_module("ansible_collections.dbferry.mysql.plugins.modules." + module)
    seen: dict[str, Any] = {}

    def made(**kwargs: Any) -> None:
        seen.update(kwargs)
        raise _Made()

    monkeypatch.setattr(loaded, "AnsibleModule", made)
    with pytest.raises(_Made):
        loaded.main()
    return seen


def _docs(module: str) -> dict[str, Any]:
    """A module's DOCUMENTATION and RETURN by name, read without running it."""
    found = {}
    for node in ast.parse((ROOT / "plugins" / "modules" / (module + ".py")).read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) in ("DOCUMENTATION", "RETURN"):
            found[node.targets[0].id] = yaml.safe_load(ast.literal_eval(node.value))
    return found


def test_each_group_is_exactly_the_modules_that_take_all_its_options(monkeypatch):
    options = {module: set(_made(module, monkeypatch)["argument_spec"]) for module in MODULES}
    assert set(RUNTIME["action_groups"]) == set(GROUP_OPTIONS)
    for group, wanted in GROUP_OPTIONS.items():
        assert RUNTIME["action_groups"][group] == sorted(m for m in MODULES if wanted <= options[m]), group


def test_modules_document_the_groups_they_are_in():
    for module in MODULES:
        documentation = _docs(module)["DOCUMENTATION"]
        groups = sorted("dbferry.mysql." + g for g, members in RUNTIME["action_groups"].items() if module in members)
        documented = documentation.get("attributes", {}).get("action_group", {}).get("membership", [])
        assert sorted(documented) == groups, module
        assert ("ansible.builtin.action_common_attributes.actiongroups" in documentation["extends_documentation_fragment"]) == bool(groups)


def test_documented_check_mode_support_is_what_the_module_declares(monkeypatch):
    for module in MODULES:
        documentation = _docs(module)["DOCUMENTATION"]
        declared = _made(module, monkeypatch).get("supports_check_mode", False)
        assert (documentation["attributes"]["check_mode"]["support"] != "none") == declared, module


def test_the_modules_that_report_queries_document_them():
    for module in MODULES:
        reports = "report_queries(module)" in (ROOT / "plugins" / "modules" / (module + ".py")).read_text()
        assert ("queries" in (_docs(module)["RETURN"] or {})) == reports, module
