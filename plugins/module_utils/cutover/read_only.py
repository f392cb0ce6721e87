"""Switching a server's read_only on or off, so that "on" means what a cutover needs.

Step 4 of the consistency argument (docs/design.md) reads the source's final
position after the source went read-only. That position is final only if no
session can commit a write after it, so switching read_only on here also
looks at the write transactions that were open at that moment: it waits for
them to end (``wait_for_writes``), kills those still open after
``kill_after`` seconds, and reads the position only then. Sessions that may
write despite read_only (privileged accounts, replication threads) cannot be
stopped by it: they are found before read_only is touched (accounts that
hold a bypass privilege directly, through a role, or through PUBLIC), and
``privileged_sessions`` says what to do with them: ``fail`` (the default:
nothing is changed, and the message names them), ``kill`` (they are killed
once read_only is on, before the position is read, so that a pool that
reconnects at once meets a read-only server) or ``warn``. The move's own
sessions are not counted: the caller names their users (``ignore_users``,
the agent's source login), and the switch's own session is never one.
A look after the position was read catches sessions that came meanwhile.

How MariaDB 10.11 behaves (tests/integration/cutover/test_read_only_module.py shows
each on a real server):

- ``SET GLOBAL read_only = ON`` waits for the statements other sessions are
  running and for their ``LOCK TABLES`` (it takes the backup lock), for up to
  ``lock_wait_timeout`` seconds, and while it waits, new writes of every other
  session wait behind it. It does not wait for open transactions.
- A transaction with uncommitted writes cannot commit once read_only is on:
  its ``COMMIT`` fails with ER_OPTION_PREVENTS_STATEMENT and the transaction
  is rolled back. A prepared XA transaction cannot be committed by its owner
  either, but it survives its session, and a privileged session can still
  commit it.
- ``READ_ONLY ADMIN`` (part of ``ALL PRIVILEGES``) lets a session both switch
  read_only and write while it is on; since 10.11 ``SUPER`` does neither.
- ``information_schema.INNODB_TRX`` is a cache refreshed at most every 100 ms,
  and it counts writes to temporary tables too (which read_only allows).
- ``information_schema.USER_PRIVILEGES`` shows every account only to a login
  with ``SELECT`` on the ``mysql`` schema (or on ``*.*``): the server checks the
  schema level, so ``SELECT`` on its single tables does not do; without it
  the view shows the login's own rows and nothing else. Roles are not in it
  at all: ``SHOW GRANTS FOR role`` (which needs the same grant) shows a
  role's privileges, those of the roles granted to it included, and
  ``mysql.roles_mapping`` says who holds which role. A global privilege
  granted to ``PUBLIC`` (10.11) is every account's.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..server import grants as grants_mod
from ..server.connection import ServerSpec, close_quietly, connect, error_code, error_text, execute, fetch_all, fetch_value, is_database_error, placeholders
from ..common.errors import DbferryError
from ..server.error_codes import ER_LOCK_WAIT_TIMEOUT, ER_NO_SUCH_THREAD, ER_SPECIFIC_ACCESS_DENIED_ERROR
from ..server.flavor import Flavor, detect_flavor
from ..common.identifiers import quote_ident

DEFAULT_LOCK_WAIT_TIMEOUT = 10

#: information_schema.INNODB_TRX is refreshed at most this often (InnoDB's
#: trx_i_s cache), so only a look taken this long after read_only went on is
#: sure to show every transaction that wrote before it.
TRX_CACHE_SECONDS = 0.1
POLL_SECONDS = 0.2

#: The process list user of replication threads, which ignore read_only.
SYSTEM_USER = "system user"

#: What to do with sessions that can write despite read_only (the privileged_sessions option).
FAIL, KILL, WARN = "fail", "kill", "warn"
PRIVILEGED_ACTIONS = (FAIL, KILL, WARN)

_GRANTEE_RE = re.compile(r"^'((?:[^']|'')*)'@'(?:[^']|'')*'$")

#: The grant that lets a login see every account's privileges and roles (see the module docstring): without it,
#: sessions of other accounts that can write despite read_only would go unseen.
SEE_ACCOUNTS = ("SELECT", "mysql.*")

#: The role every account holds (MariaDB 10.11): a bypass privilege granted to it is everyone's.
PUBLIC_ROLE = "PUBLIC"


# -- what differs between products (not in flavor.py, which this change does not own) --


# -- pure logic ----------------------------------------------------------------


def plan(variables: tuple[str, ...], state: dict[str, bool], want: bool) -> list[tuple[str, bool]]:
    """The ``SET GLOBAL`` steps, in order, that bring ``state`` to ``want``.

    ``variables`` come in the order they are switched on (read_only, then
    super_read_only); they are switched off in reverse, because MySQL keeps
    read_only on while super_read_only is. Variables already right are left alone.
    """
    order = variables if want else tuple(reversed(variables))
    return [(name, want) for name in order if state[name] != want]


def validate_options(wait_for_writes: float, kill_after: Optional[float], lock_wait_timeout: int, privileged: str = FAIL) -> None:
    """Refuse option values that cannot mean what an operator wants, before connecting."""
    if privileged not in PRIVILEGED_ACTIONS:
        raise DbferryError("privileged_sessions is %r." % privileged, obj="privileged_sessions", fix="use one of %s." % ", ".join(PRIVILEGED_ACTIONS))
    if wait_for_writes < 0:
        raise DbferryError("wait_for_writes is %s seconds." % wait_for_writes, obj="wait_for_writes",
                           fix="use 0 (do not wait) or a positive number of seconds.")
    if kill_after is not None and kill_after < 0:
        raise DbferryError("kill_after is %s seconds." % kill_after, obj="kill_after",
                           fix="use 0 (kill at once), a positive number of seconds, or leave it unset.")
    if kill_after is not None and kill_after > wait_for_writes:
        raise DbferryError("kill_after (%s s) is longer than wait_for_writes (%s s): the wait would end before anything is killed."
                           % (kill_after, wait_for_writes), obj="kill_after",
                           fix="set wait_for_writes to at least %s." % kill_after)
    if lock_wait_timeout < 1:
        raise DbferryError("lock_wait_timeout is %s seconds." % lock_wait_timeout, obj="lock_wait_timeout",
                           fix="use a whole number of seconds, 1 or more.")


def grantee_user(grantee: str) -> Optional[str]:
    """The user name of an ``information_schema`` GRANTEE (``'user'@'host'``); None for a role (no host part)."""
    match = _GRANTEE_RE.match(grantee)
    return match.group(1).replace("''", "'") if match else None


def sees_every_account(grants: list[grants_mod.Grant]) -> bool:
    """Whether a login with these grants sees every account's privileges and roles (SELECT on the mysql schema)."""
    return grants_mod.holds_any(grants_mod.privileges_on(grants, "mysql"), SEE_ACCOUNTS[:1])


