"""One table copied in several key ranges at once (``copy.ranges``, engine/key_ranges.py): the bounds the server
chooses, exact copies under a write load and under racing writes at the ranges' edges, each range resuming at its
own cursor after kill -9, and an earlier version's state taking ranges on (a move's and an online change's).

``copy.range_min_rows`` is 1 in these tests, so that tables of a few thousand rows are cut too.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from ferry_support import (AppStatement, DmlLoad, FerryThread, assert_same, make_load_tables, move_config, settle, start_cli, wait_caught_up,
                           write_config)
from integration_support import Servers, root_session, sql
from osc_support import AlterThread, alter_options, alter_runs, assert_projection, copy_cursor, projected_rows

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.config.move_config import parse_config
from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import state
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.key_ranges import choose_bounds
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.keys import key_for_output
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.tables import read_tables
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import execute, fetch_all

RANGES = {"ranges": 4, "range_min_rows": 1}


def _tables(servers: Servers, db: str, tmp_path: Path) -> dict:
    config = parse_config(move_config(servers, db, tmp_path / "state"))
    with root_session(servers.source) as conn:
        return {t.name: t for t in read_tables(conn, config)}


def _make_key_tables(servers: Servers, db: str) -> None:
    """``i`` (INT key 1..1000), ``c`` (INT, VARCHAR key, 200 rows) and ``x`` (a case-insensitive text key, 100 rows whose
    server order is not Python's)."""
    sql(servers.source,
        "CREATE TABLE `%s`.i (id INT PRIMARY KEY, v INT)" % db,
        "INSERT INTO `{0}`.i SELECT seq, seq FROM `{0}`.seq_1_to_1000".format(db),
        "CREATE TABLE `%s`.c (a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b))" % db,
        "INSERT INTO `{0}`.c SELECT x.seq, CHAR(96 + y.seq), x.seq * y.seq FROM `{0}`.seq_1_to_10 x, `{0}`.seq_1_to_20 y".format(db),
        "CREATE TABLE `%s`.x (k VARCHAR(20) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT)" % db,
        "INSERT INTO `{0}`.x SELECT CONCAT(IF(seq % 2, CHAR(64 + seq % 26 + 1), CHAR(96 + seq % 26 + 1)), seq), seq "
        "FROM `{0}`.seq_1_to_100".format(db))


def _server_order(servers: Servers, db: str, table: str, key: str) -> list[tuple]:
    with root_session(servers.source) as conn:
        return [tuple(row) for row in fetch_all(conn, "SELECT %s FROM `%s`.`%s` ORDER BY %s" % (key, db, table, key))]


def test_bounds_of_integer_composite_and_text_keys(servers, db, tmp_path):
    """A single integer key is cut between MIN and MAX; other keys at the server's n-th key, in the server's order."""
    _make_key_tables(servers, db)
    tables = _tables(servers, db, tmp_path)
    with root_session(servers.source) as conn:
        assert choose_bounds(conn, tables["i"], 4, 1000, 1) == [(250,), (500,), (750,)]
        assert choose_bounds(conn, tables["i"], 4, 1000, 1001) == []  # fewer rows than range_min_rows: one range
        assert choose_bounds(conn, tables["i"], 1, 1000, 1) == []
        composite = choose_bounds(conn, tables["c"], 4, 200, 1)
        text = choose_bounds(conn, tables["x"], 4, 100, 1)
        assert choose_bounds(conn, tables["x"], 4, 800, 1) == []  # the estimate was far too high: the first step is past the end
    ordered = _server_order(servers, db, "c", "a, b")
    assert composite == [ordered[49], ordered[99], ordered[149]]
    ordered = _server_order(servers, db, "x", "k")
    assert text == [ordered[24], ordered[49], ordered[74]]
    assert sorted(ordered) != ordered  # the server's order, which Python's is not: the server chose these


def _cursor_rows(servers: Servers, move: str) -> list[tuple]:
    with root_session(servers.target) as conn:
        return [tuple(row) for row in fetch_all(
            conn, "SELECT source_table, range_no, last_key, range_end, done FROM _dbferry.cursors WHERE move = %s "
                  "ORDER BY source_table, range_no", (move,))]


def _events(log_path: Path) -> list[dict]:
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]


