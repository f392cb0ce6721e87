"""Part replica: the same backlog drained by dbferry and by MariaDB's own parallel replica (issue 19).

A table of its own, ``bench.backlog`` (``t``'s columns and rows, ``--rows``), filled on the source and, outside the
binlog, the same rows on a third sandbox, a GTID replica of the source (harness.Replica) with
``slave_parallel_threads=4``, ``slave_parallel_mode=optimistic`` and ``log_slave_updates`` (it writes its binlog as
dbferry's target does). One move copies the table to the target; then the three tables are compared (CHECKSUM
TABLE): both followers start from the same rows. For each backlog, the same for both:

  1-row:  0.3 transactions per row (300,000 for 1M) of one row each, apply (a)'s RowMix;
  10-row: a tenth as many transactions of exactly 10 rows each (the same row changes in all).

The agent is stopped and the replica's SQL thread too (STOP SLAVE SQL_THREAD, its IO thread goes on); 4 connections
write the backlog flat out; once the replica's relay log holds the source's last transaction (Gtid_IO_Pos), each
drains it in turn: dbferry from just before a new agent process starts until the target's checkpoint holds the
source's position (as apply (a)), then the replica from START SLAVE SQL_THREAD until its gtid_slave_pos does.
Ratio = the replica's seconds / dbferry's; issue 19's target: >= 1.0x. At the end the three tables are compared again.
"""

from __future__ import annotations

import time
from typing import Any

from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import close_quietly, connect, execute, fetch_all, fetch_value
from harness import DATABASE, FILL_TIMEOUT, REPLICA_TIMEOUT, Agent, Bench, BenchError, Figure, FlatOutWriter, Options, Replica, RowMix, \
    Table, log, narrow_table, number, wait_for

TABLE = "backlog"
WRITERS = 4
COPY_TIMEOUT = 600.0
DRAIN_TIMEOUT = 600.0
#: MariaDB's parallel replication as issue 19 names it; log_slave_updates: the replica binlogs what it applies, as
#: dbferry's target binlogs what the agent writes.
PARALLEL_OPTIONS = ("slave-parallel-threads=4", "slave-parallel-mode=optimistic") + sandbox.REPLICA_OPTIONS
#: Issue 19: dbferry drains a backlog at least as fast as the parallel replica (replica seconds / dbferry seconds).
TARGET_RATIO = 1.0
#: Rows per transaction of each backlog; each has apply (a)'s backlog divided by it in transactions: the same row changes.
BACKLOG_ROWS = (1, 10)


def _fill_replica(replica: Replica, table: Table) -> None:
    """``table`` on the replica with the source's rows (the fill is deterministic), outside the binlog."""
    conn = connect(replica.box.spec("root"), read_timeout=FILL_TIMEOUT)
    try:
        execute(conn, "SET SESSION sql_log_bin = 0")
        execute(conn, "CREATE DATABASE IF NOT EXISTS %s" % DATABASE)
        table.create(conn)
    finally:
        close_quietly(conn)


def _checksums(bench: Bench, replica: Replica, move: Agent) -> dict[str, int]:
    """CHECKSUM TABLE ... EXTENDED of the table on the source, dbferry's target and the replica."""
    def checksum(conn: Any, database: str) -> int:
        return int(fetch_all(conn, "CHECKSUM TABLE `%s`.`%s` EXTENDED" % (database, TABLE))[0][1])

    return {"source": checksum(bench.source_conn, DATABASE), "dbferry": checksum(bench.target_conn, move.target_db),
            "replica": checksum(replica.conn, DATABASE)}


def _same(bench: Bench, replica: Replica, move: Agent, when: str) -> dict[str, int]:
    """The checksums, raising when dbferry's target or the replica differs from the source."""
    sums = _checksums(bench, replica, move)
    if len(set(sums.values())) != 1:
        raise BenchError("%s, %s.%s differs: %s" % (when, DATABASE, TABLE, sums))
    return sums


