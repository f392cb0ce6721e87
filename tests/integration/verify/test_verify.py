"""dbferry.mysql.verify against real sandboxes, as the least-privilege ferry users.

The main cases run the module through ansible-playbook; the exactness of
the row digest and the re-check of a range that is still changing use the
engine directly (many verifications of one move, no playbook each time).
Rows are changed on the target as root, behind the move's back: the move
never sees those writes (they are not in the source's binlog).
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

from ferry_support import FerryThread, applied_state, move_config, source_position, wait_caught_up
from integration_support import root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.verify import checksum as engine
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec

MIXED_DDL = """CREATE TABLE `{db}`.mixed (
  id BIGINT PRIMARY KEY,
  v VARCHAR(40) NULL, u VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL, c CHAR(8) NULL,
  vb VARBINARY(16) NULL, bl BLOB NULL, lb LONGBLOB NULL, tx TEXT NULL,
  d DECIMAL(30,10) NULL, f FLOAT NULL, dbl DOUBLE NULL,
  dt DATE NULL, dtm DATETIME(6) NULL, ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(3) NULL,
  e ENUM('', 'a', 'b c') NULL, st SET('x', 'y', 'z') NULL, b BIT(9) NULL, js JSON NULL,
  inv INT INVISIBLE NULL,
  gv VARCHAR(50) AS (CONCAT(v, '!')) VIRTUAL
) ENGINE=InnoDB"""

MIXED_COLUMNS = ("id", "v", "u", "c", "vb", "bl", "lb", "tx", "d", "f", "dbl", "dt", "dtm", "ts", "tm", "e", "st", "b", "js", "inv")

#: Rows whose values differ only in ways a careless comparison misses (keys 1-12), then ordinary ones.
SPECIAL_ROWS = [
    (1, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None),
    (2, "", "", "", b"", b"", b"", "", "0", 0.0, 0.0, "0000-00-00", "0000-00-00 00:00:00", "0000-00-00 00:00:00", "00:00:00",
     "", "", b"\x00\x00", '""', 0),
    (3, "NULL", "null", "NULL", b"NULL", b"NULL", b"NULL", "NULL", "-0.0000000001", -0.0, -0.0, "1000-01-01", "1000-01-01 00:00:00",
     "1970-01-01 00:00:01", "-838:59:59", "a", "x", b"\x01\xff", "null", -1),
    (4, "trailing  ", "Trailing", "a ", b"\x00", b"\x00\x00", b"\xff" * 70000, "tab\tand\nnewline", "99999999999999999999.9999999999",
     3.5, 0.30000000000000004, "9999-12-31", "9999-12-31 23:59:59.999999", "2038-01-19 03:14:07.999999", "838:59:59",
     "b c", "x,y,z", b"\x01\x00", '{"a": [1, 2.5, "\u00fc", null]}', 2147483647),
    (5, "caf\u00e9 \U0001F600", "\u00e0\u00e9\u00ee\u00f5\u00fc", "\u00fc", bytes(range(16)), bytes(range(256)), bytes(range(256)) * 40,
     "\U0001D11E" * 100, "-1.5", -1.5, 1.7976931348623157e308, "2024-02-29", "2024-02-29 12:00:00.5", "2024-03-31 02:30:00.123456",
     "-00:00:00.5", "", "", b"\x00\x00", '{"unicode": "\U0001F600"}', None),
    (6, "quote'\"`", "back\\slash", "%_", b"'\"\\", b"\x00'\x00", b"", "NULL", "0.0000000001", 1e-38, 5e-324, "1970-01-01",
     "1970-01-01 00:00:00.000001", "1970-01-01 00:00:01.000001", "00:00:00.001", "a", "y", b"\x00\x01", "[]", 0),
]


def _ordinary_row(key: int) -> tuple:
    return (key, "row %d" % key, "R%d" % (key % 97), "c%d" % (key % 13), key.to_bytes(4, "big", signed=True), b"blob" * (key % 5),
            None, "text %d" % key, Decimal(key) / 7, float(key % 50) / 4, key / 3, "2024-01-%02d" % (1 + key % 28),
            "2024-01-01 00:00:%02d.%06d" % (key % 60, key % 1000000), "2024-06-01 12:00:00", "%02d:00:00" % (key % 24), ("", "a", "b c")[key % 3],
            ("x", "y,z", "")[key % 3], bytes([key % 2, key % 256]), '{"k": %d}' % key, key)


def _make_mixed(servers, db: str, rows: int) -> None:
    sql(servers.source, MIXED_DDL.format(db=db))
    with root_session(servers.source) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO `%s`.mixed (%s) VALUES (%s)" % (db, ", ".join(MIXED_COLUMNS), ", ".join(["%s"] * len(MIXED_COLUMNS))),
                        SPECIAL_ROWS + [_ordinary_row(k) for k in range(-20, rows - 20) if not 1 <= k <= len(SPECIAL_ROWS)])


def _variables(servers) -> dict:
    return {"src": servers.source.connection_options("ferry_source"), "dst": servers.target.connection_options("ferry_target")}


def _verify(ansible, servers, name: str, check_mode: bool = False, **options):
    """The verify module, by checksum unless told (these tests write to the target behind the move's back: only checksum sees that)."""
    return ansible.run("dbferry.mysql.verify", dict({"name": name, "source": "{{ src }}", "target": "{{ dst }}", "method": "checksum"}, **options),
                       _variables(servers), check_mode=check_mode)


def _engine(servers, name: str, **options) -> engine.VerifyReport:
    return engine.verify(ServerSpec(**servers.source.connection_options("ferry_source")), ServerSpec(**servers.target.connection_options("ferry_target")),
                         name, **options)


def _started(servers, db, tmp_path, **overrides) -> FerryThread:
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", **overrides))
    wait_caught_up(servers, ferry.config.name)
    return ferry


def test_a_clean_move_of_mixed_types_verifies_clean(ansible, servers, db, tmp_path):
    _make_mixed(servers, db, 2500)
    sql(servers.source, "CREATE TABLE `%s`.empty (id INT PRIMARY KEY)" % db,
        "CREATE TABLE `%s`.small (id INT UNSIGNED PRIMARY KEY, v INT)" % db, "INSERT INTO `%s`.small VALUES (0, 0), (4294967295, 1)" % db)
    ferry = _started(servers, db, tmp_path)
    try:
        run = _verify(ansible, servers, ferry.config.name, chunk_rows=300, parallel=3)
        assert not run.failed, run.result.get("msg")
        assert run.result["changed"] is False
        tables = {t["table"]: t for t in run.result["tables"]}
        assert list(tables) == ["%s.empty" % db, "%s.mixed" % db, "%s.small" % db]
        mixed = tables["%s.mixed" % db]
        assert mixed["target_table"] == "%s.mixed" % db and mixed["rows"] == 2500 and mixed["mismatches"] == []
        assert mixed["chunks"] == 2500 // 300 + 1
        assert tables["%s.empty" % db]["chunks"] == 1 and tables["%s.empty" % db]["rows"] == 0
        assert tables["%s.small" % db]["rows"] == 2
        assert run.result["position"] and run.result["applied_position"]
        checked = _verify(ansible, servers, ferry.config.name, check_mode=True, tables=["%s.small" % db])
        assert not checked.failed and [t["table"] for t in checked.result["tables"]] == ["%s.small" % db]
    finally:
        ferry.finish()


def test_rows_changed_deleted_and_inserted_on_the_target_are_named(ansible, servers, db, tmp_path):
    _make_mixed(servers, db, 1200)
    ferry = _started(servers, db, tmp_path)
    try:
        target = "`%s`.mixed" % db
        sql(servers.target,
            "UPDATE %s SET v = 'changed', d = d + 1 WHERE id = 700" % target,  # gv follows v: it differs too
            "UPDATE %s SET lb = CONCAT(lb, 'x') WHERE id = 4" % target,
            "DELETE FROM %s WHERE id = 1000" % target,
            "INSERT INTO %s (id, v) VALUES (-100, 'only on the target'), (5000, 'beyond the last source key')" % target)
        run = _verify(ansible, servers, ferry.config.name, chunk_rows=500)
        assert run.failed and "tables" in run.result, run.result.get("msg")
        mixed = run.result["tables"][0]
        assert mixed["mismatches"] == [
            {"key": -100, "kind": "extra", "columns": []},
            {"key": 4, "kind": "differs", "columns": ["lb"]},
            {"key": 700, "kind": "differs", "columns": ["v", "d", "gv"]},
            {"key": 1000, "kind": "missing", "columns": []},
            {"key": 5000, "kind": "extra", "columns": []},
        ]
        assert mixed["rows"] == 1200 and mixed["truncated"] is False
        assert run.result["msg"].startswith(
            "verify found 5 differing row(s) in 1 table(s) (%s.mixed): %s.mixed `id` = -100 is extra on the target; "
            "%s.mixed `id` = 4 differs in lb; %s.mixed `id` = 700 differs in v, d, gv; %s.mixed `id` = 1000 is missing on the target; "
            "%s.mixed `id` = 5000 is extra on the target." % ((db,) * 6))
    finally:
        ferry.finish()


def test_more_differing_rows_than_reported_are_marked_truncated(servers, db, tmp_path):
    _make_mixed(servers, db, 600)
    ferry = _started(servers, db, tmp_path)
    try:
        sql(servers.target, "UPDATE `%s`.mixed SET tx = 'changed' WHERE id >= 100" % db)
        report = _engine(servers, ferry.config.name, chunk_rows=70)
        result = report.tables[0]
        assert len(result.mismatches) == engine.MAX_REPORTED_ROWS and result.truncated
        assert [m.key for m in result.mismatches] == [(k,) for k in range(100, 100 + engine.MAX_REPORTED_ROWS)]
        assert {m.columns for m in result.mismatches} == {("tx",)}
        assert "and more" in report.failure_message()
    finally:
        ferry.finish()


def test_renamed_target_database(ansible, servers, db, tmp_path):
    _make_mixed(servers, db, 300)
    target_db = db + "_v2"
    ferry = _started(servers, db, tmp_path, rename={"databases": {db: target_db}, "tables": {"%s.mixed" % db: "mixed_v2"}})
    try:
        run = _verify(ansible, servers, ferry.config.name)
        assert not run.failed, run.result.get("msg")
        assert run.result["tables"][0]["table"] == "%s.mixed" % db and run.result["tables"][0]["target_table"] == "%s.mixed_v2" % target_db
        sql(servers.target, "UPDATE `%s`.mixed_v2 SET e = 'a' WHERE id = 2" % target_db)
        run = _verify(ansible, servers, ferry.config.name)
        assert run.failed and run.result["tables"][0]["mismatches"] == [{"key": 2, "kind": "differs", "columns": ["e"]}]
        assert "%s.mixed `id` = 2 differs in e" % db in run.result["msg"]
    finally:
        ferry.finish()
        sql(servers.target, "DROP DATABASE IF EXISTS `%s`" % target_db)


def test_timeout_names_the_applied_and_the_wanted_position(ansible, servers, db, tmp_path):
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY)" % db, "INSERT INTO `%s`.t VALUES (1)" % db)
    ferry = _started(servers, db, tmp_path)
    try:
        wanted = "0-%d-999999999" % servers.source.server_id
        started = time.monotonic()
        run = _verify(ansible, servers, ferry.config.name, position=wanted, timeout=1)
        assert run.failed and time.monotonic() - started < 60
        applied = applied_state(servers, ferry.config.name)[0]
        assert run.result["msg"] == (
            "move %s has not reached position %s within 1 s: it has applied %s. The move keeps running. Fix: verify again later or with a "
            "longer timeout; if its applied position does not advance, check the move's status." % (ferry.config.name, wanted, applied))
        assert ferry.thread.is_alive()
    finally:
        ferry.finish()


