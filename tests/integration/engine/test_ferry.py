"""The ferry engine against real sandboxes: fidelity, the consistency
argument's races, random load, crashes and killed connections.

Every test ends with an exact, bytes-level comparison of source and target.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from typing import Optional

import pytest
from ferry_support import (AppStatement, DmlLoad, FerryThread, applied_state, assert_same, kill_and_restart, make_load_tables, move_config, settle,
                           start_cli, wait_caught_up, write_config)
from integration_support import ROOT, root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import connect, execute, fetch_all
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import state
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.keys import decode_key

TYPES_DDL = """CREATE TABLE `{db}`.types (
  id BIGINT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
  i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  d DECIMAL(65,30), f FLOAT, dbl DOUBLE,
  b1 BIT(1), b13 BIT(13), b64 BIT(64),
  e ENUM('', 'a', 'b c'), st SET('x', 'y', 'z'),
  y YEAR, dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(3),
  c CHAR(10), vc VARCHAR(100), tx TEXT, l1 VARCHAR(200) CHARACTER SET latin1,
  bn BINARY(8), vb VARBINARY(50), bl BLOB, js JSON,
  inv INT INVISIBLE,
  gv BIGINT AS (i + 1) VIRTUAL, gs VARCHAR(120) AS (CONCAT(vc, '!')) STORED
) ENGINE=InnoDB"""

TYPE_COLUMNS = ("id", "ti", "tiu", "si", "siu", "mi", "miu", "i", "iu", "bi", "biu", "d", "f", "dbl", "b1", "b13", "b64", "e", "st",
                "y", "dt", "dtm", "ts", "tm", "c", "vc", "tx", "l1", "bn", "vb", "bl", "js", "inv")

TYPE_ROWS = [
    (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
     "-99999999999999999999999999999999999.999999999999999999999999999999", -3.40282e38, -1.7976931348623157e308,
     b"\x00", b"\x00\x00", b"\x00" * 8, "", "", 1901, "1000-01-01", "1000-01-01 00:00:00.000000", "1970-01-01 00:00:01.000000",
     "-838:59:59.000", "", "", "", "", b"", b"", b"", "[]", -1),
    (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
     "99999999999999999999999999999999999.999999999999999999999999999999", 3.40282e38, 1.7976931348623157e308,
     b"\x01", b"\x1f\xff", b"\xff" * 8, "b c", "x,y,z", 2155, "9999-12-31", "9999-12-31 23:59:59.999999", "2038-01-19 03:14:07.999999",
     "838:59:59.000", "abcdefghij", "x" * 100, "t" * 60000, bytes(range(0x80, 0x100)),  # raw bytes into the latin1 column
     b"ab\x00\x00", b"\x00\xff\x00", bytes(range(256)) * 10, '{"k": [1, 2.5, "\u00fc", null]}', 42),
    (3,) + (None,) * (len(TYPE_COLUMNS) - 1),
    (4, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, "0.000000000000000000000000000001", 1.1, 0.1,
     b"\x01", b"\x00\x05", b"\x80\x00\x00\x00\x00\x00\x00\x01", "a", "x,z", 0, "0000-00-00", "0000-00-00 00:00:00", "0000-00-00 00:00:00",
     "-12:34:56.789", "\u00fc", "\U0001F600 \u2713 \U0001D11E", "\U0001F600" * 100, "caf\u00e9 \u00ff",
     b"\x00" * 8, b"trailing\x00\x00", b"\x00", '{"a": {"b": [true, false]}}', 0),
    (0, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, "1.5", 1.1000003, -0.0, b"\x00", b"\x00\x01", b"\x00" * 7 + b"\x01", "", "y", 2024,
     "2020-00-15", "2024-02-29 12:00:00.5", "2024-03-31 02:30:00.123456", "00:00:00.001", "a ", " b ", "line\nbreak\ttab",
     "x", b"\x00\x00\x00\x00\x00\x00\x00\x01", b"", b"\x00" * 1000, '"just a string"', None),
    (-1, -1, 254, -1, 65534, -1, 16777214, -1, 4294967294, -1, 18446744073709551614, "-0.5", -1.5, 2.2250738585072014e-308,
     b"\x01", b"\x10\x00", b"\x7f" + b"\xff" * 7, "b c", "", 1970, "1970-01-01", "1970-01-01 00:00:00.000001", "1970-01-01 00:00:01.000001",
     "-00:00:00.500", "quote'\"`", "back\\slash", "", "\u00e0\u00e9\u00ee\u00f5\u00fc", b"\xff" * 8, b"'\"\\", b"\x00\x01\x02",
     '{"unicode": "\U0001F600"}', 2147483647),
]


def _insert_types(server, db: str) -> None:
    with root_session(server) as conn:
        placeholders = ", ".join(["%s"] * len(TYPE_COLUMNS))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO `%s`.types (%s) VALUES (%s)" % (db, ", ".join(TYPE_COLUMNS), placeholders), TYPE_ROWS)


def test_every_type_round_trips_through_the_copy(servers, db, tmp_path):
    sql(servers.source, TYPES_DDL.format(db=db))
    _insert_types(servers.source, db)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
    wait_caught_up(servers, ferry.config.name)
    ferry.finish()
    assert assert_same(servers, db) == len(TYPE_ROWS)


def test_every_type_round_trips_through_the_binlog(servers, db, tmp_path):
    """The table is empty when the move starts: every row arrives as binlog events."""
    sql(servers.source, TYPES_DDL.format(db=db))
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
    wait_caught_up(servers, ferry.config.name)
    _insert_types(servers.source, db)
    # updates (one of them changing the key) and a delete go through the binlog too
    sql(servers.source,
        "UPDATE `%s`.types SET vc = 'changed \U0001F600', b64 = b'1010', ts = '2001-02-03 04:05:06.7', tm = '-01:02:03.4' WHERE id = 2" % db,
        "UPDATE `%s`.types SET id = 100 WHERE id = 4" % db,
        "DELETE FROM `%s`.types WHERE id = 3" % db)
    wait_caught_up(servers, ferry.config.name)
    ferry.finish()
    assert assert_same(servers, db) == len(TYPE_ROWS) - 1


EXTENDED_DDL = """CREATE TABLE `{db}`.ext (id INT PRIMARY KEY, pt POINT, g GEOMETRY, ip INET6, ip4 INET4, u UUID) ENGINE=InnoDB"""
EXTENDED_ROWS = ("(%d, POINT(1.5, -2), ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0.5)'), '2001:db8::ff00:42:8329', '10.0.0.%d', "
                 "'123e4567-e89b-12d3-a456-4266554400%02d')")


def test_spatial_and_network_types_round_trip(servers, db, tmp_path):
    """Types outside the classic families: geometry (printed as hex of its stored bytes), INET6, INET4 and UUID (printed as text)."""
    sql(servers.source, EXTENDED_DDL.format(db=db),
        "INSERT INTO `%s`.ext VALUES %s, (0, NULL, NULL, NULL, NULL, NULL)" % (db, ", ".join(EXTENDED_ROWS % (k, k, k) for k in (1, 2))))
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
    wait_caught_up(servers, ferry.config.name)
    sql(servers.source, "INSERT INTO `%s`.ext VALUES %s" % (db, EXTENDED_ROWS % (3, 3, 3)),
        "UPDATE `%s`.ext SET ip = '::1', pt = POINT(0, 0), u = '00000000-0000-0000-0000-000000000001' WHERE id = 1" % db)
    wait_caught_up(servers, ferry.config.name)
    ferry.finish()
    assert assert_same(servers, db) == 4


def test_timestamps_do_not_shift_with_the_process_time_zone(servers, db, tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "America/St_Johns")
    time.tzset()
    try:
        sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, ts TIMESTAMP(6) NULL, dt DATETIME(6))" % db,
            "INSERT INTO `%s`.t VALUES (1, '2024-03-10 06:30:00.25', '2024-03-10 06:30:00.25')" % db)
        ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
        wait_caught_up(servers, ferry.config.name)
        sql(servers.source, "INSERT INTO `%s`.t VALUES (2, '2024-11-03 05:30:00.5', '2024-11-03 05:30:00.5')" % db)
        wait_caught_up(servers, ferry.config.name)
        ferry.finish()
        assert assert_same(servers, db) == 2
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_the_enum_error_value_is_copied_and_applied(servers, db, tmp_path):
    """Legacy data: a non-strict session stored a value that is no label of its ENUM (index 0, read as ''). The
    target's strict session refuses '' for such an ENUM; the move must still carry the row over, copied and changed,
    next to an ENUM that has '' among its labels (index 1, which must stay 1)."""
    table = "`%s`.t" % db
    sql(servers.source, "CREATE TABLE %s (id INT PRIMARY KEY, e ENUM('a','b'), f ENUM('','x'), n INT)" % table)
    with root_session(servers.source) as conn:
        execute(conn, "SET SESSION sql_mode = ''")
        execute(conn, "INSERT INTO %s VALUES (1, 'nope', '', 0), (2, 'a', 'x', 0)" % table)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
    try:
        wait_caught_up(servers, ferry.config.name)
        with root_session(servers.source) as conn:
            execute(conn, "SET SESSION sql_mode = ''")
            execute(conn, "UPDATE %s SET n = n + 1" % table)  # both rows through the binlog, as whole images
            execute(conn, "INSERT INTO %s VALUES (3, 'nope', '', 5)" % table)
        wait_caught_up(servers, ferry.config.name)
    finally:
        ferry.finish()
    assert assert_same(servers, db) == 3
    with root_session(servers.target) as conn:
        assert fetch_all(conn, "SELECT id, e + 0, f + 0, n FROM %s ORDER BY id" % table) == [(1, 0, 1, 1), (2, 1, 2, 1), (3, 0, 1, 5)]


def test_empty_one_row_zero_and_negative_keys_and_rename(servers, db, tmp_path):
    sql(servers.source,
        "CREATE TABLE `%s`.empty (id INT PRIMARY KEY)" % db,
        "CREATE TABLE `%s`.one (id INT PRIMARY KEY, v INT)" % db,
        "INSERT INTO `%s`.one VALUES (0, 1)" % db,
        "CREATE TABLE `%s`.neg (id BIGINT PRIMARY KEY AUTO_INCREMENT, v INT)" % db,
        "INSERT INTO `%s`.neg VALUES (-9223372036854775808, 1), (-5, 2), (0, 3), (9223372036854775807, 4)" % db,
        "CREATE TABLE `%s`.unsig (id BIGINT UNSIGNED PRIMARY KEY, v INT)" % db,
        "INSERT INTO `%s`.unsig VALUES (0, 1), (18446744073709551615, 2), (9223372036854775808, 3)" % db,
        # a % in names must not be taken for a placeholder
        "CREATE TABLE `%s`.`p%%ct` (`id%%s` INT PRIMARY KEY, `c%%d` VARCHAR(10), `f%%` FLOAT)" % db,
        "INSERT INTO `%s`.`p%%ct` VALUES (1, '%%s', 1.1000003), (2, '%%%%', NULL)" % db)
    target_db = db + "_v2"
    config = move_config(servers, db, tmp_path / "state", rename={"databases": {db: target_db}}, copy={"batch_rows": 2, "concurrency": 3})
    try:
        ferry = FerryThread(config)
        wait_caught_up(servers, ferry.config.name)
        sql(servers.source, "INSERT INTO `%s`.empty VALUES (-1)" % db, "DELETE FROM `%s`.neg WHERE id = 0" % db,
            "INSERT INTO `%s`.`p%%ct` VALUES (3, '%%(x)s', 2.2000003)" % db, "UPDATE `%s`.`p%%ct` SET `id%%s` = 4 WHERE `id%%s` = 2" % db,
            "DELETE FROM `%s`.`p%%ct` WHERE `id%%s` = 1" % db)
        wait_caught_up(servers, ferry.config.name)
        ferry.finish()
        assert assert_same(servers, db, target_db) == 1 + 1 + 3 + 3 + 2
    finally:
        sql(servers.target, "DROP DATABASE IF EXISTS `%s`" % target_db)


RACES = {
    "update_in_batch": "UPDATE `{db}`.t SET v = v + 100 WHERE id = 30",
    "delete_in_batch": "DELETE FROM `{db}`.t WHERE id = 20",
    "insert_into_gap_in_batch": "INSERT INTO `{db}`.t VALUES (25, 7)",
    "key_change_out_of_batch": "UPDATE `{db}`.t SET id = 1000 WHERE id = 40",
    "key_change_into_batch": "UPDATE `{db}`.t SET id = 15 WHERE id = 90",
    # not in the held batch: commits at once, after P0 and before its row is copied
    "write_to_a_later_batch": "UPDATE `{db}`.t SET v = -1 WHERE id = 100",
}

#: Races whose write touches only rows the held batch has not locked.
UNBLOCKED = {"write_to_a_later_batch"}


def _race_the_first_batch(servers, db, tmp_path, race: str, read_ahead: int, ready=lambda: True) -> dict:
    """Copy ten rows in batches of five; while the first batch is held between its read and its write
    (once ``ready()``, or after 10 s), run the racing statement; return what happened, after an exact comparison."""
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, v INT)" % db,
        "INSERT INTO `%s`.t VALUES %s" % (db, ", ".join("(%d, %d)" % (k, k) for k in range(10, 101, 10))))
    raced = {}

    def hook(table, rows):
        if raced:
            return
        deadline = time.monotonic() + 10
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.2)  # ready() may read INNODB_TRX, a cache that a reader refreshes only after 0.1 s without reads
        raced["ready"] = ready()
        racer = AppStatement(servers, RACES[race].format(db=db))
        # Does the write wait for the copier's locks while it holds them?
        raced["blocked"] = not racer.done.wait(0.5)
        raced["racer"] = racer

    copy = {"batch_rows": 5, "concurrency": 1, "read_ahead": read_ahead, "writers": 1}
    config = move_config(servers, db, tmp_path / "state", copy=copy)
    ferry = FerryThread(config, copy_hook=hook)
    wait_caught_up(servers, ferry.config.name)
    assert raced["racer"].done.wait(30) and raced["racer"].error is None, raced["racer"].error
    wait_caught_up(servers, ferry.config.name)
    raced["batch_lock_ms"] = ferry.ferry.status.snapshot()["copy_batch_lock_ms"]
    ferry.finish()
    assert_same(servers, db)
    return raced


@pytest.mark.parametrize("race", sorted(RACES))
def test_race_between_read_and_write_of_a_batch(servers, db, tmp_path, race):
    """DESIGN step 2: a write to rows the copier has read waits until the batch is on the target.

    One writer and no read-ahead, so that a batch after the held one is certainly not locked yet.
    """
    raced = _race_the_first_batch(servers, db, tmp_path, race, read_ahead=0)
    if race in UNBLOCKED:
        assert not raced["blocked"], "a write outside the held batch waited"
    else:
        assert raced["blocked"], "the racing write did not wait for the copier's locks"
        # The status tells how long the batch held its locks: the racer's 0.5 s at least, for the held one.
        assert raced["batch_lock_ms"]["batches"] >= 2 and raced["batch_lock_ms"]["max"] >= 500, raced["batch_lock_ms"]


def _locking_ferry_sessions(servers) -> int:
    """Source transactions of the ferry's account that hold row locks now."""
    with root_session(servers.source) as conn:
        return fetch_all(conn, "SELECT COUNT(*) FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p "
                               "ON p.ID = t.trx_mysql_thread_id WHERE p.USER = 'ferry_source' AND t.trx_rows_locked > 0")[0][0]


