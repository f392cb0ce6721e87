"""The literal YAML that repeats a move option (role argument specs and defaults, module DOCUMENTATION) agrees with options.py.

Ansible reads those files without running any code, so they cannot import the
registry; these tests are what keeps a default or a limit written there from
drifting away from the one the agent applies.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.dbferry.mysql.plugins.module_utils.config.module_options import runtime_argument_spec
from ansible_collections.dbferry.mysql.plugins.module_utils.config.options import BY_KEY, OPTIONS, RUNTIME_SETTINGS, Option
from ansible_collections.dbferry.mysql.plugins.modules import agent, control

ROOT = Path(__file__).resolve().parents[3]
ROLES = ("preflight", "copy", "cutover", "move")
RANGE_RE = re.compile(r"\((\d+(?:\.\d+)?) to (\d+(?:\.\d+)?)\)")


@lru_cache(maxsize=None)
def _role_options(role: str) -> dict[str, Any]:
    path = ROOT / "roles" / role / "meta" / "argument_specs.yml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["argument_specs"]["main"]["options"]


def _text(description: Any) -> str:
    """A description as one line; role docs name an option by its variable, dbferry_<key>, which is dropped to compare."""
    text = " ".join(description) if isinstance(description, list) else description
    return text.replace("dbferry_", "")


def _lead(option: Option) -> str:
    """The part of an option's doc up to its first ``; `` or ``: ``: what any description of it starts with."""
    return re.split(r"[;:] ", option.doc)[0]


def _stated(number: Any) -> str:
    return "%g" % number


ROLE_VARIABLES = [(role, option) for role in ROLES for option in OPTIONS if option.role_variable in _role_options(role)]


def test_every_option_a_role_variable_sets_is_declared_by_a_role():
    declared = set().union(*(_role_options(role) for role in ROLES))
    assert {option.role_variable for option in OPTIONS if option.in_roles} <= declared


@pytest.mark.parametrize("role,option", ROLE_VARIABLES, ids=["%s-%s" % (role, option.key) for role, option in ROLE_VARIABLES])
def test_role_variable_states_the_option_as_declared(role, option):
    spec = _role_options(role)[option.role_variable]
    description = _text(spec["description"])
    # Roles pass paths as plain strings: a path type would expand ~ on the controller, not on the ferry host.
    assert spec["type"] == ("str" if option.type == "path" else option.type)
    assert (description[0].lower() + description[1:]).startswith(_lead(option)), "roles/%s %s: %r does not start with %r" % (
        role, option.role_variable, description, _lead(option))
    if spec["default"] != option.default:
        # Null leaves the option out of the move's configuration: the agent's default applies, and the text must say which.
        assert spec["default"] is None, "roles/%s %s: default %r, options.py %r" % (role, option.role_variable, spec["default"], option.default)
        if option.default in (None, [], {}):
            assert "Null (the agent's default)" in description
        else:
            assert "Null: the agent's default, %s" % _stated(option.default) in description
    for low, high in RANGE_RE.findall(description):
        assert (float(low), float(high)) == option.limits


@pytest.mark.parametrize("role", ROLES)
def test_role_defaults_are_those_of_the_argument_specs(role):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text(encoding="utf-8"))
    options = _role_options(role)
    assert defaults == {name: spec["default"] for name, spec in options.items() if "default" in spec}


def _agent_docs() -> dict[str, Any]:
    return yaml.safe_load(agent.DOCUMENTATION)["options"]


#: The agent's dict options whose keys take single values (copy, apply, binlog, verify); rename's take mappings, without a default to state.
SETTING_SECTIONS = sorted({option.section for option in OPTIONS if option.section in _agent_docs() and option.type not in ("list", "dict")})


@pytest.mark.parametrize("section", SETTING_SECTIONS)
def test_agent_module_documents_each_key_of_a_section_with_its_default(section):
    """The agent module's DOCUMENTATION lists the keys of copy, apply, binlog and verify in prose, each with its default."""
    description = _text(_agent_docs()[section]["description"])
    stated = {key: (value, limits) for key, value, limits in re.findall(r"C\((\w+)\) \(default ([^:,)]+)(?:, (\d+ to \d+))?", description)}
    options = [option for option in OPTIONS if option.section == section]
    assert set(stated) == {option.name for option in options}
    for option in options:
        value, limits = stated[option.name]
        if option.default is not None:  # server_id's is a rule, "derived from the name"
            assert yaml.safe_load(value) == option.default, "%s: the agent module says default %s, options.py %r" % (option.key, value, option.default)
        if limits:
            assert tuple(float(n) for n in limits.split(" to ")) == option.limits


def test_agent_module_sections_are_found():
    """Else the test above would check nothing."""
    assert SETTING_SECTIONS == ["apply", "binlog", "copy", "verify"]


def test_agent_module_documents_top_level_defaults():
    docs = _agent_docs()
    checked = [key for key in docs if key in BY_KEY and "default" in docs[key]]
    assert checked == ["reuse_target"]
    for key in checked:
        assert docs[key]["default"] == BY_KEY[key].default


def test_control_module_settings_are_the_run_time_options():
    docs = yaml.safe_load(control.DOCUMENTATION)["options"]["settings"]["suboptions"]
    spec = runtime_argument_spec()
    assert list(spec) == list(RUNTIME_SETTINGS) and set(docs) == set(spec)
    for name, entry in docs.items():
        option = BY_KEY[RUNTIME_SETTINGS[name]]
        assert entry["type"] == spec[name]["type"] == option.type
        for low, high in RANGE_RE.findall(_text(entry["description"])):
            assert (float(low), float(high)) == option.limits
