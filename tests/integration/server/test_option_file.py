"""Where a connection goes is decided by its options, never by ~/.my.cnf; one server is never both source and target (issue 13, item 17)."""

from __future__ import annotations

from preflight_support import only_check, run_preflight, make_shop

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec, close_quietly, connect, fetch_value
from integration_support import sql


def _user_on_both(servers, name: str, password: str) -> None:
    """One account, from any host, on both sandboxes: over the source's socket it would log in as well."""
    for server in (servers.source, servers.target):
        sql(server, "CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'" % (name, password))


def _port_reached(spec: ServerSpec) -> int:
    conn = connect(spec)
    try:
        return int(fetch_value(conn, "SELECT @@port"))
    finally:
        close_quietly(conn)


def test_a_socket_line_in_the_option_file_does_not_lead_to_another_server(servers, tmp_path):
    _user_on_both(servers, "t_cnf", "cnf-pw-1")
    try:
        cnf = tmp_path / "my.cnf"
        cnf.write_text("[client]\nsocket = %s\nhost = localhost\nport = %d\n" % (servers.source.socket, servers.source.port))
        given = ServerSpec(host="127.0.0.1", port=servers.target.port, user="t_cnf", password="cnf-pw-1", config_file=str(cnf))
        assert _port_reached(given) == servers.target.port
        # The login itself may come from the file (options given win over it).
        cnf.write_text("[client]\nsocket = %s\nuser = t_cnf\npassword = cnf-pw-1\n" % servers.source.socket)
        assert _port_reached(ServerSpec(host="127.0.0.1", port=servers.target.port, config_file=str(cnf))) == servers.target.port
    finally:
        for server in (servers.source, servers.target):
            sql(server, "DROP USER IF EXISTS 't_cnf'@'%'")


def test_preflight_refuses_one_server_as_source_and_target(ansible, servers, db, make_user):
    make_shop(servers, db)
    writer = make_user(servers.source, "t_both", ["SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER ON *.*"])
    run = run_preflight(ansible, servers, db, target=writer)
    check = only_check(run, "distinct_servers")
    assert check["message"].startswith("the source ferry_source@127.0.0.1:%d and the target t_both@127.0.0.1:%d are the same server (host name "
                                       % (servers.source.port, servers.source.port))
    assert check["object"] == "t_both@127.0.0.1:%d" % servers.source.port and "unix_socket" in check["fix"]
    assert run.failed
    clean = run_preflight(ansible, servers, db)
    assert only_check(clean, "distinct_servers", "ok")["message"] == "the target is another server than the source."