@pytest.mark.parametrize("race", ["update_in_batch", "insert_into_gap_in_batch", "key_change_into_batch", "write_to_a_later_batch"])
def test_race_with_a_batch_read_ahead(servers, db, tmp_path, race):
    """Read-ahead: while batch 1 is held between its read and its write, batch 2 is read, and locked, in a session of its own.

    The race starts once both batches hold their locks; a write to either
    batch waits until that batch is on the target, and the target ends equal
    to the source.
    """
    raced = _race_the_first_batch(servers, db, tmp_path, race, read_ahead=1, ready=lambda: _locking_ferry_sessions(servers) >= 2)
    assert raced["ready"], "batch 2 was not read ahead while batch 1 was held"
    assert raced["blocked"], "the racing write did not wait for the locks of the batch it touches"


def _waiting_target_writer(servers) -> Optional[int]:
    """The id of a target session of the ferry's account that waits for a row lock, if one does."""
    with root_session(servers.target) as conn:
        rows = fetch_all(conn, "SELECT p.ID FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p "
                               "ON p.ID = t.trx_mysql_thread_id WHERE p.USER = 'ferry_target' AND t.trx_state = 'LOCK WAIT'")
    return rows[0][0] if rows else None


def _target_keys(servers, db: str) -> list[int]:
    with root_session(servers.target) as conn:
        return [key for key, in fetch_all(conn, "SELECT id FROM `%s`.t ORDER BY id" % db)]


