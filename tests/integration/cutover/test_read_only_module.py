"""dbferry.mysql.read_only through ansible-playbook against a real MariaDB 10.11 sandbox.

The first tests pin down what the server itself does with read_only (no
module involved), because the module's waiting and killing are built on it:
SET GLOBAL read_only does not wait for open transactions, their COMMIT fails
afterwards and rolls them back, READ_ONLY ADMIN (not SUPER) writes anyway,
and writes that queue behind the switch are refused once it is done.

The sandboxes are shared by the whole test session: every test leaves the
source writable, with no prepared XA transaction, whatever happens. Nothing
here depends on timing for its outcome: every wait polls with a bound.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Iterator

import pymysql
import pytest
from integration_support import root_session, sql, until

from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec, close_quietly, connect, execute, fetch_all, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident

MODULE = "dbferry.mysql.read_only"
READ_ONLY_ERROR = 1290


@pytest.fixture(autouse=True)
def writable_afterwards(servers: Any) -> Iterator[None]:
    """Leave the shared source writable, whatever the test did."""
    yield
    sql(servers.source, "SET GLOBAL read_only = OFF")


@pytest.fixture
def rollback_xa(servers: Any) -> Iterator[None]:
    """Roll back prepared XA transactions a test left; list it after ``db``, whose DROP DATABASE they would block."""
    yield
    with root_session(servers.source) as conn:
        for format_id, gtrid_length, _bqual_length, data in fetch_all(conn, "XA RECOVER"):
            xid = data.encode() if isinstance(data, str) else data
            execute(conn, "XA ROLLBACK X%s, X%s, %s", (xid[:gtrid_length].hex(), xid[gtrid_length:].hex(), format_id))


@pytest.fixture
def session() -> Iterator[Callable[..., Any]]:
    """Open extra sessions (an application, a DBA) that are closed after the test."""
    opened: list[Any] = []

    def open_session(spec: ServerSpec, autocommit: bool = True) -> Any:
        conn = connect(spec, autocommit=autocommit)
        opened.append(conn)
        return conn

    yield open_session
    close_quietly(*opened)


def _run(ansible: Any, servers: Any, *, check_mode: bool = False, verbosity: int = 0, background: bool = False, **options: Any) -> Any:
    """Run the module as root over the source's socket; the password travels in the vars file."""
    args = {"login_unix_socket": servers.source.socket, "login_user": "root", "login_password": "{{ pw }}"}
    args.update(options)
    return ansible.run(MODULE, args, {"pw": servers.source.passwords["root"]}, check_mode=check_mode, verbosity=verbosity, background=background)


def _run_as(ansible: Any, login: dict[str, Any], **options: Any) -> Any:
    """Run the module as another user over TCP (a make_user() login)."""
    args = {"login_host": login["host"], "login_port": login["port"], "login_user": login["user"], "login_password": "{{ pw }}"}
    args.update(options)
    return ansible.run(MODULE, args, {"pw": login["password"]})


def _finish(ansible: Any, proc: Any) -> dict[str, Any]:
    """Wait for a background run and return the registered result."""
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, output
    return json.loads((ansible.workdir / "result.json").read_text())


def _value(server: sandbox.Sandbox, query: str) -> Any:
    with root_session(server) as conn:
        return fetch_value(conn, query)


def _read_only(server: sandbox.Sandbox) -> bool:
    return bool(_value(server, "SELECT @@GLOBAL.read_only"))


def _waiting_for_backup_lock(server: sandbox.Sandbox, info_prefix: str) -> bool:
    count = _value(server, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'Waiting for backup lock' AND INFO LIKE '%s%%'"
                   % info_prefix.replace("'", "''"))
    return bool(count)


def _prepare_xa_and_leave(servers: Any, session: Callable[..., Any], table: str) -> Any:
    """An application session prepares an XA transaction that wrote a row, then disconnects; the transaction stays."""
    app = session(servers.source.spec("app"), autocommit=False)
    for statement in ("XA START 'ferry_xa'", "INSERT INTO %s VALUES (1, 1)" % table, "XA END 'ferry_xa'", "XA PREPARE 'ferry_xa'"):
        execute(app, statement)
    return app


def _xa_detached(servers: Any) -> bool:
    return bool(_value(servers.source, "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = 0 AND trx_rows_modified > 0"))


def _refused(conn: Any, statement: str) -> int:
    """Run a statement that must fail; return the server's error number."""
    with pytest.raises(pymysql.err.MySQLError) as caught:
        execute(conn, statement)
    return caught.value.args[0]


