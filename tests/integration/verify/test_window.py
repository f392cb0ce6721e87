"""The read-only window stays short by default (verify/window.py, verify/budget.py, cutover/switchover.py), against real
sandboxes: after a rehearsal without inline, a checksum pass while the source is writable lets inline vouch for the
table again, and what changes during that pass is still compared in the window; a window expected over
max_read_only_seconds is refused before the source is touched, and one that runs over it makes the source writable
again, naming the step.
"""

from __future__ import annotations

import threading
import time

from ferry_support import FerryThread, move_config, wait_caught_up
from integration_support import root_session, sql, until

from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.switchover import CutoverStep, ReadOnlyStep, VerifyStep, switch_over
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import state
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.verify import checksum, window

INLINE = {"inline": True}


def _specs(servers) -> tuple[ServerSpec, ServerSpec]:
    return ServerSpec(**servers.source.connection_options("ferry_source")), ServerSpec(**servers.target.connection_options("ferry_target"))


def _small_table(servers, db: str, rows: int = 200) -> None:
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, v INT)" % db,
        "INSERT INTO `%s`.t VALUES %s" % (db, ", ".join("(%d, %d)" % (k, k) for k in range(rows))))


def _found(report: checksum.VerifyReport) -> list[tuple]:
    return [(t.table.name, m.key[0], m.kind) for t in report.tables for m in t.mismatches]


def _tracking(servers, move: str) -> bool:
    """Whether inline tracking goes on up to the move's applied position (a run with inline has begun it)."""
    with root_session(servers.target) as conn:
        recorded = state.inline_state(conn, move)
        return recorded is not None and recorded.current


def _read_only(servers) -> int:
    with root_session(servers.source) as conn:
        return int(fetch_value(conn, "SELECT @@GLOBAL.read_only"))


class _HeldReverifier:
    """The re-verifier's hook: while held, it does not run (a row it would find equal stays dirty)."""

    def __init__(self) -> None:
        self.hold = threading.Event()
        self.held = threading.Event()

    def __call__(self) -> None:
        if self.hold.is_set():
            self.held.set()
            while self.hold.is_set():
                time.sleep(0.05)

    def start(self) -> None:
        self.hold.set()
        assert self.held.wait(30)


def test_after_a_rehearsal_without_inline_a_pass_while_writable_lets_inline_vouch_and_changes_during_it_are_compared(servers, db, tmp_path):
    """The race: the pass compared the table; then (before it records) a source change is applied and the target's row is
    changed behind the move's back, as a wrong apply would. The applier marked the row, so the window finds it."""
    _small_table(servers, db)
    data = move_config(servers, db, tmp_path / "state", verify={"inline": False})
    ferry = FerryThread(data)  # the rehearsal, without inline
    wait_caught_up(servers, ferry.config.name)
    ferry.finish()
    reverifier = _HeldReverifier()
    ferry = FerryThread(dict(data, verify=INLINE), reverify_hook=reverifier)
    source, target = _specs(servers)
    try:
        sql(servers.source, "UPDATE `%s`.t SET v = 7 WHERE id = 9" % db)
        wait_caught_up(servers, ferry.config.name)
        reverifier.start()
        sql(servers.target, "UPDATE `%s`.t SET v = -5 WHERE id = 150" % db)  # a copy error from before tracking began
        before = checksum.verify(source, target, ferry.config.name, method="inline")
        assert before.tables[0].method == "checksum" and "no checksum pass vouched" in before.tables[0].note

        def race():
            sql(servers.source, "UPDATE `%s`.t SET v = 1000 WHERE id = 20" % db)
            wait_caught_up(servers, ferry.config.name)
            sql(servers.target, "UPDATE `%s`.t SET v = 999 WHERE id = 20" % db)

        prepared = window.prepare(source, target, ferry.config.name, hook=race)
        assert prepared.unvouched == {} and prepared.changed
        assert [(m.key, m.kind) for m in prepared.checked[0].mismatches] == [((150,), "differs")]

        report = checksum.verify(source, target, ferry.config.name, method="inline")
        assert report.tables[0].method == "inline" and report.tables[0].rows < 10, report.as_dict()
        assert _found(report) == [("t", 20, "differs"), ("t", 150, "differs")]
    finally:
        reverifier.hold.clear()
        ferry.finish()