def _cursor(servers, move: str) -> tuple:
    with root_session(servers.target) as conn:
        last, done = fetch_all(conn, "SELECT last_key, done FROM _dbferry.cursors WHERE move = %s", (move,))[0]
    return (None if last is None else decode_key(last)[0]), done


def _hold_batch_one_on_the_target(servers, db, tmp_path, writers: int, ready=lambda: True) -> tuple:
    """Twenty rows copied in batches of five by ``writers`` writers without read-ahead, batch 1 held on the target: a test
    session inserts, uncommitted, a row at batch 1's first key just before the batch is handed to a writer, so the
    writer's INSERT waits for that row lock. Returns once it waits (and ``ready()``): the ferry, the waiting writer's
    connection id, and the test session (roll it back to let batch 1 go on)."""
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, v INT)" % db,
        "INSERT INTO `%s`.t VALUES %s" % (db, ", ".join("(%d, %d)" % (k, k) for k in range(10, 201, 10))))
    blocker = connect(servers.target.spec("root"), autocommit=False)
    held = threading.Event()

    def hook(table, rows):
        if not held.is_set():
            execute(blocker, "INSERT INTO `%s`.t VALUES (10, -10)" % db)
            held.set()

    config = move_config(servers, db, tmp_path / "state", copy={"batch_rows": 5, "concurrency": 1, "read_ahead": 0, "writers": writers})
    ferry = FerryThread(config, copy_hook=hook)
    deadline = time.monotonic() + 30
    while (_waiting_target_writer(servers) is None or not ready()) and time.monotonic() < deadline:
        time.sleep(0.2)  # INNODB_TRX is a cache that a reader refreshes only after 0.1 s without reads
    waiting = _waiting_target_writer(servers)
    assert waiting is not None, "batch 1's writer is not waiting for the held row"
    return ferry, waiting, blocker


