"""Foreign keys of an online schema change (issue 16): the table's own constraints carried to the new table, and the
children that reference it re-pointed at the new table under the cut-over's lock.

The server does neither by itself: ``CREATE TABLE ghost LIKE t`` copies no
foreign key, and ``RENAME TABLE t TO _<t>_del, ghost TO t`` makes InnoDB's
children follow the original, so they would reference ``_<t>_del``.

A changed CHILD (the table references parents): the ghost gets the table's
constraints under the cut-over's lock, once it holds every row of the
table and nothing writes the table (``add_to_ghost``), so that a parent
row the application deletes is never checked against a ghost that lags
behind the binlog (and dropped again if the attempt fails, or when a
run resumes: ``drop_from_ghost``). Constraint names are unique per database, so the
ghost's copies take pt-online-schema-change's names: a leading underscore
added, or taken off (``toggled``). ``_<t>_del`` keeps the old ones.
Refused: a cascading rule (``ON DELETE CASCADE``, ``SET NULL``,
``SET DEFAULT``) of the changed table, as for a move: InnoDB changes the
table's rows inside the engine, the binlog records only the parent's, and
the ghost would keep the rows the original lost.

A changed PARENT (other tables reference it, in any schema): the cut-over's
locker WRITE-locks the children with t (cutover.py), and once the ghost
equals t and the RENAME waits, points each child's constraints at the
ghost, one ALTER per child dropping and adding them under toggled names
(``repoint_statements``, made before the lock; run with
``foreign_key_checks=0``, so that InnoDB does it in place, metadata only:
``ALGORITHM=INSTANT``, asked for so that the server refuses rather than
rebuilds the child). The RENAME then carries them to t with the ghost
(InnoDB follows a renamed parent), and no child row is ever checked
against ``_<t>_del``: while they reference the ghost, t and the children
are locked. Not possible after the RENAME, outside the lock: the ALTER of
a child waits for a metadata lock on the parent, and the children would
reference ``_<t>_del`` meanwhile. A failed attempt points them back at t
before it releases t (``repoint`` from the ghost, through the locker); a
process killed between the re-pointing and the RENAME leaves them on the
ghost, and the next run, or ``state: absent``, puts them back first.
Children left on ``_<t>_del`` (a run of an older version killed after its
RENAME, or a constraint added to a child during the change, which the
lock did not take) are re-pointed after the swap and at the next run's
start (``repoint`` from the old table). A table that is both (a foreign
key to itself) is refused.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Optional

from ..common.errors import DbferryError
from ..common.identifiers import display_table, quote_ident, quote_table
from ..engine.foreign_keys import ForeignKey, read_foreign_keys
from ..server.connection import execute, fetch_all

#: What each child adds to the cut-over's lock, in milliseconds (README.md, "Online schema changes"): check mode's
#: word on the cost of a parent's children.
LOCK_MS_PER_CHILD = 8
#: Longest identifier the server takes: a toggled name must fit.
MAX_NAME = 64

_IDENT = r"`(?:[^`]|``)+`"
#: One foreign key of SHOW CREATE TABLE, its name to be filled in (escaped): groups are the text from FOREIGN KEY to
#: REFERENCES, the referenced table (qualified or not) and the rest (columns and rules).
_DEFINITION_RE = (r"CONSTRAINT %%s (FOREIGN KEY \(%s(?:, ?%s)*\) REFERENCES )(%s(?:\.%s)?)( \(%s(?:, ?%s)*\)"
                  r"(?: ON (?:DELETE|UPDATE) (?:CASCADE|SET NULL|SET DEFAULT|RESTRICT|NO ACTION))*)") % ((_IDENT,) * 6)


def toggled(name: str) -> str:
    """The name a constraint takes on the other side of a swap: pt-online-schema-change's leading underscore, added or removed."""
    return name[1:] if name.startswith("_") and len(name) > 1 else "_" + name


def split(keys: Iterable[ForeignKey], database: str, table: str) -> tuple[list[ForeignKey], list[ForeignKey]]:
    """(the table's own constraints, its children's constraints on it) among ``keys``."""
    own, children = [], []
    for key in keys:
        (own if (key.schema, key.table) == (database, table) else children).append(key)
    return own, children


