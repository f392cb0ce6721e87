"""Online changes of tables keyed by other than one integer column (issue 16), on a real MariaDB sandbox.

- a composite key (tenant INT, code VARCHAR(20) utf8mb4_general_ci), whose rows the application moves to other keys
  and whose key's case and trailing space it changes while the change runs ('c0001' becomes 'C0001': the same key to
  the server, another value to Python);
- a BINARY(16) key (UUIDs, some ending in zero bytes) that is a NOT NULL unique key of a table without a primary key;
- a kill -9 of the copy of the composite key, resumed from its recorded cursor;
- keys of DECIMAL, DATETIME(6) with BIGINT UNSIGNED, and negative TIME with YEAR, rows moved to other keys mid-copy.

Each ends in osc_support's exact comparison of the new table with the original's rows at the swap, every value as
PyMySQL reads it (so 'C0001' in the original and 'c0001' in the new table would be a difference).
"""

from __future__ import annotations

import hashlib
import random
import time
from pathlib import Path
from typing import Any, Optional

import pytest
from integration_support import Servers, root_session, until
from osc_support import (AlterThread, alter_options, alter_process, assert_projection, change_under_load, copy_cursor, kill_process,
                         projected_rows, run_until_postponed)

from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.dev.load import Load, ServerSession, Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import connect, execute

#: Rows of each table: TENANTS tenants of CODES codes for the composite key.
ROWS = 1200
TENANTS = 4
CODES = ROWS // TENANTS
COMPOSITE = ("tenant", "code")
COMPOSITE_COLUMNS = {"tenant": "tenant", "code": "code", "v": "v", "note": "note"}
UUID_COLUMNS = {"id": "id", "v": "v", "s": "s"}


def _code(rng: random.Random) -> str:
    """A code as the application writes it: any case ('c0012', 'C0012'), beyond the table's codes too."""
    code = "c%04d" % rng.randint(0, CODES + 30)
    return code.upper() if rng.random() < 0.3 else code


class CompositeMix:
    """Writes to the composite-keyed table: inserts, updates, case and trailing-space changes of the key (the same row
    to the server), moves to another key, deletes, rolled back deletes."""

    def __init__(self, table: str, seed: int) -> None:
        self.table = table
        self.rng = random.Random(seed)

    def next_transaction(self) -> Transaction:
        rng, table = self.rng, self.table
        where = "WHERE tenant = %d AND code = '%s'" % (rng.randint(1, TENANTS + 1), _code(rng))
        op = rng.random()
        if op < 0.2:
            return Transaction(("INSERT IGNORE INTO %s (tenant, code, v, note) VALUES (%d, '%s', %d, 'new')" % (
                table, rng.randint(1, TENANTS + 1), _code(rng), rng.randint(0, 999)),))
        if op < 0.4:
            return Transaction(("UPDATE %s SET v = v + 1, note = 'n%d' %s" % (table, rng.randint(0, 99), where),))
        if op < 0.55:  # the key's case toggled: the same key in utf8mb4_general_ci
            return Transaction(("UPDATE IGNORE %s SET code = IF(code = BINARY UPPER(code), LOWER(code), UPPER(code)) %s" % (table, where),))
        if op < 0.62:  # a trailing space added or taken away: the same key in a PAD SPACE collation
            return Transaction(("UPDATE IGNORE %s SET code = IF(code LIKE BINARY '%% ', RTRIM(code), CONCAT(code, ' ')) %s" % (table, where),))
        if op < 0.75:
            return Transaction(("UPDATE IGNORE %s SET tenant = %d, code = '%s' %s" % (table, rng.randint(1, TENANTS), _code(rng), where),))
        if op < 0.9:
            return Transaction(("DELETE FROM %s %s" % (table, where),))
        return Transaction(("DELETE FROM %s WHERE tenant = %d" % (table, rng.randint(1, TENANTS)),), rollback=True)


def _uuid(n: int) -> str:
    """A 16-byte key as an SQL literal; every seventh ends in four zero bytes (BINARY pads with them)."""
    digest = hashlib.md5(str(n).encode()).hexdigest()
    return "X'%s'" % (digest[:24] + "00000000" if n % 7 == 0 else digest)


