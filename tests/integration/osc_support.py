"""Helpers for online schema change tests: options, a change run in a thread, and the exact comparison of the new table
with the original's rows projected through the column mapping."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Optional

from integration_support import Servers, root_session

from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident, quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import AlterConfig, parse_alter_config
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.runner import AlterResult, run_alter
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all


def alter_options(servers: Servers, db: str, table: str, alter: str, state_dir: Path, **overrides: Any) -> dict[str, Any]:
    """The options of a change of ``db.table`` on the source sandbox, as root over its socket."""
    spec = servers.source.spec("root")
    options: dict[str, Any] = {
        "server": {"user": spec.user, "password": spec.password, "unix_socket": spec.unix_socket},
        "database": db, "table": table, "alter": alter, "chunk_size": 100, "state_dir": str(state_dir),
    }
    options.update(overrides)
    return options


class AlterThread:
    """run_alter in a background thread, as the module runs it in the foreground."""

    def __init__(self, options: dict[str, Any], log_path: Path, **kwargs: Any) -> None:
        self.config: AlterConfig = parse_alter_config(options)
        self.log = EventLog("alter", str(log_path))
        self.stop = threading.Event()
        self.result: Optional[AlterResult] = None
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, kwargs=kwargs, daemon=True)
        self.thread.start()

    def _run(self, **kwargs: Any) -> None:
        try:
            self.result = run_alter(self.config, self.log, stop=self.stop, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - surfaced by finish()  # pylint: disable=broad-exception-caught
            self.error = exc

    def finish(self, timeout: float = 180.0) -> AlterResult:
        """Wait for the change; raise what it raised."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the change did not end within %.0f s" % timeout
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def projected_rows(server: Any, db: str, table: str, columns: list[str], key: str) -> list[tuple]:
    """``columns`` of every row of ``db.table`` in ``key`` order, as PyMySQL reads them (a value kept through a type
    widening reads the same: 7 as INT or BIGINT, '1.50' as DECIMAL(5,2) or DECIMAL(9,2), text in any length)."""
    with root_session(server) as conn:
        return [tuple(row) for row in fetch_all(conn, "SELECT %s FROM %s ORDER BY %s" % (
            ", ".join(quote_ident(c) for c in columns), quote_table(db, table), quote_ident(key)))]


def assert_projection(server: Any, db: str, expected: list[tuple], table: str, mapping: dict[str, str], key: str) -> int:
    """The new ``db.table`` holds exactly ``expected`` (the original's rows projected on ``mapping``'s keys, in key order)
    in the mapped columns; returns the number of rows compared."""
    new_rows = projected_rows(server, db, table, list(mapping.values()), mapping[key])
    if new_rows != expected:
        missing = sorted(set(expected) - set(new_rows))[:5]
        extra = sorted(set(new_rows) - set(expected))[:5]
        raise AssertionError("%s.%s differs from the original's rows through %r: %d expected, %d found; missing %r; unexpected %r" % (
            db, table, mapping, len(expected), len(new_rows), missing, extra))
    return len(new_rows)
