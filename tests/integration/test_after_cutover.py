"""What the target and the source hold after a cutover (issue 13, items 3 and 5b), through the modules, on real sandboxes."""

from __future__ import annotations

from integration_support import root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.connection import execute, fetch_value


def _vars(servers, state_dir, db):
    return {"src": servers.source.connection_options("ferry_source"), "dst": servers.target.connection_options("ferry_target"),
            "state_dir": str(state_dir), "db": db}


def _run(ansible, module, variables, name, **args):
    base = {"name": name, "state_dir": "{{ state_dir }}"}
    if module in ("agent", "verify", "cutover"):
        base.update(source="{{ src }}", target="{{ dst }}")
    if module == "verify":
        del base["state_dir"]
    return ansible.run("dbferry.mysql." + module, dict(base, **args), variables)


def _started(ansible, servers, db, tmp_path, prefix):
    """A move of ``db`` whose agent runs and has caught up; its name and the variables."""
    name = prefix + "-" + db[:40].replace("_", "-")
    variables = _vars(servers, tmp_path / "state", db)
    started = _run(ansible, "agent", variables, name, databases={"include": ["{{ db }}"]})
    assert not started.failed, started.result.get("msg")
    assert not _run(ansible, "wait", variables, name, max_lag=0, timeout=120).failed
    return name, variables


def _next_id(server, db, table="t"):
    with root_session(server) as conn:
        return fetch_value(conn, "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (db, table))


def test_auto_increment_on_the_target_is_raised_to_the_source_s_at_the_cutover(ansible, servers, db, tmp_path):
    """The reproduction of item 5b: an id handed out in a transaction that deleted its row again leaves no row to copy."""
    sql(servers.source, "CREATE TABLE `%s`.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB" % db,
        "INSERT INTO `%s`.t (v) VALUES (1), (2), (3)" % db)
    name, variables = _started(ansible, servers, db, tmp_path, "ai")
    with root_session(servers.source) as conn:
        for statement in ("START TRANSACTION", "INSERT INTO `%s`.t (v) VALUES (4)" % db, "DELETE FROM `%s`.t WHERE v = 4" % db, "COMMIT"):
            execute(conn, statement)
    sql(servers.source, "SET GLOBAL read_only = ON")
    try:
        verified = _run(ansible, "verify", variables, name)
        cut = _run(ansible, "cutover", variables, name)
    finally:
        sql(servers.source, "SET GLOBAL read_only = OFF")
    assert not verified.failed, verified.result.get("msg")
    assert verified.result["auto_increment_behind"] == [{"table": "%s.t" % db, "target_table": "%s.t" % db, "source": 5, "target": 4}]
    assert "AUTO_INCREMENT is behind on the target in %s.t: next id 4 on the target, 5 on the source" % db in verified.output
    assert not cut.failed, cut.result.get("msg")
    assert cut.result["auto_increment_raised"] == [{"table": "%s.t" % db, "target_table": "%s.t" % db, "source": 5, "target": 4}]
    assert _next_id(servers.source, db) == _next_id(servers.target, db) == 5
    with root_session(servers.target) as conn:  # the application, writing to the target now, gets a new id
        execute(conn, "INSERT INTO `%s`.t (v) VALUES (5)" % db)
        assert fetch_value(conn, "SELECT LAST_INSERT_ID()") == 5
    assert _run(ansible, "agent", variables, name, state="absent").result["changed"] is True
