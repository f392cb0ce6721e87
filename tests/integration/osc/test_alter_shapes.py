"""run_alter on a real MariaDB sandbox for changes and table shapes other than a column's type: an index dropped,
character sets converted, a collation changed, an ENUM grown, a primary key that is not the first column, large BLOBs.

Each runs under writes to the changed table that use the shape (non-ASCII text, every ENUM member, 1 MiB values)
and ends in osc_support.change_under_load's exact comparison with the original's rows at the swap, then a second run
that changes nothing.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable, Optional

from integration_support import Servers, root_session
from osc_support import change_under_load

from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident, quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.dev.load import Load, ServerSession, Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import execute, fetch_all, fetch_value

#: Rows of the changed table (keys 0 to ROWS - 1); the load writes keys up to this too.
ROWS = 2000

#: A row's columns other than ``id``, as SQL expressions (the server makes a 1 MiB value, not this process).
RowValues = Callable[[random.Random], dict[str, str]]

#: Text that utf8mb3 holds (no character outside the BMP), most of it not ASCII.
UTF8_WORDS = ("café", "naïve", "Łódź", "日本語", "Ελληνικά", "ñandú", "Straße", "plain")
#: Text that latin1 holds, accented.
LATIN1_WORDS = ("café", "crème brûlée", "Ångström", "Müller", "Ærø", "señor", "plain")


def _literal(text: str) -> str:
    """``text`` as an SQL string literal (the words above hold no quote or backslash)."""
    return "'%s'" % text


class ShapeMix:
    """Random writes to one table keyed by ``id``: inserts, updates of the other columns, key changes, deletes, and
    rolled back transactions; the other columns' values are ``values``'s, so the writes use the table's shape."""

    def __init__(self, table: str, values: RowValues, seed: int) -> None:
        self.table = table
        self.values = values
        self.rng = random.Random(seed)

    def next_transaction(self) -> Transaction:
        rng, table = self.rng, self.table
        key = rng.randint(-50, ROWS)
        op = rng.random()
        if op < 0.3:
            row = self.values(rng)
            return Transaction(("INSERT IGNORE INTO %s (id, %s) VALUES (%d, %s)" % (
                table, ", ".join(quote_ident(c) for c in row), key, ", ".join(row.values())),))
        if op < 0.65:
            return Transaction(("UPDATE %s SET %s WHERE id = %d" % (
                table, ", ".join("%s = %s" % (quote_ident(c), v) for c, v in self.values(rng).items()), key),))
        if op < 0.75:
            return Transaction(("UPDATE IGNORE %s SET id = %d WHERE id = %d" % (table, rng.randint(-50, ROWS), key),))
        if op < 0.9:
            return Transaction(("DELETE FROM %s WHERE id = %d" % (table, key),))
        return Transaction(("DELETE FROM %s WHERE id BETWEEN %d AND %d" % (table, key, key + 20),), rollback=True)


def _fill(servers: Servers, db: str, table: str, create: str, values: RowValues) -> None:
    """``create`` (of ``db.table``), then ROWS rows whose other columns are ``values``'s."""
    rng = random.Random(3)
    with root_session(servers.source) as conn:
        execute(conn, create % quote_table(db, table))
        for start in range(0, ROWS, 200):
            rows = [(key, values(rng)) for key in range(start, min(start + 200, ROWS))]
            execute(conn, "INSERT INTO %s (id, %s) VALUES %s" % (
                quote_table(db, table), ", ".join(quote_ident(c) for c in rows[0][1]),
                ", ".join("(%d, %s)" % (key, ", ".join(row.values())) for key, row in rows)))


def _load(servers: Servers, db: str, table: str, values: RowValues) -> Load:
    """Two application connections writing ShapeMix to ``db.table``, 100 transactions a second each."""
    spec = servers.source.spec("app")
    return Load(lambda _index: ServerSession(spec), [ShapeMix(quote_table(db, table), values, seed) for seed in (11, 12)],
                per_second=200)


