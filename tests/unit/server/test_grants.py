"""SHOW GRANTS parsing and privilege decisions (pure logic)."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.server import grants as g


def test_global_grant_with_password_hash():
    grant = g.parse_grant(
        "GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `ferry`@`127.0.0.1` "
        "IDENTIFIED BY PASSWORD '*80F40793CD0C790D0E1FF65CA6694DE95E2FB502'"
    )
    assert grant == g.Grant(frozenset({"SELECT", "RELOAD", "REPLICATION SLAVE", "BINLOG MONITOR"}), None, None)


def test_database_and_table_grants_unquote_doubled_backticks():
    assert g.parse_grant("GRANT ALL PRIVILEGES ON `shop`.* TO `u`@`%`") == g.Grant(frozenset({g.ALL}), "shop", None)
    grant = g.parse_grant("GRANT SELECT ON `we``ird db`.`t ON x` TO `u`@`%` WITH GRANT OPTION")
    assert grant == g.Grant(frozenset({"SELECT"}), "we`ird db", "t ON x")


@pytest.mark.parametrize(
    "line",
    [
        "GRANT `reader` TO `u`@`%`",
        "GRANT PROXY ON ``@`%` TO `root`@`localhost` WITH GRANT OPTION",
        "GRANT EXECUTE ON PROCEDURE `shop`.`p` TO `u`@`%`",
        "REVOKE SELECT ON *.* FROM `u`@`%`",
    ],
)
def test_lines_without_table_privileges_are_ignored(line):
    assert g.parse_grant(line) is None


def test_column_level_privileges_do_not_count_as_whole_table():
    grant = g.parse_grant("GRANT SELECT (`a`, `b`), INSERT ON `shop`.`t` TO `u`@`%`")
    assert grant == g.Grant(frozenset({"INSERT"}), "shop", "t")


def test_database_grant_names_are_like_patterns():
    grants = [g.parse_grant("GRANT SELECT ON `shop\\_%`.* TO `u`@`%`")]
    assert g.privileges_on(grants, "shop_eu") == {"SELECT"}
    assert g.privileges_on(grants, "shopXeu") == frozenset()  # escaped _ is literal
    assert g.privileges_on(grants, "shop") == frozenset()
    assert g.privileges_on(grants) == frozenset()  # not global


def test_underscore_unescaped_matches_one_character():
    grants = [g.parse_grant("GRANT SELECT ON `a_c`.* TO `u`@`%`")]
    assert g.privileges_on(grants, "abc") == {"SELECT"}
    assert g.privileges_on(grants, "abbc") == frozenset()


def test_privileges_combine_global_database_and_table_levels():
    grants = [
        g.parse_grant("GRANT RELOAD ON *.* TO `u`@`%`"),
        g.parse_grant("GRANT SELECT ON `shop`.* TO `u`@`%`"),
        g.parse_grant("GRANT INSERT ON `shop`.`orders` TO `u`@`%`"),
    ]
    assert g.privileges_on(grants, "shop", "orders") == {"RELOAD", "SELECT", "INSERT"}
    assert g.privileges_on(grants, "shop", "items") == {"RELOAD", "SELECT"}
    assert g.privileges_on(grants, "crm", "orders") == {"RELOAD"}


def test_missing_respects_all_privileges():
    assert g.missing(["SELECT", "DROP"], frozenset({g.ALL})) == []
    assert g.missing(["SELECT", "DROP"], frozenset({"SELECT"})) == ["DROP"]


def test_account_and_grant_statement_quote_the_account():
    account = g.parse_account("o'brien@10.0.%")
    assert account == ("o'brien", "10.0.%")
    assert g.grant_statement(["SELECT"], "`shop`.*", account) == "GRANT SELECT ON `shop`.* TO 'o''brien'@'10.0.%';"