def _backlog(bench: Bench, replica: Replica, move: Agent, mixes: list[RowMix], rows: int, transactions: int) -> tuple[Figure, dict[str, Any]]:
    """Write ``transactions`` of ``rows`` rows with both followers held, then time each one's drain of them."""
    move.stop()
    execute(replica.conn, "STOP SLAVE SQL_THREAD")
    written = FlatOutWriter(bench, mixes, (rows, rows), limit=transactions).finish()
    final = bench.source_sequence()
    wait_for(lambda: replica.fetched() >= final, REPLICA_TIMEOUT, "the replica's relay log reaching %d" % final,
             lambda: replica.check(sql_thread=False))
    log("backlog of %d %d-row transactions written in %.1f s, in the replica's relay log" % (written.transactions, rows, written.seconds))
    retried = _retried(replica)
    agent_started = move.start()
    agent_ready = time.perf_counter()
    dbferry = wait_for(lambda: move.applied() >= final, DRAIN_TIMEOUT, "move %s applying up to %d" % (move.name, final), move.alive) - agent_started
    replica_started = time.perf_counter()
    execute(replica.conn, "START SLAVE SQL_THREAD")
    native = wait_for(lambda: replica.applied(replica.conn) >= final, DRAIN_TIMEOUT, "the replica applying up to %d" % final,
                      replica.check) - replica_started
    ratio = native / dbferry
    log("%d-row backlog: dbferry %.1f s, parallel replica %.1f s (%.2fx)" % (rows, dbferry, native, ratio))
    data = {"rows_per_transaction": rows, "written": written.as_dict(), "dbferry_seconds": round(dbferry, 2),
            "dbferry_agent_start_seconds": round(agent_ready - agent_started, 2),
            "replica_seconds": round(native, 2), "dbferry_transactions_per_second": round(written.transactions / dbferry),
            "replica_transactions_per_second": round(written.transactions / native),
            "replica_retried_transactions": _retried(replica) - retried, "ratio": round(ratio, 3)}
    figure = Figure("backlog vs parallel replica: %s %d-row txns" % (number(written.transactions), rows),
                    "dbferry %s txn/s (%.1f s)" % (number(written.transactions / dbferry), dbferry),
                    "replica, 4 optimistic threads: %s txn/s (%.1f s)" % (number(written.transactions / native), native),
                    data["ratio"], ">= %.1fx the replica" % TARGET_RATIO, ratio >= TARGET_RATIO)
    return figure, data


def _retried(replica: Replica) -> int:
    """Transactions the replica's workers rolled back and ran again so far (optimistic mode's conflicts)."""
    return int(fetch_value(replica.conn, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                                         "WHERE VARIABLE_NAME = 'SLAVE_RETRIED_TRANSACTIONS'") or 0)


def measure(bench: Bench, options: Options) -> tuple[list[Figure], dict[str, Any]]:
    table = narrow_table(options.rows, TABLE)
    bench.ensure(table)
    replica = Replica(bench, "parallel-replica", PARALLEL_OPTIONS)
    try:
        _fill_replica(replica, table)
        settings = dict(fetch_all(replica.conn, "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE "
                                                "VARIABLE_NAME IN ('SLAVE_PARALLEL_THREADS', 'SLAVE_PARALLEL_MODE', 'LOG_SLAVE_UPDATES')"))
        move = Agent(bench, "vs-replica", [table])
        move.start()
        move.wait_copied(COPY_TIMEOUT)
        before = _same(bench, replica, move, "before the backlogs")
        mixes = [RowMix(table.rows, index, WRITERS, TABLE) for index in range(WRITERS)]
        figures, runs = [], []
        for rows in BACKLOG_ROWS:
            figure, data = _backlog(bench, replica, move, mixes, rows, options.backlog // rows)
            figures.append(figure)
            runs.append(data)
        after = _same(bench, replica, move, "after the backlogs")
        move.remove()
    finally:
        replica.close()
    return figures, {"replica_settings": settings, "checksums_before": before, "checksums_after": after, "backlogs": runs}