def _table(servers: Any, db: str, name: str = "t") -> str:
    table = "%s.%s" % (quote_ident(db), quote_ident(name))
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, v INT) ENGINE=InnoDB" % table)
    return table


def _position(servers: Any) -> str:
    return _value(servers.source, "SELECT @@GLOBAL.gtid_binlog_pos")


# -- what the server does -------------------------------------------------------


def test_server_set_read_only_does_not_wait_for_open_transactions_and_their_commit_fails(servers, db, session):
    table = _table(servers, db)
    app = session(servers.source.spec("app"), autocommit=False)
    execute(app, "INSERT INTO %s VALUES (1, 1)" % table)
    root = session(servers.source.spec("root"))
    execute(root, "SET SESSION lock_wait_timeout = 30")  # a bound only: it returns at once
    execute(root, "SET GLOBAL read_only = ON")
    assert _refused(app, "COMMIT") == READ_ONLY_ERROR
    # The failed COMMIT rolled the transaction back: the row is not there even once the server is writable again.
    execute(root, "SET GLOBAL read_only = OFF")
    execute(app, "COMMIT")
    assert fetch_all(root, "SELECT * FROM %s" % table) == []


def test_server_read_only_admin_writes_anyway_and_super_does_nothing(servers, db, session, make_user):
    table = _table(servers, db)
    dml = "SELECT, INSERT, UPDATE, DELETE ON %s.*" % quote_ident(db)
    admin = make_user(servers.source, "t_ro_admin", ["READ_ONLY ADMIN ON *.*", dml])
    superuser = make_user(servers.source, "t_ro_super", ["SUPER ON *.*", dml])
    admin_conn = session(ServerSpec(config_file=None, **admin))
    super_conn = session(ServerSpec(config_file=None, **superuser))
    # Since MariaDB 10.11, SUPER does not include READ_ONLY ADMIN: it can neither switch read_only nor write under it.
    assert _refused(super_conn, "SET GLOBAL read_only = ON") == 1227
    execute(admin_conn, "SET GLOBAL read_only = ON")
    execute(admin_conn, "INSERT INTO %s VALUES (1, 1)" % table)
    assert _refused(super_conn, "INSERT INTO %s VALUES (2, 2)" % table) == READ_ONLY_ERROR
    assert fetch_all(admin_conn, "SELECT id FROM %s" % table) == [(1,)]


def test_server_prepared_xa_transaction_outlives_its_session_and_a_privileged_one_commits_it(servers, db, rollback_xa, session):
    table = _table(servers, db)
    app = _prepare_xa_and_leave(servers, session, table)
    sql(servers.source, "SET GLOBAL read_only = ON")
    assert _refused(app, "XA COMMIT 'ferry_xa'") == READ_ONLY_ERROR
    app.close()
    until(lambda: _xa_detached(servers), "the prepared XA transaction to lose its session")
    sql(servers.source, "XA COMMIT 'ferry_xa'")  # root, under read_only
    assert _value(servers.source, "SELECT COUNT(*) FROM %s" % table) == 1


# -- the module -----------------------------------------------------------------


def test_on_off_idempotent_diff_and_position(ansible, servers, db, session, monkeypatch):
    monkeypatch.setenv("ANSIBLE_DIFF_ALWAYS", "1")
    table = _table(servers, db)
    sql(servers.source, "INSERT INTO %s VALUES (1, 1)" % table)
    app = session(servers.source.spec("app"))

    on = _run(ansible, servers, read_only=True).result
    assert not on.get("failed"), on.get("msg")
    assert on["changed"] is True and on["read_only"] is True
    assert on["diff"] == {"before": {"read_only": False}, "after": {"read_only": True}}
    assert on["position"] == _position(servers)
    assert on["killed"] == [] and on["open_writers"] == []
    assert set(on["timings"]) == {"connect", "set_read_only", "wait_for_writes", "total"}
    assert on["queries"] == ["SET GLOBAL `read_only` = ON"]  # what it ran that changed the server, not its reads or session set-up
    assert _read_only(servers.source)
    assert _refused(app, "INSERT INTO %s VALUES (2, 2)" % table) == READ_ONLY_ERROR
    assert _position(servers) == on["position"]

    again = _run(ansible, servers, read_only=True).result
    assert again["changed"] is False and again["read_only"] is True
    assert again["diff"] == {"before": {"read_only": True}, "after": {"read_only": True}}
    assert again["position"] == on["position"]
    assert again["queries"] == []

    off = _run(ansible, servers, read_only=False).result
    assert off["changed"] is True and off["read_only"] is False and off["position"] is None
    assert off["diff"] == {"before": {"read_only": True}, "after": {"read_only": False}}
    assert off["queries"] == ["SET GLOBAL `read_only` = OFF"]
    execute(app, "INSERT INTO %s VALUES (2, 2)" % table)
    assert _run(ansible, servers, read_only=False).result["changed"] is False


