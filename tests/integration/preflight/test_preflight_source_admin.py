"""The cutover's login (source_admin) is checked by preflight, before anything is copied (issue 13, item 11).

The cutover is the first step that uses this login. Without the check, a
wrong port or a missing grant showed only after the whole copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integration_support import root_session, sql
from playbook_support import checkpoints, failure_message, run_playbook, move_variables

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.dev.sandbox import free_port


def _root(server: Any) -> dict[str, Any]:
    return {"unix_socket": server.socket, "user": "root", "password": server.passwords["root"]}


def _admin_check(ansible: Any, servers: Any, db: str, admin: dict[str, Any], **options: Any) -> dict[str, Any]:
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY)" % db)
    args = {"source": "{{ dbferry_source }}", "target": "{{ dbferry_target }}", "source_admin": "{{ admin }}",
            "databases": {"include": [db]}, **options}
    run = ansible.run("dbferry.mysql.preflight", args, {
        "dbferry_source": servers.source.connection_options("ferry_source"),
        "dbferry_target": servers.target.connection_options("ferry_target"),
        "admin": admin,
    })
    found = [c for c in run.result["checks"] if c["name"] == "source_admin"]
    assert len(found) == 1, run.result
    assert admin.get("password", "-") not in run.output
    return dict(found[0], failed=run.failed, msg=run.result.get("msg", ""))


def test_a_login_that_may_switch_read_only_passes(ansible, servers, db):
    check = _admin_check(ansible, servers, db, _root(servers.source), kill_sessions=True)
    assert check["status"] == "ok", check
    assert not check["failed"]
    assert "may switch read_only and see sessions and end them" in check["message"]


def test_a_wrong_port_is_an_error_naming_the_login(ansible, servers, db):
    admin = {"host": "127.0.0.1", "port": free_port(), "user": "root", "password": "not-used"}
    check = _admin_check(ansible, servers, db, admin)
    assert check["failed"] and check["status"] == "error"
    assert check["object"] == "root@127.0.0.1:%d" % admin["port"]
    assert check["message"].startswith("the cutover's login cannot connect: cannot connect to root@127.0.0.1:%d" % admin["port"])
    assert "listens on this host and port" in check["fix"]


def test_a_login_to_another_server_is_an_error(ansible, servers, db):
    check = _admin_check(ansible, servers, db, _root(servers.target))
    assert check["failed"] and check["status"] == "error"
    assert "reaches another server than the source" in check["message"]
    assert "point dbferry_source_admin" in check["fix"]


def test_missing_privileges_name_the_grant(ansible, servers, db, make_user):
    admin = make_user(servers.source, "weak_admin", ["PROCESS ON *.*", "SELECT ON mysql.*"])
    check = _admin_check(ansible, servers, db, admin, kill_sessions=True)
    assert check["failed"] and check["status"] == "error"
    assert check["message"] == ("the cutover's login lacks READ_ONLY ADMIN, CONNECTION ADMIN or SUPER (to switch read_only, "
                                "see the sessions, end them, see which accounts can write despite read_only).")
    assert check["fix"] == "GRANT READ_ONLY ADMIN, CONNECTION ADMIN ON *.* TO 'weak_admin'@'127.0.0.1';"
    # Without kill_sessions, ending sessions is not asked for.
    sql(servers.source, "DROP TABLE `%s`.t" % db)
    check = _admin_check(ansible, servers, db, admin)
    assert check["fix"] == "GRANT READ_ONLY ADMIN ON *.* TO 'weak_admin'@'127.0.0.1';"


def test_a_least_privilege_admin_must_see_every_account_unless_privileged_sessions_is_warn(ansible, servers, db, make_user):
    """Without SELECT on mysql the cutover's privileged_sessions: fail could not see other accounts' READ_ONLY ADMIN."""
    admin = make_user(servers.source, "least_admin", ["READ_ONLY ADMIN, PROCESS, CONNECTION ADMIN ON *.*"])
    check = _admin_check(ansible, servers, db, admin)
    assert check["failed"] and check["status"] == "error"
    assert check["message"] == ("the cutover's login lacks SELECT on the mysql schema (to switch read_only, see the sessions, "
                                "see which accounts can write despite read_only).")
    assert check["fix"].startswith("GRANT SELECT ON mysql.* TO 'least_admin'@'127.0.0.1'; Or set dbferry_privileged_sessions")
    sql(servers.source, "DROP TABLE `%s`.t" % db)
    check = _admin_check(ansible, servers, db, admin, privileged_sessions="warn")
    assert check["status"] == "ok" and not check["failed"], check
    sql(servers.source, "DROP TABLE `%s`.t" % db, "GRANT SELECT ON mysql.* TO least_admin@'127.0.0.1'")
    check = _admin_check(ansible, servers, db, admin)
    assert check["status"] == "ok" and "and every account's privileges" in check["message"], check


def test_move_with_a_wrong_admin_port_fails_before_copying(ansible, servers, db, tmp_path: Path):
    """The issue's case: move.yml with a wrong dbferry_source_admin port stopped only after the copy."""
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, v INT)" % db,
        "INSERT INTO `%s`.t SELECT seq, seq FROM `%s`.seq_1_to_1000" % (db, db))
    port = free_port()
    admin = {"host": "127.0.0.1", "port": port, "user": "root", "password": "x"}
    variables = move_variables(servers, db, tmp_path, "admin-port", dbferry_source_admin=admin)
    proc = run_playbook(ansible, "move.yml", variables, "-l", "staging")
    assert proc.returncode != 0
    message = failure_message(proc.stdout)
    assert "source_admin [root@127.0.0.1:%d] the cutover's login cannot connect" % port in message, message
    assert checkpoints(servers, "admin-port") == 0
    with root_session(servers.target) as conn:
        assert not fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (db,))
