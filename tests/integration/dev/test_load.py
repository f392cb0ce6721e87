"""dev/load.py on a real server: what it writes, pacing, read-only refusals, rollbacks, errors, the mariadb client pipe."""

from __future__ import annotations

import subprocess
import time

import pytest
from integration_support import root_session, sql, until

from ansible_collections.dbferry.mysql.plugins.module_utils.common.private import write_private
from ansible_collections.dbferry.mysql.plugins.module_utils.dev.load import ClientPipe, Load, LoadError, ServerSession, Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all


class Counter:
    """Connection ``index`` of ``step`` inserts keys ``index + 1``, ``index + 1 + step``, ... into ``db``.t, one key a
    transaction: alone, or (every second one) with an UPDATE of the new row in the same transaction, or (every
    ``rollback_every``-th, if given) rolled back."""

    def __init__(self, db: str, index: int, step: int, rollback_every: int = 0) -> None:
        self.db, self.key, self.step, self.rollback_every, self.made = db, index + 1, step, rollback_every, 0

    def next_transaction(self) -> Transaction:
        self.made += 1
        key, self.key = self.key, self.key + self.step
        insert = "INSERT INTO `%s`.t (id) VALUES (%d)" % (self.db, key)
        if self.rollback_every and self.made % self.rollback_every == 0:
            return Transaction((insert,), rollback=True)
        if self.made % 2 == 0:
            return Transaction((insert, "UPDATE `%s`.t SET n = n + 1 WHERE id = %d" % (self.db, key)), rows=2)
        return Transaction((insert,))


def _table(servers, db: str) -> None:
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, n INT NOT NULL DEFAULT 0) ENGINE=InnoDB" % db)


def _rows(servers, db: str) -> tuple[int, int]:
    """(rows, sum of n) of ``db``.t on the source."""
    with root_session(servers.source) as conn:
        rows, total = fetch_all(conn, "SELECT COUNT(*), COALESCE(SUM(n), 0) FROM `%s`.t" % db)[0]
    return int(rows), int(total)


def _sessions(servers):
    spec = servers.source.spec("app")
    return lambda _index: ServerSession(spec)


def test_a_number_of_transactions_shared_by_connections_lone_multi_and_rolled_back(servers, db):
    """transactions=20: each of 3 connections writes its share, 7 (rounded up), and ends. Each made 8 transactions: the
    5th rolled back (not counted, left nothing), the 2nd, 4th, 6th and 8th of two statements (rows 2)."""
    _table(servers, db)
    counts = Load(_sessions(servers), [Counter(db, i, 3, rollback_every=5) for i in range(3)], transactions=20).finish()
    assert (counts.written, counts.rolled_back, counts.rows, counts.refused, counts.conflicts) == (21, 3, 21 + 12, 0, 0)
    assert _rows(servers, db) == (21, 12)


def test_paced_to_the_total_rate(servers, db):
    """per_second is the rate of all connections together, kept on a schedule."""
    _table(servers, db)
    started = time.monotonic()
    load = Load(_sessions(servers), [Counter(db, i, 2) for i in range(2)], per_second=40)
    time.sleep(2.0)
    counts = load.finish()
    seconds = time.monotonic() - started
    assert 40 * seconds * 0.6 <= counts.written <= 40 * seconds + 2, (counts, seconds)


def test_writes_refused_by_read_only_are_counted_and_the_load_goes_on(servers, db):
    """The cutover's read-only window as an application sees it: refused writes, then writes again once it is over."""
    _table(servers, db)
    load = Load(_sessions(servers), [Counter(db, i, 2) for i in range(2)], per_second=200)
    try:
        until(lambda: load.counts.written > 20, "the load to write")
        sql(servers.source, "SET GLOBAL read_only = ON")
        try:
            until(lambda: load.counts.refused > 20, "writes to be refused")
            before, _total = _rows(servers, db)
        finally:
            sql(servers.source, "SET GLOBAL read_only = OFF")
        until(lambda: _rows(servers, db)[0] > before + 20, "the load to write again")
    finally:
        counts = load.finish()
    assert counts.refused > 20 and counts.written == _rows(servers, db)[0]


def test_any_other_error_ends_its_connection_and_finish_raises_it(servers, db):
    """A duplicate key is the mix's mistake, not the server's state: the load does not hide it."""
    _table(servers, db)
    sql(servers.source, "INSERT INTO `%s`.t (id) VALUES (3)" % db)
    load = Load(_sessions(servers), [Counter(db, 0, 1)])
    until(lambda: not load.threads[0].is_alive(), "the connection to end")
    with pytest.raises(LoadError, match="Duplicate entry '3'"):
        load.finish()
    assert load.counts.written == 2 and _rows(servers, db) == (3, 1)


def test_client_pipe_runs_the_transactions_in_a_mariadb_client(servers, db, tmp_path):
    """ClientPipe sessions: the clients ran what the load counted as written (each connection made 19: 4 rolled back,
    5 of two statements), and the rollbacks left nothing."""
    _table(servers, db)
    options = str(tmp_path / "root.cnf")
    write_private(options, "[client]\nuser=root\npassword=%s\nsocket=%s\n" % (servers.source.passwords["root"], servers.source.socket))
    clients = [subprocess.Popen(["mariadb", "--defaults-extra-file=%s" % options, "--batch"], stdin=subprocess.PIPE)  # pylint: disable=consider-using-with
               for _index in range(2)]
    try:
        counts = Load(lambda index: ClientPipe(clients[index].stdin), [Counter(db, i, 2, rollback_every=4) for i in range(2)],
                      transactions=30).finish()
    finally:
        assert [client.wait(60) for client in clients] == [0, 0]
    assert (counts.written, counts.rolled_back, counts.rows) == (30, 8, 30 + 10)
    assert _rows(servers, db) == (30, 10)