@pytest.mark.parametrize("held_batch_ends", ["committed", "killed"])
def test_race_with_a_later_batch_committed_first(servers, db, tmp_path, held_batch_ends):
    """Two writers: batch 1 is held on the target (a test session has an uncommitted row at its first key, so
    its INSERT waits) while batch 2 is written and committed by the other writer.

    Until batch 1 commits, the cursor must not claim batch 2 (a restart
    would skip batch 1); batch 2's source locks are gone once it is on
    the target, so a write there does not wait and reaches the target
    through the binlog. Then batch 1 either commits (the cursor moves over
    both) or its session is killed (the copy starts again from the cursor,
    copying batch 2 again); either way the target ends equal to the source.
    """
    ferry, waiting, blocker = _hold_batch_one_on_the_target(servers, db, tmp_path, 2, lambda: len(_target_keys(servers, db)) >= 5)
    try:
        assert _target_keys(servers, db)[:5] == [60, 70, 80, 90, 100], "batch 2 is not on the target"
        assert _cursor(servers, ferry.config.name) == (None, 0), "the cursor claims batch 2 while batch 1 is not committed"
        racer = AppStatement(servers, "UPDATE `%s`.t SET v = -70 WHERE id = 70" % db)
        assert racer.done.wait(10) and racer.error is None, "a write to batch 2, already on the target, waited: %s" % racer.error
        if held_batch_ends == "killed":
            with root_session(servers.target) as conn:
                execute(conn, "KILL CONNECTION %s" % int(waiting))
        blocker.rollback()
        wait_caught_up(servers, ferry.config.name)
        assert _cursor(servers, ferry.config.name) == (200, 1)
    finally:
        blocker.close()
    ferry.finish()
    assert assert_same(servers, db) == 20


