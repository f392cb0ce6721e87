"""Preflight of the login that switches the source read-only at the cutover (``source_admin``).

The cutover is the first step that uses this login, and it comes after the
whole copy: a wrong port or a missing grant found there costs the hours the
copy took, and is found at the moment the operator least wants a surprise.
So preflight connects with it and reads its grants at the start. Nothing is
tried for real: switching read_only, even to its current value, would be a
write, and preflight never writes.
"""

from __future__ import annotations


from ..cutover.read_only import SEE_ACCOUNTS, WARN, sees_every_account
from ..common.errors import DbferryError
from ..server import grants as grants_mod
from ..server.connection import close_quietly, connect, fetch_all
from ..server.identity import server_identity
from ..server.flavor import Flavor, detect_flavor
from .context import Context
from .report import ERROR, OK

CHECK = "source_admin"

#: Privilege to see every session: the writers read_only waits for, and the sessions that can bypass it.
SEE_SESSIONS = "PROCESS"


def needed_privileges(flavor: Flavor, kill_sessions: bool) -> list[tuple[str, ...]]:
    """Each entry is satisfied by any one of its privileges: switch read_only, see sessions, and end them if asked to."""
    # MySQL still honours SUPER for read_only beside SYSTEM_VARIABLES_ADMIN; MariaDB 10.11's SUPER no longer does.
    switch = (flavor.read_only_privilege,) if flavor.is_mariadb else tuple(dict.fromkeys((flavor.read_only_privilege, "SUPER")))
    needed = [switch, (SEE_SESSIONS,)]
    if kill_sessions:
        needed.append(flavor.kill_privileges)
    return needed


def source_admin(ctx: Context) -> None:
    """The cutover's login reaches the source and may switch read_only, see sessions and (if asked) end them.

    Unless privileged_sessions is warn, it must also see every account's privileges and roles, or the cutover's
    look for sessions that can write despite read_only would find only its own, and fail for want of it.
    """
    admin = ctx.request.source_admin
    if admin is None:
        ctx.add(CHECK, OK, "source_admin", "not given: only a move that cuts over uses it, and its run checks it here.")
        return
    kill_sessions = ctx.request.kill_sessions
    obj = admin.describe()
    try:
        conn = connect(admin)
    except DbferryError as exc:
        ctx.add(CHECK, ERROR, exc.obj, "the cutover's login cannot connect: " + exc.message, exc.fix)
        return
    try:
        flavor = detect_flavor(conn)
        if ctx.source is not None and server_identity(conn) != server_identity(ctx.source):
            ctx.add(CHECK, ERROR, obj, "the cutover's login reaches another server than the source (host, port, data directory "
                    "or server id differ): read_only would be switched on the wrong server.",
                    "point dbferry_source_admin (source_admin) at the source server.")
            return
        account = grants_mod.parse_account(fetch_all(conn, "SELECT CURRENT_USER()")[0][0])
        grants = grants_mod.read_grants(conn)
        granted = grants_mod.privileges_on(grants)
        absent = [choices for choices in needed_privileges(flavor, kill_sessions) if not grants_mod.holds_any(granted, choices)]
        lacking = [" or ".join(choices) for choices in absent]
        fixes = [grants_mod.grant_statement([choices[0] for choices in absent], "*.*", account)] if absent else []
        # Only products where an account can bypass read_only (MariaDB) make the cutover look at other accounts.
        see_accounts = ctx.request.privileged_sessions != WARN and bool(flavor.read_only_bypass_privileges)
        if see_accounts and not sees_every_account(grants):
            lacking.append("SELECT on the mysql schema")
            fixes.append(grants_mod.grant_statement([SEE_ACCOUNTS[0]], SEE_ACCOUNTS[1], account)
                         + " Or set dbferry_privileged_sessions (privileged_sessions) to warn, to go on without looking at other accounts.")
        if lacking:
            ctx.add(CHECK, ERROR, obj, "the cutover's login lacks %s (to switch read_only, see the sessions%s%s)."
                    % (", ".join(lacking), ", end them" if kill_sessions else "",
                       ", see which accounts can write despite read_only" if see_accounts else ""), " ".join(fixes))
            return
        ctx.add(CHECK, OK, obj, "connects to the source and may switch read_only and see sessions%s%s."
                % (" and end them" if kill_sessions else "", " and every account's privileges" if see_accounts else ""))
    finally:
        close_quietly(conn)
