"""Foreign keys to a parent outside the move, checked on the target at the cutover.

The move writes the target with ``foreign_key_checks=0`` (engine/foreign_keys.py),
so a constraint whose parent the move does not fill, which the operator
allowed (preflight's ``foreign_keys``), is never enforced there: a child row
whose parent exists only on the source (a parent inserted during the move,
say) arrives as an orphan, and the first sign would be the application's
errors after the cutover. The cutover counts such rows once the final
position is applied and before the agent stops, where a failure still leaves
the move tailing and the source's writes restorable.

Cost: nothing beyond one catalog query when no moved table has such a key;
otherwise one anti-join per key, a scan of the child table probing the
parent's referenced index, inside the read-only window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ..common.errors import DbferryError
from ..common.identifiers import quote_ident, quote_table
from ..engine.foreign_keys import Constraint
from ..server.connection import fetch_all, placeholders


@dataclass(frozen=True)
class OutsideKey(Constraint):
    """A foreign key of a moved table, as the target has it, whose parent the move does not fill."""

    columns: tuple[str, ...] = ()
    parent_columns: tuple[str, ...] = ()

    def orphans_sql(self) -> str:
        """Child rows whose FK columns are all set (InnoDB does not check a key with a NULL) and match no parent row."""
        on = " AND ".join("c.%s = p.%s" % (quote_ident(c), quote_ident(p)) for c, p in zip(self.columns, self.parent_columns))
        set_ = " AND ".join("c.%s IS NOT NULL" % quote_ident(c) for c in self.columns)
        return "SELECT COUNT(*) FROM %s c LEFT JOIN %s p ON %s WHERE %s AND p.%s IS NULL" % (
            quote_table(self.schema, self.table), quote_table(self.parent_schema, self.parent_table), on, set_,
            quote_ident(self.parent_columns[0]))


def outside_keys(target: Any, moved: Iterable[tuple[str, str]]) -> list[OutsideKey]:
    """The foreign keys of the target tables ``moved`` (target (schema, table) pairs) to a table not among them."""
    moved = set(moved)
    schemas = sorted({schema for schema, _table in moved})
    if not schemas:
        return []
    rows = fetch_all(target, "SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, "
                             "REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
                             "WHERE REFERENCED_TABLE_NAME IS NOT NULL AND TABLE_SCHEMA IN (%s) "
                             "ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION" % placeholders(len(schemas)),
                     schemas)
    found: dict[tuple[str, str, str], list[tuple]] = {}
    for schema, table, name, column, parent_schema, parent_table, parent_column in rows:
        # Compared here, exactly: information_schema ignores case and accents.
        if (schema, table) in moved and (parent_schema, parent_table) not in moved:
            found.setdefault((schema, table, name), []).append((column, parent_schema, parent_table, parent_column))
    return [OutsideKey(name, schema, table, cols[0][1], cols[0][2], tuple(c[0] for c in cols), tuple(c[3] for c in cols))
            for (schema, table, name), cols in found.items()]


def _exists(target: Any, schema: str, table: str) -> bool:
    return bool(fetch_all(target, "SELECT 1 FROM information_schema.TABLES WHERE BINARY TABLE_SCHEMA = BINARY %s "
                                  "AND BINARY TABLE_NAME = BINARY %s", (schema, table)))


def refuse_orphans(target: Any, moved: Iterable[tuple[str, str]]) -> list[str]:
    """Refuse the cutover when a moved child row references a parent row the target lacks (module docstring);
    the constraints checked otherwise, as ``name on child``."""
    checked = []
    for key in outside_keys(target, moved):
        what = "foreign key %s on %s references %s, a table the move does not fill" % (quote_ident(key.name), key.child, key.parent)
        if not _exists(target, key.parent_schema, key.parent_table):
            raise DbferryError("%s, and the target has no table %s: the target's rows of %s reference nothing." % (
                what, key.parent, key.child), obj="%s (%s)" % (key.child, key.name),
                fix="create %s on the target with its rows (moved separately) and run the cutover again, or drop the foreign "
                    "key on the target (ALTER TABLE %s DROP FOREIGN KEY %s)." % (
                        key.parent, quote_table(key.schema, key.table), quote_ident(key.name)))
        orphans = int(fetch_all(target, key.orphans_sql())[0][0])
        if orphans:
            raise DbferryError("%s: %d row(s) of %s on the target reference no row of the target's %s (the move writes "
                               "with foreign_key_checks=0, so nothing stopped them)." % (what, orphans, key.child, key.parent),
                               obj="%s (%s)" % (key.child, key.name),
                               fix="copy the missing parent rows to the target's %s (find them with: %s, reading c.* instead "
                                   "of COUNT(*)), then run the cutover again; the source may be made writable meanwhile." % (
                                       key.parent, key.orphans_sql()))
        checked.append("%s on %s" % (key.name, key.child))
    return checked