class UuidMix:
    """Writes to the BINARY(16)-keyed table: inserts, updates, moves to another key, deletes, rolled back deletes."""

    def __init__(self, table: str, seed: int) -> None:
        self.table = table
        self.rng = random.Random(seed)

    def next_transaction(self) -> Transaction:
        rng, table = self.rng, self.table
        where = "WHERE id = %s" % _uuid(rng.randint(0, ROWS + 100))
        op = rng.random()
        if op < 0.25:
            key = _uuid(rng.randint(0, ROWS + 100))
            return Transaction(("INSERT IGNORE INTO %s (id, v, s) VALUES (%s, %d, 'new')" % (table, key, rng.randint(0, 999)),))
        if op < 0.55:
            return Transaction(("UPDATE %s SET v = v + 1, s = 'u%d' %s" % (table, rng.randint(0, 99), where),))
        if op < 0.7:
            return Transaction(("UPDATE IGNORE %s SET id = %s %s" % (table, _uuid(rng.randint(0, ROWS + 100)), where),))
        if op < 0.9:
            return Transaction(("DELETE FROM %s %s" % (table, where),))
        return Transaction(("DELETE FROM %s WHERE v < 500" % table,), rollback=True)


def _load(servers: Servers, mixes: list[Any]) -> Load:
    spec = servers.source.spec("app")
    return Load(lambda _index: ServerSession(spec), mixes, per_second=200)


def _composite_table(servers: Servers, db: str) -> None:
    with root_session(servers.source) as conn:
        execute(conn, "CREATE TABLE %s (tenant INT NOT NULL, code VARCHAR(20) COLLATE utf8mb4_general_ci NOT NULL, v INT NOT NULL, "
                      "note VARCHAR(40), PRIMARY KEY (tenant, code)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" % quote_table(db, "items"))
        execute(conn, "INSERT INTO %s SELECT 1 + seq DIV %d, CONCAT('c', LPAD(seq MOD %d, 4, '0')), seq, CONCAT('row ', seq) FROM %s" % (
            quote_table(db, "items"), CODES, CODES, quote_table(db, "seq_0_to_%d" % (ROWS - 1))))


def test_composite_key_with_text_in_a_case_insensitive_collation(servers: Servers, db: str, tmp_path: Path) -> None:
    """Pages by (tenant, code), the load changing the case and trailing spaces of codes all along: the new table holds
    every row with its key exactly as the original holds it."""
    _composite_table(servers, db)
    load = _load(servers, [CompositeMix(quote_table(db, "items"), seed) for seed in (21, 22)])
    result = change_under_load(servers, db, tmp_path, "items", "MODIFY v BIGINT NOT NULL, ADD COLUMN extra INT NOT NULL DEFAULT 7",
                               COMPOSITE_COLUMNS, load, ROWS, key=COMPOSITE)
    assert result.added == ["extra"] and "PRIMARY KEY (`tenant`,`code`)" in result.new_create
    changed_case = [code for (code,) in projected_rows(servers.source, db, "items", ["code"], COMPOSITE) if code != code.lower()]
    assert changed_case, "the load changed no key's case"


def test_binary_16_unique_key_of_a_table_without_primary_key(servers: Servers, db: str, tmp_path: Path) -> None:
    """A table with no primary key, keyed by its NOT NULL unique BINARY(16) key (gh-ost's shared unique key)."""
    with root_session(servers.source) as conn:
        execute(conn, "CREATE TABLE %s (id BINARY(16) NOT NULL, v INT NOT NULL, s VARCHAR(40), UNIQUE KEY id_u (id)) ENGINE=InnoDB"
                % quote_table(db, "u"))
        for start in range(0, ROWS, 300):
            execute(conn, "INSERT INTO %s (id, v, s) VALUES %s" % (quote_table(db, "u"), ", ".join(
                "(%s, %d, 'row %d')" % (_uuid(n), n, n) for n in range(start, start + 300))))
    load = _load(servers, [UuidMix(quote_table(db, "u"), seed) for seed in (31, 32)])
    result = change_under_load(servers, db, tmp_path, "u", "ADD COLUMN extra VARCHAR(10) NOT NULL DEFAULT 'x', ADD INDEX v_i (v)",
                               UUID_COLUMNS, load, ROWS)
    assert "UNIQUE KEY `id_u` (`id`)" in result.new_create and "PRIMARY" not in result.new_create
    zero_ended = [key for (key,) in projected_rows(servers.source, db, "u", ["id"], "id") if key.endswith(b"\0\0\0\0")]
    assert zero_ended  # keys that end in zero bytes came through whole


