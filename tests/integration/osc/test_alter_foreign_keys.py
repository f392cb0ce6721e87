"""Online changes of a child and of a parent table (issue 16) on a real server, under an application that writes both
tables within their constraint: the constraints end on the new table, and are still enforced."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from integration_support import root_session, sql, until
from osc_support import AlterThread, alter_options, change_under_load, logged

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import parse_alter_config
from ansible_collections.dbferry.mysql.plugins.module_utils.dev.load import Load, ServerSession, Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.osc import foreign_keys
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.cutover import _Attempt, _AttemptFailed
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.plan import alter_name
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.runner import AlterRun, noop_alter, remove_alter
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import close_quietly, error_code, execute, fetch_all

#: Rows of each table; the children reference the first PARENTS_USED parents, which the load never deletes.
ROWS = 600
PARENTS_USED = 20
ER_NO_REFERENCED_ROW_2 = 1452
ER_ROW_IS_REFERENCED_2 = 1451


class ParentChildMix:
    """One application connection: children inserted, re-parented, changed and deleted; parents changed; parents of
    their own inserted and deleted again (never referenced). Any foreign key error ends the load (dev/load.py)."""

    def __init__(self, db: str, seed: int) -> None:
        self.db, self.random, self.own = db, random.Random(seed), 100000 * (seed + 1)
        self.inserted: list[int] = []

    def next_transaction(self) -> Transaction:
        r, db = self.random, self.db
        choice = r.randrange(6)
        if choice == 0:
            sql_text = "INSERT INTO `%s`.c (pid, v) VALUES (%d, %d)" % (db, r.randint(1, PARENTS_USED), r.randrange(1000))
        elif choice == 1:
            sql_text = "UPDATE `%s`.c SET pid = %d, v = v + 1 WHERE id = %d" % (db, r.randint(1, PARENTS_USED), r.randint(1, ROWS * 2))
        elif choice == 2:
            sql_text = "DELETE FROM `%s`.c WHERE id = %d" % (db, r.randint(1, ROWS * 2))
        elif choice == 3:
            sql_text = "UPDATE `%s`.p SET v = v + 1 WHERE id = %d" % (db, r.randint(1, ROWS))
        elif choice == 4 or not self.inserted:
            self.own += 1
            self.inserted.append(self.own)
            sql_text = "INSERT INTO `%s`.p (id, v) VALUES (%d, 0)" % (db, self.own)
        else:
            sql_text = "DELETE FROM `%s`.p WHERE id = %d" % (db, self.inserted.pop(0))
        return Transaction((sql_text,))


def _make_tables(servers: Any, db: str, rule: str = "") -> None:
    sql(servers.source, "CREATE TABLE `%s`.p (id INT PRIMARY KEY, v INT) ENGINE=InnoDB" % db,
        "CREATE TABLE `%s`.c (id INT AUTO_INCREMENT PRIMARY KEY, pid INT NOT NULL, v INT, KEY (pid), "
        "CONSTRAINT fk_c_p FOREIGN KEY (pid) REFERENCES `%s`.p (id) %s) ENGINE=InnoDB" % (db, db, rule),
        "INSERT INTO `%s`.p SELECT seq, 0 FROM `%s`.seq_1_to_%d" % (db, db, ROWS),
        "INSERT INTO `%s`.c SELECT seq, 1 + seq %% %d, 0 FROM `%s`.seq_1_to_%d" % (db, PARENTS_USED, db, ROWS))


def _load(servers: Any, db: str) -> Load:
    spec = servers.source.spec("app")
    return Load(lambda _index: ServerSession(spec), [ParentChildMix(db, seed) for seed in range(2)], per_second=200)


def _constraints(servers: Any, db: str) -> list[tuple[str, str, str]]:
    """(constraint, child, parent) of every foreign key of ``db``."""
    with root_session(servers.source) as conn:
        rows = fetch_all(conn, "SELECT CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS "
                               "WHERE CONSTRAINT_SCHEMA = %s", (db,))
        return sorted(tuple(row) for row in rows)


def _refused(servers: Any, statement: str) -> int:
    """The error code the server answers ``statement`` with (0: it ran)."""
    with root_session(servers.source) as conn:
        try:
            execute(conn, statement)
        except Exception as exc:  # noqa: BLE001 - the refusal is the answer  # pylint: disable=broad-exception-caught
            return error_code(exc)
    return 0


def _assert_enforced(servers: Any, db: str) -> None:
    """An orphan child is refused, and so is deleting a parent that has children."""
    assert _refused(servers, "INSERT INTO `%s`.c (pid, v) VALUES (999999, 0)" % db) == ER_NO_REFERENCED_ROW_2
    assert _refused(servers, "DELETE FROM `%s`.p WHERE id = 1" % db) == ER_ROW_IS_REFERENCED_2
    with root_session(servers.source) as conn:
        assert fetch_all(conn, "SELECT COUNT(*) FROM `%s`.c LEFT JOIN `%s`.p ON p.id = c.pid WHERE p.id IS NULL" % (db, db)) == [(0,)]


def test_a_child_table_keeps_its_foreign_key(servers: Any, db: str, tmp_path: Path) -> None:
    _make_tables(servers, db)
    result = change_under_load(servers, db, tmp_path, "c", "ADD COLUMN note VARCHAR(10)", {"id": "id", "pid": "pid", "v": "v"},
                               _load(servers, db), ROWS)
    assert _constraints(servers, db) == [("_fk_c_p", "c", "p"), ("fk_c_p", "_c_del", "p")]
    assert "CONSTRAINT `_fk_c_p` FOREIGN KEY (`pid`) REFERENCES `p` (`id`)" in result.new_create
    assert result.foreign_keys == ["foreign key(s) `_fk_c_p` added to the new table."]
    _assert_enforced(servers, db)


def test_a_parent_table_keeps_its_children(servers: Any, db: str, tmp_path: Path) -> None:
    _make_tables(servers, db)
    result = change_under_load(servers, db, tmp_path, "p", "ADD COLUMN note VARCHAR(10)", {"id": "id", "v": "v"},
                               _load(servers, db), ROWS)
    assert _constraints(servers, db) == [("_fk_c_p", "c", "p")]
    assert result.foreign_keys == ["the foreign keys of %s.c re-pointed at the new table." % db]
    with root_session(servers.source) as conn:
        assert "REFERENCES `p` (`id`)" in fetch_all(conn, "SHOW CREATE TABLE `%s`.c" % db)[0][1]
    _assert_enforced(servers, db)
    assert _refused(servers, "DROP TABLE `%s`._p_del" % db) == 0  # nothing references the old table


def test_check_mode_reports_the_children_and_the_cost(servers: Any, db: str, tmp_path: Path) -> None:
    _make_tables(servers, db)
    result = noop_alter(parse_alter_config(alter_options(servers, db, "p", "ADD COLUMN note TEXT", tmp_path / "state")), EventLog("alter"))
    assert len(result.foreign_keys) == 1
    assert "%s.c" % db in result.foreign_keys[0] and "`fk_c_p` -> `_fk_c_p`" in result.foreign_keys[0]
    assert "metadata only" in result.foreign_keys[0]
    assert _constraints(servers, db) == [("fk_c_p", "c", "p")]


def test_a_cascading_child_is_refused_with_the_fix(servers: Any, db: str, tmp_path: Path) -> None:
    _make_tables(servers, db, "ON DELETE CASCADE")
    run = AlterThread(alter_options(servers, db, "c", "ADD COLUMN note TEXT", tmp_path / "state"), tmp_path / "alter.log")
    with pytest.raises(DbferryError) as refused:
        run.finish()
    assert "ON DELETE CASCADE" in refused.value.message and "DROP FOREIGN KEY `fk_c_p`" in refused.value.fix
    with root_session(servers.source) as conn:
        assert [r[0] for r in fetch_all(conn, "SHOW TABLES FROM `%s`" % db)] == ["c", "p"]


def test_ok_to_drop_table_drops_the_old_parent_after_the_children_moved(servers: Any, db: str, tmp_path: Path) -> None:
    _make_tables(servers, db)
    result = AlterThread(alter_options(servers, db, "p", "ADD COLUMN note TEXT", tmp_path / "state", ok_to_drop_table=True),
                         tmp_path / "alter.log").finish()
    assert result.changed and result.old_table is None and not [w for w in result.warnings if "dropped" in w]
    assert _constraints(servers, db) == [("_fk_c_p", "c", "p")]
    _assert_enforced(servers, db)


def test_a_run_ended_with_children_on_the_old_table_repoints_them_next_time(
        servers: Any, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a run of an older version killed right after its RENAME left (it re-pointed the children only after the
    RENAME; here the cut-over is kept from re-pointing them, and the run ends after the RENAME): the children reference
    _p_del, and the next run finds the swap done, re-points them and records the change complete."""
    _make_tables(servers, db)
    options = alter_options(servers, db, "p", "ADD COLUMN note TEXT", tmp_path / "state")

    def killed(self: AlterRun, _conn: Any) -> None:
        self.swapped = True  # as _after_rename says first
        raise SystemExit("killed after the RENAME")

    with monkeypatch.context() as patched:
        patched.setattr(foreign_keys, "repoint_statements", lambda *_args: [])
        patched.setattr(AlterRun, "_after_rename", killed)
        with pytest.raises(SystemExit):
            AlterThread(options, tmp_path / "alter.log").finish()
    assert _constraints(servers, db) == [("fk_c_p", "c", "_p_del")]
    again = AlterThread(options, tmp_path / "again.log").finish()
    assert not again.changed and again.foreign_keys == ["the foreign keys of %s.c re-pointed at the new table." % db]
    assert _constraints(servers, db) == [("_fk_c_p", "c", "p")]
    _assert_enforced(servers, db)
    with root_session(servers.source) as conn:
        assert fetch_all(conn, "SELECT phase FROM _dbferry.moves WHERE name = %s", (alter_name(db, "p"),)) == [("complete",)]


