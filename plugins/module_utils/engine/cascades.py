"""Cascading foreign keys of a move: the ones the applier follows, the ones it refuses, and how a batch follows them.

``ON DELETE CASCADE``, ``ON UPDATE CASCADE`` and ``SET NULL`` change the
child's rows inside InnoDB, and the row-based binlog holds only the rows of
the statement itself: a parent's delete is in it, the children it deleted
are not. Nor can the target redo the cascade: its ferry sessions write with
``foreign_key_checks=0``, and with checks on, the applier's ``REPLACE`` of an
updated parent row would cascade where the source never did
(docs/design.md, "Foreign keys").

So the applier re-copies what a cascade changed. When a batch holds a
parent row's delete, or an update that changes the columns a followed key
references, its target transaction (engine/applier.py):

1. before the batch's statements, reads on the target, with a locking read,
   the keys of the child rows whose foreign key columns hold the parent's
   old values (the rows the cascade changed on the source are among them:
   each was copied before the cascade, whose locks waited for the copy, or
   written by an earlier batch), and adds the child keys the batch's own
   events touch (a child inserted and then cascaded away in the same batch
   is on the target only once the batch is written);
2. writes the batch's statements;
3. re-copies those child keys from the source as the copier copies a batch
   (docs/design.md step 2): a locking read (``LOCK IN SHARE MODE``) of the
   rows at the keys, then on the target a delete of the keys and an insert
   of the rows read, skipping a key collision and nothing else;
4. marks the keys dirty (verify.inline), records the position, commits the
   target, and only then ends the source transaction, releasing its locks.

A key whose row an application transaction holds locked on the source (say
``SELECT ... FOR UPDATE`` on a row a cascade just nulled) is not waited for:
a read waits RECOPY_LOCK_WAIT_SECONDS (the batch's own transactions may
still be releasing their locks), then its chunk is read key by key without
waiting, and the keys still locked are carried (Recopied.pending): left as
they are on the target, marked dirty, and recorded in the same target
transaction as the position (state.save_pending), so a restart carries them
on. Every later batch, and an idle applier every RETRY_PENDING_SECONDS
(applier.py), reads them again without waiting, in step 3, until each is
re-copied; until then the move is not caught up (the cutover and
verification wait, and the cutover refuses, naming them, past its timeout).

Why that converges: every transaction of the batch is committed on the
source (a locking read waits for one still committing), so the rows read are
the source's rows at least as new as the batch, cascades included. No source
write to them, nor into the gap of a key read absent, commits before the
target has them, so every later change to them is later in the binlog: a
logged one is applied again over them, harmlessly (step 3's argument), and
a cascaded one comes with its parent's change, whose batch re-copies them
again. Keys read that the cascade did not change are copied again to the
same effect. A carried key is stale on the target only: its re-copy, in a
later batch, is step 3 of that batch, after its statements, under the same
locks, so it reads the row as the source has it then, at least as new as
every change before that batch (each applied over the stale row meanwhile,
and overwritten), and every change after it comes later in the binlog
again. A cascade that changes it again meanwhile may not find it on the
target by its old values (the target's are older still); it needs not:
the key stays carried until it is re-copied. A batch without such a parent change costs a dictionary
lookup per row change, and for a parent's update a comparison of the
referenced columns (of_batch); its target transaction is the one it was.

What the re-copy cannot follow is refused before the move writes anything
(cascade_refusal, by preflight's foreign_key_cascades and again by the
engine, read_followed):

- a constraint with its parent outside the move: the move sees none of the
  parent's changes;
- ``SET DEFAULT`` (InnoDB refuses to create it; a server that allows it is
  not followed);
- a constraint of a table on itself, and chains: a child that is itself the
  parent of a cascading constraint, whose cascaded changes cascade again
  unseen (the applier knows the old values of logged parent changes only);
- ``ON UPDATE CASCADE`` onto child columns in a unique index (the key
  included): the re-copy finds rows by key, and a unique value that moves
  between rows unseen can collide with a row the target has not caught up
  on, with no later event of its own to bring it in (step 3's argument
  needs one).

A constraint whose child stays behind is preflight's foreign_keys finding:
the target holds none of its rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

from ..binlog.changes import DELETE, UPDATE, RowChange
from ..common.errors import DbferryError
from ..common.identifiers import for_arguments, quote_ident
from ..server.connection import error_code, execute, fetch_all, fetch_value, literal, placeholders
from ..server.error_codes import ER_LOCK_NOWAIT, ER_LOCK_WAIT_TIMEOUT
from .copier import printed_rows, row_select
from .foreign_keys import ForeignKey, read_foreign_keys
from .key_choice import IndexColumns, read_unique_indexes
from .keys import KeyValue, in_args, in_condition
from .rows import copy_rows, delete_statements, execute_statement
from .tables import MovedTable

#: The rules the applier follows; SET DEFAULT is refused.
FOLLOWED_ACTIONS = frozenset({"CASCADE", "SET NULL"})

#: Values or keys a statement of the re-copy reads at once.
CHUNK = 1000

#: The re-copy's source session waits at most this long for a row lock: long enough for the batch's own transactions,
#: whose locks outlive their binlog events by the moment their commit takes. Its target transaction holds locks
#: meanwhile, and a copier batch can hold the source lock it waits for while it waits for one of those: a cycle across
#: two servers that neither InnoDB sees. A short wait breaks it; the keys it could not lock are carried (Recopied).
RECOPY_LOCK_WAIT_SECONDS = 1
#: The errors of a locking read whose lock another transaction holds: a wait that timed out, or NOWAIT's on MySQL 8.
LOCK_NOT_GRANTED = frozenset({ER_LOCK_WAIT_TIMEOUT, ER_LOCK_NOWAIT})


def cascade_refusal(key: ForeignKey, keys: Iterable[ForeignKey], moved: set[tuple[str, str]],
                    unique_indexes: Iterable[IndexColumns], generated: Iterable[str] = ()) -> Optional[tuple[str, str]]:
    """(message, fix) of why a move cannot follow the cascade of ``key`` (module docstring); None when it can, or when
    ``key`` has no cascade or its child is not moved.

    ``keys`` are the other foreign keys read with it (a chain needs the cascading keys of moved children among them);
    ``unique_indexes`` and ``generated`` (column names) are the child table's.
    """
    child, parent = (key.schema, key.table), (key.parent_schema, key.parent_table)
    if not key.cascades or child not in moved:
        return None
    if "SET DEFAULT" in (key.on_delete, key.on_update):
        reason = "the move follows CASCADE and SET NULL, not SET DEFAULT"
        alternative = "replace SET DEFAULT by a rule the move follows"
    elif parent not in moved:
        reason = "its parent %s is not in the move, so the move sees none of the parent changes that cascade" % key.parent
        alternative = "add %s to the move" % key.parent
    elif parent == child:
        reason = "it references its own table, so a cascaded change can cascade again, which the binlog does not show either"
        alternative = "change the rows of %s without the cascade" % key.child
    else:
        others = [k for k in keys if k.cascades and k is not key and (k.schema, k.table) in moved]
        below = [k for k in others if (k.parent_schema, k.parent_table) == child]
        above = [k for k in others if (k.schema, k.table) == parent]
        indexes = [index for index in unique_indexes if set(index.columns) & set(key.columns)]
        # A generated column may be computed from the foreign key columns: a cascade that writes them moves its values too.
        computed = [index for index in unique_indexes if set(index.columns) & set(generated)]
        if below:
            reason = "%s is itself the parent of cascading foreign key %s on %s: its rows changed by this cascade would cascade " \
                     "again, unseen" % (key.child, quote_ident(below[0].name), below[0].child)
            alternative = "drop one of the two cascades"
        elif above:
            reason = "%s is itself the child of cascading foreign key %s on %s: its rows changed by that cascade would cascade " \
                     "again, unseen" % (key.parent, quote_ident(above[0].name), above[0].parent)
            alternative = "drop one of the two cascades"
        elif key.on_update == "CASCADE" and indexes:
            reason = "ON UPDATE CASCADE writes new values into %s's unique index %s, and the move re-copies cascaded rows by " \
                     "their key: a unique value that moves between rows unseen can collide with a row the target has not " \
                     "caught up on" % (key.child, quote_ident(indexes[0].name))
            alternative = "use ON UPDATE RESTRICT, or do not change the referenced columns of %s during the move" % key.parent
        elif (key.on_update == "CASCADE" or "SET NULL" in (key.on_delete, key.on_update)) and computed:
            reason = "%s's unique index %s holds a generated column, which the cascade's new values of %s can change, and the " \
                     "move re-copies cascaded rows by their key: a unique value that moves between rows unseen can collide with a " \
                     "row the target has not caught up on" % (key.child, quote_ident(computed[0].name), key.child)
            alternative = "drop the unique index %s for the move and add it again after the cutover, or use RESTRICT" % (
                quote_ident(computed[0].name))
        else:
            return None
    message = "%s; %s changes the rows of %s inside InnoDB, unseen by the row-based binlog, and %s." % (
        key.describe(), " and ".join(key.cascades), key.child, reason)
    fix = ("%s; or move without the cascade: drop it on the source for the move (%s) and add it again after the cutover, with "
           "the application changing the child rows itself meanwhile." % (alternative, key.drop_statement()))
    return message, fix


def read_generated_columns(conn: Any, schemas: Iterable[str]) -> dict[tuple[str, str], set[str]]:
    """(schema, table) -> the names of its generated columns, for the tables of ``schemas`` (cascade_refusal)."""
    wanted = sorted(set(schemas))
    if not wanted:
        return {}
    rows = fetch_all(conn, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE IS_GENERATED = 'ALWAYS' "
                           "AND TABLE_SCHEMA IN (%s)" % placeholders(len(wanted)), wanted)
    found: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in rows:
        found.setdefault((schema, table), set()).add(column)
    return found


def read_followed(conn: Any, moved: Iterable[tuple[str, str]]) -> list[ForeignKey]:
    """The cascading foreign keys of the moved tables (source (schema, table) pairs) that the applier follows; refuse the
    first one it cannot follow (cascade_refusal), before the move writes anything.

    Preflight reports the same (foreign_key_cascades); the engine checks again because a skipped preflight would
    otherwise lose rows without a word.
    """
    moved = set(moved)
    keys = read_foreign_keys(conn, moved, children_only=True)
    cascading = [key for key in keys if key.cascades]
    if not cascading:
        return []
    uniques = read_unique_indexes(conn, {key.schema for key in cascading})
    generated = read_generated_columns(conn, {key.schema for key in cascading})
    for key in cascading:
        found = cascade_refusal(key, keys, moved, uniques.get((key.schema, key.table), []), generated.get((key.schema, key.table), ()))
        if found is not None:
            raise DbferryError(found[0], obj="%s (%s)" % (key.child, key.name), fix=found[1])
    return cascading


@dataclass(frozen=True)
class _Followed:
    """A followed constraint on the move's tables: which parent changes change which child rows."""

    child: MovedTable
    #: The child's foreign key columns, and the parent's columns they reference (same order).
    columns: tuple[str, ...]
    parent_columns: tuple[str, ...]
    on_delete: bool
    on_update: bool