def role_holders(roles: set[str], granted_to: list[tuple[str, str]]) -> set[str]:
    """Every grantee that holds one of ``roles``, directly or through other roles.

    ``granted_to`` pairs each grantee (account user name or role) with a role it
    was granted (``mysql.roles_mapping``); a role granted to a role passes on.
    Whether it is a default role does not matter: a session may SET ROLE.
    """
    holders: set[str] = set()
    found = set(roles)
    while found:
        holders |= found
        found = {grantee for grantee, role in granted_to if role in found} - holders
    return holders


def state_text(state: dict[str, bool]) -> str:
    """``read_only=ON, super_read_only=ON``, for messages."""
    return ", ".join("%s=%s" % (name, "ON" if value else "OFF") for name, value in state.items())


@dataclass(frozen=True)
class Session:
    """A server session: one with uncommitted writes, or one that may write despite read_only.

    ``seconds`` is how long its transaction has been open (writers), or how
    long it has been in its current state (privileged sessions). Id 0 is a
    prepared XA transaction whose session has gone.
    """

    id: int
    user: str
    host: str
    seconds: int

    @property
    def killable(self) -> bool:
        """Whether KILL can end it: not a detached XA transaction nor a replication thread."""
        return self.id > 0 and self.user != SYSTEM_USER

    def describe(self) -> str:
        if self.id == 0:
            return "a prepared XA transaction without a session (XA RECOVER lists it)"
        return "session %d (%s@%s)" % (self.id, self.user, self.host)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "user": self.user, "host": self.host, "seconds": self.seconds}


@dataclass
class Waited:
    """How the wait for open writers ended."""

    open_writers: list[Session]
    killed: list[Session]
    seconds: float


