"""Read-only switching: step order per product, privileges per product, option checks, and the wait for writers (pure logic)."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.server import grants
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover import read_only as ro
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.server.flavor import Flavor

MARIADB = Flavor.parse("10.11.19-MariaDB-0+deb12u1")
MARIADB_106 = Flavor.parse("10.6.16-MariaDB")
MARIADB_104 = Flavor.parse("10.4.32-MariaDB")
MYSQL = Flavor.parse("8.0.36", "MySQL Community Server - GPL")
MYSQL_57 = Flavor.parse("5.7.44-log", "MySQL Community Server (GPL)")


@pytest.mark.parametrize(
    "flavor,state,want,steps",
    [
        (MARIADB, {"read_only": False}, True, [("read_only", True)]),
        (MARIADB, {"read_only": True}, True, []),
        (MARIADB, {"read_only": True}, False, [("read_only", False)]),
        # MySQL: on in the flavor's order, off in reverse (super_read_only keeps read_only on while it is on).
        (MYSQL, {"read_only": False, "super_read_only": False}, True, [("read_only", True), ("super_read_only", True)]),
        (MYSQL, {"read_only": True, "super_read_only": True}, False, [("super_read_only", False), ("read_only", False)]),
        # Half-way states only get the missing step.
        (MYSQL, {"read_only": True, "super_read_only": False}, True, [("super_read_only", True)]),
        (MYSQL, {"read_only": True, "super_read_only": False}, False, [("read_only", False)]),
        (MYSQL, {"read_only": True, "super_read_only": True}, True, []),
    ],
)
def test_plan_orders_steps_per_product(flavor, state, want, steps):
    assert ro.plan(flavor.read_only_variables, state, want) == steps


def test_privileges_per_product():
    assert MARIADB.read_only_bypass_privileges == ("READ_ONLY ADMIN",)  # 10.11 took it out of SUPER
    assert MARIADB_106.read_only_bypass_privileges == ("READ_ONLY ADMIN", "SUPER")
    assert MARIADB_104.read_only_bypass_privileges == ("SUPER",)
    assert MYSQL.read_only_bypass_privileges == ()  # super_read_only stops SUPER too
    assert MARIADB.read_only_privilege == "READ_ONLY ADMIN"
    assert MARIADB_104.read_only_privilege == "SUPER"
    assert MYSQL.read_only_privilege == "SYSTEM_VARIABLES_ADMIN"
    assert MYSQL_57.read_only_privilege == "SUPER"
    assert MARIADB.kill_privileges == ("CONNECTION ADMIN", "SUPER")
    assert MYSQL.kill_privileges == ("CONNECTION_ADMIN", "SUPER")
    assert MYSQL_57.kill_privileges == ("SUPER",)


@pytest.mark.parametrize(
    "wait,kill,lwt,obj,fix",
    [
        (-1, None, 10, "wait_for_writes", "positive number"),
        (5, -1, 10, "kill_after", "leave it unset"),
        (5, 10, 10, "kill_after", "set wait_for_writes to at least 10"),
        (0, 5, 10, "kill_after", "set wait_for_writes to at least 5"),
        (0, None, 0, "lock_wait_timeout", "1 or more"),
    ],
)
def test_bad_options_name_the_option_and_the_fix(wait, kill, lwt, obj, fix):
    with pytest.raises(DbferryError) as caught:
        ro.validate_options(wait, kill, lwt)
    assert caught.value.obj == obj
    assert fix in caught.value.fix


def test_good_options():
    ro.validate_options(0, None, 1)
    ro.validate_options(0, 0, 10)
    ro.validate_options(30, 30, 10)


@pytest.mark.parametrize(
    "grantee,user",
    [("'root'@'localhost'", "root"), ("'o''brien'@'%'", "o'brien"), ("'a@b'@'10.0.0.%'", "a@b"), ("'dba_role'", None)],
)
def test_grantee_user(grantee, user):
    assert ro.grantee_user(grantee) == user


def test_role_holders_follow_roles_granted_to_roles():
    granted_to = [("app", "outer"), ("outer", "inner"), ("other", "unrelated"), ("root", "inner")]
    assert ro.role_holders({"inner"}, granted_to) == {"inner", "outer", "app", "root"}
    assert ro.role_holders(set(), granted_to) == set()


@pytest.mark.parametrize(
    "lines,sees",
    [
        (["GRANT SELECT ON `mysql`.* TO `a`@`%`"], True),
        (["GRANT SELECT ON *.* TO `a`@`%`"], True),
        (["GRANT ALL PRIVILEGES ON `mysql`.* TO `a`@`%`"], True),
        (["GRANT SELECT ON `mysql`.`global_priv` TO `a`@`%`", "GRANT SELECT ON `mysql`.`roles_mapping` TO `a`@`%`"], False),
        (["GRANT READ_ONLY ADMIN, PROCESS, CONNECTION ADMIN ON *.* TO `a`@`%`"], False),
    ],
)
def test_sees_every_account_needs_select_on_the_mysql_schema(lines, sees):
    assert ro.sees_every_account([g for g in (grants.parse_grant(line) for line in lines) if g]) is sees


class FakeClock:
    """Time that only moves when the code under test sleeps, so waits are exact and instant."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.kills: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


