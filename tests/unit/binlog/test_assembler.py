"""How binlog event groups become transactions at positions (synthetic events, no server)."""

from __future__ import annotations

import struct

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.binlog import events
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.assembler import Assembler
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.dump import DumpEvent
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.changes import INSERT, RowChange
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError


def _gtid(seq: int, domain: int = 0, flags: int = 0) -> DumpEvent:
    """A MariaDB GTID event, with the bytes the server sends: sequence number, domain, flags (and a commit id or padding)."""
    return DumpEvent(events.GTID, 1_700_000_000, 1, 0, struct.pack("<QIB", seq, domain, flags) + bytes(6))


def _query(text: str, schema: bytes = b"shop") -> DumpEvent:
    """A query event: thread id, exec time, schema length, error code, status variables length; status variables; schema, NUL; text."""
    status = b"\x00\x00\x00\x00\x00"  # a flags2 status variable (code 0, 4 bytes)
    post_header = struct.pack("<IIBHH", 7, 0, len(schema), 0, len(status))
    return DumpEvent(events.QUERY, 1_700_000_000, 1, 0, post_header + status + schema + b"\x00" + text.encode())


def _xid() -> DumpEvent:
    return DumpEvent(events.XID, 1_700_000_001, 1, 0, struct.pack("<Q", 99))


def _xa_prepare(one_phase: bool, gtrid: bytes) -> DumpEvent:
    return DumpEvent(events.XA_PREPARE, 0, 1, 0, struct.pack("<BiII", one_phase, 1, len(gtrid), 0) + gtrid)


def _row(row_id: int) -> RowChange:
    return RowChange(INSERT, "shop", "t", None, {"id": row_id})


@pytest.fixture
def assembler() -> Assembler:
    return Assembler(frozenset({("shop", "t")}), {})


def test_a_group_ends_at_its_xid_with_its_gtid(assembler):
    assert assembler.feed(_gtid(5, domain=3)) is None
    assembler.group.changes.append(_row(1))
    group, timestamp = assembler.feed(_xid())
    assert group.gtid == (3, 1, 5) and group.changes == [_row(1)] and timestamp == 1_700_000_001
    assert assembler.group is None


def test_standalone_ddl_elsewhere_is_an_empty_group(assembler):
    assembler.feed(_gtid(6, flags=events.FL_STANDALONE))
    group, _timestamp = assembler.feed(_query("ALTER TABLE other ADD COLUMN t INT"))
    assert group.gtid == (0, 1, 6) and group.changes == []


def test_ddl_on_a_moved_table_names_it_case_insensitively(assembler):
    assembler.feed(_gtid(7, flags=events.FL_STANDALONE))
    with pytest.raises(DbferryError) as caught:
        assembler.feed(_query("DROP TABLE `SHOP`.`T`", schema=b""))
    assert caught.value.obj == "shop.t" and "DROP TABLE `SHOP`.`T`" in caught.value.message


def test_a_logged_rollback_keeps_nothing(assembler):
    assembler.feed(_gtid(8))
    assembler.group.changes.append(_row(1))
    group, _timestamp = assembler.feed(_query("ROLLBACK"))
    assert group.changes == []


def test_rollback_to_a_savepoint_drops_the_changes_after_it(assembler):
    assembler.feed(_gtid(9))
    assembler.group.changes.append(_row(1))
    assembler.feed(_query("SAVEPOINT `a`"))
    assembler.group.changes.append(_row(2))
    assembler.feed(_query("SAVEPOINT `b`"))
    assembler.group.changes.append(_row(3))
    assembler.feed(_query("SAVEPOINT `A`"))  # names are case-insensitive: this moves a
    assembler.group.changes.append(_row(4))
    assembler.feed(_query("ROLLBACK TO `b`"))
    assembler.group.changes.append(_row(5))
    with pytest.raises(DbferryError):  # b's rollback removed the later savepoint A
        assembler.feed(_query("ROLLBACK TO `a`"))
    assert [c.after["id"] for c in assembler.group.changes] == [1, 2, 5]


def test_a_prepared_xa_transaction_on_a_moved_table_stops_the_stream(assembler):
    assembler.feed(_gtid(10, flags=0x40))  # FL_PREPARED_XA: the group ends with XA PREPARE
    assembler.group.changes.append(_row(1))
    with pytest.raises(DbferryError) as caught:
        assembler.feed(_xa_prepare(False, b"x1"))
    assert caught.value.obj == "shop.t"
    assembler.feed(_gtid(11))
    assembler.group.changes.append(_row(2))
    group, _timestamp = assembler.feed(_xa_prepare(True, b"x2"))
    assert group.changes == [_row(2)]


def test_a_half_read_group_is_dropped_on_reset(assembler):
    assembler.feed(_gtid(12))
    assembler.group.changes.append(_row(1))
    assembler.reset()
    with pytest.raises(DbferryError):  # an event without its GTID: the server always starts a dump at a group
        assembler.feed(_xid())


def test_unknown_events_stop_the_stream_unless_ignorable(assembler):
    with pytest.raises(DbferryError) as caught:
        assembler.feed(DumpEvent(events.WRITE_ROWS_COMPRESSED_V1, 0, 1, 0, b""))
    assert caught.value.obj == "log_bin_compress"
    with pytest.raises(DbferryError) as caught:
        assembler.feed(DumpEvent(200, 0, 1, 0, b""))
    assert "type 200" in caught.value.message
    assert assembler.feed(DumpEvent(200, 0, 1, events.LOG_EVENT_IGNORABLE_F, b"")) is None
