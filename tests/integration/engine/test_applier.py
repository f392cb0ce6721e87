"""The applier's two threads (applier.py) against a real target: how they end."""

from __future__ import annotations

import threading
from typing import Optional

from ferry_support import move_config
from integration_support import root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.engine import state
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import connect, fetch_all, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.applier import Applier
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.changes import INSERT, RowChange, Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.config.move_config import parse_config
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.tables import MovedTable
from ansible_collections.dbferry.mysql.plugins.module_utils.controls.throttle import Throttle
from ansible_collections.dbferry.mysql.plugins.module_utils.config.tunables import Tunables


class OneInsertThenQuiet:
    """A stream with one transaction, then none: the preparer would poll it for ever if nothing told it to end."""

    def __init__(self, db: str) -> None:
        self.txns = [Transaction("0-1-1", (RowChange(INSERT, db, "missing", None, {"id": 1}),), 0)]

    def next_transaction(self, timeout: float) -> Optional[Transaction]:
        if self.txns:
            return self.txns.pop()
        threading.Event().wait(timeout)
        return None


def test_a_target_error_ends_both_threads_at_once(servers, db, tmp_path):
    """A write the target refuses for good (its table is missing: error 1146, not retried) is raised by run(), and the
    preparer thread ends too, though the stream is quiet and the move was not told to stop."""
    config = parse_config(move_config(servers, db, tmp_path))
    table = MovedTable(db, "missing", db, "missing", ("id",), ("id",))
    applier = Applier(config, [table], lambda batch, changes: None, Throttle(), Tunables.of(config))
    raised: list[BaseException] = []

    def run() -> None:
        try:
            applier.run(OneInsertThenQuiet(db), threading.Event())
        except Exception as exc:  # noqa: BLE001 - looked at below  # pylint: disable=broad-exception-caught
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "the applier did not end within 20 s of a target error"
    assert raised and "%s.missing" % db in str(raised[0]) and "`id` = 1" in str(raised[0]) and raised[0].__cause__.args[0] == 1146, raised
    assert not [t for t in threading.enumerate() if t.name == "apply-preparer"], "the preparer thread still runs"


class TwoInsertsThenAnError:
    """A stream that ends with an error (DDL on a moved table, say) right after two transactions."""

    def __init__(self, db: str) -> None:
        self.txns = [Transaction("0-1-%d" % i, (RowChange(INSERT, db, "t", None, {"id": i}),), 0) for i in (2, 1)]

    def next_transaction(self, timeout: float) -> Optional[Transaction]:
        if self.txns:
            return self.txns.pop()
        raise DbferryError("DDL on moved table t", obj="t", fix="restart")


def test_the_transactions_before_a_stream_error_are_written_first(servers, db, tmp_path):
    """The preparer holds the two transactions in its open batch when the stream fails: they are written, with their
    position, before run() raises the error, so that a restart resumes right at what failed. Without inline verification:
    the state schema here has no dirty set (state.begin_inline makes it), which only an earlier test on the server left."""
    config = parse_config(move_config(servers, db, tmp_path, verify={"inline": False}))
    table = MovedTable(db, "t", db, "t", ("id",), ("id",))
    sql(servers.target, "CREATE DATABASE %s" % quote_ident(db), "CREATE TABLE %s.t (id INT PRIMARY KEY)" % quote_ident(db))
    conn = connect(servers.target.spec("root"), autocommit=False)
    try:
        state.ensure_schema(conn)
        state.create(conn, config.name, config.digest, [table])
        conn.commit()
    finally:
        conn.close()
    applier = Applier(config, [table], lambda batch, changes: None, Throttle(), Tunables.of(config))
    try:
        applier.run(TwoInsertsThenAnError(db), threading.Event())
        raise AssertionError("run() returned instead of raising the stream's error")
    except DbferryError as exc:
        assert "DDL" in str(exc)
    with root_session(servers.target) as target:
        assert [row[0] for row in fetch_all(target, "SELECT id FROM %s.t ORDER BY id" % quote_ident(db))] == [1, 2]
        assert fetch_value(target, "SELECT applied_position FROM _dbferry.moves WHERE name = %s", (config.name,)) == "0-1-2"
        state.drop(target, config.name)
        target.commit()