def test_kill_during_the_copy_of_a_composite_key_then_resume(servers: Servers, db: str, tmp_path: Path) -> None:
    """kill -9 of a process copying the composite-keyed table while a chunk waits on a row another session locks (so the
    kill lands mid-copy, whatever the machine's pace); a new run resumes after the recorded (tenant, code) cursor, under the
    load, and ends exact."""
    _composite_table(servers, db)
    locker = connect(servers.source.spec("root"), autocommit=False)
    flag = tmp_path / "postpone"
    flag.touch()
    options = alter_options(servers, db, "items", "ADD COLUMN extra INT", tmp_path / "state", chunk_size=10,
                            postpone_cut_over_flag_file=str(flag))
    load = _load(servers, [CompositeMix(quote_table(db, "items"), seed) for seed in (41, 42)])
    proc = None
    try:
        execute(locker, "SELECT v FROM %s WHERE tenant = 3 AND code = 'c0000' FOR UPDATE" % quote_table(db, "items"))
        proc = alter_process(options, tmp_path)
        until(lambda: (copy_cursor(servers, db, "items")[0] or (0,))[0] >= 2 or proc.poll() is not None, "the copy to be under way")
        time.sleep(0.5)  # the copy reaches the locked row and waits there
        kill_process(proc, tmp_path)
    finally:
        locker.rollback()
        locker.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
    last_key, done = copy_cursor(servers, db, "items")
    assert last_key is not None and last_key < (3, "c0000") and not done, last_key
    run, resumed = run_until_postponed(options, tmp_path, load, "the resumed run to tail the binlog")
    assert resumed[0]["resumed"] and not resumed[0]["copy_done"] and resumed[0]["copy_after"] == list(last_key)
    expected = projected_rows(servers.source, db, "items", list(COMPOSITE_COLUMNS), COMPOSITE)
    flag.unlink()
    result = run.finish()
    assert result.changed and result.added == ["extra"]
    assert assert_projection(servers.source, db, expected, "items", COMPOSITE_COLUMNS, COMPOSITE) == len(expected)


#: Tables keyed by other exact types: (columns and key, the key columns, rows as a SELECT over seq_1_to_600 giving every
#: column, an assignment that moves a row to another key).
TYPED_KEYS = {
    "decimal": ("k DECIMAL(12,3) NOT NULL PRIMARY KEY, v INT NOT NULL", ("k",), "SELECT seq / 8 - 40, seq", "k = k + 1000"),
    "datetime and unsigned": ("t DATETIME(6) NOT NULL, u BIGINT UNSIGNED NOT NULL, v INT NOT NULL, PRIMARY KEY (t, u)", ("t", "u"),
                              "SELECT '2024-01-01' + INTERVAL (seq DIV 3) MINUTE + INTERVAL seq MICROSECOND, "
                              "18446744073709551615 - seq MOD 3, seq", "t = t + INTERVAL 1 YEAR"),
    "negative time and year": ("y YEAR NOT NULL, k TIME(3) NOT NULL, v INT NOT NULL, PRIMARY KEY (y, k)", ("y", "k"),
                               "SELECT 2000 + seq MOD 3, SEC_TO_TIME(seq * 37.5 - 5000), seq", "k = -k"),
}


@pytest.mark.parametrize("shape", sorted(TYPED_KEYS))
def test_other_exact_key_types_with_rows_moved_during_the_copy(servers: Servers, db: str, tmp_path: Path, shape: str) -> None:
    """Before its third chunk, rows the copy has passed and rows it has not are moved to other keys, updated and deleted;
    the new table ends as the original (kept as _t_del) holds them."""
    columns, key, rows, move = TYPED_KEYS[shape]
    table = quote_table(db, "t")
    with root_session(servers.source) as conn:
        execute(conn, "CREATE TABLE %s (%s) ENGINE=InnoDB" % (table, columns))
        execute(conn, "INSERT INTO %s %s FROM %s" % (table, rows, quote_table(db, "seq_1_to_600")))
    chunks: list[Optional[tuple]] = []

    def write_mid_copy(low: Optional[tuple], _high: tuple) -> None:
        chunks.append(low)
        if len(chunks) == 3:
            with root_session(servers.source) as conn:
                for statement in ("UPDATE %s SET {move} WHERE v IN (5, 550)", "UPDATE %s SET v = -v WHERE v IN (7, 590)",
                                  "DELETE FROM %s WHERE v IN (9, 300)"):
                    execute(conn, statement.replace("{move}", move) % table)

    result = AlterThread(alter_options(servers, db, "t", "ADD COLUMN extra INT", tmp_path / "state", chunk_size=50),
                         tmp_path / "alter.log", chunk_hook=write_mid_copy).finish()
    assert result.changed and result.events_applied >= 6 and len(chunks) > 3
    mapping = {name: name for name in result.mapping}
    expected = projected_rows(servers.source, db, "_t_del", list(mapping), key)
    assert len(expected) == 598 and assert_projection(servers.source, db, expected, "t", mapping, key) == 598