def _change(servers: Servers, db: str, tmp_path: Path, create: str, values: RowValues, alter: str, mapping: dict[str, str],
            load_values: Optional[RowValues] = None) -> Any:
    """Table ``t`` made by ``create`` and filled with ``values``, changed by ``alter`` under writes of ``load_values``
    (``values`` when None)."""
    _fill(servers, db, "t", create, values)
    return change_under_load(servers, db, tmp_path, "t", alter, mapping, _load(servers, db, "t", load_values or values), ROWS)


def _column_values(servers: Servers, db: str, sql: str) -> list[tuple]:
    with root_session(servers.source) as conn:
        return [tuple(row) for row in fetch_all(conn, sql % quote_table(db, "t"))]


def test_drop_index(servers: Servers, db: str, tmp_path: Path) -> None:
    def values(rng: random.Random) -> dict[str, str]:
        return {"v": str(rng.randint(0, 999)), "s": _literal(rng.choice(UTF8_WORDS))}

    result = _change(servers, db, tmp_path, "CREATE TABLE %s (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40), KEY v_index (v))",
                     values, "DROP INDEX v_index", {"id": "id", "v": "v", "s": "s"})
    assert "v_index" not in result.new_create and "v_index" in result.old_create


def test_convert_utf8mb3_table_with_latin1_column_to_utf8mb4(servers: Servers, db: str, tmp_path: Path) -> None:
    """CONVERT TO CHARACTER SET converts the table's utf8mb3 text and its latin1 column: every accented value reads
    the same after the change (PyMySQL decodes each from its column's character set)."""
    def values(rng: random.Random) -> dict[str, str]:
        return {"s": _literal(rng.choice(UTF8_WORDS)), "l": _literal(rng.choice(LATIN1_WORDS))}

    result = _change(servers, db, tmp_path, "CREATE TABLE %s (id INT PRIMARY KEY, s VARCHAR(40), "
                     "l VARCHAR(40) CHARACTER SET latin1) DEFAULT CHARSET=utf8mb3", values,
                     "CONVERT TO CHARACTER SET utf8mb4", {"id": "id", "s": "s", "l": "l"})
    assert "CHARSET=utf8mb4" in result.new_create and "latin1" not in result.new_create
    assert {s for (s,) in _column_values(servers, db, "SELECT DISTINCT s FROM %s")} == set(UTF8_WORDS)
    assert {s for (s,) in _column_values(servers, db, "SELECT DISTINCT l FROM %s")} == set(LATIN1_WORDS)


def test_latin1_column_to_utf8mb4(servers: Servers, db: str, tmp_path: Path) -> None:
    def values(rng: random.Random) -> dict[str, str]:
        return {"l": _literal(rng.choice(LATIN1_WORDS)), "v": str(rng.randint(0, 999))}

    result = _change(servers, db, tmp_path, "CREATE TABLE %s (id INT PRIMARY KEY, l VARCHAR(40) CHARACTER SET latin1 NOT NULL, "
                     "v INT NOT NULL)", values, "MODIFY l VARCHAR(40) CHARACTER SET utf8mb4 NOT NULL", {"id": "id", "l": "l", "v": "v"})
    assert "latin1" not in result.new_create
    assert {s for (s,) in _column_values(servers, db, "SELECT DISTINCT l FROM %s")} == set(LATIN1_WORDS)


def test_date_to_datetime_under_writes(servers: Servers, db: str, tmp_path: Path) -> None:
    """A DATE made a DATETIME(6) while days are written: the verification before the swap reads each original day as
    its midnight (it failed naming every row), and every row holds its day at midnight after the change."""
    def values(rng: random.Random) -> dict[str, str]:
        return {"d": "'2024-%02d-%02d'" % (rng.randint(1, 12), rng.randint(1, 28)), "n": str(rng.randint(0, 999))}

    result = _change(servers, db, tmp_path, "CREATE TABLE %s (id INT PRIMARY KEY, d DATE NOT NULL, n INT)", values,
                     "MODIFY d DATETIME(6) NOT NULL", {"id": "id", "d": "d", "n": "n"})
    assert "`d` datetime(6) NOT NULL" in result.new_create
    assert _column_values(servers, db, "SELECT COUNT(*) FROM %s WHERE TIME(d) <> '00:00:00'") == [(0,)]