def read(conn: Any, database: str, table: str) -> tuple[list[ForeignKey], list[ForeignKey]]:
    """The table's own foreign keys and its children's on it (split)."""
    return split(read_foreign_keys(conn, [(database, table)]), database, table)


def definition(conn: Any, key: ForeignKey, name: str, parent: tuple[str, str]) -> str:
    """``CONSTRAINT name FOREIGN KEY (...) REFERENCES parent (...) rules``: ``key`` as its child's SHOW CREATE TABLE prints it,
    under ``name`` and naming ``parent`` (schema, table) qualified."""
    return definition_in(fetch_all(conn, "SHOW CREATE TABLE %s" % quote_table(key.schema, key.table))[0][1], key, name, parent)


def definition_in(ddl: str, key: ForeignKey, name: str, parent: tuple[str, str]) -> str:
    """definition, from the child's SHOW CREATE TABLE text ``ddl``."""
    match = re.search(_DEFINITION_RE % re.escape(quote_ident(key.name)), ddl)
    if match is None:
        raise DbferryError("cannot read foreign key %s in SHOW CREATE TABLE %s." % (quote_ident(key.name), key.child), obj=key.child,
                           fix="report this with the server version and the table's SHOW CREATE TABLE.")
    return "CONSTRAINT %s %s%s%s" % (quote_ident(name), match.group(1), quote_table(*parent), match.group(3))


def taken_names(conn: Any, database: str, ignore: Iterable[str] = ()) -> set[str]:
    """Lower-case names of the foreign keys of ``database`` but those of the tables in ``ignore`` (InnoDB may compare
    them ignoring case)."""
    ignored = set(ignore)
    rows = fetch_all(conn, "SELECT TABLE_NAME, CONSTRAINT_NAME FROM information_schema.TABLE_CONSTRAINTS "
                           "WHERE CONSTRAINT_TYPE = 'FOREIGN KEY' AND CONSTRAINT_SCHEMA = %s", (database,))
    return {name.lower() for table, name in rows if table not in ignored}


def problems(conn: Any, database: str, table: str, old: str) -> list[tuple[str, str, str]]:
    """(object, message, fix) for each foreign key the change cannot carry over: a cascading rule on the table, a key to
    itself, a toggled name too long or taken in the schema (``old``'s own names do not count: it is dropped before the
    swap, or the old_table check refuses it)."""
    own, children = read(conn, database, table)
    taken = taken_names(conn, database, ignore=(old,))
    found = []
    for key in own:
        obj = "%s (%s)" % (key.child, key.name)
        if (key.parent_schema, key.parent_table) == (database, table):
            found.append((obj, "%s: a table that references itself cannot be changed online (its rows would be checked against "
                               "the ghost and the original at once)." % key.describe(), "change the table natively."))
        elif key.cascades:
            cascades = " and ".join(key.cascades)
            found.append((obj, "%s; %s changes the rows of %s inside InnoDB, and the row-based binlog records only the parent's "
                               "rows, so the new table would keep rows the original lost." % (key.describe(), cascades, key.child),
                          "drop the cascade for the change (%s) and add it again after, the application changing the child rows "
                          "itself meanwhile; or change the table natively." % key.drop_statement()))
    for key in own + [k for k in children if (k.schema, k.table) != (database, table)]:
        name = toggled(key.name)
        if len(name) > MAX_NAME or name.lower() in taken:
            found.append(("%s (%s)" % (key.child, key.name), "%s would be named %s after the change, which is %s." % (
                key.describe(), quote_ident(name), "too long" if len(name) > MAX_NAME else "taken in %s" % quote_ident(database)),
                "rename the constraint (%s, then ADD CONSTRAINT under a shorter name that no other constraint has with and "
                "without a leading underscore)." % key.drop_statement()))
    return found


def _alter(conn: Any, statement: str, lock_wait: Optional[int] = None) -> None:
    """``statement`` with foreign_key_checks off, and waiting at most ``lock_wait`` seconds for its metadata locks (None:
    the session's bound), for that statement only (one round trip, which counts under the cut-over's lock): the rows
    are not checked (the original enforced the constraint on them), so InnoDB adds the constraint in place."""
    bound = "" if lock_wait is None else ", lock_wait_timeout = %d" % max(1, lock_wait)
    execute(conn, "SET STATEMENT foreign_key_checks = 0%s FOR %s" % (bound, statement))