def test_check_mode_changes_nothing(ansible, servers, monkeypatch):
    monkeypatch.setenv("ANSIBLE_DIFF_ALWAYS", "1")
    would = _run(ansible, servers, read_only=True, check_mode=True).result
    assert not would.get("failed"), would.get("msg")
    assert would["changed"] is True and would["read_only"] is True and would["position"] is None
    assert would["diff"] == {"before": {"read_only": False}, "after": {"read_only": True}}
    assert would["queries"] == []  # check mode runs nothing that changes the server, and lists only what ran
    assert not _read_only(servers.source)

    sql(servers.source, "SET GLOBAL read_only = ON")
    assert _run(ansible, servers, read_only=True, check_mode=True).result["changed"] is False
    would_off = _run(ansible, servers, read_only=False, check_mode=True).result
    assert would_off["changed"] is True and would_off["read_only"] is False
    assert _read_only(servers.source)


def test_waits_for_an_open_writer_to_end(ansible, servers, db, session):
    table = _table(servers, db)
    app = session(servers.source.spec("app"), autocommit=False)
    execute(app, "INSERT INTO %s VALUES (1, 1)" % table)
    proc = _run(ansible, servers, read_only=True, wait_for_writes=240, background=True)
    try:
        until(lambda: _read_only(servers.source), "the module to switch read_only on")
        # The application finds out at COMMIT; its transaction ends (rolled back), and the module's wait with it.
        assert _refused(app, "COMMIT") == READ_ONLY_ERROR
    finally:
        result = _finish(ansible, proc)
    assert not result.get("failed"), result.get("msg")
    assert result["open_writers"] == [] and result["killed"] == []
    assert result["position"] == _position(servers)
    assert _value(servers.source, "SELECT COUNT(*) FROM %s" % table) == 0


def test_open_writer_that_outlives_the_wait_fails_naming_it(ansible, servers, db, session):
    table = _table(servers, db)
    app = session(servers.source.spec("app"), autocommit=False)
    execute(app, "INSERT INTO %s VALUES (1, 1)" % table)
    app_id = app.thread_id()

    run = _run(ansible, servers, read_only=True, wait_for_writes=1)
    assert run.failed and run.result["changed"] is True
    assert [w["id"] for w in run.result["open_writers"]] == [app_id]
    assert run.result["open_writers"][0]["user"] == "app"
    msg = run.result["msg"]
    assert msg.startswith("root@%s is read-only (read_only=ON), but after " % servers.source.socket)
    assert "session %d (app@127.0.0.1:" % app_id in msg
    assert "Fix: set kill_after to end them, raise wait_for_writes, or end them yourself (KILL CONNECTION %d)." % app_id in msg
    assert run.result["queries"] == ["SET GLOBAL `read_only` = ON"]  # the failed task says what it changed
    assert _read_only(servers.source)

    # Without a wait the open writer is only reported.
    run = _run(ansible, servers, read_only=True)
    assert not run.failed and run.result["changed"] is False
    assert [w["id"] for w in run.result["open_writers"]] == [app_id]
    assert run.result["waited_seconds"] >= 0.1  # the one look waited for InnoDB's transaction cache


def test_kill_after_kills_open_writers_and_reports_them(ansible, servers, db, session):
    table = _table(servers, db)
    app = session(servers.source.spec("app"), autocommit=False)
    execute(app, "INSERT INTO %s VALUES (1, 1)" % table)
    idle = session(servers.source.spec("app"))  # no transaction: left alone
    sql(servers.source, "SET GLOBAL read_only = ON")

    run = _run(ansible, servers, read_only=True, wait_for_writes=60, kill_after=0.5)
    assert not run.failed, run.result.get("msg")
    assert run.result["changed"] is True  # read_only was on already, but a session was killed
    (killed,) = run.result["killed"]
    assert killed["id"] == app.thread_id() and killed["user"] == "app" and killed["host"].startswith("127.0.0.1:")
    assert killed["seconds"] >= 0
    assert run.result["queries"] == ["KILL CONNECTION %d" % app.thread_id()]
    assert run.result["open_writers"] == []
    assert run.result["waited_seconds"] >= 0.5
    assert run.result["position"] == _position(servers)
    with pytest.raises(pymysql.err.OperationalError):
        fetch_all(app, "SELECT 1")
    assert fetch_all(idle, "SELECT 1") == [(1,)]
    assert _value(servers.source, "SELECT COUNT(*) FROM %s" % table) == 0


