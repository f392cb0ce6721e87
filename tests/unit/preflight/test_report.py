"""The report: counts, what stops the move, and the text lines (pure logic)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.report import ERROR, OK, WARNING, Finding, Report


def _report() -> Report:
    return Report(checks=[
        Finding("log_bin", OK, "db1", "the binary log is on."),
        Finding("views", WARNING, "shop.v", "view shop.v is not moved.", "recreate it.", allowed=True),
        Finding("triggers", WARNING, "shop.t", "trigger t is not moved.", "create it after cutover."),
        Finding("primary_key", ERROR, "shop.n", "shop.n has no primary key.", "add one."),
    ])


def test_summary_counts_allowed_findings_apart():
    assert _report().summary() == {OK: 1, WARNING: 1, ERROR: 1, "allowed": 1, "total": 4}


def test_failures_follow_fail_on_and_skip_allowed_findings():
    report = _report()
    assert [c.name for c in report.failures()] == ["primary_key"]
    assert [c.name for c in report.failures(WARNING)] == ["triggers", "primary_key"]


def test_lines_align_names_and_show_a_fix_only_for_problems():
    lines = _report().lines()
    assert lines[0] == "OK       log_bin      db1: the binary log is on."
    assert lines[1] == "ALLOWED  views        shop.v: view shop.v is not moved. Fix: recreate it."
    assert lines[3].endswith("shop.n: shop.n has no primary key. Fix: add one.")


def test_failure_message_lists_each_problem_with_its_fix():
    assert _report().failure_message(WARNING).splitlines() == [
        "preflight found 2 problem(s) that stop the move:",
        "- triggers [shop.t] trigger t is not moved. Fix: create it after cutover.",
        "- primary_key [shop.n] shop.n has no primary key. Fix: add one.",
    ]


def test_a_finding_as_a_dict_has_the_module_return_keys():
    assert set(Finding("x", OK, "o", "m").as_dict()) == {"name", "status", "object", "message", "fix", "allowed"}
