"""The collection's metadata agrees with itself: galaxy.yml's version, the changelog (antsibull-changelog's
changelogs/changelog.yaml, written by its `release` command), the modules' version_added, and meta/runtime.yml's
requires_ansible with the ansible-core that requirements.txt pins for the tests.

Why here and not only in ansible-test sanity: sanity lints changelog fragments, not changelog.yaml, and nothing
else notices a module, role or playbook that no release mentions, or a requires_ansible that claims versions no test
runs. The objects checked are the files git tracks: work in progress counts once it is committed.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]
CHANGELOG = yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text())
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())


def _tracked(pattern: str) -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--", pattern], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return sorted(listed.split())


def _documentation(module: str) -> dict[str, Any]:
    """A module's DOCUMENTATION, read without importing the module (as ansible-doc does)."""
    tree = ast.parse((ROOT / module).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "DOCUMENTATION" for target in node.targets):
            return yaml.safe_load(ast.literal_eval(node.value))
    raise AssertionError("%s has no DOCUMENTATION" % module)


MODULES = {Path(path).stem: path for path in _tracked("plugins/modules/*.py")}


def _announced(kind: str) -> set[str]:
    """Roles or playbooks (``kind``) that a release of changelog.yaml or a fragment waiting for the next release names."""
    names = {entry["name"] for release in CHANGELOG["releases"].values() for entry in release.get("objects", {}).get(kind, [])}
    for fragment in (ROOT / "changelogs" / "fragments").glob("*.y*ml"):
        names |= {entry["name"] for entry in (yaml.safe_load(fragment.read_text()) or {}).get("add object.%s" % kind, [])}
    return names


def test_requires_ansible_claims_the_ansible_core_the_tests_run():
    """requires_ansible admits the pinned ansible-core and nothing older, and no later minor version (its own
    deprecations and removals are not tested)."""
    pinned = Version(re.search(r"^ansible-core==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1))
    claimed = SpecifierSet(yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"])
    bounds = {spec.operator: Version(spec.version) for spec in claimed}
    assert bounds == {">=": pinned, "<": Version("%d.%d.0" % (pinned.major, pinned.minor + 1))}, claimed


def test_the_changelog_has_the_collections_version_and_well_formed_releases():
    assert CHANGELOG["ancestor"] is None
    assert str(GALAXY["version"]) in CHANGELOG["releases"], "changelog.yaml has no release %s (galaxy.yml's version)" % GALAXY["version"]
    for version, release in CHANGELOG["releases"].items():
        assert str(Version(version)) == version, version
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", release["release_date"]), version
        assert isinstance(release["changes"]["release_summary"], str)
        for module in release.get("modules", []):
            assert set(module) == {"name", "description", "namespace"} and module["namespace"] == "", module


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_is_in_the_release_of_its_version_added(name):
    documentation = _documentation(MODULES[name])
    version = str(documentation["version_added"])
    assert Version(version) <= Version(str(GALAXY["version"])), "%s: version_added %s is after galaxy.yml's %s" % (
        name, version, GALAXY["version"])
    listed = {module["name"]: module for module in CHANGELOG["releases"].get(version, {}).get("modules", [])}
    assert name in listed, "changelogs/changelog.yaml: release %s does not list module %s" % (version, name)
    assert listed[name]["description"].rstrip(".") == documentation["short_description"].rstrip(".")


def test_each_documented_plugin_is_in_the_release_of_its_version_added():
    """Lookup, filter, ... plugins as antsibull-changelog finds them (action plugins go with their module, doc fragments
    and module_utils are not announced)."""
    plugins = [path for path in _tracked("plugins/*/*.py")
               if Path(path).parts[1] not in ("modules", "module_utils", "doc_fragments", "action") and Path(path).name != "__init__.py"]
    for path in plugins:
        kind, name = Path(path).parts[1], Path(path).stem
        version = str(_documentation(path)["version_added"])
        listed = {plugin["name"] for plugin in CHANGELOG["releases"].get(version, {}).get("plugins", {}).get(kind, [])}
        assert name in listed, "changelogs/changelog.yaml: release %s does not list %s plugin %s" % (version, kind, name)


def test_every_module_of_the_changelog_exists():
    listed = {module["name"] for release in CHANGELOG["releases"].values() for module in release.get("modules", [])}
    assert listed <= set(MODULES), "changelog.yaml lists modules that do not exist: %s" % sorted(listed - set(MODULES))


def test_every_role_and_playbook_is_announced_once_it_exists():
    roles = {Path(path).parts[1] for path in _tracked("roles/*/meta/argument_specs.yml")}
    playbooks = {Path(path).stem for path in _tracked("playbooks/*.yml")}
    assert roles and playbooks
    for kind, present in (("role", roles), ("playbook", playbooks)):
        announced = _announced(kind)
        assert present <= announced, "no release or fragment announces the %ss %s: add them under `add object.%s:` in a fragment" % (
            kind, sorted(present - announced), kind)
        assert announced <= present, "the changelog announces %ss that do not exist: %s" % (kind, sorted(announced - present))