def wait_for_writers(
    list_writers: Callable[[], list[Session]],
    kill: Callable[[Session], bool],
    *,
    since: float,
    wait_for_writes: float,
    kill_after: Optional[float],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Waited:
    """Wait, from ``since`` (when read_only took effect), until no session has uncommitted writes.

    Stops after ``wait_for_writes`` seconds. Once ``kill_after`` seconds have
    passed, the writers still open are killed (``kill`` returns False for a
    session that ended by itself meanwhile); the rest of the wait lets their
    rollback finish. A killed session cannot commit any more, so it is
    reported in ``killed`` and never among the open writers.
    """
    sleep(max(0.0, since + TRX_CACHE_SECONDS - clock()))
    killed: dict[int, Session] = {}
    ended: set[int] = set()
    while True:
        writers = list_writers()
        elapsed = clock() - since
        if kill_after is not None and elapsed >= kill_after:
            for session in writers:
                if session.killable and session.id not in killed and session.id not in ended:
                    if kill(session):
                        killed[session.id] = session
                    else:
                        ended.add(session.id)
        open_writers = [s for s in writers if s.id not in killed and s.id not in ended]
        if not writers or elapsed >= wait_for_writes:
            return Waited(open_writers, list(killed.values()), round(elapsed, 3))
        deadlines = [wait_for_writes] + ([kill_after] if kill_after is not None and elapsed < kill_after else [])
        sleep(max(0.0, min(POLL_SECONDS, min(deadlines) - elapsed)))


@dataclass
class Outcome:
    """What the switch found and did, as the module returns it."""

    server: str
    wait_for_writes: float
    before: dict[str, bool]
    after: dict[str, bool]
    changed: bool
    position: Optional[str] = None
    waited_seconds: float = 0.0
    killed: list[Session] = field(default_factory=list)
    open_writers: list[Session] = field(default_factory=list)
    privileged_sessions: list[Session] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    check_mode: bool = False
    #: The privileged_sessions option: with fail or kill, a privileged session still there at the end fails the switch.
    privileged_action: str = WARN
    #: The GRANT the login lacks to see every account's privileges (privileged_sessions: warn went on without it).
    accounts_unseen: Optional[str] = None

    def result(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "read_only": self.after["read_only"],
            "position": self.position,
            "waited_seconds": self.waited_seconds,
            "killed": [s.as_dict() for s in self.killed],
            "open_writers": [s.as_dict() for s in self.open_writers],
            "privileged_sessions": [s.as_dict() for s in self.privileged_sessions],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def warnings(self) -> list[str]:
        """Why the position may still move: sessions read_only does not stop (privileged_sessions: warn)."""
        if self.privileged_action != WARN:
            return []
        found = []
        if self.accounts_unseen:
            found.append("%s: could not look for other accounts that can write despite read_only, as the login may not read their "
                         "privileges; their sessions are not in privileged_sessions. Fix: %s" % (self.server, self.accounts_unseen))
        if self.privileged_sessions:
            found.append("%s is read-only, but %d session(s) can still write, so the position may still move: %s. "
                         "End them, or make sure they do not write until the move is over."
                         % (self.server, len(self.privileged_sessions), "; ".join(s.describe() for s in self.privileged_sessions)))
        return found

    def failure(self) -> Optional[str]:
        """The message to fail with when privileged sessions remain (fail, kill), or writers outlived a wait the operator asked for."""
        if self.privileged_sessions and self.privileged_action != WARN and not self.check_mode:
            return str(privileged_error(self.server, self.privileged_sessions, after=True))
        if self.check_mode or not self.open_writers or self.wait_for_writes == 0:
            return None
        kills = ["KILL CONNECTION %d" % s.id for s in self.open_writers if s.killable]
        fix = "set kill_after to end them, raise wait_for_writes, or end them yourself"
        if kills:
            fix += " (%s)" % "; ".join(kills)
        if any(s.id == 0 for s in self.open_writers):
            fix += "; a prepared XA transaction ends with XA ROLLBACK or XA COMMIT of its xid"
        return str(DbferryError(
            "%s is read-only (%s), but after %s s these still have uncommitted writes: %s."
            % (self.server, state_text(self.after), self.waited_seconds,
               "; ".join("%s, open %d s" % (s.describe(), s.seconds) for s in self.open_writers)),
            obj=self.server, fix=fix + "."))


def privileged_error(server: str, sessions: list[Session], after: bool = False) -> DbferryError:
    """The refusal for sessions that can write despite read_only, each named (id, user, host).

    ``after``: they were found once read_only was on (new ones, or ones that privileged_sessions: kill cannot end).
    """
    kills = ["KILL CONNECTION %d" % s.id for s in sessions if s.killable]
    fix = "end them%s (a replication thread with STOP SLAVE), or set privileged_sessions: kill to have them killed once read_only is on, " \
          "or privileged_sessions: warn if they will not write until the move is over" % (" (%s)" % "; ".join(kills) if kills else "")
    when = "is read-only now, but" if after else "was left as it is:"
    return DbferryError("%s %s %d session(s) can write despite read_only, after the final position, and those writes would not reach "
                        "the target: %s." % (server, when, len(sessions), "; ".join(s.describe() for s in sessions)),
                        obj=server, fix=fix + ".")


# -- on the server -------------------------------------------------------------


def read_state(conn: Any, flavor: Flavor) -> dict[str, bool]:
    """Current value of each read-only variable of this product."""
    names = flavor.read_only_variables
    row = fetch_all(conn, "SELECT " + ", ".join("@@GLOBAL.%s" % quote_ident(name) for name in names))[0]
    return {name: bool(int(value)) for name, value in zip(names, row)}


def _account(conn: Any) -> tuple[str, str]:
    return grants_mod.parse_account(fetch_value(conn, "SELECT CURRENT_USER()"))


def list_writers(conn: Any, spec: ServerSpec) -> list[Session]:
    """Other sessions' transactions that have written rows and not ended yet (needs PROCESS)."""
    try:
        rows = fetch_all(
            conn,
            "SELECT t.trx_mysql_thread_id, COALESCE(p.USER, ''), COALESCE(p.HOST, ''), TIMESTAMPDIFF(SECOND, t.trx_started, NOW())"
            " FROM information_schema.INNODB_TRX t LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id"
            " WHERE t.trx_rows_modified > 0 AND t.trx_mysql_thread_id <> CONNECTION_ID() ORDER BY t.trx_mysql_thread_id",
        )
    except Exception as exc:
        if not (is_database_error(exc) and error_code(exc) == ER_SPECIFIC_ACCESS_DENIED_ERROR):
            raise
        raise DbferryError("%s cannot see other sessions' transactions: %s" % (spec.describe(), error_text(exc)),
                           obj=spec.describe(), fix=grants_mod.grant_statement(["PROCESS"], "*.*", _account(conn))) from None
    return [Session(int(r[0]), r[1], r[2], int(r[3] or 0)) for r in rows]


def _bypass_holders(conn: Any, flavor: Flavor, sees_all: bool) -> tuple[set[str], bool]:
    """User names of the accounts that hold a read_only bypass privilege, and whether every account does (PUBLIC holds one).

    Without ``sees_all`` (SELECT on the mysql schema) only the login's own privileges can be read, and no roles.
    """
    privileges = flavor.read_only_bypass_privileges
    if not privileges:
        return set(), False
    rows = fetch_all(conn, "SELECT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN (%s)"
                     % placeholders(len(privileges)), privileges)
    users = {user for user in (grantee_user(r[0]) for r in rows) if user is not None}
    if not sees_all:
        return users, False
    granted_to = [(r[0], r[1]) for r in fetch_all(conn, "SELECT User, Role FROM mysql.roles_mapping")]
    roles = {role for grantee, role in granted_to}
    if flavor.is_mariadb and flavor.version >= (10, 11, 0):
        roles.add(PUBLIC_ROLE)
    bypassing = set()
    for role in sorted(roles):
        if grants_mod.holds_any(grants_mod.privileges_on(grants_mod.read_grants(conn, quote_ident(role))), privileges):
            bypassing.add(role)
    return users | role_holders(bypassing, granted_to), PUBLIC_ROLE in bypassing


def privileged_sessions(conn: Any, flavor: Flavor, ignore_users: tuple[str, ...] = (), sees_all: bool = True) -> list[Session]:
    """Other sessions that read_only does not stop: replication threads, and accounts with a bypass privilege.

    Accounts are matched by user name (the process list does not say which
    account's host pattern a session logged in through). A bypass privilege
    held through a role counts, default role or not (a session may SET ROLE).
    ``sees_all`` says the login may read every account's privileges
    (``sees_every_account``); without it only its own are known.
    Sessions of ``ignore_users`` (the move's own logins) are not counted.
    """
    users, everyone = _bypass_holders(conn, flavor, sees_all)
    # A session that is ending (killed, or quitting) cannot write any more.
    rows = fetch_all(conn, "SELECT ID, COALESCE(USER, ''), COALESCE(HOST, ''), TIME FROM information_schema.PROCESSLIST"
                           " WHERE ID <> CONNECTION_ID() AND COMMAND NOT IN ('Killed', 'Quit') ORDER BY ID")
    return [Session(int(r[0]), r[1], r[2], int(r[3] or 0)) for r in rows
            if r[1] == SYSTEM_USER or ((everyone or r[1] in users) and r[1] not in ignore_users)]


def _look_at_accounts(conn: Any, flavor: Flavor, spec: ServerSpec, grants: list[grants_mod.Grant], privileged: str) -> Optional[str]:
    """Whether the login can find every account that bypasses read_only: None if so, else the GRANT it lacks.

    With fail or kill, not seeing them would let their sessions through silently, so that fails here, before
    read_only is touched; with warn the caller warns that it could not look.
    """
    if not flavor.read_only_bypass_privileges or sees_every_account(grants):
        return None
    grant = grants_mod.grant_statement([SEE_ACCOUNTS[0]], SEE_ACCOUNTS[1], _account(conn))
    if privileged == WARN:
        return grant
    raise DbferryError("%s cannot see which other accounts can write despite read_only (%s, directly or through a role): "
                       "without SELECT on the mysql schema the server shows a login only its own privileges, so "
                       "privileged_sessions: %s would miss their sessions." % (spec.describe(), " or ".join(flavor.read_only_bypass_privileges),
                                                                               privileged),
                       obj=spec.describe(), fix=grant + " Or set privileged_sessions: warn to go on without looking.")


def _kill(conn: Any, session: Session) -> bool:
    """KILL a session; False when it had ended already."""
    try:
        execute(conn, "KILL CONNECTION %s", (session.id,))
    except Exception as exc:
        if is_database_error(exc) and error_code(exc) == ER_NO_SUCH_THREAD:
            return False
        raise
    return True


def _require_kill_privilege(conn: Any, flavor: Flavor, spec: ServerSpec, grants: list[grants_mod.Grant]) -> None:
    """kill_after needs KILL on other users' sessions; find out before read_only is touched."""
    accepted = flavor.kill_privileges
    if grants_mod.holds_any(grants_mod.privileges_on(grants), accepted):
        return
    raise DbferryError("%s cannot end other users' sessions, which kill_after needs (it has none of %s)."
                       % (spec.describe(), ", ".join(accepted)), obj=spec.describe(),
                       fix=grants_mod.grant_statement([accepted[0]], "*.*", _account(conn)) + " Or leave kill_after unset.")


def _running_statements(conn: Any) -> list[str]:
    """Other sessions running a statement, longest first: what SET GLOBAL read_only waits for."""
    rows = fetch_all(conn, "SELECT ID, USER, HOST, TIME, LEFT(COALESCE(INFO, ''), 80) FROM information_schema.PROCESSLIST"
                           " WHERE ID <> CONNECTION_ID() AND COMMAND IN ('Query', 'Execute') ORDER BY TIME DESC, ID")
    return ["session %s (%s@%s, %s s: %s)" % tuple(r) for r in rows]


def _set_error(conn: Any, flavor: Flavor, spec: ServerSpec, name: str, exc: BaseException, lock_wait_timeout: int) -> DbferryError:
    """The operator's message for a SET GLOBAL refused for want of a privilege or that timed out."""
    code = error_code(exc)
    if code == ER_SPECIFIC_ACCESS_DENIED_ERROR:
        return DbferryError("%s may not set %s: %s" % (spec.describe(), name, error_text(exc)), obj=spec.describe(),
                            fix=grants_mod.grant_statement([flavor.read_only_privilege], "*.*", _account(conn)))
    running = _running_statements(conn)
    held_by = ("Sessions running a statement: %s" % "; ".join(running)) if running else \
        "No session is running a statement, so one holds LOCK TABLES or FLUSH TABLES WITH READ LOCK (it shows as idle)"
    return DbferryError(
        "setting %s on %s waited lock_wait_timeout (%d s) for other sessions' statements and table locks, and gave up; "
        "the server is %s, and the writes that queued behind it went on. %s."
        % (name, spec.describe(), lock_wait_timeout, state_text(read_state(conn, flavor)), held_by),
        obj=spec.describe(),
        fix="let them finish or end them (KILL CONNECTION <id>), or raise lock_wait_timeout "
            "(other sessions' writes wait as long as it does), then run again.")


def _apply(conn: Any, flavor: Flavor, spec: ServerSpec, steps: list[tuple[str, bool]], lock_wait_timeout: int) -> None:
    """Run the SET GLOBAL steps, bounded by lock_wait_timeout so the rest of the server never stalls for long."""
    if not steps:
        return
    execute(conn, "SET SESSION lock_wait_timeout = %s", (lock_wait_timeout,))
    for name, value in steps:
        try:
            execute(conn, "SET GLOBAL %s = %s" % (quote_ident(name), "ON" if value else "OFF"))
        except Exception as exc:
            if not (is_database_error(exc) and error_code(exc) in (ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_LOCK_WAIT_TIMEOUT)):
                raise
            raise _set_error(conn, flavor, spec, name, exc, lock_wait_timeout) from None


def switch_read_only(
    spec: ServerSpec,
    want: bool,
    *,
    wait_for_writes: float = 0.0,
    kill_after: Optional[float] = None,
    lock_wait_timeout: int = DEFAULT_LOCK_WAIT_TIMEOUT,
    check_mode: bool = False,
    privileged: str = FAIL,
    ignore_users: tuple[str, ...] = (),
) -> Outcome:
    """Bring the server's read-only variables to ``want``; when on, deal with open writers and read the position.

    Everything that can be found out without writing (connection, PROCESS,
    the KILL privilege for kill_after) is checked before read_only is
    touched, and so are the sessions that can write despite read_only
    (``privileged``: see the module docstring). In check mode nothing is set,
    waited for or killed: the result says what would change and which
    writers and privileged sessions are there now (with ``fail``, it fails).
    """
    validate_options(wait_for_writes, kill_after, lock_wait_timeout, privileged)
    started = time.monotonic()
    # SET GLOBAL read_only may wait lock_wait_timeout on purpose: the session's own read timeout must not end it first.
    conn = connect(spec, read_timeout=max(spec.read_timeout, lock_wait_timeout + 10))
    try:
        flavor = detect_flavor(conn)
        timings = {"connect": time.monotonic() - started}
        before = read_state(conn, flavor)
        steps = plan(flavor.read_only_variables, before, want)
        outcome = Outcome(spec.describe(), wait_for_writes, before, dict(before, **dict(steps)), bool(steps),
                          timings=timings, check_mode=check_mode, privileged_action=privileged)
        if want:
            outcome.open_writers = list_writers(conn, spec)
            own_grants = grants_mod.read_grants(conn)
            if kill_after is not None or privileged == KILL:
                _require_kill_privilege(conn, flavor, spec, own_grants)
            outcome.accounts_unseen = _look_at_accounts(conn, flavor, spec, own_grants, privileged)
            sees_all = outcome.accounts_unseen is None
            outcome.privileged_sessions = privileged_sessions(conn, flavor, ignore_users, sees_all)
            if privileged == FAIL and outcome.privileged_sessions:
                raise privileged_error(spec.describe(), outcome.privileged_sessions)
        if check_mode:
            timings["total"] = time.monotonic() - started
            return outcome
        setting = time.monotonic()
        _apply(conn, flavor, spec, steps, lock_wait_timeout)
        outcome.after = read_state(conn, flavor)
        since = time.monotonic()
        timings["set_read_only"] = since - setting
        if want:
            waited = wait_for_writers(lambda: list_writers(conn, spec), lambda s: _kill(conn, s),
                                      since=since, wait_for_writes=wait_for_writes, kill_after=kill_after)
            outcome.open_writers, outcome.killed, outcome.waited_seconds = waited.open_writers, waited.killed, waited.seconds
            outcome.changed = outcome.changed or bool(waited.killed)
            timings["wait_for_writes"] = time.monotonic() - since
            found = privileged_sessions(conn, flavor, ignore_users, sees_all)
            if privileged == KILL:
                ended = [s for s in found if s.killable and _kill(conn, s)]
                outcome.killed += ended
                outcome.changed = outcome.changed or bool(ended)
                found = [s for s in found if not s.killable]
            outcome.position = fetch_value(conn, flavor.gtid_position_sql)
            # A session that came (or reconnected) meanwhile may write after the position: it fails the switch (or is warned of).
            seen = {s.id for s in outcome.killed + found}
            outcome.privileged_sessions = found + [s for s in privileged_sessions(conn, flavor, ignore_users, sees_all) if s.id not in seen]
        timings["total"] = time.monotonic() - started
        return outcome
    finally:
        close_quietly(conn)