def test_a_failed_cut_over_attempt_takes_the_foreign_keys_off_the_ghost(servers: Any, db: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first attempt fails once the ghost has the child's foreign keys (here: the adding raises the timeout that
    ends an attempt). Between attempts the ghost lags behind the table again, and a constraint on it would refuse the
    application's delete of a parent row whose child the ghost still has: they come off, and the next attempt, which
    finds the ghost without them, adds them again."""
    _make_tables(servers, db)
    add = foreign_keys.add_to_ghost
    found_on_ghost: list[list[str]] = []

    def add_then_fail(conn: Any, database: str, table: str, ghost: str) -> list[str]:
        found_on_ghost.append([key.name for key in foreign_keys.read(conn, database, ghost)[0]])
        added = add(conn, database, table, ghost)
        if len(found_on_ghost) == 1:
            raise TimeoutError("the attempt's time is up")
        return added

    monkeypatch.setattr(foreign_keys, "add_to_ghost", add_then_fail)
    log_path = tmp_path / "alter.log"
    result = AlterThread(alter_options(servers, db, "c", "ADD COLUMN note TEXT", tmp_path / "state", default_retries=3), log_path).finish()
    assert found_on_ghost == [[], []] and result.cut_over_attempts == 2
    assert logged(log_path, "ghost_foreign_keys_dropped")
    assert _constraints(servers, db) == [("_fk_c_p", "c", "p"), ("fk_c_p", "_c_del", "p")]


class NewParentsAndChildren:
    """One application connection writing what the cut-over of a parent must not get in the way of: a new parent and a
    child of it (refused with 1452 if the child is checked against a table without the new parent), a delete of that
    parent while it has the child (which must be refused, 1451: done, it leaves an orphan), then the child and the
    parent deleted."""

    def __init__(self, db: str, seed: int) -> None:
        self.db, self.parent, self.step = db, 100000 * (seed + 1), 0

    def next_transaction(self) -> Transaction:
        db, step = self.db, self.step % 4
        self.step += 1
        if step == 0:
            self.parent += 1
            return Transaction(("INSERT INTO `%s`.p (id, v) VALUES (%d, 0)" % (db, self.parent),))
        if step == 1:
            return Transaction(("INSERT INTO `%s`.c (pid, v) VALUES (%d, 0)" % (db, self.parent),))
        if step == 2:
            return Transaction(("DELETE FROM `%s`.p WHERE id = %d" % (db, self.parent),))
        return Transaction(("DELETE FROM `%s`.c WHERE pid = %d" % (db, self.parent), "DELETE FROM `%s`.p WHERE id = %d" % (db, self.parent)))


class ReferencedParentRefused(ServerSession):
    """The application's session, for which the refusal of a delete of a parent that has children is the constraint at
    work (counted); any other error ends the load."""

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.refused = 0

    def run(self, transaction: Transaction) -> None:
        try:
            super().run(transaction)
        except Exception as exc:  # noqa: BLE001 - only 1451 is expected  # pylint: disable=broad-exception-caught
            if error_code(exc) != ER_ROW_IS_REFERENCED_2:
                raise
            execute(self.conn, "ROLLBACK")
            self.refused += 1


def _orphans(servers: Any, db: str) -> int:
    with root_session(servers.source) as conn:
        return fetch_all(conn, "SELECT COUNT(*) FROM `%s`.c LEFT JOIN `%s`.p ON p.id = c.pid WHERE p.id IS NULL" % (db, db))[0][0]


def test_children_written_during_the_cut_over_of_their_parent_are_checked_against_it(
        servers: Any, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parents and their children inserted, and parents deleted, all through the cut-over of the parent; the time
    between the RENAME and the end of the cut-over is stretched (half a second): the children must reference the new
    table from the RENAME on, so that no child of a new parent is refused (1452) and no parent that has children is
    deleted (an orphan)."""
    _make_tables(servers, db)
    after_rename = AlterRun._after_rename

    def slow_after_rename(self: AlterRun, conn: Any) -> None:
        time.sleep(0.5)
        after_rename(self, conn)

    monkeypatch.setattr(AlterRun, "_after_rename", slow_after_rename)
    spec = servers.source.spec("app")
    sessions: list[ReferencedParentRefused] = []

    def open_session(_index: int) -> ReferencedParentRefused:
        sessions.append(ReferencedParentRefused(spec))
        return sessions[-1]

    load = Load(open_session, [NewParentsAndChildren(db, seed) for seed in range(2)], per_second=200)
    written = load.counts.written
    until(lambda: load.counts.written > written + 20, "the load to write")
    result = AlterThread(alter_options(servers, db, "p", "ADD COLUMN note TEXT", tmp_path / "state"), tmp_path / "alter.log").finish()
    during = load.counts.written
    until(lambda: load.counts.written > during + 20 or load.errors, "the load to write after the swap")
    load.finish()  # raises the load's first error: a child refused (1452)
    assert result.changed and result.foreign_keys == ["the foreign keys of %s.c re-pointed at the new table." % db]
    assert sum(session.refused for session in sessions) > 0  # the deletes of referenced parents were tried, and refused
    assert _orphans(servers, db) == 0
    assert _constraints(servers, db) == [("_fk_c_p", "c", "p")]
    _assert_enforced(servers, db)