def test_detached_prepared_xa_transaction_cannot_be_killed_and_fails_the_wait(ansible, servers, db, rollback_xa, session):
    _prepare_xa_and_leave(servers, session, _table(servers, db)).close()
    until(lambda: _xa_detached(servers), "the prepared XA transaction to lose its session")
    run = _run(ansible, servers, read_only=True, wait_for_writes=0.5, kill_after=0)
    assert run.failed and run.result["killed"] == []
    assert [w["id"] for w in run.result["open_writers"]] == [0]
    assert "a prepared XA transaction without a session (XA RECOVER lists it)" in run.result["msg"]
    assert "XA ROLLBACK or XA COMMIT of its xid" in run.result["msg"]


def test_privileged_sessions_are_reported_and_can_still_write(ansible, servers, db, session, make_user):
    table = _table(servers, db)
    dml = "SELECT, INSERT, UPDATE, DELETE ON %s.*" % quote_ident(db)
    admin = session(ServerSpec(config_file=None, **make_user(servers.source, "t_ro_dba", ["READ_ONLY ADMIN ON *.*", dml])))
    plain = session(ServerSpec(config_file=None, **make_user(servers.source, "t_ro_super2", ["SUPER ON *.*", dml])))

    run = _run(ansible, servers, read_only=True, privileged_sessions="warn")
    assert not run.failed, run.result.get("msg")
    privileged = {s["id"]: s["user"] for s in run.result["privileged_sessions"]}
    assert privileged.get(admin.thread_id()) == "t_ro_dba"
    assert plain.thread_id() not in privileged
    assert any("can still write, so the position may still move" in w and "session %d (t_ro_dba@" % admin.thread_id() in w
               for w in run.result.get("warnings", []))
    # Which is why: the position moves after the task.
    execute(admin, "INSERT INTO %s VALUES (1, 1)" % table)
    assert _position(servers) != run.result["position"]


def test_writes_queued_behind_the_switch_are_refused(ansible, servers, db, session, make_user):
    table = _table(servers, db)
    other = _table(servers, db, "other")
    locker = session(ServerSpec(config_file=None, **make_user(
        servers.source, "t_ro_locker", ["SELECT, INSERT, LOCK TABLES ON %s.*" % quote_ident(db)])))
    execute(locker, "LOCK TABLES %s WRITE" % table)
    proc = _run(ansible, servers, read_only=True, lock_wait_timeout=240, background=True)
    outcome: dict[str, Any] = {}
    try:
        until(lambda: _waiting_for_backup_lock(servers.source, "SET GLOBAL `read_only`"), "the switch to wait for the table lock")
        app = session(servers.source.spec("app"))

        def write() -> None:
            try:
                execute(app, "INSERT INTO %s VALUES (1, 1)" % other)
                outcome["error"] = None
            except pymysql.err.MySQLError as exc:
                outcome["error"] = exc.args[0]

        writer = threading.Thread(target=write)
        writer.start()
        # While the switch waits, the application's write waits behind it ...
        until(lambda: _waiting_for_backup_lock(servers.source, "INSERT INTO %s" % other), "the write to queue behind the switch")
        assert not _read_only(servers.source)
    finally:
        execute(locker, "UNLOCK TABLES")
        result = _finish(ansible, proc)
    writer.join(60)
    assert not result.get("failed"), result.get("msg")
    # ... and once the switch is done, that write is refused, not committed.
    assert outcome == {"error": READ_ONLY_ERROR}
    assert result["position"] == _position(servers)


def test_lock_wait_timeout_leaves_the_server_writable_and_names_the_holdup(ansible, servers, db, session, make_user):
    table = _table(servers, db)
    locker = session(ServerSpec(config_file=None, **make_user(
        servers.source, "t_ro_locker2", ["SELECT, INSERT, LOCK TABLES ON %s.*" % quote_ident(db)])))
    execute(locker, "LOCK TABLES %s WRITE" % table)
    run = _run(ansible, servers, read_only=True, lock_wait_timeout=1)
    assert run.failed
    msg = run.result["msg"]
    assert "setting read_only on root@%s waited lock_wait_timeout (1 s)" % servers.source.socket in msg
    assert "the server is read_only=OFF" in msg
    assert "No session is running a statement, so one holds LOCK TABLES or FLUSH TABLES WITH READ LOCK" in msg
    assert "or raise lock_wait_timeout" in msg
    assert run.result["queries"] == []  # a refused SET GLOBAL is not listed: it changed nothing
    assert not _read_only(servers.source)
    execute(locker, "UNLOCK TABLES")

    # A long write statement holds the switch up the same way, and is named.
    slow = session(servers.source.spec("app"))
    slow_id = slow.thread_id()
    statement = "INSERT INTO %s SELECT 2, SLEEP(600)" % table
    thread = threading.Thread(target=lambda: _swallow(lambda: execute(slow, statement)))
    thread.start()
    try:
        until(lambda: _value(servers.source, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %d AND INFO IS NOT NULL"
                             % slow_id), "the slow statement to run")
        run = _run(ansible, servers, read_only=True, lock_wait_timeout=1)
        assert run.failed
        assert "Sessions running a statement: session %d (app@127.0.0.1:" % slow_id in run.result["msg"]
        assert statement[:80] in run.result["msg"]
    finally:
        sql(servers.source, "KILL CONNECTION %d" % slow_id)
        thread.join(60)
    assert not _read_only(servers.source)