@dataclass
class BatchCascades:
    """What a batch's parent changes cascaded to, as far as the binlog tells: per child table, the old parent values
    per foreign key column list, and the child keys the batch's own events touch."""

    #: child -> foreign key columns -> parent values (tuples, in the columns' order) whose children the source changed.
    old_values: dict[MovedTable, dict[tuple[str, ...], set[tuple]]] = field(default_factory=dict)
    #: child -> keys of its rows in the batch's own events.
    event_keys: dict[MovedTable, set[KeyValue]] = field(default_factory=dict)

    def lock_children(self, target: Any) -> dict[MovedTable, set[KeyValue]]:
        """Step 1 of the module docstring, in the applier's target transaction: the child keys to re-copy, locked."""
        found = {child: set(keys) for child, keys in self.event_keys.items()}
        for child, by_columns in self.old_values.items():
            keys = found.setdefault(child, set())
            for columns, values in by_columns.items():
                target_columns = [child.target_columns[child.columns.index(c)] for c in columns]
                ordered = sorted(values, key=repr)  # one order of locks from batch to batch
                for start in range(0, len(ordered), CHUNK):
                    chunk = ordered[start:start + CHUNK]
                    where = in_condition(target_columns, len(chunk))
                    rows = fetch_all(target, "SELECT %s FROM %s WHERE %s FOR UPDATE" % (
                        ", ".join(for_arguments(quote_ident(c)) for c in child.target_key), child.target_sql, where), in_args(chunk))
                    keys.update(tuple(row) for row in rows)
        return found


