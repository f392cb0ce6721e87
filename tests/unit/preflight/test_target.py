"""Target checks: version comparison and naming a collation's users (pure logic)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.report import OK, WARNING
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.target import named_users, version_finding
from ansible_collections.dbferry.mysql.plugins.module_utils.server.flavor import Flavor


def test_an_older_target_or_another_product_warns():
    source = Flavor.parse("10.11.6-MariaDB")
    assert version_finding(source, Flavor.parse("10.11.6-MariaDB")) == (OK, "the target is not older than the source.", "")
    assert version_finding(source, Flavor.parse("11.4.2-MariaDB"))[0] == OK
    status, message, fix = version_finding(source, Flavor.parse("10.6.16-MariaDB"))
    assert (status, message) == (WARNING, "the target is older than the source.")
    assert "allow target_version" in fix
    status, message, _fix = version_finding(source, Flavor.parse("8.0.36"))
    assert (status, message) == (WARNING, "source and target are different products; types and defaults may differ.")


def test_named_users_counts_those_past_five():
    assert named_users(["a", "b"]) == "a, b"
    assert named_users(list("abcde")) == "a, b, c, d, e"
    assert named_users(list("abcdefg")) == "a, b, c, d, e and 2 more"
