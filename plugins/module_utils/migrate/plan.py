"""A folder of versioned migration files, read into the migrations to apply, in version order.

The files are named as Rails and most migration tools name theirs, ``<version>_<name>.sql``; the version is what the
application's migration table records once the migration has run. Every file is read and checked before anything is
written, so that a bad file stops the run before its first migration, with the file's name and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..common.errors import DbferryError
from .statements import Statement, statements

_FILE_NAME = re.compile(r"^(?P<version>[0-9]+)_(?P<name>[0-9A-Za-z_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    file: str
    statements: tuple[Statement, ...]

    def as_dict(self) -> dict[str, Any]:
        """What a playbook loops over: the migration and each statement (kind alter or sql)."""
        return {
            "version": self.version, "name": self.name, "file": self.file,
            "statements": [{"kind": "alter" if s.is_alter else "sql", "line": s.line, "sql": s.text, "table": s.table,
                            "alter": s.alter, "rename_columns": s.rename_columns} for s in self.statements],
        }


def migrations(files: dict[str, str], database: str) -> list[Migration]:
    """The migrations of ``files`` (file name -> text; other files than *.sql are not migrations), sorted by version
    as numbers; DbferryError on a file whose name or content cannot be read, or on two files of one version."""
    found: dict[int, Migration] = {}
    for file, text in sorted(files.items()):
        if not file.endswith(".sql"):
            continue
        named = _FILE_NAME.match(file)
        if not named:
            raise DbferryError("%s is not named <version>_<name>.sql." % file, obj=file,
                               fix="rename it, e.g. 20240501120000_add_orders_note.sql (digits, an underscore, letters, digits and _).")
        version = named.group("version")
        other = found.get(int(version))
        if other is not None:
            raise DbferryError("%s and %s have the same version %s." % (other.file, file, version), obj=file,
                               fix="give one of them a new version (the application records each version once).")
        found[int(version)] = Migration(version, named.group("name"), file, tuple(statements(text, file, database)))
    return [found[key] for key in sorted(found)]