def test_tables_in_ranges_copy_exactly_under_a_write_load_and_show_each_range(servers, db, tmp_path):
    """Four ranges of each table copied at once while three connections write across every range (key changes move
    rows between ranges); the status shows each range's rows, the log each range's end."""
    make_load_tables(servers, db, 6000)
    _make_key_tables(servers, db)
    load = DmlLoad(servers, db, connections=3, seed=41, key_space=6000)
    copy = dict(RANGES, batch_rows=40, concurrency=4)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", copy=copy))
    try:
        wait_caught_up(servers, ferry.config.name, timeout=180)
        time.sleep(0.5)
    finally:
        settle(servers, load, ferry.config.name)
    ferry.finish()
    assert load.statements > 200
    assert assert_same(servers, db) > 12000
    cursors = _cursor_rows(servers, ferry.config.name)
    ranges = {table: [row for row in cursors if row[0] == table] for table in ("a", "b", "c", "i", "x")}
    assert {table: len(rows) for table, rows in ranges.items()} == {"a": 4, "b": 4, "c": 4, "i": 4, "x": 4}
    assert all(done for *_rest, done in cursors)
    assert [json.loads(end) if end else None for _t, _n, _last, end, _done in ranges["i"]] == [[250], [500], [750], None]
    status = json.loads((Path(ferry.config.state_dir) / "status.json").read_text())
    shown = status["tables"]["%s.a" % db]
    assert len(shown["copied_range"]) == 4 and shown["ranges_done"] == 4 and sum(shown["copied_range"]) == shown["copied"]
    assert all(rows > 0 for rows in shown["copied_range"])
    copied = [(e["table"], e["range"]) for e in _events(Path(ferry.config.state_dir) / "ferry.log") if e["event"] == "range_copied"]
    assert sorted(copied) == sorted(("%s.%s" % (db, t), n) for t in ranges for n in range(4))


#: Keys 10, 20, .. 1000: the ranges end at 257, 505 and 752, so range 1's first batch is keys 260 to 300.
EDGE_RACES = {
    "insert_between_the_bound_and_the_range_first_row": "INSERT INTO `{db}`.t VALUES (258, -1)",
    "insert_before_the_bound": "INSERT INTO `{db}`.t VALUES (255, -1)",
    "key_moved_into_the_range_before": "UPDATE `{db}`.t SET id = 5, v = -270 WHERE id = 270",
    "key_moved_into_the_last_range": "UPDATE `{db}`.t SET id = 2000, v = -280 WHERE id = 280",
}


@pytest.mark.parametrize("race", sorted(EDGE_RACES))
def test_race_at_the_edge_of_a_range(servers, db, tmp_path, race):
    """DESIGN step 2 at a range's start: while range 1's first batch is held between its read and its write (the other
    ranges copying meanwhile), a write at the range's edge, or one moving a held row into another range, waits for
    the batch; the end state is exact."""
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, v INT)" % db,
        "INSERT INTO `{0}`.t SELECT seq * 10, seq FROM `{0}`.seq_1_to_100".format(db))
    raced: dict[str, Any] = {}

    def hook(_table, rows):
        if rows[0][0] == (260,) and not raced:
            raced["racer"] = AppStatement(servers, EDGE_RACES[race].format(db=db))
            raced["blocked"] = not raced["racer"].done.wait(0.5)

    copy = dict(RANGES, batch_rows=5, concurrency=4, read_ahead=0, writers=1)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", copy=copy), copy_hook=hook)
    wait_caught_up(servers, ferry.config.name)
    assert raced["racer"].done.wait(30) and raced["racer"].error is None, raced["racer"].error
    wait_caught_up(servers, ferry.config.name)
    ferry.finish()
    assert raced["blocked"], "the racing write did not wait for the held batch's locks"
    assert assert_same(servers, db) == 100 + (1 if race.startswith("insert") else 0)
    assert [json.loads(end) if end else None for *_r, end, _done in _cursor_rows(servers, ferry.config.name)] == [[257], [505], [752], None]


def _ranges(servers: Servers, move: str) -> dict:
    """Source table -> its ranges' cursors, as the target's checkpoints say."""
    with root_session(servers.target) as conn:
        recorded = state.load(conn, move)
    return {} if recorded is None else {table: ranges for (_schema, table), ranges in recorded.ranges.items()}


