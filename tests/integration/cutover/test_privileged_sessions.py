"""dbferry.mysql.read_only with sessions that can write despite read_only (issue 13, item 3): fail, kill, warn,
and the move's own users left out. Real MariaDB 10.11 sandbox, module through ansible-playbook."""

from __future__ import annotations

from typing import Any, Iterator

import pymysql
import pytest
from integration_support import root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec, close_quietly, connect, execute, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident


@pytest.fixture(autouse=True)
def writable_afterwards(servers: Any) -> Iterator[None]:
    yield
    sql(servers.source, "SET GLOBAL read_only = OFF")


@pytest.fixture
def dba(servers: Any, db: str, make_user: Any) -> Iterator[Any]:
    """A session of an account with READ_ONLY ADMIN (it writes although the server is read-only)."""
    sql(servers.source, "CREATE TABLE %s.t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB" % quote_ident(db))
    login = make_user(servers.source, "t_pv_dba", ["READ_ONLY ADMIN ON *.*", "SELECT, INSERT ON %s.*" % quote_ident(db)])
    conn = connect(ServerSpec(config_file=None, **login))
    yield conn
    close_quietly(conn)


def _run(ansible: Any, servers: Any, **options: Any) -> Any:
    args = {"login_unix_socket": servers.source.socket, "login_user": "root", "login_password": "{{ pw }}", "read_only": True}
    args.update(options)
    return ansible.run("dbferry.mysql.read_only", args, {"pw": servers.source.passwords["root"]})


def _read_only(servers: Any) -> int:
    with root_session(servers.source) as conn:
        return int(fetch_value(conn, "SELECT @@GLOBAL.read_only"))


def test_fail_is_the_default_and_names_the_sessions_before_anything_changes(ansible, servers, dba):
    run = _run(ansible, servers)
    assert run.failed and _read_only(servers) == 0
    message = run.result["msg"]
    assert "was left as it is: 1 session(s) can write despite read_only" in message, message
    assert "session %d (t_pv_dba@127.0.0.1:" % dba.thread_id() in message and "KILL CONNECTION %d" % dba.thread_id() in message
    assert "privileged_sessions: kill" in message
    checked = ansible.run("dbferry.mysql.read_only", {"login_unix_socket": servers.source.socket, "login_user": "root",
                                                      "login_password": "{{ pw }}", "read_only": True},
                          {"pw": servers.source.passwords["root"]}, check_mode=True)
    assert checked.failed and "session %d (t_pv_dba@" % dba.thread_id() in checked.result["msg"]


def test_kill_ends_them_once_read_only_is_on(ansible, servers, db, dba):
    run = _run(ansible, servers, privileged_sessions="kill")
    assert not run.failed, run.result.get("msg")
    assert _read_only(servers) == 1 and run.result["privileged_sessions"] == []
    assert [s["id"] for s in run.result["killed"]] == [dba.thread_id()] and run.result["changed"] is True
    with pytest.raises(pymysql.err.MySQLError):
        execute(dba, "INSERT INTO %s.t VALUES (1, 1)" % quote_ident(db))
    with root_session(servers.source) as conn:
        assert fetch_value(conn, "SELECT COUNT(*) FROM %s.t" % quote_ident(db)) == 0
        assert fetch_value(conn, "SELECT @@GLOBAL.gtid_binlog_pos") == run.result["position"]


def test_warn_reports_and_ignore_users_leaves_the_move_s_own_out(ansible, servers, dba):
    warned = _run(ansible, servers, privileged_sessions="warn")
    assert not warned.failed and [s["id"] for s in warned.result["privileged_sessions"]] == [dba.thread_id()]
    assert any("session %d (t_pv_dba@" % dba.thread_id() in w for w in warned.result.get("warnings", []))
    sql(servers.source, "SET GLOBAL read_only = OFF")
    ignored = _run(ansible, servers, ignore_users=["t_pv_dba"])
    assert not ignored.failed, ignored.result.get("msg")
    assert ignored.result["privileged_sessions"] == [] and ignored.result["killed"] == []


def _run_as(ansible: Any, login: dict[str, Any], **options: Any) -> Any:
    args = {"login_host": login["host"], "login_port": login["port"], "login_user": login["user"], "login_password": "{{ pw }}",
            "read_only": True}
    args.update(options)
    return ansible.run("dbferry.mysql.read_only", args, {"pw": login["password"]})


#: README's least-privilege source admin, without the grant that shows it other accounts.
LEAST_ADMIN = ["READ_ONLY ADMIN, PROCESS, CONNECTION ADMIN ON *.*"]


def test_a_least_privilege_admin_that_cannot_see_other_accounts_fails_naming_the_grant(ansible, servers, dba, make_user):
    admin = make_user(servers.source, "t_pv_admin", LEAST_ADMIN)
    run = _run_as(ansible, admin)
    assert run.failed and _read_only(servers) == 0
    assert "GRANT SELECT ON mysql.* TO 't_pv_admin'@'127.0.0.1';" in run.result["msg"], run.result["msg"]
    warned = _run_as(ansible, admin, privileged_sessions="warn")
    assert not warned.failed and _read_only(servers) == 1
    assert any("could not look for other accounts" in w and "GRANT SELECT ON mysql.*" in w for w in warned.result.get("warnings", []))
    sql(servers.source, "SET GLOBAL read_only = OFF", "GRANT SELECT ON mysql.* TO t_pv_admin@'127.0.0.1'")
    granted = _run_as(ansible, admin)
    assert granted.failed and _read_only(servers) == 0
    assert "session %d (t_pv_dba@" % dba.thread_id() in granted.result["msg"], granted.result["msg"]


def test_an_account_privileged_only_through_a_role_is_found(ansible, servers, db, make_user):
    """READ_ONLY ADMIN through a role granted to a role, not the default role: the session may SET ROLE and write."""
    sql(servers.source, "CREATE ROLE t_pv_inner", "GRANT READ_ONLY ADMIN ON *.* TO t_pv_inner",
        "CREATE ROLE t_pv_outer", "GRANT t_pv_inner TO t_pv_outer")
    try:
        login = make_user(servers.source, "t_pv_roled", ["t_pv_outer", "SELECT ON %s.*" % quote_ident(db)])
        admin = make_user(servers.source, "t_pv_admin", LEAST_ADMIN + ["SELECT ON mysql.*"])
        conn = connect(ServerSpec(config_file=None, **login))
        try:
            run = _run_as(ansible, admin)
            assert run.failed and _read_only(servers) == 0
            assert "session %d (t_pv_roled@" % conn.thread_id() in run.result["msg"], run.result["msg"]
        finally:
            close_quietly(conn)
    finally:
        sql(servers.source, "DROP ROLE IF EXISTS t_pv_outer", "DROP ROLE IF EXISTS t_pv_inner")
