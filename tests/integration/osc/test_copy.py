"""The copy of an online schema change on a real MariaDB sandbox: the size of its chunks, which the server's pace decides,
stays within its bounds, and the cursor only ever claims rows that are in the ghost, across a stop and a resume."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Optional

import pytest
from integration_support import root_session
from osc_support import AlterThread, alter_options, assert_projection, projected_rows

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import CHUNK_GROWTH, CHUNK_SECONDS
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.copy import MIN_CHUNK_ROWS
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.plan import alter_name
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import connect, execute, fetch_all, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.keys import decode_key

ROWS = 4000
CHUNK_SIZE = 20
#: How long the test's own session holds a row of a chunk: far longer than CHUNK_SECONDS, so that chunk is slow for sure.
HOLD_SECONDS = 0.5
#: Long enough for the run to see its stop (it looks twice a second) before the next chunk.
STOP_SECONDS = 1.0
COLUMNS = {"id": "id", "v": "v", "s": "s"}


def _table(servers: Any, db: str) -> list[tuple]:
    """``a``: keys 1..ROWS, contiguous, so a chunk (low, high] has high - low keys."""
    with root_session(servers.source) as conn:
        execute(conn, "CREATE TABLE %s (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40) NOT NULL) ENGINE=InnoDB" % quote_table(db, "a"))
        execute(conn, "INSERT INTO %s SELECT seq, seq * 7, CONCAT('row ', seq) FROM %s" % (quote_table(db, "a"), quote_table(db, "seq_1_to_%d" % ROWS)))
    return projected_rows(servers.source, db, "a", list(COLUMNS), "id")


def _ranges(chunks: list[tuple[Optional[int], int]]) -> list[int]:
    return [high - (low or 0) for low, high in chunks]


def test_chunks_start_at_chunk_size_stay_within_bounds_and_shrink_after_a_slow_one(servers: Any, db: str, tmp_path: Path) -> None:
    """The first chunk has chunk_size keys; none more than CHUNK_GROWTH times that, none more than twice the one before;
    a chunk held up by a row lock (far longer than CHUNK_SECONDS) makes the next one smaller; the new table is exact."""
    expected = _table(servers, db)
    chunks: list[tuple[Optional[int], int]] = []
    locker = connect(servers.source.spec("root"), autocommit=False)
    held: list[int] = []

    def hook(low: Optional[tuple], high: tuple) -> None:
        chunks.append((None if low is None else low[0], high[0]))
        if len(chunks) == 6:  # a row of this chunk locked by another session for HOLD_SECONDS: the chunk waits for it
            held.append(high[0])
            execute(locker, "SELECT id FROM %s WHERE id = %%s FOR UPDATE" % quote_table(db, "a"), high)
            threading.Timer(HOLD_SECONDS, locker.rollback).start()

    try:
        result = AlterThread(alter_options(servers, db, "a", "MODIFY v BIGINT NOT NULL", tmp_path / "state", chunk_size=CHUNK_SIZE),
                             tmp_path / "alter.log", chunk_hook=hook).finish()
    finally:
        locker.close()
    assert result.changed and held
    sizes = _ranges(chunks)
    assert sizes[0] == CHUNK_SIZE and sum(sizes) == ROWS and chunks[-1][1] == ROWS
    assert all(MIN_CHUNK_ROWS <= size <= CHUNK_GROWTH * CHUNK_SIZE for size in sizes[:-1]), sizes
    assert all(after <= 2 * before for before, after in zip(sizes, sizes[1:])), sizes
    # The held chunk took at least HOLD_SECONDS: the next has at most its keys times CHUNK_SECONDS / HOLD_SECONDS.
    assert sizes[6] <= max(MIN_CHUNK_ROWS, sizes[5] * CHUNK_SECONDS / HOLD_SECONDS) and sizes[6] < sizes[5], sizes
    assert assert_projection(servers.source, db, expected, "a", COLUMNS, "id") == ROWS


def test_the_cursor_claims_only_copied_rows_and_a_stopped_copy_resumes_exact(servers: Any, db: str, tmp_path: Path) -> None:
    """Before every chunk, every row of the original up to the recorded cursor is in the ghost (no writes run: the ghost
    holds exactly the original's rows there). The copy is stopped half-way and a new run resumes it from the cursor,
    starting again at chunk_size, and ends exact."""
    expected = _table(servers, db)
    name = alter_name(db, "a")
    claims: list[int] = []
    resumed_from: list[Optional[int]] = []
    options = alter_options(servers, db, "a", "MODIFY v BIGINT NOT NULL", tmp_path / "state", chunk_size=CHUNK_SIZE)

    def check(low: Optional[tuple], _high: tuple) -> None:
        with root_session(servers.source) as conn:
            recorded = fetch_value(conn, "SELECT last_key FROM _dbferry.cursors WHERE move = %s", (name,))
            if recorded is None:
                return
            assert decode_key(recorded) == low  # the chunk starts right after what is recorded, a key as the server returned it
            cursor = low[0]
            original = fetch_value(conn, "SELECT COUNT(*) FROM %s WHERE id <= %%s" % quote_table(db, "a"), (cursor,))
            copied = fetch_value(conn, "SELECT COUNT(*) FROM %s AS o JOIN %s AS g USING (id) WHERE o.id <= %%s AND g.v = o.v" % (
                quote_table(db, "a"), quote_table(db, "_a_gho")), (cursor,))
            assert copied == original == cursor
            claims.append(cursor)

    def check_then_stop(low: Optional[tuple], high: tuple) -> None:
        check(low, high)
        if claims and claims[-1] > ROWS // 2 and not stopped.stop.is_set():
            stopped.stop.set()
            time.sleep(STOP_SECONDS)  # this chunk goes on, and no other starts

    stopped = AlterThread(options, tmp_path / "alter.log", chunk_hook=check_then_stop)
    with pytest.raises(DbferryError):
        stopped.finish()
    assert claims and ROWS // 2 < claims[-1] < ROWS
    with root_session(servers.source) as conn:
        recorded = fetch_all(conn, "SELECT last_key, done FROM _dbferry.cursors WHERE move = %s", (name,))
    assert len(recorded) == 1 and claims[-1] < decode_key(recorded[0][0])[0] < ROWS and not recorded[0][1]

    def resumed(low: Optional[tuple], high: tuple) -> None:
        if not resumed_from:
            resumed_from.append(None if low is None else low[0])
            assert high[0] - (low[0] if low else 0) == CHUNK_SIZE  # the sizing starts over
        check(low, high)

    result = AlterThread(options, tmp_path / "again.log", chunk_hook=resumed).finish()
    assert result.changed and resumed_from == [decode_key(recorded[0][0])[0]]
    assert assert_projection(servers.source, db, expected, "a", COLUMNS, "id") == ROWS