def test_a_window_over_the_budget_is_refused_before_read_only_and_an_overrun_makes_the_source_writable_again(servers, db, tmp_path):
    """Deterministic: 200 rows by checksum are expected to take longer than 1 ms, so that is refused; a clean inline move
    is expected to take nothing, so read-only goes on, and any step takes longer than 1 ms."""
    _small_table(servers, db)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", verify=INLINE))
    source, target = _specs(servers)
    admin = servers.source.spec("root")

    def switch(method: str, limit: float):
        return switch_over(admin, source, target, ferry.config.name, ferry.config.state_dir, read_only=ReadOnlyStep(),
                           verification=VerifyStep(method, max_read_only_seconds=limit), cutover=CutoverStep())

    try:
        wait_caught_up(servers, ferry.config.name)
        result, failure = switch("checksum", 0.001)
        assert failure is not None and failure.startswith("switchover stopped before the source was made read-only: the expected"), failure
        assert "%s.t: all 200 rows by checksum" % db in failure and "was not touched" in failure
        assert result["failed_step"] == "prepare" and result["window"]["tables"][0]["method"] == "checksum"
        assert _read_only(servers) == 0 and "read_only" in result and result["read_only"]["changed"] is True  # what it would do

        result, failure = switch("inline", 0.001)
        assert result["window"]["seconds"] == 0.0 and result["window"]["prepared"]["unvouched"] == {}, result["window"]
        assert failure is not None and result["failed_step"] in ("read_only", "verify"), failure
        assert "over max_read_only_seconds 0.001, after step %s" % result["failed_step"] in failure
        assert result["source_writable_again"] is True and _read_only(servers) == 0
        assert ferry.thread.is_alive()  # not past the point of no return: the agent goes on tailing
    finally:
        sql(servers.source, "SET GLOBAL read_only = OFF")
        ferry.finish()


def test_a_gap_in_tracking_undoes_the_copy_hashes_until_a_pass_vouches_again(servers, db, tmp_path):
    """inline, then a run without it that applies a change (not marked), then inline again: the table's copy hash no
    longer vouches for it (the change in the gap is unmarked); the pass does, and finds the row the gap left wrong."""
    _small_table(servers, db)
    data = move_config(servers, db, tmp_path / "state", verify=INLINE)
    source, target = _specs(servers)
    ferry = FerryThread(data)
    wait_caught_up(servers, ferry.config.name)
    assert window.prepare(source, target, ferry.config.name).checked == []  # covered by its copy hash: nothing to compare
    ferry.finish()
    ferry = FerryThread(dict(data, verify={"inline": False}))
    sql(servers.source, "UPDATE `%s`.t SET v = 3000 WHERE id = 30" % db)
    wait_caught_up(servers, ferry.config.name)
    ferry.finish()
    sql(servers.target, "UPDATE `%s`.t SET v = -30 WHERE id = 30" % db)  # as a wrong apply in the gap would leave it
    ferry = FerryThread(dict(data, verify=INLINE))
    try:
        until(lambda: _tracking(servers, ferry.config.name), "the inline run's bookkeeping begun")  # caught up already before it
        assert checksum.verify(source, target, ferry.config.name, method="inline").tables[0].method == "checksum"
        prepared = window.prepare(source, target, ferry.config.name)
        assert [(m.key, m.kind) for m in prepared.checked[0].mismatches] == [((30,), "differs")]
        report = checksum.verify(source, target, ferry.config.name, method="inline")
        assert report.tables[0].method == "inline" and _found(report) == [("t", 30, "differs")]
    finally:
        ferry.finish()