APP = ro.Session(42, "app", "127.0.0.1:5000", 3)
APP2 = ro.Session(43, "app", "127.0.0.1:5001", 1)
XA = ro.Session(0, "", "", 9)


def _wait(clock: FakeClock, writers_at, *, wait: float, kill_after=None, kill_result=True):
    """Run wait_for_writers with writers_at(elapsed) deciding who is open at each look."""
    killed: list[int] = []

    def kill(session):
        killed.append(session.id)
        clock.kills.append(clock.now)
        return kill_result

    outcome = ro.wait_for_writers(lambda: writers_at(clock.now), kill, since=0.0, wait_for_writes=wait,
                                  kill_after=kill_after, clock=clock, sleep=clock.sleep)
    return outcome, killed


def test_first_look_waits_for_the_trx_cache():
    clock = FakeClock()
    outcome, killed = _wait(clock, lambda t: [], wait=30)
    assert clock.sleeps == [ro.TRX_CACHE_SECONDS]
    assert (outcome.open_writers, outcome.killed, killed) == ([], [], [])


def test_a_writer_that_ends_within_the_wait():
    clock = FakeClock()
    outcome = _wait(clock, lambda t: [APP] if t < 1.0 else [], wait=30)[0]
    assert outcome.open_writers == [] and outcome.killed == []
    assert 1.0 <= outcome.seconds <= 1.0 + ro.POLL_SECONDS


def test_a_writer_that_outlives_the_wait_stays_open():
    clock = FakeClock()
    outcome, killed = _wait(clock, lambda t: [APP], wait=2)
    assert outcome.open_writers == [APP] and killed == []
    assert outcome.seconds == 2.0  # the last look is exactly at the deadline


def test_no_wait_looks_once():
    clock = FakeClock()
    outcome = _wait(clock, lambda t: [APP], wait=0)[0]
    assert outcome.open_writers == [APP]
    assert clock.sleeps == [ro.TRX_CACHE_SECONDS]


def test_kill_after_kills_at_that_time_and_waits_for_the_rollback():
    clock = FakeClock()
    # APP is killed at 5 s and takes 2 s to roll back; APP2 ends by itself at 1 s.
    outcome, killed = _wait(clock, lambda t: ([APP] if t < 7 else []) + ([APP2] if t < 1 else []), wait=30, kill_after=5)
    assert killed == [42]
    assert outcome.killed == [APP] and outcome.open_writers == []
    assert 7 <= outcome.seconds <= 7 + ro.POLL_SECONDS
    assert clock.kills == [pytest.approx(5.0)]  # exactly when due: no sleep went past it


def test_killed_session_still_rolling_back_at_the_end_is_not_an_open_writer():
    clock = FakeClock()
    outcome, killed = _wait(clock, lambda t: [APP], wait=3, kill_after=1)
    assert killed == [42]  # killed once, not at every look
    assert outcome.killed == [APP] and outcome.open_writers == []


def test_kill_at_once_without_waiting():
    clock = FakeClock()
    outcome, killed = _wait(clock, lambda t: [APP, APP2], wait=0, kill_after=0)
    assert killed == [42, 43] and outcome.open_writers == []


def test_a_session_gone_before_its_kill_is_neither_killed_nor_open():
    clock = FakeClock()
    outcome, killed = _wait(clock, lambda t: [APP], wait=1, kill_after=1, kill_result=False)
    assert killed == [42]
    assert outcome.killed == [] and outcome.open_writers == []