@dataclass
class Recopied:
    """What a re-copy did: the keys it wrote (dirty keys, state.DirtyKey), and per child the keys whose source rows it could
    not lock (an application transaction holds them): still to re-copy, by a later batch."""

    dirty: set[tuple[str, str, KeyValue]] = field(default_factory=set)
    pending: dict[MovedTable, set[KeyValue]] = field(default_factory=dict)


class CascadePlan:
    """The followed constraints of a move (read_followed), on its tables: what the binlog stream keeps of a parent's
    before image, and which batches cascade."""

    def __init__(self, keys: Iterable[ForeignKey], tables: Iterable[MovedTable], lock_clause: str) -> None:
        by_name = {(t.schema, t.name): t for t in tables}
        #: (schema, table) of a parent -> its followed constraints.
        self.by_parent: dict[tuple[str, str], list[_Followed]] = {}
        for key in keys:
            self.by_parent.setdefault((key.parent_schema, key.parent_table), []).append(_Followed(
                by_name[(key.schema, key.table)], key.columns, key.parent_columns,
                key.on_delete in FOLLOWED_ACTIONS, key.on_update in FOLLOWED_ACTIONS))
        #: The source's shared lock clause (flavor.shared_lock_clause).
        self.lock_clause = lock_clause

    def __bool__(self) -> bool:
        return bool(self.by_parent)

    def before_columns(self, table: MovedTable) -> tuple[str, ...]:
        """The columns the stream keeps of ``table``'s before images: its key, and the columns a followed constraint
        references when it is a parent (their old values name the children a cascade changed)."""
        columns = list(table.key)
        for followed in self.by_parent.get((table.schema, table.name), []):
            columns += [c for c in followed.parent_columns if c not in columns]
        return tuple(columns)

    def of_batch(self, changes: Sequence[RowChange]) -> Optional[BatchCascades]:
        """What ``changes`` (a batch, in binlog order) cascaded to; None when no change of theirs cascades."""
        found = BatchCascades()
        for change in changes:
            followers = self.by_parent.get((change.schema, change.table))
            if followers is None or change.kind not in (DELETE, UPDATE):
                continue
            for followed in followers:
                if not (followed.on_delete if change.kind == DELETE else followed.on_update):
                    continue
                old = tuple(change.before[c] for c in followed.parent_columns)
                if change.kind == UPDATE and old == tuple(change.after[c] for c in followed.parent_columns):
                    continue  # InnoDB cascades an update only when the referenced values change
                if None not in old:  # no child references a NULL
                    found.old_values.setdefault(followed.child, {}).setdefault(followed.columns, set()).add(old)
        if not found.old_values:
            return None
        children = {(child.schema, child.name): child for child in found.old_values}
        for change in changes:
            child = children.get((change.schema, change.table))
            if child is not None:
                keys = found.event_keys.setdefault(child, set())
                for image in (change.before, change.after):
                    if image is not None:
                        keys.add(tuple(image[c] for c in child.key))
        return found

    def open_source(self, source: Any) -> bool:
        """Prepare a source session (copier.open_source_reader) for re-copies (RECOPY_LOCK_WAIT_SECONDS); return whether
        keys it cannot lock may be carried: not when the source rolls a whole transaction back on a lock wait timeout
        (``innodb_rollback_on_timeout``), which would release the locks of the rows read before."""
        execute(source, "SET SESSION innodb_lock_wait_timeout = %d" % RECOPY_LOCK_WAIT_SECONDS)
        return not int(fetch_value(source, "SELECT @@GLOBAL.innodb_rollback_on_timeout"))

    def recopy(self, source: Any, target: Any, children: dict[MovedTable, set[KeyValue]], wait: bool, carry: bool) -> Recopied:
        """Step 3 of the module docstring: the rows at ``children``'s keys, read from ``source`` under shared locks that
        stay held (the caller ends its transaction after the target's commit), written over the target's.

        A read waits for a lock at most RECOPY_LOCK_WAIT_SECONDS, or not at all without ``wait`` (keys carried from an
        earlier batch: no transaction of this batch holds them). A chunk that cannot get its locks is read key by key
        without waiting, and with ``carry`` the keys still locked are left as they are on the target and returned as
        ``pending``; without it the lock wait is raised (the whole batch is retried)."""
        found = Recopied()
        for child, keys in children.items():
            ordered = sorted(keys, key=repr)
            for start in range(0, len(ordered), CHUNK):
                chunk = ordered[start:start + CHUNK]
                try:
                    read = self._read(source, child, chunk, wait)
                except Exception as exc:  # noqa: BLE001 - a lock wait is carried, the rest re-raised
                    if not carry or error_code(exc) not in LOCK_NOT_GRANTED:
                        raise
                    # Only the statement rolled back (innodb_rollback_on_timeout is off): the locks read before stay held.
                    read, chunk = self._read_each(source, child, chunk, found.pending.setdefault(child, set()))
                if not chunk:
                    continue
                rows, lenient = printed_rows(child, read)
                with target.cursor() as cursor:
                    for statement in delete_statements(child, chunk, literal):
                        execute_statement(cursor, statement, "re-copying cascaded rows to")
                    copy_rows(cursor, child, rows, lenient)
                found.dirty.update((child.schema, child.name, key) for key in chunk)
        found.pending = {child: keys for child, keys in found.pending.items() if keys}
        return found

    def _read(self, source: Any, child: MovedTable, keys: list[KeyValue], wait: bool) -> list:
        """The rows at ``keys`` (row_select), locked; without ``wait``, a lock held by another transaction is an error at once."""
        lock = self.lock_clause if wait else self.lock_clause + " NOWAIT"
        return fetch_all(source, "%s WHERE %s %s" % (row_select(child), in_condition(child.key, len(keys)), lock), in_args(keys))

    def _read_each(self, source: Any, child: MovedTable, keys: list[KeyValue], pending: set[KeyValue]) -> tuple[list, list[KeyValue]]:
        """The rows at ``keys`` read one key at a time without waiting, and the keys read; the others go to ``pending``."""
        read, done = [], []
        for key in keys:
            try:
                read += self._read(source, child, [key], False)
                done.append(key)
            except Exception as exc:  # noqa: BLE001 - a lock held elsewhere is carried, the rest re-raised
                if error_code(exc) not in LOCK_NOT_GRANTED:
                    raise
                pending.add(key)
        return read, done
