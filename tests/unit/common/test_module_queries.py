"""Every end of a module that reports queries carries them (common/module_queries.py), with a stand-in module: pure logic."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_queries import report_queries
from ansible_collections.dbferry.mysql.plugins.module_utils.server import queries


class _Module:
    """The two ends of an AnsibleModule, keeping the result instead of printing it."""

    def __init__(self) -> None:
        self.result: dict[str, Any] = {}

    def exit_json(self, **result: Any) -> None:
        self.result = dict(result, failed=False)

    def fail_json(self, msg: str, **result: Any) -> None:
        self.result = dict(result, msg=msg, failed=True)


@pytest.fixture(autouse=True)
def _no_recorder_left(monkeypatch):
    monkeypatch.setattr(queries, "_RECORDED", None)


def test_exit_carries_the_statements_run_since_the_module_started():
    queries.record("SET GLOBAL read_only = ON")
    module = _Module()
    report_queries(module)
    queries.record("SET GLOBAL `read_only` = ON")
    queries.record("SET SESSION lock_wait_timeout = %s", (10,))
    module.exit_json(changed=True)
    assert module.result == {"changed": True, "queries": ["SET GLOBAL `read_only` = ON"], "failed": False}


def test_a_failure_carries_what_ran_before_it_whether_msg_is_named_or_not():
    module = _Module()
    report_queries(module)
    queries.record("KILL CONNECTION %s", (7,))
    module.fail_json("stopped", changed=True)
    assert module.result == {"changed": True, "queries": ["KILL CONNECTION 7"], "msg": "stopped", "failed": True}
    module.fail_json(msg="again")
    assert module.result["queries"] == ["KILL CONNECTION 7"]


def test_nothing_run_is_an_empty_list():
    module = _Module()
    report_queries(module)
    module.exit_json(changed=False)
    assert module.result["queries"] == []
