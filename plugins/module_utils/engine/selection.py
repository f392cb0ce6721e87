"""Which databases and tables a move (or a preflight) is about.

``databases`` and ``tables`` each take ``include`` and ``exclude`` lists of
shell-style patterns (``*``, ``?``, ``[...]``), matched case-sensitively as
the server stores names. Table patterns are ``db.table``. An empty
``include`` means "everything"; ``exclude`` always wins. System schemas and
dbferry's own state schema are never selected.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Iterable, Optional

from ..common.errors import DbferryError
from ..common.identifiers import display_table

#: The schema on the target where dbferry keeps its checkpoints.
STATE_SCHEMA = "_dbferry"

SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys", STATE_SCHEMA})

_WILDCARDS = set("*?[")


def _patterns(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not all(isinstance(p, str) and p for p in value):
        raise DbferryError(
            "%s must be a list of non-empty name patterns, got %r." % (where, value),
            obj=where,
            fix="write it as a YAML list, e.g. [shop, 'crm_*'].",
        )
    return tuple(value)


def selection_argument_spec() -> dict[str, Any]:
    """Argument spec entry for a ``databases`` or ``tables`` option."""
    return {"type": "dict", "options": {"include": {"type": "list", "elements": "str"}, "exclude": {"type": "list", "elements": "str"}}}


def is_literal(pattern: str) -> bool:
    """True when the pattern names one object (no wildcard characters)."""
    return not _WILDCARDS & set(pattern)


@dataclass(frozen=True)
class Selection:
    """The include/exclude rules for databases and tables."""

    databases_include: tuple[str, ...] = ()
    databases_exclude: tuple[str, ...] = ()
    tables_include: tuple[str, ...] = ()
    tables_exclude: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, databases: Optional[dict[str, Any]] = None, tables: Optional[dict[str, Any]] = None) -> "Selection":
        """Validate ``databases``/``tables`` option dicts; errors name the key."""
        result = {}
        for option, value in (("databases", databases or {}), ("tables", tables or {})):
            unknown = sorted(set(value) - {"include", "exclude"})
            if unknown:
                raise DbferryError(
                    "unknown key(s) in %s: %s." % (option, ", ".join(unknown)),
                    obj=option,
                    fix="%s takes only include and exclude." % option,
                )
            for key in ("include", "exclude"):
                result["%s_%s" % (option, key)] = _patterns(value.get(key), "%s.%s" % (option, key))
        for key in ("tables_include", "tables_exclude"):
            for pattern in result[key]:
                if "." not in pattern:
                    raise DbferryError(
                        "%s entry %r is not of the form db.table." % (key.replace("_", "."), pattern),
                        obj=pattern,
                        fix="qualify it with its database, e.g. 'shop.%s' or '*.%s'." % (pattern, pattern),
                    )
        return cls(**result)

    def selects_database(self, schema: str) -> bool:
        if schema in SYSTEM_SCHEMAS:
            return False
        if self.databases_include and not any(fnmatchcase(schema, p) for p in self.databases_include):
            return False
        return not any(fnmatchcase(schema, p) for p in self.databases_exclude)

    def selects_table(self, schema: str, table: str) -> bool:
        if not self.selects_database(schema):
            return False
        name = display_table(schema, table)
        if self.tables_include and not any(fnmatchcase(name, p) for p in self.tables_include):
            return False
        return not any(fnmatchcase(name, p) for p in self.tables_exclude)

    def names_every_table_of(self, schema: str) -> bool:
        """True when tables of ``schema`` are selected only by literal names.

        Then a user with table-level grants sees everything the move needs; a
        pattern could match tables the user cannot see, and miss them.
        """
        relevant = [p for p in self.tables_include if fnmatchcase(schema, p.split(".", 1)[0])]
        return bool(relevant) and all(is_literal(p) for p in relevant)

    def unmatched_includes(self, schemas: Iterable[str], tables: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Include entries that match nothing on the server: [(option, entry)].

        A plain name that matches nothing is almost always a typo, and a pattern that matches nothing
        (``shop.ordr_*``) too: moving less than the operator meant, without a word, is worse than stopping.
        A table entry counts only against the tables of the selected databases, where the move looks.
        """
        schemas = set(schemas) - SYSTEM_SCHEMAS
        names = [display_table(s, t) for s, t in tables if self.selects_database(s)]
        unmatched = [("databases.include", p) for p in self.databases_include if not any(fnmatchcase(s, p) for s in schemas)]
        unmatched += [("tables.include", p) for p in self.tables_include if not any(fnmatchcase(n, p) for n in names)]
        return unmatched


def unmatched_error(option: str, entry: str) -> DbferryError:
    """What preflight and the agent say about an include entry that matches nothing (see unmatched_includes)."""
    what = "names %r, which does not exist" % entry if is_literal(entry) else "pattern %r matches nothing" % entry
    where = " in the selected databases" if option == "tables.include" else ""
    return DbferryError("%s %s on the source%s (or the source user cannot see it)." % (option, what, where), obj=entry,
                        fix="correct or remove it in %s (names are case-sensitive; a table entry is db.table)." % option)