def test_bad_requests_fail_with_a_clear_message(ansible, servers, db, tmp_path):
    inline = _verify(ansible, servers, "no-such-move", method="inline")
    assert inline.failed and inline.result["msg"].startswith("no move named no-such-move is recorded on the target.")
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY)" % db)
    without_move = ansible.run("dbferry.mysql.verify", {"databases": [db], "source": "{{ src }}", "target": "{{ dst }}"},
                               _variables(servers))
    assert without_move.failed and without_move.result["msg"].startswith("table %s.t is missing on the target." % db), without_move.result
    ferry = _started(servers, db, tmp_path)
    try:
        unknown = _verify(ansible, servers, "no-such-move")
        assert unknown.failed and unknown.result["msg"].startswith("no move named no-such-move is recorded on the target.")
        table = _verify(ansible, servers, ferry.config.name, tables=["%s.nope" % db])
        assert table.failed and table.result["msg"].startswith("table(s) %s.nope are not part of move %s." % (db, ferry.config.name))
    finally:
        ferry.finish()


#: (column, value the source holds, another stored value on the target that must be found, as SQL).
DIFFERENT = [
    ("v", "NULL", "''"),
    ("v", "''", "'NULL'"),
    ("v", "'a'", "'a '"),  # VARCHAR keeps trailing spaces; PAD SPACE collations compare them equal
    ("u", "'a'", "'A'"),  # a case-insensitive collation compares them equal
    ("vb", "x'00'", "x'0000'"),
    ("lb", "REPEAT('x', 100000)", "CONCAT(REPEAT('x', 99999), 'y')"),
    ("f", "1.1", "1.1000003"),  # different floats, both printed as 1.1
    ("dbl", "0.1e0 + 0.2e0", "0.3e0"),
    ("d", "1.5", "1.5000000001"),
    ("ts", "'2024-01-01 00:00:00'", "'2024-01-01 00:00:00.000001'"),
    ("tm", "'00:00:00.5'", "'-00:00:00.5'"),
    ("e", "''", "'nonsense'"),  # the error value (number 0) prints as '' like the '' member (number 1)
    ("b", "b'0'", "b'100000000'"),
    ("js", "'{\"a\": 1}'", "'{\"a\":1}'"),
]