def _half_done(servers: Servers, move: str) -> list[tuple]:
    """(table, range, cursor) of the ranges begun and not done."""
    return _half_done_at(_ranges(servers, move))


def _half_done_at(ranges: dict) -> list[tuple]:
    return [(table, c.range_no, c.last_key) for table, cursors in sorted(ranges.items()) for c in cursors if c.begun and not c.done]


def _copied_before(ranges: list, key: tuple) -> bool:
    """Whether the checkpoints ``ranges`` (of an integer key) say that the row at ``key`` was copied already: its range
    is done, or its cursor is at or after it."""
    for cursor in ranges:
        if cursor.range_end is None or key <= cursor.range_end:
            return cursor.done or (cursor.last_key is not None and key <= cursor.last_key)
    raise AssertionError("no range holds %r" % (key,))


def test_kill_9_with_several_ranges_half_done_resumes_each_at_its_cursor(servers, db, tmp_path):
    """kill -9 of `dbferry run` under load while several ranges are half copied: the restart copies each range on from
    the cursor the target holds for it (it reads no key its range's checkpoint says is copied), and the end is exact."""
    make_load_tables(servers, db, 20000)
    data = move_config(servers, db, tmp_path / "state", copy=dict(RANGES, batch_rows=20, concurrency=4), apply={"batch_events": 20})
    log_path = tmp_path / "run.log"
    load = DmlLoad(servers, db, connections=2, seed=43, key_space=20000)
    read_again: list = []
    try:
        proc = start_cli(write_config(tmp_path, data), log_path)
        deadline = time.monotonic() + 120
        while len(_half_done(servers, data["name"])) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = _ranges(servers, data["name"])  # what the target holds: the run ended, nothing moves it now
        assert len(_half_done(servers, data["name"])) >= 3
        for cursors in killed_at.values():  # each cursor in its own range
            assert all(c.last_key is None or (c.range_start is None or c.last_key >= c.range_start) and
                       (c.range_end is None or c.last_key <= c.range_end) for c in cursors), cursors

        def hook(table, rows):
            read_again.extend((table.name, key) for key, _row in rows if _copied_before(killed_at[table.name], key))

        again = FerryThread(data, copy_hook=hook)
        wait_caught_up(servers, data["name"], timeout=240)
    finally:
        settle(servers, load, data["name"])
    again.finish()
    assert assert_same(servers, db) > 20000
    assert not read_again, "read again after the restart, though checkpointed: %r" % read_again[:10]
    resumed = {(e["table"], e["range"]): e["resume_after"] for e in _events(Path(again.config.state_dir) / "ferry.log")
               if e["event"] == "copy_table"}
    for table, number, cursor in _half_done_at(killed_at):
        assert resumed[("%s.%s" % (db, table), number)] == key_for_output(cursor), (table, number)


@pytest.fixture
def own_servers(tmp_path: Path) -> Iterator[Servers]:
    """A source and target of their own: the test gives ``_dbferry`` an earlier version's layout, which the shared
    sandboxes' other moves must not meet."""
    base = str(tmp_path / "sandboxes")
    source, target = sandbox.up(base, ["source", "target"])
    try:
        yield Servers(source, target, base)
    finally:
        sandbox.down(base)


#: What an earlier version's ``_dbferry`` lacks: the cursors and inline hashes of ranges.
_BEFORE_RANGES = (
    "ALTER TABLE _dbferry.cursors DROP PRIMARY KEY, DROP COLUMN range_no, DROP COLUMN range_end, "
    "ADD PRIMARY KEY (move, source_schema, source_table)",
    "ALTER TABLE _dbferry.inline_tables DROP PRIMARY KEY, DROP COLUMN range_no, ADD PRIMARY KEY (move, source_schema, source_table)",
)


