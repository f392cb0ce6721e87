"""What the target and the source hold after a cutover (issue 13, items 3 and 5b), through the modules, on real sandboxes."""

from __future__ import annotations

import json
import os
import threading

from ferry_support import assert_same, make_load_tables
from integration_support import root_session, sql, until
from playbook_support import failure_message, run_playbook, move_variables

from ansible_collections.dbferry.mysql.plugins.module_utils.binlog import gtid
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec, close_quietly, connect, execute, fetch_value


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


class PrivilegedWriter:
    """A session of an account with READ_ONLY ADMIN inserting rows in a loop, until told to stop or its session ends."""

    def __init__(self, login: dict, db: str) -> None:
        self.conn = connect(ServerSpec(config_file=None, **login))
        self.session_id = self.conn.thread_id()
        self.db, self.rows, self.error = db, 0, None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.thread.start()

    def _write(self) -> None:
        try:
            while not self.stop.is_set():
                execute(self.conn, "INSERT INTO `%s`.t (v) VALUES (%d)" % (self.db, self.rows))
                self.rows += 1
                # Paced: an unpaced loop on a loaded machine piled up 67k rows changed since the last verification,
                # and the switchover rightly refused its 7.4 s read-only window before this test's point was reached.
                self.stop.wait(0.005)
        except Exception as exc:  # noqa: BLE001 - the test looks at it  # pylint: disable=broad-exception-caught
            self.error = exc

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(30)
        close_quietly(self.conn)


def _source_position(servers) -> str:
    with root_session(servers.source) as conn:
        return fetch_value(conn, "SELECT @@GLOBAL.gtid_binlog_pos")


def test_privileged_writer_during_the_switchover_fail_then_kill_then_a_write_after_the_cutover(ansible, servers, db, tmp_path, make_user):
    """Item 3: a READ_ONLY ADMIN account writes in a loop. privileged_sessions: fail (the default) changes nothing and names the
    session; kill kills it once the source is read-only and nothing lands after the final position; a write to a moved table
    after the cutover (read_only switched off, root) shows in the status as writes_after_cutover, with its count and first GTID."""
    sql(servers.source, "CREATE TABLE `%s`.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB" % db,
        "INSERT INTO `%s`.t (v) VALUES (1), (2), (3)" % db)
    name, variables = _started(ansible, servers, db, tmp_path, "pw")
    variables["admin_password"] = servers.source.passwords["root"]
    args = {"source": "{{ src }}", "target": "{{ dst }}", "login_user": "root", "login_password": "{{ admin_password }}",
            "login_unix_socket": servers.source.socket}
    login = make_user(servers.source, "t_pw_app", ["READ_ONLY ADMIN ON *.*", "SELECT, INSERT ON `%s`.*" % db])
    writer = PrivilegedWriter(login, db)
    try:
        until(lambda: writer.rows > 10, "the privileged writer to write")
        refused = _run(ansible, "switchover", variables, name, **args)
        assert refused.failed and "session %d (t_pw_app@127.0.0.1:" % writer.session_id in refused.result["msg"], refused.result
        assert "can write despite read_only" in refused.result["msg"]
        with root_session(servers.source) as conn:
            assert fetch_value(conn, "SELECT @@GLOBAL.read_only") == 0
        status = _run(ansible, "status", variables, name).result["status"]
        assert status["running"] is True and status["phase"] == "tailing"
        rows_before = writer.rows
        until(lambda: writer.rows > rows_before + 10, "the writer to go on writing")

        switched = _run(ansible, "switchover", variables, name, privileged_sessions="kill", **args)
        assert not switched.failed, switched.result.get("msg")
        assert writer.session_id in [s["id"] for s in switched.result["read_only"]["killed"]]
        until(lambda: writer.error is not None, "the writer's session to end")
        final = switched.result["final_position"]
        assert _source_position(servers) == final  # nothing landed after the final position
        assert_same(servers, db)
        status = _run(ansible, "status", variables, name).result["status"]
        assert status["phase"] == "complete"
        assert status["writes_after_cutover"]["count"] == 0 and status["writes_after_cutover"]["first_gtid"] is None

        sql(servers.source, "SET GLOBAL read_only = OFF", "INSERT INTO `%s`.t (v) VALUES (-1)" % db, "INSERT INTO `%s`.t (v) VALUES (-2)" % db)
        first = gtid.parse(_source_position(servers))
        status = _run(ansible, "status", variables, name).result["status"]
    finally:
        writer.finish()
        sql(servers.source, "SET GLOBAL read_only = OFF")
    found = status["writes_after_cutover"]
    domain, (server, seq) = next(iter(first.items()))
    assert found["count"] == 2 and found["first_gtid"] == "%d-%d-%d" % (domain, server, seq - 1), found
    assert found["tables"] == ["%s.t" % db] and found["final_position"] == final
    assert _run(ansible, "agent", variables, name, state="absent").result["changed"] is True