#: Written differently, stored alike: verification must not report these.
SAME = [
    ("c", "'a'", "'a '"),  # CHAR is padded; its trailing spaces are not data
    ("f", "0e0", "-0e0"),  # MariaDB stores a negative zero as 0
    ("dbl", "0e0", "-0e0"),
    ("d", "1.5", "1.50"),
]


def test_the_row_digest_tells_apart_every_different_stored_value(servers, db, tmp_path):
    """Two rows whose columns only concatenate alike must differ too."""
    _make_mixed(servers, db, 80)
    ferry = _started(servers, db, tmp_path)
    try:
        cases = [(c, s, t, True) for c, s, t in DIFFERENT] + [(c, s, t, False) for c, s, t in SAME]
        for column, ours, theirs, differs in cases:
            sql(servers.source, "UPDATE `%s`.mixed SET %s = %s WHERE id = 30" % (db, column, ours))
            wait_caught_up(servers, ferry.config.name)
            assert not _engine(servers, ferry.config.name).mismatched, (column, ours)
            with root_session(servers.target) as conn, conn.cursor() as cur:
                cur.execute("SET SESSION sql_mode = ''")  # lets the ENUM error value in
                cur.execute("UPDATE `%s`.mixed SET %s = %s WHERE id = 30" % (db, column, theirs))
            found = [m.as_dict() for t in _engine(servers, ferry.config.name, chunk_rows=20).tables for m in t.mismatches]
            columns = [column, "gv"] if column == "v" else [column]  # gv is computed from v
            assert found == ([{"key": 30, "kind": "differs", "columns": columns}] if differs else []), (column, ours, theirs)
            sql(servers.target, "UPDATE `%s`.mixed SET %s = %s WHERE id = 30" % (db, column, ours))
        sql(servers.source, "UPDATE `%s`.mixed SET v = 'a', u = 'bc' WHERE id = 31" % db)
        wait_caught_up(servers, ferry.config.name)
        sql(servers.target, "UPDATE `%s`.mixed SET v = 'ab', u = 'c' WHERE id = 31" % db)
        found = [m.as_dict() for m in _engine(servers, ferry.config.name).tables[0].mismatches]
        assert found == [{"key": 31, "kind": "differs", "columns": ["v", "u", "gv"]}]
    finally:
        ferry.finish()


