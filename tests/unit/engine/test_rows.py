"""How applied changes become statements (pure logic: a cursor that records)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.engine import rows
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.changes import DELETE, INSERT, UPDATE, RowChange
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import LENIENT_SQL_MODE, SESSION_SQL_MODE, literal
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.rows import copy_rows, net_statements
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.tables import MovedTable

T = MovedTable("s", "t", "s2", "t", ("id", "v"), ("id",), ("int", "varchar"))
U = MovedTable("s", "u", "s2", "u", ("id", "w"), ("id",), ("int", "varchar"))
E = MovedTable("s", "e", "s2", "e", ("id", "v", "n"), ("id",), ("int", "enum", "int"))
TABLES = {("s", "t"): T, ("s", "u"): U, ("s", "e"): E}
LENIENT = "SET SESSION sql_mode = '%s'" % LENIENT_SQL_MODE
STRICT = "SET SESSION sql_mode = '%s'" % SESSION_SQL_MODE


class Recorder:
    """A cursor that records what it is asked to run."""

    def __init__(self):
        self.executed = []

    def execute(self, sql):
        self.executed.append(sql)


def statements(changes):
    """The statements' text with values written by repr(), which is enough to tell them apart here."""
    return [statement.sql for statement in net_statements(TABLES, changes, repr)]


def _ins(table, key, value):
    return RowChange(INSERT, "s", table, None, {"id": key, "v" if table == "t" else "w": value, "generated": 0})


def test_a_batch_becomes_its_net_effect_one_delete_and_one_replace_per_table():
    changes = [_ins("t", 1, "a"), _ins("t", 2, "b"), RowChange(UPDATE, "s", "t", {"id": 1}, {"id": 1, "v": "c"}),
               RowChange(DELETE, "s", "t", {"id": 2}, None), RowChange(DELETE, "s", "t", {"id": 3}, None),
               _ins("u", 9, "w"), _ins("t", 4, "d"), RowChange(DELETE, "s", "t", {"id": 4}, None), _ins("t", 2, "again")]
    assert statements(changes) == [
        "DELETE FROM `s2`.`t` WHERE `id` IN (3, 4)",  # the keys that end deleted
        "REPLACE INTO `s2`.`t` (`id`, `v`) VALUES (1, 'c'), (2, 'again')",  # each key's last image: 2 was deleted, then inserted again
        "REPLACE INTO `s2`.`u` (`id`, `w`) VALUES (9, 'w')",
    ]


def test_a_key_change_deletes_the_old_key_before_writing_the_new_row():
    assert statements([RowChange(UPDATE, "s", "t", {"id": 1}, {"id": 5, "v": "a"})]) == [
        "DELETE FROM `s2`.`t` WHERE `id` IN (1)", "REPLACE INTO `s2`.`t` (`id`, `v`) VALUES (5, 'a')"]


def test_generated_columns_in_images_are_never_written():
    assert statements([_ins("t", 1, "a")]) == ["REPLACE INTO `s2`.`t` (`id`, `v`) VALUES (1, 'a')"]


def test_only_rows_with_the_enum_error_value_are_written_in_a_lenient_statement():
    """ENUM values travel by index; index 0 (the error value) is refused by a strict session. A 0 in another column is not."""
    plain = statements([RowChange(INSERT, "s", "e", None, {"id": 1, "v": 2, "n": 0})])
    assert plain == ["REPLACE INTO `s2`.`e` (`id`, `v`, `n`) VALUES (1, 2, 0)"]
    lenient = statements([RowChange(INSERT, "s", "e", None, {"id": 1, "v": 0, "n": 0})])
    assert lenient == [LENIENT, "REPLACE INTO `s2`.`e` (`id`, `v`, `n`) VALUES (1, 0, 0)", STRICT]


def test_the_other_rows_of_a_batch_with_the_enum_error_value_stay_strict():
    """One row with index 0 must not take the whole REPLACE out of the strict session: a conversion in another row would pass."""
    written = statements([RowChange(INSERT, "s", "e", None, {"id": 1, "v": 2, "n": 0}), RowChange(INSERT, "s", "e", None, {"id": 2, "v": 0, "n": 5}),
                          RowChange(INSERT, "s", "e", None, {"id": 3, "v": 1, "n": 0})])
    assert written == ["REPLACE INTO `s2`.`e` (`id`, `v`, `n`) VALUES (1, 2, 0), (3, 1, 0)",
                       LENIENT, "REPLACE INTO `s2`.`e` (`id`, `v`, `n`) VALUES (2, 0, 5)", STRICT]


def test_copied_rows_with_the_enum_error_value_are_cut_into_statements_like_the_others(monkeypatch):
    """One lenient INSERT of a whole batch could exceed max_allowed_packet, an error retried for ever."""
    monkeypatch.setattr(rows, "STATEMENT_BYTES", 20)
    batch = [(key, b"(%d,0,%d)" % (key, key)) for key in range(1, 9)]  # 7 bytes each: two rows a statement
    cursor = Recorder()
    copy_rows(cursor, E, batch, frozenset({1, 2, 3, 4, 5}))
    tail = b" ON DUPLICATE KEY UPDATE `id` = `id`"
    head = b"INSERT INTO `s2`.`e` (`id`, `v`, `n`) VALUES "
    assert cursor.executed == [head + b"(6,0,6),(7,0,7)" + tail, head + b"(8,0,8)" + tail, LENIENT,
                               head + b"(1,0,1),(2,0,2)" + tail, head + b"(3,0,3),(4,0,4)" + tail, head + b"(5,0,5)" + tail, STRICT]


def test_applied_rows_are_cut_into_statements_by_what_they_send(monkeypatch):
    """Bytes go out as hex, twice their size: a REPLACE cut by the values' own sizes could outgrow max_allowed_packet."""
    monkeypatch.setattr(rows, "STATEMENT_BYTES", 120)
    value = bytes(40)  # written X'00..00', 83 characters; each row 88 in all
    written = net_statements(TABLES, [_ins("t", 1, value), _ins("t", 2, value)], literal)
    printed = "(%%d, X'%s')" % ("00" * 40)
    assert [(s.sql, s.keys) for s in written] == [("REPLACE INTO `s2`.`t` (`id`, `v`) VALUES " + printed % 1, ((1,),)),
                                                  ("REPLACE INTO `s2`.`t` (`id`, `v`) VALUES " + printed % 2, ((2,),))]


def test_each_statement_carries_its_table_and_the_keys_it_writes_in_order():
    """What a refused statement's error names: the server's "at row N" is the N-th of these keys."""
    written = net_statements(TABLES, [_ins("t", 5, "a"), _ins("t", 2, "b"), RowChange(DELETE, "s", "t", {"id": 9}, None)], repr)
    assert [(s.table, s.keys) for s in written] == [(T, ((9,),)), (T, ((5,), (2,)))]