def add_to_ghost(conn: Any, database: str, table: str, ghost: str) -> list[str]:
    """Give ``ghost`` the foreign keys of ``table`` under their toggled names (those it has already are kept: a failed
    cut-over attempt may have added them); return the names added."""
    own, _children = read(conn, database, table)
    has = {key.name for key in read(conn, database, ghost)[0]}
    wanted = [(key, toggled(key.name)) for key in own if toggled(key.name) not in has]
    if wanted:
        _alter(conn, "ALTER TABLE %s %s, ALGORITHM=INSTANT" % (quote_table(database, ghost), ", ".join(
            "ADD " + definition(conn, key, name, (key.parent_schema, key.parent_table)) for key, name in wanted)))
    return [name for _key, name in wanted]


def drop_from_ghost(conn: Any, database: str, ghost: str) -> list[str]:
    """Drop the foreign keys of ``ghost`` (add_to_ghost's, from a cut-over attempt that failed after adding them, or a run
    killed then): a ghost that lags behind the table again must not hold them, or the application's delete of a parent
    row would be refused for a child row the ghost has not lost yet. Return the names dropped."""
    names = [key.name for key in read(conn, database, ghost)[0]]
    if names:
        _alter(conn, "ALTER TABLE %s %s, ALGORITHM=INSTANT" % (
            quote_table(database, ghost), ", ".join("DROP FOREIGN KEY %s" % quote_ident(name) for name in names)))
    return names


def children_of(conn: Any, database: str, table: str) -> list[ForeignKey]:
    """The constraints of other tables, in any schema, that reference ``database.table``."""
    return [key for key in read(conn, database, table)[1] if (key.schema, key.table) != (database, table)]


def child_tables(keys: Iterable[ForeignKey]) -> list[tuple[str, str]]:
    """The (schema, table) of the children of ``keys``, each once, in order."""
    return list(dict.fromkeys((key.schema, key.table) for key in keys))


def repoint_statements(conn: Any, keys: Iterable[ForeignKey], database: str, to: str) -> list[str]:
    """One in-place ALTER per child table: its constraints among ``keys`` dropped and added again naming
    ``database.to``, under their toggled names (names are unique per database). Made before the cut-over's lock, so that
    only the ALTERs run under it."""
    keys = list(keys)
    statements = []
    for schema, child in child_tables(keys):
        ddl = fetch_all(conn, "SHOW CREATE TABLE %s" % quote_table(schema, child))[0][1]
        changes = []
        for key in keys:
            if (key.schema, key.table) == (schema, child):
                changes.append("DROP FOREIGN KEY %s" % quote_ident(key.name))
                changes.append("ADD " + definition_in(ddl, key, toggled(key.name), (database, to)))
        statements.append("ALTER TABLE %s %s, ALGORITHM=INSTANT" % (quote_table(schema, child), ", ".join(changes)))
    return statements


def run_statements(conn: Any, statements: Iterable[str], lock_wait: Optional[int] = None) -> None:
    """repoint_statements' ALTERs, each with foreign_key_checks off (and ``lock_wait`` as _alter's)."""
    for statement in statements:
        _alter(conn, statement, lock_wait)


def repoint(conn: Any, database: str, source: str, to: str, lock_wait: Optional[int] = None) -> list[str]:
    """Point every other table's constraint on ``source`` at ``to`` (toggled names), each child in one in-place ALTER
    waiting at most ``lock_wait`` seconds for its metadata lock (None: the session's bound, e.g. the cut-over's locker,
    which holds the children); return the children re-pointed (for the report).

    What recovers children left on the wrong table: on ``_<t>_del`` by a run killed after its RENAME in an older
    version, on the ghost by a cut-over attempt that failed or was killed between the re-pointing and the RENAME.
    """
    keys = children_of(conn, database, source)
    if not keys:
        return []
    run_statements(conn, repoint_statements(conn, keys, database, to), lock_wait)
    return [display_table(schema, child) for schema, child in child_tables(keys)]
