"""Races of an online schema change on a real MariaDB sandbox: writes at the exact moment the review found a row lost or a
false stop (a chunk_hook, or the applier's hook, lets the test write there)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from integration_support import root_session, until
from osc_support import alter_options

from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import parse_alter_config
from ansible_collections.dbferry.mysql.plugins.module_utils.config.tunables import Tunables
from ansible_collections.dbferry.mysql.plugins.module_utils.controls.throttle import Throttle
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import state
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.applier import apply_binlog
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.tables import MovedTable
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.plan import alter_name
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.runner import _AppliedKeys, engine_config
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import connect, execute, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.server.flavor import detect_flavor


def test_every_transaction_of_a_batch_reports_its_keys(servers: Any, db: str, tmp_path: Path) -> None:
    """Finding 1: the applier commits several transactions as one batch; the keys each of them changed are all "written
    since the mark" (the verification compares them again), not only the batch's last transaction's."""
    with root_session(servers.source) as conn:
        for table in ("a", "_a_gho"):
            execute(conn, "CREATE TABLE %s (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB" % quote_table(db, table))
            execute(conn, "INSERT INTO %s VALUES %s" % (quote_table(db, table), ", ".join("(%d, 0)" % i for i in range(1, 61))))
        flavor = detect_flavor(conn)
        start = fetch_value(conn, flavor.gtid_position_sql)
    config = engine_config(parse_alter_config(alter_options(servers, db, "a", "ADD COLUMN w INT", tmp_path, dml_batch_size=100)),
                           alter_name(db, "a"))
    table = MovedTable(db, "a", db, "_a_gho", ("id", "v"), "id")
    writer = connect(servers.source.spec("root"), autocommit=False)
    try:
        state.ensure_schema(writer)
        state.create(writer, config.name, config.digest, [table])
        state.start(writer, config.name, start)
        writer.commit()
    finally:
        writer.close()
    held = threading.Event()
    release = threading.Event()

    def hold_first(_batch: list) -> None:  # the first batch waits: the 60 updates behind it gather into few batches
        if not held.is_set():
            held.set()
            release.wait(30)

    applied = _AppliedKeys("id")
    halt = threading.Event()
    thread = threading.Thread(target=apply_binlog, args=(config, flavor, [table], start, applied.applied, Throttle(), Tunables.of(config), halt),
                              kwargs={"hook": hold_first, "record_empty": False}, daemon=True)
    thread.start()
    try:
        with root_session(servers.source) as conn:
            for key in range(1, 61):  # one transaction per row (autocommit)
                execute(conn, "UPDATE %s SET v = v + 1 WHERE id = %d" % (quote_table(db, "a"), key))
            until(held.is_set, "the applier's first batch")
            time.sleep(0.5)  # the rest of the updates reach the preparer while the first batch is held
            release.set()
            applied.wait(fetch_value(conn, flavor.gtid_position_sql), 30, halt)
        assert applied.take_keys() == set(range(1, 61))
    finally:
        release.set()
        halt.set()
        thread.join(30)
