"""The cutover login's needed privileges, by product and by whether it ends sessions (pure logic)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.source_admin import SEE_SESSIONS, needed_privileges
from ansible_collections.dbferry.mysql.plugins.module_utils.server.flavor import Flavor


def test_mariadb_needs_read_only_admin_and_process():
    flavor = Flavor.parse("10.11.6-MariaDB")
    assert needed_privileges(flavor, kill_sessions=False) == [("READ_ONLY ADMIN",), (SEE_SESSIONS,)]
    assert needed_privileges(flavor, kill_sessions=True)[-1] == ("CONNECTION ADMIN", "SUPER")


def test_mysql_accepts_super_beside_system_variables_admin():
    assert needed_privileges(Flavor.parse("8.0.36"), kill_sessions=False)[0] == ("SYSTEM_VARIABLES_ADMIN", "SUPER")
    assert needed_privileges(Flavor.parse("5.7.44"), kill_sessions=False)[0] == ("SUPER",)
