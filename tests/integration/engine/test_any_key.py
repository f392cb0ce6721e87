"""Moves of tables whose key is not one integer column: keys of any allowed type and any number of columns, and a
NOT NULL unique key where there is no primary key (docs/design.md steps 1-4 for any usable key).

What makes these keys hard is that the server, not Python, decides which values are the same key and in which order
they come: 'abc' is 'ABC' and 'e' is 'é' under utf8mb4_general_ci, 'a' is 'a ' under a PAD SPACE collation (where
'a\\t' sorts before 'a') but not under a NO PAD one, a DECIMAL is not its float, and a composite key's columns need
not come first, nor in the table's order. Every test ends with an exact comparison of the stored bytes.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterator, Optional

import pytest
from ferry_support import FerryThread, move_config, start_cli, table_rows, wait_caught_up, write_config
from integration_support import Servers, root_session, sql, until
from pymysql.converters import escape_string

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import for_arguments, quote_ident, quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.dev.load import Load, ServerSession, Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.copier import TableCopier
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.keys import encode_key
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec, connect, execute, fetch_all, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.verify import checksum as verify


def literal(value: Any) -> str:
    """``value`` as an SQL literal: bytes as hex, text quoted (the sessions are utf8mb4), numbers as they print."""
    if isinstance(value, bytes):
        return "X'%s'" % value.hex()
    if isinstance(value, str):
        return "'%s'" % escape_string(value)
    return str(value)


@dataclass(frozen=True)
class KeyKind:
    """A kind of key, as a table ``name`` whose key columns are ``columns`` and the key values the tests write to it.

    The table is ``(v INT, <columns>, s VARCHAR(40), <extra>, <key_clause> (<key>))``: the key's columns are never
    the table's first, and ``key`` may list them in another order than the table does.
    """

    name: str
    #: The key's columns as the table declares them: (name, SQL type); each is NOT NULL.
    columns: tuple[tuple[str, str], ...]
    #: The i-th key value of the tests, one value per column of ``columns``; different i, different keys.
    value: Callable[[int], tuple]
    #: UPDATE ... SET clauses peculiar to the kind, most of them changing the key (case only, trailing spaces, ...).
    updates: tuple[str, ...] = ()
    #: The key's columns in key order; empty: the order of ``columns``.
    key: tuple[str, ...] = ()
    key_clause: str = "PRIMARY KEY"
    #: More column definitions, after ``s``.
    extra: str = ""
    #: Statements (``{t}`` is the table) run once through the binlog, with the rows each must change: rows of their
    #: own (``fixed``), which the load never touches, so that each certainly does what it says.
    statements: tuple[tuple[str, int], ...] = ()
    #: Rows outside the load's keys, in the table from the start, for ``statements``.
    fixed: tuple[tuple, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _type in self.columns)

    def ddl(self, db: str) -> str:
        columns = ", ".join("%s %s NOT NULL" % (quote_ident(name), sql_type) for name, sql_type in self.columns)
        extra = ", " + self.extra if self.extra else ""
        key = ", ".join(quote_ident(name) for name in self.key or self.names)
        return "CREATE TABLE %s (v INT NOT NULL, %s, s VARCHAR(40) NOT NULL%s, %s (%s)) ENGINE=InnoDB" % (
            quote_table(db, self.name), columns, extra, self.key_clause, key)

    def where(self, value: tuple) -> str:
        """The condition that finds the row of key ``value`` (by the server's comparison of each column)."""
        return " AND ".join("%s = %s" % (quote_ident(name), literal(v)) for name, v in zip(self.names, value))

    def create(self, server: Any, db: str, rows: list[tuple]) -> None:
        """Create the table in ``db`` with ``rows`` (key values), each with a v and an s of its own."""
        sql(server, self.ddl(db))
        with root_session(server) as conn, conn.cursor() as cur:
            names = for_arguments("%s (%s" % (quote_table(db, self.name), ", ".join(quote_ident(n) for n in self.names)))
            cur.executemany("INSERT INTO %s, v, s) VALUES (%s)" % (names, ", ".join(["%s"] * (len(self.names) + 2))),
                            [value + (n, "row %d" % n) for n, value in enumerate(rows)])


def _ci_text(i: int) -> str:
    """Distinct text keys for distinct i under utf8mb4_general_ci, in the shapes that collation handles specially:
    upper case, accents, a tab (which a PAD SPACE collation sorts before the end of a string) and trailing spaces."""
    base = "n%03d" % i
    return (base, base.upper(), base + "\u00e9", base + "\t", "\u00e9" + base, base + "  ")[i % 6]


def _from(specials: tuple, rest: Callable[[int], Any]) -> Callable[[int], tuple]:
    """Key values: ``specials`` first (edge values), then ``rest(i)`` for the others; single-column keys."""
    return lambda i: (specials[i],) if i < len(specials) else (rest(i),)


_DATETIME_BASE = datetime.datetime(2024, 1, 1)
_UUID_EDGES = (b"\x00" * 16, b"\xff" * 16, b"\x00" * 15 + b"\x01", b"\xff" * 15 + b"\xfe", b"\x01" + b"\x00" * 15)
_BINARY4 = (b"\x00\x00\x00\x00", b"\x00\x00\x00\xff", b"\x7f\x00\x00\x00", b"\x80\x00\x00\x00", b"\xff\xff\xff\xff")
_CI = "VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"

KINDS = (
    KeyKind("int_signed", (("k", "INT"),), _from((-2147483648, 2147483647, 0, -1), lambda i: (i - 150) * 7 + 3), ("k = -k", "k = k + 1")),
    KeyKind("bigint_unsigned", (("k", "BIGINT UNSIGNED"),),
            _from((0, 18446744073709551615, 9223372036854775807, 9223372036854775808), lambda i: 18446744073709551615 - i * 5),
            ("k = k ^ 1",)),
    KeyKind("decimal", (("k", "DECIMAL(20,6)"),),
            _from((Decimal("-99999999999999.999999"), Decimal("99999999999999.999999"), Decimal("0.000000"), Decimal("0.000001"),
                   Decimal("-0.000001")), lambda i: Decimal(i - 150) + Decimal(i % 1000) / 1000000),
            ("k = -k", "k = k + 0.000001")),
    KeyKind("varchar_ci", (("k", _CI),), _from(("", "Zz", "\u00df", " x"), _ci_text),
            ("k = UPPER(k)", "k = LOWER(k)", "k = CONCAT(k, ' ')", "k = REPLACE(k, 'n', '\u00f1')"),
            statements=(("UPDATE {t} SET k = 'ABC' WHERE k = 'abc'", 1),  # case only: the same key
                        ("UPDATE {t} SET k = 'CAFE' WHERE k = 'caf\u00e9'", 1),  # accent and case: the same key
                        ("INSERT IGNORE INTO {t} (v, k, s) VALUES (1, 'Caf\u00c9', 'the same key')", 0),
                        ("UPDATE {t} SET k = 'pad  ' WHERE k = 'pad'", 1),  # PAD SPACE: the same key
                        ("DELETE FROM {t} WHERE k = 'GONE'", 1)),
            fixed=(("abc",), ("caf\u00e9",), ("pad",), ("gone",))),
    KeyKind("varchar_nopad", (("k", "VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"),),
            _from(("", " ", "\t"), lambda i: "p%03d" % (i // 3) + " " * (i % 3)), ("k = CONCAT(k, ' ')", "k = RTRIM(k)"),
            statements=(("UPDATE {t} SET k = 'abc ' WHERE k = 'abc'", 1),  # NO PAD: another key
                        ("INSERT INTO {t} (v, k, s) VALUES (2, 'abc', 'again')", 1),
                        ("UPDATE {t} SET k = 'xyz' WHERE k = 'xyz '", 1),
                        ("DELETE FROM {t} WHERE k = 'abc '", 1)),
            fixed=(("abc",), ("xyz ",))),
    KeyKind("char_latin1", (("k", "CHAR(10) CHARACTER SET latin1"),),
            _from(("", " lead"), lambda i: ("c%03d" % i, "C%03d" % i, "c%03d\u00e4" % i, "c%03d\u00fc" % i)[i % 4]),
            ("k = UPPER(k)", "k = LOWER(k)", "k = CONCAT(' ', k)"),
            statements=(("UPDATE {t} SET k = 'ABC' WHERE k = 'abc'", 1),), fixed=(("abc",),)),
    KeyKind("binary_uuid", (("k", "BINARY(16)"),), _from(_UUID_EDGES, lambda i: hashlib.md5(b"%d" % i).digest()),
            ("k = UNHEX(MD5(k))", "k = REVERSE(k)")),
    KeyKind("varbinary", (("k", "VARBINARY(20)"),), _from((b"", b"\x00", b"\x00\x00", b"\xff"), lambda i: b"v%03d" % i + b"\x00" * (i % 3)),
            ("k = CONCAT(k, X'00')", "k = REVERSE(k)"),
            statements=(("UPDATE {t} SET k = X'616200' WHERE k = X'6162'", 1),), fixed=((b"ab",),)),
    KeyKind("datetime6", (("k", "DATETIME(6)"),),
            _from(("1000-01-01 00:00:00.000000", "9999-12-31 23:59:59.999999", "2024-02-29 12:00:00.000001", "2024-02-29 12:00:00.000000"),
                  lambda i: str(_DATETIME_BASE + datetime.timedelta(seconds=i * 1.234567))),
            ("k = k + INTERVAL 1 MICROSECOND", "k = k - INTERVAL 1 DAY")),
    KeyKind("timestamp", (("k", "TIMESTAMP"),), _from(("1970-01-01 00:00:01", "2038-01-19 03:14:07"),
                                                      lambda i: str(datetime.datetime(2001, 1, 1) + datetime.timedelta(seconds=61 * i))),
            ("k = k + INTERVAL 1 SECOND",)),
    KeyKind("composite_tenant_name", (("tenant", "INT"), ("name", _CI)), lambda i: (i % 7 - 3, _ci_text(i // 7)),
            ("name = UPPER(name)", "tenant = -tenant", "name = CONCAT(name, ' ')"),
            statements=(("UPDATE {t} SET name = 'ABC' WHERE tenant = 100 AND name = 'abc'", 1),
                        ("UPDATE {t} SET tenant = 101 WHERE tenant = 100 AND name = 'ABC'", 1),
                        ("UPDATE {t} SET name = 'x\u00e9' WHERE tenant = 100 AND name = 'XE'", 1)),
            fixed=((100, "abc"), (100, "xe"))),
    # Declared (c, a, b), keyed (a, b, c).
    KeyKind("composite_date_binary_smallint", (("c", "SMALLINT"), ("a", "DATE"), ("b", "BINARY(4)")),
            lambda i: (i // 15 - 20, str(datetime.date(2024, 2, 28) + datetime.timedelta(days=i % 3)), _BINARY4[i // 3 % 5]),
            ("c = -c", "b = REVERSE(b)", "a = a + INTERVAL 1 DAY"), key=("a", "b", "c")),
    KeyKind("composite_year_time", (("y", "YEAR"), ("t", "TIME(3)")),
            lambda i: (1901 + i % 4 * 84, "%s%03d:%02d:00.%03d" % ("-" if i % 2 else "", i // 8, i % 60, i % 1000)),
            ("t = SUBTIME(t, '01:00:00.5')", "y = y + 1")),
    # Names that need quoting, and a % that must not be taken for a placeholder, in the table's name and the key's.
    KeyKind("odd%name`s", (("te%nant", "INT"), ("na`me %s", _CI)), lambda i: (i % 5 - 2, _ci_text(i // 5)),
            ("`na``me %s` = UPPER(`na``me %s`)", "`te%nant` = -`te%nant`")),
    # No primary key: the NOT NULL unique key is the key (the nullable unique one before it is not).
    KeyKind("unique_not_null_no_pk", (("u", "VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),),
            lambda i: ("u%03d\u00df" % i if i % 3 else "U%03dss" % i,),
            ("u = UPPER(u)", "u = REPLACE(u, '\u00df', 'ss')", "n = IF(n IS NULL, v, NULL)"),
            key_clause="UNIQUE KEY uk", extra="n INT NULL UNIQUE",
            statements=(("UPDATE {t} SET u = 'STRASSE' WHERE u = 'stra\u00dfe'", 1),), fixed=(("stra\u00dfe",),)),
)

#: Rows per table at the start, and the key values the load writes (i < LOAD_KEYS: a third of them new rows).
ROWS = 200
LOAD_KEYS = 300


class KeyMix:
    """Random writes to every kind's table: inserts, updates, deletes, key changes to another key, the kind's own
    updates, two-table transactions and rollbacks. Counts, per table, the transactions it made."""

    def __init__(self, db: str, seed: int, written: dict[str, int]) -> None:
        self.db = db
        self.rng = random.Random(seed)
        self.written = written

    def _statement(self, kind: KeyKind) -> str:
        rng, table = self.rng, quote_table(self.db, kind.name)
        where = kind.where(kind.value(rng.randrange(LOAD_KEYS)))
        op = rng.random()
        if op < 0.25:
            value = kind.value(rng.randrange(LOAD_KEYS))
            return "INSERT IGNORE INTO %s (%s, v, s) VALUES (%s, %d, 'ins')" % (
                table, ", ".join(quote_ident(n) for n in kind.names), ", ".join(literal(v) for v in value), rng.randrange(1000))
        if op < 0.45:
            return "UPDATE %s SET v = v + 1, s = 'upd%d' WHERE %s" % (table, rng.randrange(100), where)
        if op < 0.6:
            to = kind.value(rng.randrange(LOAD_KEYS))
            return "UPDATE IGNORE %s SET %s WHERE %s" % (table, ", ".join("%s = %s" % (quote_ident(n), literal(v)) for n, v in zip(kind.names, to)), where)
        if op < 0.8 and kind.updates:
            return "UPDATE IGNORE %s SET %s WHERE %s" % (table, rng.choice(kind.updates), where)
        return "DELETE FROM %s WHERE %s" % (table, where)

    def next_transaction(self) -> Transaction:
        op = self.rng.random()
        kinds = self.rng.sample(KINDS, 2 if 0.8 <= op < 0.95 else 1)
        for kind in kinds:
            self.written[kind.name] = self.written.get(kind.name, 0) + 1
        statements = tuple(self._statement(kind) for kind in kinds)
        return Transaction(statements, rows=len(statements), rollback=op >= 0.95)


def exact_rows(server: Any, db: str, table: str) -> list[tuple]:
    """Every row's stored bytes (table_rows), sorted here: table_rows orders by the first column only, which a
    composite key's first column does not make unique."""
    return sorted(table_rows(server, db, table), key=lambda row: [(v is None, v or "") for v in row])


def difference(servers: Servers, db: str, table: str) -> Optional[str]:
    """None when source and target hold the same bytes in table ``table``; otherwise what differs."""
    source, target = exact_rows(servers.source, db, table), exact_rows(servers.target, db, table)
    if source == target:
        return None
    missing = [row for row in source if row not in target][:3]
    extra = [row for row in target if row not in source][:3]
    return "%s.%s differs: %d source rows, %d target rows; missing on the target %r; only on the target %r (values in hex)" % (
        db, table, len(source), len(target), missing, extra)


def _verify(servers: Servers, move: str, **options: Any) -> verify.VerifyReport:
    """Verification of ``move`` as the ferry's users (method checksum unless told)."""
    return verify.verify(ServerSpec(**servers.source.connection_options("ferry_source")),
                         ServerSpec(**servers.target.connection_options("ferry_target")), move, **options)


def _watched(ferry: FerryThread) -> Callable[[], None]:
    """An ``alive`` check for wait_caught_up that fails at once with the engine's own error."""
    def alive() -> None:
        if not ferry.thread.is_alive():
            raise AssertionError("the move stopped: %r" % (ferry.error,))
    return alive


# ---------------------------------------------------------------------------
# 1. Copy and binlog apply under a write load, every kind of key in one move


@dataclass
class LoadedMove:
    """What the move of every kind's table under load left, per table: the difference (None: exact), the transactions
    the load made, and the cursor where the first run stopped with the keys it could be (see _StopMidCopy)."""

    differences: dict[str, Optional[str]] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    #: (last_key, done, rows_copied) of each table's cursor when the first run stopped.
    stopped_at: dict[str, tuple] = field(default_factory=dict)
    #: The keys that ended the batches the first run read, as the checkpoints record keys (keys.encode_key).
    batch_ends: dict[str, list[str]] = field(default_factory=dict)
    #: What verification method inline found once the move had caught up, by table name.
    inline: dict[str, verify.TableResult] = field(default_factory=dict)


class _StopMidCopy:
    """A copy hook that holds each table's third batch until every table has reached its own, so that the move can be
    stopped with every table copied in part; records the key that ends each batch it sees."""

    def __init__(self, tables: int) -> None:
        self.tables = tables
        self.batch_ends: dict[str, list] = {}
        self.lock = threading.Lock()
        self.all_held = threading.Event()
        self.release = threading.Event()

    def __call__(self, table: Any, rows: list) -> None:
        with self.lock:
            ends = self.batch_ends.setdefault(table.name, [])
            ends.append(rows[-1][0])
            held = len(ends) == 3
            if sum(len(e) >= 3 for e in self.batch_ends.values()) == self.tables:
                self.all_held.set()
        if held:
            self.release.wait(60)


def _cursors(servers: Servers, move: str) -> dict[str, tuple]:
    """(last_key, done, rows_copied) of each table's cursor, by table name; none before the move has recorded them."""
    with root_session(servers.target) as conn:
        if not fetch_value(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '_dbferry' AND TABLE_NAME = 'cursors'"):
            return {}
        return {table: (last_key, done, copied) for table, last_key, done, copied in fetch_all(
            conn, "SELECT source_table, last_key, done, rows_copied FROM _dbferry.cursors WHERE move = %s", (move,))}


@pytest.fixture(scope="module")
def loaded_move(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadedMove]:
    """One move of every kind's table (ROWS rows each, in batches of 20, all tables at once) while three app
    connections write to them. The first run is stopped once every table has copied two or three batches; a second
    run resumes from the cursors. Each kind's statements run through the binlog once the copy is done; the source
    goes read-only, the applier catches up, and each table is compared."""
    db = "anykey_load"
    sql(servers.source, "CREATE DATABASE %s" % quote_ident(db))
    try:
        for kind in KINDS:
            kind.create(servers.source, db, [kind.value(i) for i in range(ROWS)] + list(kind.fixed))
        moved = LoadedMove()
        spec = servers.source.spec("app")
        load = Load(lambda _index: ServerSession(spec), [KeyMix(db, seed, moved.written) for seed in (1, 2, 3)], per_second=300)
        config = move_config(servers, db, tmp_path_factory.mktemp("anykey") / "state",
                             copy={"batch_rows": 20, "concurrency": len(KINDS)}, apply={"batch_events": 40})
        stopper = _StopMidCopy(len(KINDS))
        first = FerryThread(config, copy_hook=stopper)
        try:
            assert stopper.all_held.wait(60), "not every table reached its third batch: %r" % (first.error or stopper.batch_ends)
            first.stop.set()
        finally:
            stopper.release.set()
            first.finish()
        moved.stopped_at = _cursors(servers, first.config.name)
        moved.batch_ends = {name: [encode_key(key) for key in ends] for name, ends in stopper.batch_ends.items()}
        ferry = FerryThread(config)
        try:
            try:
                wait_caught_up(servers, ferry.config.name, alive=_watched(ferry))
                # The load goes on while the applier tails, until it has written to every table a fair number of times.
                until(lambda: len(moved.written) == len(KINDS) and min(moved.written.values()) >= 30, "the load to write to every table")
                with root_session(servers.source) as conn:
                    for kind in KINDS:
                        for statement, rows in kind.statements:
                            changed = execute(conn, statement.format(t=quote_table(db, kind.name)))
                            assert changed == rows, "%s changed %d rows, not %d" % (statement, changed, rows)
            finally:  # DESIGN step 4: the source read-only, the app's writes end, the applier catches up
                sql(servers.source, "SET GLOBAL read_only = ON")
                load.finish()
            wait_caught_up(servers, ferry.config.name, alive=_watched(ferry))
            moved.inline = {result.table.name: result for result in _verify(servers, ferry.config.name, method="inline").tables}
        finally:
            sql(servers.source, "SET GLOBAL read_only = OFF")
            ferry.finish()
        moved.differences = {kind.name: difference(servers, db, kind.name) for kind in KINDS}
        yield moved
    finally:
        for server in (servers.source, servers.target):
            sql(server, "DROP DATABASE IF EXISTS %s" % quote_ident(db))


@pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])
def test_a_stopped_copy_records_the_exact_key_its_last_batch_ended_at(loaded_move, kind):
    """The checkpoint of a table copied in part is the key of the last row of a batch, as the source returned it."""
    last_key, done, copied = loaded_move.stopped_at[kind.name]
    assert not done and copied > 0, loaded_move.stopped_at[kind.name]
    ended = loaded_move.batch_ends[kind.name]
    assert (last_key.decode() if isinstance(last_key, bytes) else last_key) in ended, (last_key, ended)


@pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])
def test_inline_verification_of_the_moved_table_finds_it_equal(loaded_move, kind):
    """Inline verification (the batch hashes of the copy and the dirty set the applier keeps, by key) finds no
    difference in a table that is exact, whatever its key."""
    result = loaded_move.inline[kind.name]
    assert not result.mismatches and not result.truncated, [m.as_dict() for m in result.mismatches]
    assert result.method == "inline", (result.method, result.note)


@pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])
def test_copy_and_apply_under_load_end_exact(loaded_move, kind):
    """Each kind's table is the same bytes on both sides, after inserts, updates, deletes and key changes (the kind's
    own: case only, accents, trailing spaces, ...) during the copy and after it."""
    assert loaded_move.written.get(kind.name, 0) >= 20, "the load hardly wrote to %s: %r" % (kind.name, loaded_move.written)
    assert loaded_move.differences[kind.name] is None, loaded_move.differences[kind.name]


REFUSED = {
    "nullable_unique_only": "(k INT NULL, v INT, UNIQUE KEY (k))",
    "no_key": "(k INT NOT NULL, v INT)",
    "float_pk": "(k FLOAT NOT NULL PRIMARY KEY, v INT)",
    "double_in_composite_pk": "(a INT NOT NULL, d DOUBLE NOT NULL, PRIMARY KEY (a, d))",
    "double_unique_no_pk": "(k DOUBLE NOT NULL, UNIQUE KEY (k))",
    "prefix_pk": "(k VARCHAR(100) NOT NULL, PRIMARY KEY (k(10)))",
    "prefix_unique_no_pk": "(k VARCHAR(100) NOT NULL, UNIQUE KEY (k(10)))",
    "blob_prefix_pk": "(k BLOB NOT NULL, PRIMARY KEY (k(16)))",
    "enum_pk": "(k ENUM('a', 'b') NOT NULL PRIMARY KEY)",
    "bit_pk": "(k BIT(8) NOT NULL PRIMARY KEY)",
}

#: The refusals that must say to add a key: the table has none the copy can use.
WITHOUT_A_KEY = ("nullable_unique_only", "no_key")


@pytest.mark.parametrize("shape", sorted(REFUSED))
def test_a_table_without_a_usable_key_is_refused_naming_it_before_anything_is_written(servers, db, tmp_path, shape):
    sql(servers.source, "CREATE TABLE %s %s" % (quote_table(db, "t"), REFUSED[shape]))
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
    ferry.thread.join(60)
    assert not ferry.thread.is_alive(), "the move of an unusable table did not stop"
    error = ferry.error
    assert isinstance(error, DbferryError), repr(error)
    assert "%s.t" % db in str(error) and error.fix, str(error)
    if shape in WITHOUT_A_KEY:
        assert "add" in str(error).lower() and "key" in str(error).lower(), str(error)
    with root_session(servers.target) as conn:
        assert not fetch_all(conn, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (db,)), "the target was written"


# ---------------------------------------------------------------------------
# 2. kill -9 in the middle of a table, and the restart resumes from the cursor


def test_kill_9_in_the_middle_of_a_composite_text_key_resumes_at_the_cursor(servers, db, tmp_path):
    """`dbferry run` is killed once a hundred rows of a (tenant, name utf8mb4_general_ci) table are copied, in
    batches of 5. The cursor is the exact last key copied (JSON text, the name's bytes as the source holds them), the
    target holds exactly the rows up to it; rows change while the agent is down; the restart copies on from the cursor
    (rows_copied ends at the table's row count, not above it) and the target ends equal to the source."""
    kind = next(k for k in KINDS if k.name == "composite_tenant_name")
    table = quote_table(db, kind.name)
    total = 1500
    kind.create(servers.source, db, [kind.value(i) for i in range(total)])
    data = move_config(servers, db, tmp_path / "state", copy={"batch_rows": 5, "concurrency": 1, "read_ahead": 0, "writers": 1})
    config_path, log_path = write_config(tmp_path, data), tmp_path / "run.log"
    proc = start_cli(config_path, log_path)
    try:
        deadline = time.monotonic() + 60
        while _cursors(servers, data["name"]).get(kind.name, (None, 0, 0))[2] < 100:
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        last_key, done, copied = _cursors(servers, data["name"])[kind.name]
        assert not done and 100 <= copied < total, "the copy was not killed in the middle of the table: %r" % ((last_key, done, copied),)
        tenant, name = json.loads(last_key)
        with root_session(servers.source) as conn:
            assert fetch_value(conn, "SELECT COUNT(*) FROM %s WHERE tenant = %%s AND BINARY name = %%s" % table, (tenant, name)) == 1, (
                "the cursor %r is not a key the source holds, byte for byte" % last_key)
            up_to = fetch_value(conn, "SELECT COUNT(*) FROM %s WHERE (tenant, name) <= (%%s, %%s)" % table, (tenant, name))
        with root_session(servers.target) as conn:
            on_target = fetch_value(conn, "SELECT COUNT(*) FROM %s WHERE (tenant, name) <= (%%s, %%s)" % table, (tenant, name))
        assert copied == up_to == on_target, "cursor %r: rows_copied %s, source rows up to it %s, target rows up to it %s" % (
            last_key, copied, up_to, on_target)
        # While the agent is down: a case-only key change behind the cursor (the first key), the last row (ahead of it)
        # deleted, a row inserted before the first key. The copy counts none of them; the binlog brings them.
        with root_session(servers.source) as conn:
            assert execute(conn, "UPDATE %s SET name = IF(BINARY name = BINARY LOWER(name), UPPER(name), LOWER(name)), v = -1 "
                                 "ORDER BY tenant, name LIMIT 1" % table) == 1
            assert execute(conn, "DELETE FROM %s ORDER BY tenant DESC, name DESC LIMIT 1" % table) == 1
            assert execute(conn, "INSERT INTO %s (v, tenant, name, s) VALUES (7, -3, '', 'new')" % table) == 1
        proc = start_cli(config_path, log_path)

        def alive() -> None:
            assert proc.poll() is None, log_path.read_text()[-3000:]

        wait_caught_up(servers, data["name"], alive=alive)
        assert _cursors(servers, data["name"])[kind.name][1:] == (1, total - 1), "the restart did not copy on from the cursor"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, log_path.read_text()[-3000:]
    assert difference(servers, db, kind.name) is None, difference(servers, db, kind.name)


# ---------------------------------------------------------------------------
# 3. Checksum verification finds a planted difference, by key


def _keyed(key: Any) -> tuple:
    """A mismatch's key as a tuple of the key's values, however the report gives a single column's."""
    return tuple(key) if isinstance(key, (tuple, list)) else (key,)


def test_checksum_verification_names_planted_differences_by_text_and_composite_key(servers, db, tmp_path):
    """Rows changed on the target behind the move's back, in a VARCHAR utf8mb4_general_ci key table and a (tenant,
    name) one, compared in chunks of 40 rows: a changed value, a case-only change of a key (the same key to the
    collation, other bytes), a deleted row and a row beyond the source's last key are each named by their key."""
    text = next(k for k in KINDS if k.name == "varchar_ci")
    composite = next(k for k in KINDS if k.name == "composite_tenant_name")
    for kind in (text, composite):
        kind.create(servers.source, db, [kind.value(i) for i in range(ROWS)])
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
    try:
        wait_caught_up(servers, ferry.config.name, alive=_watched(ferry))
        changed, recased = text.value(100), text.value(60)  # 'én100' (accented) and 'n060'
        gone, differs = composite.value(50), composite.value(137)
        sql(servers.target,
            "UPDATE %s SET v = v + 1 WHERE %s" % (quote_table(db, text.name), text.where(changed)),
            "UPDATE %s SET k = UPPER(k) WHERE %s" % (quote_table(db, text.name), text.where(recased)),
            "DELETE FROM %s WHERE %s" % (quote_table(db, composite.name), composite.where(gone)),
            "UPDATE %s SET s = 'planted' WHERE %s" % (quote_table(db, composite.name), composite.where(differs)),
            "INSERT INTO %s (v, tenant, name, s) VALUES (0, 99, 'zz', 'only on the target')" % quote_table(db, composite.name))
        report = _verify(servers, ferry.config.name, chunk_rows=40)
    finally:
        ferry.finish()
    found = {result.table.name: sorted((_keyed(m.key), m.kind, tuple(m.columns)) for m in result.mismatches) for result in report.tables}
    assert found[composite.name] == sorted([(gone, verify.MISSING, ()), (differs, verify.DIFFERS, ("s",)),
                                            ((99, "zz"), verify.EXTRA, ())]), found[composite.name]
    text_found = found[text.name]
    assert (changed, verify.DIFFERS, ("v",)) in text_found, text_found
    # The re-cased key: its bytes differ, whether the report calls it a changed key column or a missing and an extra row.
    recased_found = [m for m in text_found if m[0][0].lower() == recased[0].lower()]
    assert recased_found and all(m[1] != verify.DIFFERS or m[2] == ("k",) for m in recased_found), text_found
    assert len(text_found) == 1 + len(recased_found), text_found
    message = report.failure_message(shown=10)
    for shown in ("%s.%s" % (db, text.name), "%s.%s" % (db, composite.name), changed[0], "zz", gone[1]):
        assert shown in message, (shown, message)


# ---------------------------------------------------------------------------
# 4. DESIGN step 2's race with a composite key: a write between the copier's read and its write


COMPOSITE_RACES = {
    "update_in_batch": ("UPDATE {t} SET v = v + 100 WHERE a = 1 AND b = 'c'", True),
    "delete_in_batch": ("DELETE FROM {t} WHERE a = 1 AND b = 'b'", True),
    "insert_into_gap_in_batch": ("INSERT INTO {t} VALUES (1, 'bb', 7)", True),
    "case_only_key_change_in_batch": ("UPDATE {t} SET b = 'C' WHERE a = 1 AND b = 'c'", True),
    "key_change_out_of_batch": ("UPDATE {t} SET a = 9 WHERE a = 1 AND b = 'd'", True),
    "key_change_into_batch": ("UPDATE {t} SET a = 1, b = 'bc' WHERE a = 2 AND b = 'e'", True),
    "write_to_a_later_batch": ("UPDATE {t} SET v = -1 WHERE a = 2 AND b = 'd'", False),
}


def _as_app(servers: Servers, statement: str) -> None:
    conn = connect(servers.source.spec("app"))
    try:
        execute(conn, statement)
    finally:
        conn.close()


@pytest.mark.parametrize("race", sorted(COMPOSITE_RACES))
def test_race_between_read_and_write_of_a_composite_key_batch(servers, db, tmp_path, race):
    """Ten rows keyed (a INT, b VARCHAR general_ci) copied in batches of five, one writer, no read-ahead: while the
    first batch is held between its read and its write, a write to its rows or gaps waits for its locks, a write to
    a later batch does not; the copy hands over keys as tuples, and the target ends equal to the source."""
    table = quote_table(db, "t")
    statement, blocks = COMPOSITE_RACES[race]
    sql(servers.source, "CREATE TABLE %s (a INT NOT NULL, b %s NOT NULL, v INT, PRIMARY KEY (a, b))" % (table, _CI),
        "INSERT INTO %s VALUES %s" % (table, ", ".join("(%d, '%s', %d)" % (a, b, a * 10) for a in (1, 2) for b in "abcde")))
    raced: dict[str, Any] = {}
    racing = ThreadPoolExecutor(max_workers=1)

    def hook(_table, rows):
        if raced:
            return
        raced["keys"] = [key for key, _literal in rows]
        raced["racer"] = racing.submit(_as_app, servers, statement.format(t=table))
        # Does the write wait for the copier's locks while it holds them?
        raced["blocked"] = bool(wait([raced["racer"]], timeout=0.5).not_done)

    ferry = FerryThread(move_config(servers, db, tmp_path / "state", copy={"batch_rows": 5, "concurrency": 1, "read_ahead": 0, "writers": 1}),
                        copy_hook=hook)
    try:
        wait_caught_up(servers, ferry.config.name, alive=_watched(ferry))
        raced["racer"].result(30)
        wait_caught_up(servers, ferry.config.name, alive=_watched(ferry))
    finally:
        ferry.finish()
        racing.shutdown()
    assert raced["keys"] == [(1, b) for b in "abcde"], raced["keys"]
    assert raced["blocked"] == blocks, "the racing write %s for the held batch's locks" % ("did not wait" if blocks else "waited")
    assert difference(servers, db, "t") is None, difference(servers, db, "t")


# ---------------------------------------------------------------------------
# 5. The copier's next batch is an index range on a composite key


def _copier_of_the_move(servers, db, tmp_path, monkeypatch) -> TableCopier:
    """The TableCopier of a move of ``db`` (its one table), once the move has caught up."""
    copiers: list[TableCopier] = []
    made = TableCopier.__init__

    def record(self, *args, **kwargs):
        made(self, *args, **kwargs)
        copiers.append(self)

    monkeypatch.setattr(TableCopier, "__init__", record)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", copy={"batch_rows": 1000}))
    try:
        wait_caught_up(servers, ferry.config.name, alive=_watched(ferry))
    finally:
        ferry.finish()
    return copiers[0]


def _plan(servers, statement: str, args: tuple) -> list[dict]:
    with root_session(servers.source) as conn, conn.cursor() as cur:
        cur.execute("EXPLAIN " + statement, args)
        return [dict(zip([c[0] for c in cur.description], row)) for row in cur.fetchall()]


def test_the_next_batch_of_a_composite_key_is_a_range_of_the_primary_key(servers, db, tmp_path, monkeypatch):
    """EXPLAIN of the copier's statement for the batch after (25, 25), on 5,000 rows keyed (a, b), with LIMIT 100 and
    the copier's lock clause:
    a range of the primary key read in key order (no filesort), not a scan of the table. Every after-value is 25,
    so the statement's arguments need not be laid out here as the copier lays them out."""
    table = quote_table(db, "t")
    sql(servers.source, "CREATE TABLE %s (a INT NOT NULL, b INT NOT NULL, v INT, PRIMARY KEY (a, b))" % table,
        "INSERT INTO %s SELECT seq DIV 100, seq MOD 100, seq FROM %s" % (table, quote_table(db, "seq_0_to_4999")), "ANALYZE TABLE %s" % table)
    copier = _copier_of_the_move(servers, db, tmp_path, monkeypatch)
    statement = copier.next_sql
    assert statement.endswith("LIMIT "), statement
    plan = _plan(servers, statement + "100" + copier.lock_clause, (25,) * statement.count("%s"))
    assert len(plan) == 1 and plan[0]["type"] == "range" and plan[0]["key"] == "PRIMARY", plan
    assert "filesort" not in (plan[0]["Extra"] or ""), plan


def test_the_first_batch_of_a_secondary_unique_key_reads_its_index_not_the_whole_table(servers, db, tmp_path, monkeypatch):
    """A table whose primary key cannot be the key (DOUBLE), paged by its unique key, a secondary index: its first batch
    (ORDER BY the key, no WHERE) is read from the key's index, in its order; left to itself MariaDB scanned and sorted
    all 20,000 rows, share-locking every one of them until the batch was written."""
    table = quote_table(db, "t")
    sql(servers.source, "CREATE TABLE %s (f DOUBLE PRIMARY KEY, code VARCHAR(32) NOT NULL, v INT, UNIQUE KEY u_code (code))" % table,
        "INSERT INTO %s SELECT seq / 3, MD5(seq), seq FROM %s" % (table, quote_table(db, "seq_1_to_20000")), "ANALYZE TABLE %s" % table)
    copier = _copier_of_the_move(servers, db, tmp_path, monkeypatch)
    for statement, args in ((copier.first_sql, ()), (copier.next_sql, ("8",))):
        plan = _plan(servers, statement + "100" + copier.lock_clause, args)
        assert len(plan) == 1 and plan[0]["key"] == "u_code" and plan[0]["type"] != "ALL", plan
        assert "filesort" not in (plan[0]["Extra"] or ""), plan