def test_a_failed_writer_ends_its_batch_source_locks_at_once(servers, db, tmp_path):
    """One writer, no read-ahead: the writer of batch 1 fails (its target session is killed while it waits for a row
    lock a test session holds). Its source transaction must end at once, so the application's write to a row of the
    batch goes through while the copy is still held up; the copy then starts again from the cursor."""
    ferry, waiting, blocker = _hold_batch_one_on_the_target(servers, db, tmp_path, 1)
    try:
        racer = AppStatement(servers, "UPDATE `%s`.t SET v = -30 WHERE id = 30" % db)
        assert not racer.done.wait(0.5), "the write to batch 1 did not wait for the batch's shared lock"
        with root_session(servers.target) as conn:
            execute(conn, "KILL CONNECTION %s" % int(waiting))
        assert racer.done.wait(10) and racer.error is None, "the failed batch kept its source locks: %s" % racer.error
    finally:
        blocker.rollback()
        blocker.close()
    wait_caught_up(servers, ferry.config.name)
    ferry.finish()
    assert assert_same(servers, db) == 20


def test_race_unique_key_row_copied_behind_a_stale_row(servers, db, tmp_path):
    """A copied row collides on a secondary UNIQUE key with a stale target row whose
    change is still pending in the binlog, so the copy skips it; its events must bring it in.

    Order forced by locks, not timing: while the copier holds batch 1 (row 1, 'x'),
    a transaction takes row 2, then waits for row 1; it moves 'x' from row 1 to
    row 2 once batch 1 is written; batch 2's read of row 2 waits for it and gets
    (2, 'x'), which collides with the target's stale (1, 'x'). The applier is held
    until the copy is done, so the stale row is still there when batch 2 is written.
    """
    sql(servers.source, "CREATE TABLE `%s`.u (id INT PRIMARY KEY, email VARCHAR(20) NOT NULL UNIQUE)" % db,
        "INSERT INTO `%s`.u VALUES (1, 'x'), (2, 'y')" % db)
    release_applier = threading.Event()
    mover = {}

    def move_x(conn_ready: threading.Event) -> None:
        conn = connect(servers.source.spec("app"), autocommit=False)
        try:
            execute(conn, "UPDATE `%s`.u SET email = 'tmp' WHERE id = 2" % db)
            conn_ready.set()
            execute(conn, "UPDATE `%s`.u SET email = 'z' WHERE id = 1" % db)  # waits for batch 1's shared lock
            execute(conn, "UPDATE `%s`.u SET email = 'x' WHERE id = 2" % db)
            conn.commit()
        finally:
            conn.close()

    def copy_hook(table, rows):
        if not mover:
            ready = threading.Event()
            mover["thread"] = threading.Thread(target=move_x, args=(ready,), daemon=True)
            mover["thread"].start()
            assert ready.wait(10)
        else:
            mover["batch2"] = list(rows)

    def apply_hook(batch):
        if any(txn.changes for txn in batch):
            assert release_applier.wait(60)

    copy = {"batch_rows": 1, "concurrency": 1, "read_ahead": 0, "writers": 1}
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", copy=copy), copy_hook=copy_hook, apply_hook=apply_hook)
    deadline = time.monotonic() + 60
    while not applied_state(servers, ferry.config.name)[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mover["batch2"] == [((2,), b"(2,X'78')")], mover.get("batch2")  # (key values, the row as the source printed it)
    release_applier.set()
    wait_caught_up(servers, ferry.config.name)
    ferry.finish()
    assert_same(servers, db)


def test_replaying_every_event_since_the_start_is_harmless(servers, db, tmp_path):
    """DESIGN step 3: rewind the applied position to P0 and apply every event again."""
    make_load_tables(servers, db, 300)
    data = move_config(servers, db, tmp_path / "state")
    ferry = FerryThread(data)
    wait_caught_up(servers, ferry.config.name)
    sql(servers.source,
        "UPDATE `%s`.a SET v = v + 1 WHERE id < 100" % db, "DELETE FROM `%s`.a WHERE id BETWEEN 100 AND 120" % db,
        "UPDATE `%s`.a SET id = id + 10000 WHERE id BETWEEN 200 AND 210" % db, "INSERT INTO `%s`.a VALUES (105, 1, 'back')" % db,
        "DELETE FROM `%s`.b WHERE id > 250" % db, "INSERT INTO `%s`.b VALUES (260, 2, 're-inserted')" % db)
    wait_caught_up(servers, ferry.config.name)
    ferry.finish()
    assert_same(servers, db)
    sql(servers.target, "UPDATE _dbferry.moves SET applied_position = start_position WHERE name = '%s'" % ferry.config.name)
    again = FerryThread(data)
    wait_caught_up(servers, ferry.config.name)
    again.finish()
    # every row change since P0 was applied a second time: 110 updates, 21 deletes,
    # 11 key changes, 1 insert on a; 39 deletes, 1 insert on b
    assert again.ferry.status.applied_changes == 110 + 21 + 11 + 1 + 39 + 1
    assert_same(servers, db)


def test_random_dml_during_the_whole_copy(servers, db, tmp_path):
    """DESIGN steps 1-4 under load: writes from 3 connections during the copy, then read-only, catch-up, exact comparison."""
    make_load_tables(servers, db, 3000)
    load = DmlLoad(servers, db, connections=3, seed=11)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", copy={"batch_rows": 40, "concurrency": 2}))
    try:
        wait_caught_up(servers, ferry.config.name, timeout=180)
        time.sleep(1.0)  # writes keep coming while the applier tails
    finally:
        settle(servers, load, ferry.config.name)
    ferry.finish()
    assert load.statements > 200
    assert assert_same(servers, db) > 5000


def test_kill_9_at_random_moments_then_resume(servers, db, tmp_path):
    """kill -9 of `dbferry run` six times during copy and apply, under load; every restart resumes; nothing lost or doubled."""
    make_load_tables(servers, db, 4000)
    data = move_config(servers, db, tmp_path / "state", copy={"batch_rows": 30, "concurrency": 2}, apply={"batch_events": 20})
    config_path = write_config(tmp_path, data)
    load = DmlLoad(servers, db, connections=2, seed=23)
    rng = random.Random(5)
    log_path = tmp_path / "run.log"
    try:
        proc = kill_and_restart(lambda: start_cli(config_path, log_path), [rng.uniform(0.5, 2.0) for _kill in range(6)], log_path)

        def alive():
            assert proc.poll() is None, log_path.read_text()[-3000:]

        wait_caught_up(servers, data["name"], timeout=180, alive=alive)
    finally:
        settle(servers, load, data["name"], alive=alive)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, log_path.read_text()[-3000:]
    # 8000 rows to start with; the load deletes about as many as it inserts
    assert assert_same(servers, db) > 4000
    events = [json.loads(line)["event"] for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert events.count("run") == 7 and events[-1] == "stopped"


def test_killed_connections_are_reopened(servers, db, tmp_path):
    """KILL every connection of the ferry's users on both servers, repeatedly, while it copies and applies."""
    make_load_tables(servers, db, 3000)
    load = DmlLoad(servers, db, connections=2, seed=31)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", copy={"batch_rows": 30, "concurrency": 2}))
    killed = rounds = 0
    deadline = time.monotonic() + 90
    try:
        # At least five rounds and ten kills: on a busy machine a round can find the ferry between sessions (reconnecting
        # after the last kill, in its backoff), so rounds go on until enough sessions were killed.
        while rounds < 5 or (killed < 10 and time.monotonic() < deadline):
            rounds += 1
            time.sleep(0.6)
            ferry.check()
            for server, user in ((servers.source, "ferry_source"), (servers.target, "ferry_target")):
                with root_session(server) as conn:
                    for (pid,) in fetch_all(conn, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (user,)):
                        try:
                            execute(conn, "KILL %d" % pid)
                            killed += 1
                        except Exception:  # noqa: BLE001 - it may have ended by itself  # pylint: disable=broad-exception-caught
                            pass
        wait_caught_up(servers, ferry.config.name, timeout=180, alive=ferry.check)
    finally:
        settle(servers, load, ferry.config.name, alive=ferry.check)
    ferry.finish()
    assert killed >= 10
    assert_same(servers, db)


def test_a_session_killed_while_the_move_prepares_is_reopened(servers, db, tmp_path, monkeypatch):
    """The target session of prepare() killed by the server just after the start position is recorded (its next read
    gets 2013, as from a DBA's KILL): the move prepares again, resumes its recorded start, and ends exact."""
    make_load_tables(servers, db, 500)
    load = DmlLoad(servers, db, connections=1, seed=41, per_second=100)
    loads = []
    real_load = state.load

    def killed_after_the_start(conn, name):
        loads.append(name)
        if len(loads) == 2:  # the first prepare's read after state.start: its session is killed first
            with root_session(servers.target) as root:
                execute(root, "KILL %d" % conn.thread_id())
        return real_load(conn, name)

    monkeypatch.setattr(state, "load", killed_after_the_start)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
    try:
        wait_caught_up(servers, ferry.config.name, alive=ferry.check)
    finally:
        settle(servers, load, ferry.config.name, alive=ferry.check)
    ferry.finish()
    events = [json.loads(line) for line in (tmp_path / "state" / "ferry.log").read_text().splitlines()]
    names = [event["event"] for event in events]
    assert names.count("prepare_retry") == 1 and names.count("start_position") == 1 and "failed" not in names, names
    assert len(loads) >= 3
    assert assert_same(servers, db) > 400


def test_ddl_on_a_moved_table_stops_the_move(servers, db, tmp_path):
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, v INT)" % db, "INSERT INTO `%s`.t VALUES (1, 1)" % db)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state"))
    wait_caught_up(servers, ferry.config.name)
    sql(servers.source, "ALTER TABLE `%s`.t ADD COLUMN w INT" % db)
    ferry.thread.join(30)
    assert not ferry.thread.is_alive()
    assert isinstance(ferry.error, DbferryError)
    assert "%s.t" % db in str(ferry.error) and "ALTER TABLE" in str(ferry.error)


