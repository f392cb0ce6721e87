"""Text keys whose values do not come back exactly: the copy must still read every row once.

The copier pages through a text key with the last key it read as the next
batch's lower bound (keys.after_condition). PyMySQL returns text as utf8mb4,
and the bound goes back as utf8mb4 text that the server converts to the
column's character set. In cp932 that round trip is not exact: the NEC-selected
IBM extensions (0xED40..0xEEFC) and the IBM extensions (0xFA40..0xFC4B) are
the same Unicode characters, and utf8mb4 -> cp932 gives the IBM code. A
cursor at 0xED40 ('纊') comes back as 0xFA5C, which sorts after it: every row
in between would be skipped, and never hashed by inline verification either.
"""

from __future__ import annotations

from ferry_support import FerryThread, assert_same, caught_up_or_refused, move_config
from integration_support import root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident, quote_table

#: Keys in cp932, in the column's order: 'A', 0xED40 (round trips to 0xFA5C), then two that sort between the two codes.
_KEYS = ("41", "ED40", "F040", "FA40")


def test_a_text_key_whose_values_do_not_round_trip_loses_no_row(servers, db, tmp_path):
    """Either every row is copied (the cursor keeps the key's exact bytes), or the move is refused before it writes:
    never a move that leaves 0xF040 and 0xFA40 behind."""
    table = quote_table(db, "t")
    sql(servers.source, "CREATE TABLE %s (k VARCHAR(4) CHARACTER SET cp932 NOT NULL PRIMARY KEY, v INT NOT NULL)" % table,
        "INSERT INTO %s VALUES %s" % (table, ", ".join("(CONVERT(X'%s' USING cp932), %d)" % (k, i) for i, k in enumerate(_KEYS))))
    with root_session(servers.source) as conn:
        assert [h for (h,) in fetch_all(conn, "SELECT HEX(k) FROM %s ORDER BY k" % table)] == list(_KEYS), "the column's order"
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", copy={"batch_rows": 1, "concurrency": 1}))
    if caught_up_or_refused(servers, ferry, "cp932"):
        assert assert_same(servers, db) == len(_KEYS)


def test_a_reused_target_table_whose_key_collation_joins_two_source_keys_loses_no_row(servers, db, tmp_path):
    """reuse_target accepts an operator's empty table with the moved columns. If its key column's collation takes two
    source keys for one ('a' and 'A' under utf8mb4_general_ci, distinct under utf8mb4_bin), the copy's duplicate-key
    skip drops one of them without an error: the move must refuse the table, or keep both rows."""
    table = quote_table(db, "t")
    ddl = "CREATE TABLE %s (k VARCHAR(4) CHARACTER SET utf8mb4 COLLATE %s NOT NULL PRIMARY KEY, v INT NOT NULL)"
    sql(servers.source, ddl % (table, "utf8mb4_bin"), "INSERT INTO %s VALUES ('a', 1), ('A', 2)" % table)
    sql(servers.target, "CREATE DATABASE %s" % quote_ident(db), ddl % (table, "utf8mb4_general_ci"))
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", reuse_target=True))
    if caught_up_or_refused(servers, ferry, "collation"):
        assert assert_same(servers, db) == 2
