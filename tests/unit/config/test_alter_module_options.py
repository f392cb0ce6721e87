"""The alter module's literal DOCUMENTATION and the README's table of its options agree with config/alter_config.py.

Ansible reads DOCUMENTATION without running code, so it repeats each option's
type, default and limits; these tests keep it from drifting from ALTER_OPTIONS,
from which the module builds its argument spec.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import ALTER_OPTIONS
from ansible_collections.dbferry.mysql.plugins.module_utils.config.options import REQUIRED
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import SERVER_OPTIONS, login_argument_spec
from ansible_collections.dbferry.mysql.plugins.modules import alter

ROOT = Path(__file__).resolve().parents[3]
RANGE_RE = re.compile(r"\((\d+(?:\.\d+)?) to (\d+(?:\.\d+)?)\)")
#: The module's options as issues 14 and 15 name them (gh-ost's, snake_case), and this collection's own two.
ISSUE_OPTIONS = (
    "database", "table", "alter", "chunk_size", "dml_batch_size", "max_load", "critical_load", "throttle_control_replicas",
    "max_lag_millis", "throttle_query", "throttle_flag_file", "panic_flag_file", "postpone_cut_over_flag_file",
    "cut_over_lock_timeout_seconds", "default_retries", "exact_rowcount", "concurrent_rowcount", "initially_drop_ghost_table",
    "initially_drop_old_table", "ok_to_drop_table", "hooks_path", "hooks_timeout_seconds", "rename_columns", "verify",
    "attempt_instant_ddl", "test_on_replica",
    # gh-ost's, added since
    "nice_ratio",
    # issue 14's copy.concurrency, in the module's flat naming
    "copy_concurrency",
)
MODULE_OPTIONS = [option for option in ALTER_OPTIONS if option.key not in alter.NOT_MODULE_OPTIONS]


def _docs() -> dict[str, Any]:
    return yaml.safe_load(alter.DOCUMENTATION)["options"]


def _text(description: Any) -> str:
    return " ".join(description) if isinstance(description, list) else description


def test_the_module_takes_the_options_the_issue_names_and_login_and_state():
    spec = alter.alter_argument_spec()
    assert set(spec) == set(login_argument_spec()) | set(ISSUE_OPTIONS) | {"state", "timeout"}
    assert spec["login_password"]["no_log"] is True


def test_documentation_lists_the_module_options():
    """The login_* options come from the connection fragment; the rest is documented here, each once."""
    assert set(_docs()) == set(ISSUE_OPTIONS) | {"state", "timeout"}
    assert {option.key for option in MODULE_OPTIONS} == set(ISSUE_OPTIONS)


@pytest.mark.parametrize("option", MODULE_OPTIONS, ids=[option.key for option in MODULE_OPTIONS])
def test_documentation_states_type_default_and_limits_of_alter_options(option):
    entry = _docs()[option.key]
    assert entry["type"] == option.type
    if option.default is REQUIRED and option.key != "alter":  # alter: only state=present needs it (required_if)
        assert entry.get("required") is True
    elif option.default is None or option.default is REQUIRED:
        assert "default" not in entry
    else:
        assert entry["default"] == option.default, "%s: documented %r, ALTER_OPTIONS %r" % (option.key, entry["default"], option.default)
    for low, high in RANGE_RE.findall(_text(entry["description"])):
        assert (float(low), float(high)) == option.limits, option.key


def test_replicas_take_the_connection_options():
    suboptions = _docs()["throttle_control_replicas"]["suboptions"]
    spec = alter.alter_argument_spec()["throttle_control_replicas"]
    assert set(suboptions) == set(spec["options"]) == set(SERVER_OPTIONS)
    assert spec["elements"] == "dict" and spec["options"]["password"]["no_log"] is True


def test_state_choices_are_the_issues_and_documented():
    """present and absent run or remove the change in the task; started and cut_over run it in an agent."""
    assert _docs()["state"]["choices"] == alter.alter_argument_spec()["state"]["choices"] == ["present", "started", "cut_over", "absent"]
    assert _docs()["timeout"]["default"] == alter.alter_argument_spec()["timeout"]["default"]


def _stated(value: Any) -> str:
    """A default as the README writes it: `true`, `1000`, `60`, `{}`."""
    if isinstance(value, bool):
        return "`%s`" % str(value).lower()
    if isinstance(value, (int, float)):
        return "`%g`" % value
    return "`%s`" % json.dumps(value)


def _readme_rows() -> dict[str, str]:
    """The README's table of the alter's options: each option named in the first column -> its default cell."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Online schema change\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for names, _flags, default in re.findall(r"^\| ((?:`\w+`(?:, )?)+) \| (.*?) \| (.*?) \|", section, re.M):
        keys = re.findall(r"`(\w+)`", names)
        cells = [cell.strip() for cell in default.split(",")] if len(keys) > 1 and "," in default else [default] * len(keys)
        rows.update(zip(keys, cells))
    return rows


def test_readme_table_states_each_option_with_its_default():
    rows = _readme_rows()
    assert set(rows) == set(ISSUE_OPTIONS) | {"state", "timeout"}
    for option in MODULE_OPTIONS:
        cell = rows[option.key]
        if option.default is REQUIRED:
            assert cell == "required", option.key
        elif option.default in (None, {}, []):
            assert cell in ("none", _stated(option.default)), option.key
        else:
            assert cell == _stated(option.default), option.key
