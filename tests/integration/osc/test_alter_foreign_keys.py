"""Online changes of a child and of a parent table (issue 16) on a real server, under an application that writes both
tables within their constraint: the constraints end on the new table, and are still enforced."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from integration_support import root_session, sql
from osc_support import AlterThread, alter_options, change_under_load, logged

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import parse_alter_config
from ansible_collections.dbferry.mysql.plugins.module_utils.dev.load import Load, ServerSession, Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.osc import foreign_keys
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.plan import alter_name
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.runner import noop_alter
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import error_code, execute, fetch_all

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


def test_a_run_ended_before_the_children_were_repointed_repoints_them_next_time(
        servers: Any, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process ends right after the RENAME (here: the re-pointing raises what a kill would leave): the children then
    reference _p_del, and the next run finds the swap done, re-points them and records the change complete."""
    _make_tables(servers, db)
    options = alter_options(servers, db, "p", "ADD COLUMN note TEXT", tmp_path / "state")
    repoint = foreign_keys.repoint

    def killed(*_args: Any) -> list[str]:
        raise SystemExit("killed after the RENAME")

    monkeypatch.setattr(foreign_keys, "repoint", killed)
    with pytest.raises(SystemExit):
        AlterThread(options, tmp_path / "alter.log").finish()
    assert _constraints(servers, db) == [("fk_c_p", "c", "_p_del")]
    monkeypatch.setattr(foreign_keys, "repoint", repoint)
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