_WRITER = """import json, sys
import pymysql
c = json.load(open(sys.argv[1]))
conn = pymysql.connect(unix_socket=c["socket"], user="root", password=c["password"], autocommit=True)
conn.cursor().execute("UPDATE `%s`.a SET v = v + 1 WHERE id = 7" % c["db"])
"""


def test_the_move_role_fails_when_the_source_is_written_after_the_cutover(ansible, servers, db, tmp_path, make_user):
    """Item 3 through move.yml. A session of a READ_ONLY ADMIN account stops the cutover before anything happens (no hook, the
    source writable), naming it. Without it, an after-cutover hook writes to a moved table on the source as such a session would
    (root): move.yml fails before it finishes, naming the count, the table, the final position and the first GTID."""
    make_load_tables(servers, db, 200)
    name = "late-" + db[:40].replace("_", "-")
    secrets = tmp_path / "writer.json"
    fd = os.open(secrets, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"socket": servers.source.socket, "password": servers.source.passwords["root"], "db": db}, handle)
    (tmp_path / "writer.py").write_text(_WRITER)
    hook = tmp_path / "after_cutover.yml"
    hook.write_text("- name: Write to a moved table on the source after the cutover\n"
                    "  ansible.builtin.command:\n    argv: ['{{ ansible_python_interpreter }}', '%s', '%s']\n  changed_when: true\n"
                    % (tmp_path / "writer.py", secrets))
    variables = move_variables(servers, db, tmp_path, name, dbferry_hook_after_read_only="", dbferry_hook_after_cutover=str(hook))
    dba = connect(ServerSpec(config_file=None, **make_user(servers.source, "t_lt_dba", ["READ_ONLY ADMIN ON *.*"])))
    try:
        stopped = run_playbook(ansible, "move.yml", variables, "-l", "staging")
    finally:
        close_quietly(dba)
    assert stopped.returncode != 0
    message = failure_message(stopped.stdout)
    assert "stopped at 'Look for source sessions that can write despite read_only', before the source was touched" in message, message
    assert "session %d (t_lt_dba@127.0.0.1:" % dba.thread_id() in message, message
    assert [line.split()[0] for line in (tmp_path / "hooks.log").read_text().splitlines()] == ["on_failure"]
    with root_session(servers.source) as conn:
        assert fetch_value(conn, "SELECT @@GLOBAL.read_only") == 0
    try:
        moved = run_playbook(ansible, "move.yml", variables, "-l", "staging")
        # the hook's write, in the default domain 0 (an earlier test may have left other domains in the position)
        written = gtid.render({0: gtid.parse(_source_position(servers))[0]})
    finally:
        sql(servers.source, "SET GLOBAL read_only = OFF")
    assert moved.returncode != 0, moved.stdout[-3000:]
    message = failure_message(moved.stdout)
    assert "1 transaction(s) changed moved tables (%s.a) on the source after the cutover's final position" % db in message, message
    assert "the first one %s; they are NOT on the target" % written in message, message
    assert _run(ansible, "agent", _vars(servers, tmp_path / "state", db), name, state="absent").result["changed"] is True