def test_a_failed_attempt_puts_the_children_back_before_writes_resume(
        servers: Any, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first attempt fails once the children reference the ghost (here: the re-pointing raises what ends an
    attempt): when t is released, they reference t again, and the next attempt swaps. The constraints are read while
    the RENAME waits on the sentry, before it reaches for the ghost."""
    _make_tables(servers, db)
    seen: list[list[tuple[str, str, str]]] = []
    repoint = _Attempt._repoint

    def fail_first(self: _Attempt, statements: list[str], *args: Any) -> None:
        repoint(self, statements, *args)
        seen.append(_constraints(servers, db))
        if len(seen) == 1:
            raise _AttemptFailed("the attempt's time is up")

    monkeypatch.setattr(_Attempt, "_repoint", fail_first)
    undo = _Attempt._undo
    after_undo: list[list[tuple[str, str, str]]] = []

    def undo_and_look(self: _Attempt) -> None:
        undo(self)
        after_undo.append(_constraints(servers, db))

    monkeypatch.setattr(_Attempt, "_undo", undo_and_look)
    log_path = tmp_path / "alter.log"
    result = AlterThread(alter_options(servers, db, "p", "ADD COLUMN note TEXT", tmp_path / "state", default_retries=2),
                         log_path).finish()
    assert seen == [[("_fk_c_p", "c", "_p_gho")]] * 2
    assert after_undo == [[("fk_c_p", "c", "p")]]
    assert result.cut_over_attempts == 2 and logged(log_path, "cut_over_children_put_back")
    assert _constraints(servers, db) == [("_fk_c_p", "c", "p")]
    _assert_enforced(servers, db)


def test_a_failed_cut_over_leaves_the_children_on_the_table(
        servers: Any, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every attempt fails after the re-pointing: the change stops with the original in place, its children on it."""
    _make_tables(servers, db)

    def fail(_self: _Attempt, *_args: Any) -> None:
        raise _AttemptFailed("the attempt's time is up")

    monkeypatch.setattr(_Attempt, "_wait_renamer_ready", fail)
    log_path = tmp_path / "alter.log"
    with pytest.raises(DbferryError, match="failed 1 time"):
        AlterThread(alter_options(servers, db, "p", "ADD COLUMN note TEXT", tmp_path / "state", default_retries=1), log_path).finish()
    assert logged(log_path, "cut_over_children_repointed") and logged(log_path, "cut_over_children_put_back")
    assert _constraints(servers, db) == [("fk_c_p", "c", "p")]
    _assert_enforced(servers, db)


def _killed_after_repointing(servers: Any, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A change of p whose process dies between the re-pointing and the sentry's DROP: its sessions end and nothing of
    the attempt is undone (the RENAME fails on the sentry once the locker's session is gone). Its options."""
    _make_tables(servers, db)
    options = alter_options(servers, db, "p", "ADD COLUMN note TEXT", tmp_path / "state")
    repoint = _Attempt._repoint

    def repoint_then_die(self: _Attempt, statements: list[str], *args: Any) -> None:
        repoint(self, statements, *args)
        raise SystemExit("killed between the re-pointing and the RENAME")

    def sessions_end(self: _Attempt) -> None:
        close_quietly(self.locker, None if self.holder is None else self.holder.conn)
        if self.renamer is not None:
            self.renamer.join(30)  # fails on the sentry once the locker's locks are gone
            close_quietly(self.renamer.conn)

    with monkeypatch.context() as patched:
        patched.setattr(_Attempt, "_repoint", repoint_then_die)
        patched.setattr(_Attempt, "_undo", sessions_end)
        with pytest.raises(SystemExit):
            AlterThread(options, tmp_path / "alter.log").finish()
    assert _constraints(servers, db) == [("_fk_c_p", "c", "_p_gho")]
    with root_session(servers.source) as conn:
        assert [r[0] for r in fetch_all(conn, "SHOW TABLES FROM `%s`" % db)] == ["_p_del", "_p_gho", "c", "p"]
    return options


def test_children_left_on_the_ghost_by_a_killed_run_are_put_back_by_the_next_run(
        servers: Any, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = _killed_after_repointing(servers, db, tmp_path, monkeypatch)
    log_path = tmp_path / "again.log"
    result = AlterThread(options, log_path).finish()
    assert result.changed and logged(log_path, "foreign_keys_put_back")
    assert _constraints(servers, db) == [("_fk_c_p", "c", "p")]
    _assert_enforced(servers, db)


def test_children_left_on_the_ghost_by_a_killed_run_are_put_back_by_state_absent(
        servers: Any, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = _killed_after_repointing(servers, db, tmp_path, monkeypatch)
    config = parse_alter_config(options)
    assert remove_alter(config, EventLog("alter"), check_mode=True)
    assert _constraints(servers, db) == [("_fk_c_p", "c", "_p_gho")]
    assert remove_alter(config, EventLog("alter"))
    assert _constraints(servers, db) == [("fk_c_p", "c", "p")]
    with root_session(servers.source) as conn:
        assert [r[0] for r in fetch_all(conn, "SHOW TABLES FROM `%s`" % db)] == ["c", "p"]
    _assert_enforced(servers, db)
