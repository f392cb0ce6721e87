"""Cascading foreign keys of a move (engine/cascades.py): which are refused, and what a batch cascaded to (pure logic)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.changes import DELETE, INSERT, UPDATE, RowChange
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.cascades import CascadePlan, cascade_refusal
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.foreign_keys import ForeignKey
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.key_choice import IndexColumns
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.tables import MovedTable

_MOVED = {("s", "parent"), ("s", "child"), ("s", "grandchild")}
_PRIMARY = IndexColumns("PRIMARY", ("id",), (None,), False, (None,))


def _key(name: str = "fk", child: str = "child", parent: str = "parent", columns: tuple = ("p",), parent_columns: tuple = ("id",),
         **rules: str) -> ForeignKey:
    return ForeignKey(name, "s", child, "s", parent, rules.get("on_update", "RESTRICT"), rules.get("on_delete", "RESTRICT"), columns,
                      parent_columns)


def test_cascade_and_set_null_between_moved_tables_are_followed():
    for rules in ({"on_delete": "CASCADE"}, {"on_update": "CASCADE"}, {"on_delete": "SET NULL", "on_update": "SET NULL"}):
        key = _key(**rules)
        assert cascade_refusal(key, [key], _MOVED, [_PRIMARY]) is None
    # No cascade, or a child the move leaves behind (preflight's foreign_keys finding): nothing for this check to say.
    assert cascade_refusal(_key(), [], _MOVED, []) is None
    assert cascade_refusal(_key(child="elsewhere", on_delete="CASCADE"), [], _MOVED, []) is None


def test_a_parent_outside_the_move_is_refused_with_the_table_to_add():
    key = _key(parent="outside", on_delete="CASCADE")
    message, fix = cascade_refusal(key, [key], _MOVED, [])
    assert message.startswith("foreign key `fk` on s.child references s.outside (ON UPDATE RESTRICT, ON DELETE CASCADE); ON DELETE "
                              "CASCADE changes the rows of s.child inside InnoDB, unseen by the row-based binlog, and its parent "
                              "s.outside is not in the move")
    assert fix.startswith("add s.outside to the move; or move without the cascade: drop it on the source for the move (ALTER TABLE "
                          "`s`.`child` DROP FOREIGN KEY `fk`)")


def test_set_default_is_refused():
    message, _fix = cascade_refusal(_key(on_delete="SET DEFAULT"), [], _MOVED, [])
    assert "the move follows CASCADE and SET NULL, not SET DEFAULT" in message


def test_a_table_on_itself_is_refused():
    key = _key(child="parent", columns=("up",), on_delete="CASCADE")
    message, _fix = cascade_refusal(key, [key], _MOVED, [_PRIMARY])
    assert "it references its own table" in message


def test_both_links_of_a_chain_are_refused():
    upper, lower = _key("fk_up", on_delete="CASCADE"), _key("fk_low", child="grandchild", parent="child", on_delete="SET NULL")
    message, _fix = cascade_refusal(upper, [upper, lower], _MOVED, [])
    assert "s.child is itself the parent of cascading foreign key `fk_low` on s.grandchild" in message
    message, _fix = cascade_refusal(lower, [upper, lower], _MOVED, [])
    assert "s.child is itself the child of cascading foreign key `fk_up` on s.parent" in message
    # A RESTRICT below a cascade is no chain: the cascaded delete fails instead of cascading again.
    restrict = _key("fk_low", child="grandchild", parent="child")
    assert cascade_refusal(upper, [upper, restrict], _MOVED, []) is None


def test_update_cascade_onto_unique_columns_is_refused_but_delete_cascade_is_not():
    unique = IndexColumns("uq_p", ("p", "x"), (None, None), True, (None, None))
    message, fix = cascade_refusal(_key(on_update="CASCADE"), [], _MOVED, [_PRIMARY, unique])
    assert "ON UPDATE CASCADE writes new values into s.child's unique index `uq_p`" in message
    assert fix.startswith("use ON UPDATE RESTRICT")
    assert cascade_refusal(_key(on_update="CASCADE"), [], _MOVED, [_PRIMARY]) is None
    assert cascade_refusal(_key(on_delete="CASCADE", on_update="SET NULL"), [], _MOVED, [_PRIMARY, unique]) is None


_PARENT = MovedTable("s", "parent", "s", "parent", ("id", "code", "name"), ("id",), ("int", "int", "varchar"))
_CHILD = MovedTable("s", "child", "s", "child", ("id", "p", "pc"), ("id",), ("int", "int", "int"))
_OTHER = MovedTable("s", "other", "s", "other", ("id",), ("id",), ("int",))
_PLAN = CascadePlan([_key("fk_id", on_delete="CASCADE"), _key("fk_code", columns=("pc",), parent_columns=("code",), on_update="CASCADE")],
                    [_PARENT, _CHILD, _OTHER], "LOCK IN SHARE MODE")


def _change(kind: str, table: str, before=None, after=None) -> RowChange:
    return RowChange(kind, "s", table, before, after)


def test_the_stream_keeps_the_referenced_columns_of_a_parent_only():
    assert _PLAN.before_columns(_PARENT) == ("id", "code")
    assert _PLAN.before_columns(_CHILD) == ("id",) and _PLAN.before_columns(_OTHER) == ("id",)
    assert not CascadePlan([], [_PARENT], "LOCK IN SHARE MODE")


def test_a_batch_without_a_cascading_change_is_none():
    changes = [_change(INSERT, "parent", None, {"id": 1, "code": 10, "name": "a"}),
               _change(UPDATE, "parent", {"id": 1, "code": 10}, {"id": 1, "code": 10, "name": "b"}),
               _change(DELETE, "other", {"id": 3}),
               # fk_code has ON DELETE RESTRICT and fk_id ON UPDATE RESTRICT: a code change alone, by fk_code, is the one
               _change(UPDATE, "child", {"id": 7}, {"id": 7, "p": 1, "pc": 10})]
    assert _PLAN.of_batch(changes) is None


def test_a_parent_delete_and_re_key_name_the_old_values_and_the_batch_s_child_keys():
    changes = [_change(INSERT, "child", None, {"id": 7, "p": 1, "pc": 10}),
               _change(DELETE, "parent", {"id": 1, "code": 10}),
               _change(UPDATE, "parent", {"id": 2, "code": 20}, {"id": 2, "code": 21, "name": "x"}),
               _change(UPDATE, "parent", {"id": 3, "code": 30}, {"id": 4, "code": 30, "name": "y"}),  # fk_id: ON UPDATE RESTRICT
               _change(DELETE, "parent", {"id": 5, "code": None}),
               _change(UPDATE, "child", {"id": 8}, {"id": 9, "p": 2, "pc": 21})]
    found = _PLAN.of_batch(changes)
    assert found is not None
    assert found.old_values == {_CHILD: {("p",): {(1,), (5,)}, ("pc",): {(20,)}}}
    assert found.event_keys == {_CHILD: {(7,), (8,), (9,)}}


def test_a_unique_index_on_a_generated_column_is_refused_where_the_cascade_writes_values():
    """A generated column may be computed from the foreign key columns: ON UPDATE CASCADE and SET NULL would move its
    unique values between rows unseen. ON DELETE CASCADE only removes rows: followed."""
    generated_unique = IndexColumns("uq_g", ("g",), (None,), True, (None,))
    for rules in ({"on_update": "CASCADE"}, {"on_delete": "SET NULL"}):
        message, fix = cascade_refusal(_key(**rules), [], _MOVED, [_PRIMARY, generated_unique], generated=["g"])
        assert "s.child's unique index `uq_g` holds a generated column" in message
        assert fix.startswith("drop the unique index `uq_g` for the move")
    assert cascade_refusal(_key(on_delete="CASCADE"), [], _MOVED, [_PRIMARY, generated_unique], generated=["g"]) is None
    assert cascade_refusal(_key(on_update="CASCADE"), [], _MOVED, [_PRIMARY, generated_unique], generated=["other"]) is None
