"""Every MariaDB/MySQL difference, for both products (pure logic)."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.server.flavor import MARIADB, MYSQL, Flavor, refuse_unsupported_source


@pytest.mark.parametrize(
    "version,comment,kind,numbers",
    [
        ("10.11.19-MariaDB-0+deb12u1", "Debian 12", MARIADB, (10, 11, 19)),
        ("11.4.2-MariaDB", "mariadb.org binary distribution", MARIADB, (11, 4, 2)),
        ("8.0.36", "MySQL Community Server - GPL", MYSQL, (8, 0, 36)),
        ("5.7.44-log", "MySQL Community Server (GPL)", MYSQL, (5, 7, 44)),
        ("8.4.0", "", MYSQL, (8, 4, 0)),
    ],
)
def test_parse(version, comment, kind, numbers):
    flavor = Flavor.parse(version, comment)
    assert (flavor.kind, flavor.version) == (kind, numbers)


def test_parse_rejects_garbage():
    with pytest.raises(ValueError, match="unrecognised server version"):
        Flavor.parse("unknown")


def _f(version: str, comment: str = "") -> Flavor:
    return Flavor.parse(version, comment)


def test_gtid_position_query():
    assert _f("10.11.19-MariaDB").gtid_position_sql == "SELECT @@GLOBAL.gtid_binlog_pos"
    assert _f("8.0.36").gtid_position_sql == "SELECT @@GLOBAL.gtid_executed"


@pytest.mark.parametrize(
    "version,statement",
    [
        ("10.4.30-MariaDB", "SHOW MASTER STATUS"),
        ("10.5.2-MariaDB", "SHOW BINLOG STATUS"),
        ("10.11.19-MariaDB", "SHOW BINLOG STATUS"),
        ("5.7.44", "SHOW MASTER STATUS"),
        ("8.0.36", "SHOW MASTER STATUS"),
        ("8.2.0", "SHOW BINARY LOG STATUS"),
        ("8.4.0", "SHOW BINARY LOG STATUS"),
    ],
)
def test_binlog_status_statement(version, statement):
    assert _f(version).binlog_status_sql == statement


def test_read_only_variables():
    assert _f("10.11.19-MariaDB").read_only_variables == ("read_only",)
    assert _f("8.0.36").read_only_variables == ("read_only", "super_read_only")
    assert _f("5.7.44").read_only_variables == ("read_only", "super_read_only")


def test_binlog_monitor_privilege():
    assert _f("10.11.19-MariaDB").binlog_monitor_privilege == "BINLOG MONITOR"
    assert _f("10.4.30-MariaDB").binlog_monitor_privilege == "REPLICATION CLIENT"
    assert _f("8.0.36").binlog_monitor_privilege == "REPLICATION CLIENT"


def test_binlog_row_metadata_availability():
    assert _f("10.5.0-MariaDB").has_binlog_row_metadata
    assert not _f("10.4.30-MariaDB").has_binlog_row_metadata
    assert _f("8.0.36").has_binlog_row_metadata
    assert not _f("5.7.44").has_binlog_row_metadata


def test_retention_variables():
    assert _f("10.11.19-MariaDB").binlog_retention_variables[0] == "binlog_expire_logs_seconds"
    assert _f("10.5.20-MariaDB").binlog_retention_variables == ("expire_logs_days",)
    assert _f("8.0.36").binlog_retention_variables[0] == "binlog_expire_logs_seconds"
    assert _f("5.7.44").binlog_retention_variables == ("expire_logs_days",)


def test_shared_lock_clause():
    assert _f("10.11.19-MariaDB").shared_lock_clause == "LOCK IN SHARE MODE"
    assert _f("5.7.44").shared_lock_clause == "LOCK IN SHARE MODE"
    assert _f("8.0.36").shared_lock_clause == "FOR SHARE"


def test_gtid_usable():
    assert _f("10.11.19-MariaDB").gtid_is_usable("OFF")
    assert _f("8.0.36").gtid_is_usable("ON")
    assert not _f("8.0.36").gtid_is_usable("OFF_PERMISSIVE")


def test_label():
    assert _f("10.11.19-MariaDB-0+deb12u1").label == "MariaDB 10.11.19"
    assert _f("8.0.36").label == "MySQL 8.0.36"


def test_collation_ids_query():
    assert "COLLATION_CHARACTER_SET_APPLICABILITY" in _f("10.11.19-MariaDB").collation_ids_sql
    assert "information_schema.COLLATIONS" in _f("10.6.16-MariaDB").collation_ids_sql
    assert "information_schema.COLLATIONS" in _f("8.0.36").collation_ids_sql


def test_binlog_compression_exists_only_on_mariadb():
    assert _f("10.11.19-MariaDB").has_binlog_compression
    assert not _f("10.2.2-MariaDB").has_binlog_compression
    assert not _f("8.0.36").has_binlog_compression


def test_refuse_unsupported_source():
    """MariaDB sources pass; a MySQL source is refused, by name and version, with what the caller does."""
    refuse_unsupported_source(Flavor.parse("10.11.19-MariaDB"), "moves")
    with pytest.raises(DbferryError, match=r"the source is MySQL 8\.0\.36; this version verifies moves from MariaDB only\."):
        refuse_unsupported_source(Flavor.parse("8.0.36"), "verifies moves")
