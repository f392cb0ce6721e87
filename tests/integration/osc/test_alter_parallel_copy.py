"""An online change copied in key ranges by several streams at once (``copy_concurrency``, osc/parallel_copy.py), on real
sandboxes: under the application's writes it ends exact; killed in the middle of several ranges, each range resumes
from its own cursor; a chunk the server refuses in one range stops every stream, the original intact."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from ferry_support import DmlLoad, make_load_tables
from integration_support import root_session, sql, until
from osc_support import (AlterThread, alter_options, alter_process, alter_runs, assert_projection, kill_process, logged, projected_rows)

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import parse_alter_config
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.keys import decode_key
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.plan import alter_name
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.runner import remove_alter
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all

#: Rows of the changed table (make_load_tables: ``a`` and ``b``, keys from -10); the load writes keys up to this too.
ROWS = 3000
ALL = {"id": "id", "v": "v", "s": "s"}


def _ranges(servers: Any, db: str, table: str = "a") -> list[tuple[int, Any, bool, Any]]:
    """(range_no, cursor, done, end) of each recorded range of the change of ``db.table``, in range order."""
    with root_session(servers.source) as conn:
        rows = fetch_all(conn, "SELECT range_no, last_key, done, range_end FROM _dbferry.cursors WHERE move = %s ORDER BY range_no",
                         (alter_name(db, table),))
    return [(number, decode_key(last), bool(done), decode_key(end)) for number, last, done, end in rows]


def test_three_streams_copy_under_load_and_the_new_table_is_exact(servers: Any, db: str, tmp_path: Path) -> None:
    """Six ranges (two per stream), two streams provably copying at once, the load writing across the copy."""
    make_load_tables(servers, db, ROWS)
    load = DmlLoad(servers, db, connections=2, key_space=ROWS, per_second=100)
    written = load.statements
    together = threading.Barrier(2, timeout=60)
    streams: set[str] = set()
    lock = threading.Lock()

    def hook(_low: Any, _high: Any) -> None:
        """The first chunk of the first two streams waits for the other (both hold no locks here): two stream copy at once."""
        name = threading.current_thread().name
        with lock:
            first = name not in streams
            streams.add(name)
        if first and len(streams) <= 2:
            together.wait()
            until(lambda: load.statements > written + 30, "the load to write during the copy", timeout=60)
        time.sleep(0.01)

    flag = tmp_path / "postpone"
    flag.touch()
    options = alter_options(servers, db, "a", "MODIFY v BIGINT NOT NULL", tmp_path / "state", copy_concurrency=3,
                            postpone_cut_over_flag_file=str(flag))
    run = AlterThread(options, tmp_path / "alter.log", chunk_hook=hook)
    until(lambda: logged(tmp_path / "alter.log", "cut_over_postponed") or not run.thread.is_alive(), "the copy to end", timeout=120)
    assert load.statements > written + 30
    load.finish()
    assert run.thread.is_alive(), run.error
    ranges = _ranges(servers, db)
    ends = [end for _n, _c, _d, end in ranges]
    assert [r[0] for r in ranges] == list(range(6)) and all(done for _n, _c, done, _e in ranges), ranges
    assert ends[-1] is None and ends[:-1] == sorted(ends[:-1]), ranges
    assert len(streams) == 3 and all(name.startswith("osc-copy-") for name in streams), streams
    expected = projected_rows(servers.source, db, "a", list(ALL), "id")
    flag.unlink()
    result = run.finish()
    assert result.changed and result.rows_copied > ROWS // 2
    assert assert_projection(servers.source, db, expected, "a", ALL, "id") == len(expected)


def test_killed_in_the_middle_of_several_ranges_each_resumes_from_its_cursor(servers: Any, db: str, tmp_path: Path) -> None:
    """kill -9 once at least two ranges are under way; the next run copies each range from its recorded cursor on (no
    chunk starts before it) and the change ends exact under the load."""
    make_load_tables(servers, db, ROWS)
    load = DmlLoad(servers, db, connections=2, key_space=ROWS, per_second=100)
    flag = tmp_path / "postpone"
    flag.touch()
    options = alter_options(servers, db, "a", "MODIFY v BIGINT NOT NULL", tmp_path / "state", copy_concurrency=2,
                            postpone_cut_over_flag_file=str(flag))

    def under_way() -> list[tuple[int, Any, bool, Any]]:
        with root_session(servers.source) as conn:
            if not fetch_all(conn, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = '_dbferry' AND TABLE_NAME = 'cursors'"):
                return []
        ranges = _ranges(servers, db)
        starts = [None] + [end for _n, _c, _d, end in ranges[:-1]]
        return [r for r, start in zip(ranges, starts) if r[1] != start and not r[2]]

    proc = alter_process(dict(options, chunk_size=10, nice_ratio=1.0), tmp_path)
    try:
        until(lambda: len(under_way()) >= 2 or proc.poll() is not None, "two ranges to be under way")
        kill_process(proc, tmp_path)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = _ranges(servers, db)
    assert len(killed) == 4 and len([r for r in killed if not r[2]]) >= 2, killed
    starts = [None] + [end for _n, _c, _d, end in killed[:-1]]
    chunks: list[tuple[Any, Any]] = []

    def hook(low: Any, high: Any) -> None:
        chunks.append((low, high))

    log_path = tmp_path / "alter.log"
    run = AlterThread(options, log_path, chunk_hook=hook)
    until(lambda: logged(log_path, "cut_over_postponed") or not run.thread.is_alive(), "the resumed copy to end", timeout=120)
    load.finish()
    assert run.thread.is_alive(), run.error
    assert alter_runs(log_path)[0]["resumed"] and not alter_runs(log_path)[0]["copy_done"]
    for (_number, cursor, done, end), start in zip(killed, starts):
        mine = [(low, high) for low, high in chunks if (start is None or high > start) and (end is None or high <= end)]
        assert not done or not mine, (killed, mine)  # a range done before the kill is not copied again
        if not done:
            assert mine and mine[0][0] == cursor, (killed, mine)  # resumed at its cursor, not at its start
    expected = projected_rows(servers.source, db, "a", list(ALL), "id")
    flag.unlink()
    run.finish()
    assert assert_projection(servers.source, db, expected, "a", ALL, "id") == len(expected)


def test_a_value_refused_in_one_range_stops_every_stream(servers: Any, db: str, tmp_path: Path) -> None:
    """v holds up to 3 * ROWS, which TINYINT cannot: the stream that meets it fails the change naming the column, the
    others stop at their next chunk, and the original is untouched; state: absent removes the ghost."""
    make_load_tables(servers, db, ROWS)
    before = projected_rows(servers.source, db, "a", list(ALL), "id")
    options = alter_options(servers, db, "a", "MODIFY v TINYINT NOT NULL", tmp_path / "state", copy_concurrency=2)
    run = AlterThread(options, tmp_path / "alter.log")
    with pytest.raises(DbferryError) as failed:
        run.finish()
    message = str(failed.value)
    assert "%s.a" % db in message and "column `v`" in message and "Out of range" in message, message
    assert not [t for t in threading.enumerate() if t.name.startswith("osc-copy-")]
    assert projected_rows(servers.source, db, "a", list(ALL), "id") == before
    assert remove_alter(parse_alter_config(options), EventLog("alter"))


def test_ranges_are_cut_on_the_key_the_copy_walks_when_the_change_drops_the_primary_key(servers: Any, db: str, tmp_path: Path) -> None:
    """The new schema replaces the primary key, so the copy walks the unique key on ``email`` the two schemas share: the
    ranges are cut on that key (text bounds), not on the old primary key's integers, and the change ends exact."""
    sql(servers.source,
        "CREATE TABLE `%s`.u (id INT NOT NULL PRIMARY KEY, email VARCHAR(40) NOT NULL, v INT NOT NULL, UNIQUE KEY email (email)) ENGINE=InnoDB" % db,
        "INSERT INTO `%s`.u SELECT seq, CONCAT('user', LPAD(seq * 7919 %% 2003, 5, '0'), '@example.com'), seq FROM `%s`.seq_1_to_2000" % (db, db))
    before = projected_rows(servers.source, db, "u", ["id", "email", "v"], "email")
    options = alter_options(servers, db, "u", "DROP PRIMARY KEY, ADD PRIMARY KEY (id, v)", tmp_path / "state", copy_concurrency=2,
                            ok_to_drop_table=True)
    result = AlterThread(options, tmp_path / "alter.log").finish()
    assert result.changed
    ranges = _ranges(servers, db, "u")
    assert len(ranges) == 4 and all(isinstance(end[0], str) for _n, _c, _d, end in ranges[:-1]), ranges
    assert assert_projection(servers.source, db, before, "u", {"id": "id", "email": "email", "v": "v"}, "email") == 2000