def test_detached_xa_and_replication_threads_are_not_killed():
    clock = FakeClock()
    replica = ro.Session(7, ro.SYSTEM_USER, "", 2)
    outcome, killed = _wait(clock, lambda t: [XA, replica], wait=1, kill_after=0)
    assert killed == []
    assert outcome.open_writers == [XA, replica]


def _outcome(**kwargs) -> ro.Outcome:
    base = {"server": "root@/run/mysqld.sock", "wait_for_writes": 5.0,
            "before": {"read_only": False}, "after": {"read_only": True}, "changed": True}
    base.update(kwargs)
    return ro.Outcome(**base)


def test_failure_names_the_sessions_and_the_fix():
    message = _outcome(open_writers=[APP, XA], waited_seconds=5.0).failure()
    assert message.startswith("root@/run/mysqld.sock is read-only (read_only=ON), but after 5.0 s these still have uncommitted writes: ")
    assert "session 42 (app@127.0.0.1:5000), open 3 s" in message
    assert "a prepared XA transaction without a session (XA RECOVER lists it)" in message
    assert "Fix: set kill_after to end them, raise wait_for_writes, or end them yourself (KILL CONNECTION 42)" in message
    assert "XA ROLLBACK" in message


def test_failure_lists_one_kill_per_session():
    message = _outcome(open_writers=[APP, APP2], waited_seconds=5.0).failure()
    assert message.endswith("(KILL CONNECTION 42; KILL CONNECTION 43).")
    assert "XA" not in message


def test_no_failure_without_a_wait_or_in_check_mode():
    assert _outcome(open_writers=[APP], wait_for_writes=0).failure() is None
    assert _outcome(open_writers=[APP], check_mode=True).failure() is None
    assert _outcome().failure() is None


def test_result_and_warnings():
    root = ro.Session(17, "root", "localhost", 4)
    outcome = _outcome(position="0-1-9", privileged_sessions=[root], timings={"total": 0.12345})
    result = outcome.result()
    assert result["read_only"] is True and result["position"] == "0-1-9"
    assert result["privileged_sessions"] == [{"id": 17, "user": "root", "host": "localhost", "seconds": 4}]
    assert result["timings"] == {"total": 0.123}
    (warning,) = outcome.warnings()
    assert "1 session(s) can still write" in warning and "session 17 (root@localhost)" in warning
    assert _outcome().warnings() == []


def test_state_text():
    assert ro.state_text({"read_only": True, "super_read_only": False}) == "read_only=ON, super_read_only=OFF"


def test_privileged_sessions_fail_the_switch_unless_warned_of():
    root = ro.Session(17, "root", "localhost", 4)
    replication = ro.Session(5, ro.SYSTEM_USER, "", 100)
    failing = _outcome(privileged_sessions=[root, replication], privileged_action=ro.FAIL).failure()
    assert failing.startswith("root@/run/mysqld.sock is read-only now, but 2 session(s) can write despite read_only")
    assert "session 17 (root@localhost); session 5 (system user@)" in failing
    assert "Fix: end them (KILL CONNECTION 17) (a replication thread with STOP SLAVE)" in failing
    assert _outcome(privileged_sessions=[root], privileged_action=ro.KILL).failure() is not None
    assert _outcome(privileged_sessions=[root], privileged_action=ro.FAIL, check_mode=True).failure() is None
    assert _outcome(privileged_sessions=[root], privileged_action=ro.FAIL).warnings() == []
    assert _outcome(privileged_sessions=[root], privileged_action=ro.WARN).failure() is None


def test_privileged_error_before_the_switch_says_nothing_changed():
    error = ro.privileged_error("db1:3306", [ro.Session(9, "app", "10.0.0.7:4000", 1)])
    assert error.obj == "db1:3306" and str(error).startswith("db1:3306 was left as it is: 1 session(s) can write despite read_only")
    assert "privileged_sessions: kill" in error.fix and "privileged_sessions: warn" in error.fix


def test_privileged_sessions_option_is_checked():
    with pytest.raises(DbferryError) as caught:
        ro.validate_options(0, None, 10, "ignore")
    assert caught.value.obj == "privileged_sessions" and "fail, kill, warn" in caught.value.fix
