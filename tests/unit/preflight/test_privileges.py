"""Privilege checks: what the source user needs, the dump refusal's fix, read_only bypasses (pure logic)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.privileges import bypassing_privileges, source_global_privileges, stream_refusal_fix
from ansible_collections.dbferry.mysql.plugins.module_utils.server import error_codes
from ansible_collections.dbferry.mysql.plugins.module_utils.server.flavor import Flavor
from ansible_collections.dbferry.mysql.plugins.module_utils.server.grants import ALL

MARIADB_1011 = Flavor.parse("10.11.6-MariaDB")
MARIADB_106 = Flavor.parse("10.6.16-MariaDB")
MYSQL_80 = Flavor.parse("8.0.36")


def test_the_source_user_needs_the_stream_and_the_status_under_each_products_name():
    assert source_global_privileges(MARIADB_1011) == ("REPLICATION SLAVE", MARIADB_1011.binlog_monitor_privilege)
    assert source_global_privileges(MYSQL_80) == ("REPLICATION SLAVE", MYSQL_80.binlog_monitor_privilege)


def test_a_refused_dump_names_the_grant_only_when_a_privilege_or_login_is_missing():
    grant = "grant REPLICATION SLAVE ON *.* to the source user."
    assert stream_refusal_fix(error_codes.ER_SPECIFIC_ACCESS_DENIED_ERROR) == grant
    assert stream_refusal_fix(error_codes.ER_ACCESS_DENIED_ERROR) == grant
    assert stream_refusal_fix(error_codes.ER_MASTER_FATAL_ERROR_READING_BINLOG) == "check the source's error log for this error."


def test_bypassing_privileges_follow_the_product():
    assert bypassing_privileges(frozenset({"SELECT", "READ_ONLY ADMIN"}), MARIADB_1011) == ["READ_ONLY ADMIN"]
    # MariaDB 10.11 took READ_ONLY ADMIN out of SUPER; before, SUPER bypassed too.
    assert bypassing_privileges(frozenset({"SUPER"}), MARIADB_1011) == []
    assert bypassing_privileges(frozenset({"SUPER"}), MARIADB_106) == ["SUPER"]
    assert bypassing_privileges(frozenset({ALL}), MARIADB_106) == ["READ_ONLY ADMIN", "SUPER"]
    # MySQL's cutover sets super_read_only, which nobody bypasses.
    assert bypassing_privileges(frozenset({ALL}), MYSQL_80) == []