def test_a_move_of_an_earlier_version_without_ranges_resumes_after_the_upgrade(own_servers, tmp_path):
    """A move stopped mid-copy whose ``_dbferry`` has the layout of the version before ranges: the state reads back
    as one range a table, the resume upgrades the layout (Ferry.prepare) and copies on from the recorded cursors,
    exactly, with inline verification covering the tables."""
    servers, db = own_servers, "shop"
    sql(servers.source, "CREATE DATABASE shop")
    make_load_tables(servers, db, 3000)
    held = threading.Event()

    def hook(_table, rows):
        if rows[0][0] > (1000,):
            held.wait(60)  # the copy stops past key 1000 until the stop below

    data = move_config(servers, db, tmp_path / "state", copy=dict(batch_rows=50, concurrency=2, ranges=1))
    ferry = FerryThread(data, copy_hook=hook)
    deadline = time.monotonic() + 60
    while len(_half_done(servers, ferry.config.name)) < 2:
        assert time.monotonic() < deadline and ferry.thread.is_alive(), ferry.error
        time.sleep(0.05)
    ferry.stop.set()
    held.set()
    ferry.finish()
    with root_session(servers.target) as conn:
        for statement in _BEFORE_RANGES:
            execute(conn, statement)
        recorded = state.load(conn, ferry.config.name)  # read as it is: reading must not change it
        assert [len(r) for r in recorded.ranges.values()] == [1, 1]
        assert all(c.begun and not c.done for r in recorded.ranges.values() for c in r)
    sql(servers.source, "UPDATE shop.a SET v = -v WHERE id % 7 = 0", "DELETE FROM shop.b WHERE id % 11 = 0")
    again = FerryThread(dict(data, copy=dict(batch_rows=50, concurrency=2, **RANGES)))
    wait_caught_up(servers, again.config.name)
    again.finish()
    assert_same(servers, db)
    with root_session(servers.target) as conn:
        keys = fetch_all(conn, "SELECT TABLE_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS "
                               "WHERE TABLE_SCHEMA = '_dbferry' AND INDEX_NAME = 'PRIMARY' AND TABLE_NAME IN ('cursors', 'inline_tables') "
                               "GROUP BY TABLE_NAME ORDER BY TABLE_NAME")
        assert [tuple(k) for k in keys] == [("cursors", "move,source_schema,source_table,range_no"),
                                            ("inline_tables", "move,source_schema,source_table,range_no")]
        recorded = state.load(conn, again.config.name)
        assert [len(r) for r in recorded.ranges.values()] == [1, 1]  # the bounds of a move are chosen once, at its start
        assert state.inline_state(conn, again.config.name).covered == frozenset({("shop", "a"), ("shop", "b")})


def test_an_online_change_of_an_earlier_version_resumes_after_the_upgrade(servers, db, tmp_path):
    """An online schema change stopped mid-copy, its ``_dbferry.cursors`` (on the changed server) in the layout of the
    version before ranges: the next run upgrades it (the osc runner's resume), copies on from the cursor and swaps."""
    make_load_tables(servers, db, 3000)
    expected = projected_rows(servers.source, db, "a", ["id", "v", "s"], "id")
    panic = tmp_path / "panic"

    def hook(low, _high):
        if low is not None and low[0] > 1000 and not panic.exists():
            panic.touch()
            time.sleep(1.0)  # twice the throttle checks' interval: the next chunk does not start

    options = alter_options(servers, db, "a", "ADD COLUMN note TEXT", tmp_path / "state")
    with pytest.raises(DbferryError, match="panic flag file"):
        AlterThread(dict(options, panic_flag_file=str(panic)), tmp_path / "alter.log", chunk_hook=hook).finish()
    last_key, done = copy_cursor(servers, db, "a")
    assert last_key > (1000,) and not done
    with root_session(servers.source) as conn:  # every change recorded on this server is one range: the old layout holds them
        execute(conn, _BEFORE_RANGES[0])
    result = AlterThread(options, tmp_path / "alter.log").finish()
    assert result.added == ["note"]
    resumed = alter_runs(tmp_path / "alter.log")[-1]
    assert resumed["resumed"] and resumed["copy_after"] == key_for_output(last_key)
    assert assert_projection(servers.source, db, expected, "a", {"id": "id", "v": "v", "s": "s"}, "id") == len(expected)
    with root_session(servers.source) as conn:
        assert fetch_all(conn, "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '_dbferry' AND TABLE_NAME = 'cursors' "
                               "AND COLUMN_NAME = 'range_no'")
