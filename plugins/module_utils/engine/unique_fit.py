"""Whether an existing target table (``reuse_target``) tells rows apart as the source table does.

The copy skips a row whose key the target holds already and the applier
writes with ``REPLACE``: both lean on the target's unique indexes, and
neither says a word when those indexes differ from the source's.

- Without a unique index on exactly the key's columns, a copied row whose
  key is there already is added a second time instead of skipped, and the
  applier's ``REPLACE`` of an updated row adds a row beside the old one.
- A unique index the source does not enforce (an extra one, a prefix of a
  column the source keys on whole, a coarser collation) makes two rows the
  source holds apart collide on the target: the copy keeps one of them and
  ``REPLACE`` deletes the other. Rows lost, without an error.

A target index is enforced by the source when some unique index of the
source has its columns among the target index's columns, each compared as
finely (same collation; the target indexing the whole column, or a prefix
no shorter than the source's): two rows equal in the target index are then
equal in the source's, which the source keeps unique.
"""

from __future__ import annotations

from typing import Iterable, Optional

from ..common.identifiers import quote_ident
from .key_choice import IndexColumns

#: A table's columns by lower-case name -> collation (None: not text).
Collations = dict[str, Optional[str]]


def _parts(index: IndexColumns) -> dict[str, Optional[int]]:
    """Lower-case column name -> prefix length (None: whole)."""
    return {column.lower(): part for column, part in zip(index.columns, index.sub_parts)}


def _at_least_as_fine(target_part: Optional[int], source_part: Optional[int]) -> bool:
    """Whether a target index part of prefix ``target_part`` tells apart every two values the source's part does."""
    return target_part is None or (source_part is not None and target_part >= source_part)


def enforced_by(target: IndexColumns, source_indexes: Iterable[IndexColumns], source_collations: Collations,
                target_collations: Collations) -> bool:
    """Whether two rows equal in ``target`` are always equal in one of ``source_indexes`` (module docstring)."""
    theirs = _parts(target)
    for index in source_indexes:
        mine = _parts(index)
        if all(column in theirs and _at_least_as_fine(theirs[column], part)
               and target_collations.get(column) == source_collations.get(column) for column, part in mine.items()):
            return True
    return False


def _shown(index: IndexColumns) -> str:
    columns = ", ".join(quote_ident(c) + ("(%d)" % p if p is not None else "") for c, p in zip(index.columns, index.sub_parts))
    return "%s (%s)" % ("its primary key" if index.primary else "its unique index %s" % quote_ident(index.name), columns)


def unique_differences(key: Iterable[str], source_indexes: list[IndexColumns], target_indexes: list[IndexColumns],
                       source_collations: Collations, target_collations: Collations) -> list[str]:
    """What makes the target's unique indexes unfit for the move's writes (module docstring), one phrase each."""
    found = []
    wanted = {column.lower() for column in key}
    if not any(set(_parts(index)) == wanted and not index.prefix for index in target_indexes):
        found.append("it has no unique index on exactly the key (%s), so a copied row would be added again instead of "
                     "skipped and an updated one added beside the old" % ", ".join(quote_ident(c) for c in key))
    for index in target_indexes:
        if not enforced_by(index, source_indexes, source_collations, target_collations):
            found.append("%s is not enforced by a unique key of the source (same columns, collation and prefix), so two "
                         "source rows could collide on it and one would be lost" % _shown(index))
    return found