def test_a_range_still_changing_is_compared_again_after_the_applier_caught_up(servers, db, tmp_path):
    """The source is written after the wanted position and the applier is held: the first comparison
    differs; the re-check waits for the applier, which then brings the row, and nothing is reported."""
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, v INT)" % db,
        "INSERT INTO `%s`.t VALUES %s" % (db, ", ".join("(%d, %d)" % (k, k) for k in range(100))))
    held = threading.Event()
    release = threading.Event()

    def hold(batch):
        if any(txn.changes for txn in batch):
            held.set()
            assert release.wait(60)

    ferry = FerryThread(move_config(servers, db, tmp_path / "state"), apply_hook=hold)
    try:
        wait_caught_up(servers, ferry.config.name)
        before = source_position(servers)
        sql(servers.source, "UPDATE `%s`.t SET v = -1 WHERE id = 42" % db)
        assert held.wait(30)
        threading.Timer(2.0, release.set).start()
        started = time.monotonic()
        report = _engine(servers, ferry.config.name, position=before, chunk_rows=30)
        assert time.monotonic() - started >= 1.5, "the differing range was not held until the applier caught up"
        assert not report.mismatched and report.tables[0].rows == 100
        assert report.position == before
    finally:
        release.set()
        ferry.finish()


def test_a_float_that_needs_more_than_six_digits_survives_the_copy(servers, db, tmp_path):
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY, f FLOAT)" % db, "INSERT INTO `%s`.t VALUES (1, 1.1000003)" % db)
    ferry = _started(servers, db, tmp_path)
    try:
        report = _engine(servers, ferry.config.name)
        assert not report.mismatched, report.failure_message()
    finally:
        ferry.finish()