def test_cli_run_refuses_a_second_engine_and_another_configuration(servers, db, tmp_path):
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY)" % db, "INSERT INTO `%s`.t VALUES (1)" % db)
    data = move_config(servers, db, tmp_path / "state")
    config_path = write_config(tmp_path, data)
    first = start_cli(config_path, tmp_path / "first.log")
    try:
        wait_caught_up(servers, data["name"])
        second = subprocess.run([str(ROOT / "bin" / "dbferry"), "run", config_path], capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode == 2
        assert "move %s is already running (pid %d)" % (data["name"], first.pid) in second.stderr
        status = subprocess.run([str(ROOT / "bin" / "dbferry"), "status", data["name"], "--state-dir", data["state_dir"]],
                                capture_output=True, text=True, timeout=60, check=True)
        snapshot = json.loads(status.stdout)
        assert snapshot["phase"] == "tailing" and snapshot["tables"]["%s.t" % db] == {"estimate": 1, "copied": 1, "done": True}
        assert data["source"]["password"] not in status.stdout
    finally:
        first.send_signal(signal.SIGINT)
        assert first.wait(60) == 0
    other = dict(data, databases={"include": [db, db + "*"]})  # another selection, of the same tables
    proc = subprocess.run([str(ROOT / "bin" / "dbferry"), "run", write_config(tmp_path, other)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 2 and "was started with another configuration" in proc.stderr
    log = (tmp_path / "state" / "ferry.log").read_text()
    assert data["source"]["password"] not in log and data["target"]["password"] not in log
