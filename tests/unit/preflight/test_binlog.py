"""Binlog settings: required values and the retention arithmetic (pure logic; the servers' answers are integration tests)."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.binlog import retention_finding, value_finding
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.report import ERROR, OK, WARNING


def test_a_required_value_is_compared_without_case():
    assert value_finding("binlog_format", "row", "ROW", "SET it.") == (OK, "binlog_format is ROW.", "")
    assert value_finding("binlog_row_image", "MINIMAL", "FULL", "SET it.") == (
        ERROR, "binlog_row_image is MINIMAL; a move needs FULL.", "SET it.")


def test_zero_means_binlogs_never_expire():
    status, message, fix = retention_finding("binlog_expire_logs_seconds", 0, 72)
    assert (status, fix) == (OK, "")
    assert message == "binlogs never expire (binlog_expire_logs_seconds = 0); purge them by hand."


@pytest.mark.parametrize("variable,value,hours", [
    ("binlog_expire_logs_seconds", 86400, "24.0"),
    ("expire_logs_days", 1, "24.0"),
    ("expire_logs_days", 0.5, "12.0"),
])
def test_a_retention_shorter_than_asked_warns_in_hours(variable, value, hours):
    status, message, fix = retention_finding(variable, value, 72)
    assert status == WARNING
    assert message.startswith("binlogs expire after %s h (%s = %g), less than 72 h;" % (hours, variable, value))
    assert fix.endswith("or allow binlog_retention.")


def test_days_count_as_86400_seconds():
    assert retention_finding("expire_logs_days", 3, 72) == (OK, "binlogs are kept 72.0 h.", "")
    assert retention_finding("binlog_expire_logs_seconds", 3 * 86400 - 1, 72)[0] == WARNING


def test_the_minimum_is_the_operators():
    assert retention_finding("binlog_expire_logs_seconds", 3600, 0.5)[0] == OK