def _swallow(action: Callable[[], Any]) -> None:
    """Run an action that is expected to die with its killed connection."""
    try:
        action()
    except pymysql.err.MySQLError:
        pass


def test_missing_privileges_fail_before_anything_changes(ansible, servers, make_user):
    # 10.11: SUPER is not enough; SELECT on mysql lets it look for privileged accounts, which comes before the switch.
    no_switch = make_user(servers.source, "t_ro_weak", ["SUPER, PROCESS ON *.*", "SELECT ON mysql.*"])
    run = _run_as(ansible, no_switch, read_only=True)
    assert run.failed
    assert run.result["msg"].startswith("t_ro_weak@127.0.0.1:%d may not set read_only: (1227) Access denied" % servers.source.port)
    assert run.result["msg"].endswith("Fix: GRANT READ_ONLY ADMIN ON *.* TO 't_ro_weak'@'127.0.0.1';")

    no_process = make_user(servers.source, "t_ro_blind", ["READ_ONLY ADMIN ON *.*"])
    run = _run_as(ansible, no_process, read_only=True)
    assert run.failed
    assert "cannot see other sessions' transactions" in run.result["msg"]
    assert run.result["msg"].endswith("Fix: GRANT PROCESS ON *.* TO 't_ro_blind'@'127.0.0.1';")
    assert not _read_only(servers.source)
    # Switching off needs no PROCESS.
    sql(servers.source, "SET GLOBAL read_only = ON")
    run = _run_as(ansible, no_process, read_only=False)
    assert not run.failed and run.result["changed"] is True
    assert not _read_only(servers.source)

    no_kill = make_user(servers.source, "t_ro_nokill", ["READ_ONLY ADMIN, PROCESS ON *.*"])
    run = _run_as(ansible, no_kill, read_only=True, wait_for_writes=5, kill_after=1)
    assert run.failed
    assert "cannot end other users' sessions, which kill_after needs" in run.result["msg"]
    assert "Fix: GRANT CONNECTION ADMIN ON *.* TO 't_ro_nokill'@'127.0.0.1'; Or leave kill_after unset." in run.result["msg"]
    assert not _read_only(servers.source)

    run = _run(ansible, servers, read_only=True, kill_after=5)
    assert run.failed and run.result["msg"].startswith("kill_after (5.0 s) is longer than wait_for_writes (0.0 s)")
    assert not _read_only(servers.source)


def test_unreachable_server_and_wrong_password_never_show_the_password(ansible, servers):
    closed = {"host": "127.0.0.1", "port": sandbox.free_port(), "user": "app", "password": "not-the-password-7f3a"}
    run = _run_as(ansible, closed, read_only=True, connect_timeout=5)
    assert run.failed
    assert run.result["msg"].startswith("cannot connect to app@127.0.0.1:%d:" % closed["port"])
    assert "listens on this host and port" in run.result["msg"]

    wrong = dict(servers.source.connection_options("app"), password="not-the-password-7f3a")
    run = ansible.run(MODULE, {"login_host": wrong["host"], "login_port": wrong["port"], "login_user": "app",
                               "login_password": "{{ pw }}", "read_only": True}, {"pw": wrong["password"]}, verbosity=3)
    assert run.failed
    assert "Access denied for user 'app'@'127.0.0.1'" in run.result["msg"]
    assert "check the user name and password" in run.result["msg"]
    assert "not-the-password-7f3a" not in run.output and "not-the-password-7f3a" not in json.dumps(run.result)

    good = _run(ansible, servers, read_only=True, verbosity=3)
    assert not good.failed, good.result.get("msg")
    assert servers.source.passwords["root"] not in good.output
    assert servers.source.passwords["root"] not in json.dumps(good.result)