def test_collation_change_of_an_indexed_column(servers: Servers, db: str, tmp_path: Path) -> None:
    """Values that differ only in case or accents, equal under the old collation, stay each as written under the new."""
    words = ("apple", "Apple", "APPLE", "äpple", "Äpple", "pear")

    def values(rng: random.Random) -> dict[str, str]:
        return {"s": _literal(rng.choice(words))}

    result = _change(servers, db, tmp_path, "CREATE TABLE %s (id INT PRIMARY KEY, s VARCHAR(40) COLLATE utf8mb4_general_ci, KEY s_index (s))",
                     values, "MODIFY s VARCHAR(40) COLLATE utf8mb4_bin", {"id": "id", "s": "s"})
    assert "utf8mb4_bin" in result.new_create
    assert {s for (s,) in _column_values(servers, db, "SELECT DISTINCT s FROM %s")} == set(words)


def test_enum_grows_by_a_member(servers: Servers, db: str, tmp_path: Path) -> None:
    """Rows hold every member of the ENUM, written before and during the change; the new member, which the original
    cannot hold, is written to the new table after the swap and reads back as itself."""
    members = ("red", "green", "blue")

    def values(rng: random.Random) -> dict[str, str]:
        return {"c": _literal(rng.choice(members)), "n": str(rng.randint(0, 999))}

    result = _change(servers, db, tmp_path, "CREATE TABLE %s (id INT PRIMARY KEY, c ENUM('red','green','blue') NOT NULL, n INT)",
                     values, "MODIFY c ENUM('red','green','blue','violet') NOT NULL", {"id": "id", "c": "c", "n": "n"})
    assert "enum('red','green','blue','violet')" in result.new_create
    assert {c for (c,) in _column_values(servers, db, "SELECT DISTINCT c FROM %s")} == set(members)
    with root_session(servers.source) as conn:
        execute(conn, "INSERT INTO %s (id, c, n) VALUES (%d, 'violet', 1)" % (quote_table(db, "t"), ROWS + 100))
        assert fetch_value(conn, "SELECT c FROM %s WHERE id = %d" % (quote_table(db, "t"), ROWS + 100)) == "violet"


def test_primary_key_not_the_first_column(servers: Servers, db: str, tmp_path: Path) -> None:
    def values(rng: random.Random) -> dict[str, str]:
        return {"a": str(rng.randint(-999, 999)), "b": _literal(rng.choice(UTF8_WORDS))}

    result = _change(servers, db, tmp_path, "CREATE TABLE %s (a INT, id INT PRIMARY KEY, b TEXT)", values,
                     "ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT 'none'", {"a": "a", "id": "id", "b": "b"})
    assert result.added == ["note"] and "PRIMARY KEY (`id`)" in result.new_create


def _blob_values(share: float) -> RowValues:
    """``v``, and ``data`` a 1 MiB BLOB in about ``share`` of the rows, a single byte in the others."""
    def values(rng: random.Random) -> dict[str, str]:
        size = 1048576 if rng.random() < share else 1
        return {"v": str(rng.randint(0, 999)), "data": "REPEAT(CHAR(%d), %d)" % (rng.randint(0, 255), size)}

    return values


def test_one_mebibyte_blobs(servers: Servers, db: str, tmp_path: Path) -> None:
    """About one row in fifty holds a 1 MiB BLOB, and one write in twenty during the change writes one (a few tens of
    them in all): the copy and the applier carry each whole."""
    result = _change(servers, db, tmp_path, "CREATE TABLE %s (id INT PRIMARY KEY, v INT NOT NULL, data LONGBLOB)", _blob_values(0.02),
                     "MODIFY v BIGINT NOT NULL", {"id": "id", "v": "v", "data": "data"}, load_values=_blob_values(0.05))
    assert "`v` bigint(20) NOT NULL" in result.new_create
    assert _column_values(servers, db, "SELECT COUNT(*) > 10 FROM %s WHERE LENGTH(data) = 1048576") == [(1,)]
