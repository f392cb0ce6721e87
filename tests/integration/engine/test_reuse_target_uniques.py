"""reuse_target: an operator's empty target table whose unique indexes do not tell rows apart as the source's do.

The copy skips a row whose key is on the target already and the applier
writes with REPLACE; an extra unique index on the target (or one on a
prefix, or without the key) would make either of them drop or double a
row without an error (engine/unique_fit.py). Each case below loses or
doubles rows if the move goes ahead: the move must refuse the table before
it writes, or keep every row.
"""

from __future__ import annotations

import pytest

from ferry_support import FerryThread, assert_same, caught_up_or_refused, move_config
from integration_support import root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident, quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_value

_SOURCE = ("CREATE TABLE %s (id INT NOT NULL PRIMARY KEY, email VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
           "city VARCHAR(20) NOT NULL, UNIQUE KEY email_u (email))")
#: Rows the source holds apart and each bad target index below would merge: same city; emails equal in their first five
#: characters and equal ignoring case.
_ROWS = "(1, 'alice@example.com', 'Oslo'), (2, 'alicE@example.com', 'Oslo'), (3, 'alice@example.org', 'Oslo')"


@pytest.mark.parametrize("target_ddl, why", [
    # an extra unique index: rows 1-3 share a city
    ("CREATE TABLE %s (id INT NOT NULL PRIMARY KEY, email VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
     "city VARCHAR(20) NOT NULL, UNIQUE KEY email_u (email), UNIQUE KEY city_u (city))", "`city_u` (`city`)"),
    # the source's unique email on a prefix: rows 1-3 share 'alice'
    ("CREATE TABLE %s (id INT NOT NULL PRIMARY KEY, email VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
     "city VARCHAR(20) NOT NULL, UNIQUE KEY email_u (email(5)))", "`email_u` (`email`(5))"),
    # the source's unique email in a case-insensitive collation: 1 and 2 are one email
    ("CREATE TABLE %s (id INT NOT NULL PRIMARY KEY, email VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL, "
     "city VARCHAR(20) NOT NULL, UNIQUE KEY email_u (email))", "`email_u` (`email`)"),
    # no unique index on the key: the copy cannot skip, REPLACE cannot replace
    ("CREATE TABLE %s (id INT NOT NULL, email VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
     "city VARCHAR(20) NOT NULL, KEY (id), UNIQUE KEY email_u (email))", "no unique index on exactly the key (`id`)"),
], ids=["extra_unique", "prefix_unique", "coarser_collation", "no_key_index"])
def test_a_reused_target_whose_unique_indexes_differ_is_refused_before_writing(servers, db, tmp_path, target_ddl, why):
    table = quote_table(db, "t")
    sql(servers.source, _SOURCE % table, "INSERT INTO %s VALUES %s" % (table, _ROWS))
    sql(servers.target, "CREATE DATABASE %s" % quote_ident(db), target_ddl % table)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", reuse_target=True))
    assert not caught_up_or_refused(servers, ferry, why), "the move went ahead on a target that merges source rows"
    with root_session(servers.target) as conn:
        assert fetch_value(conn, "SELECT COUNT(*) FROM %s" % table) == 0, "a refused move wrote rows"


def test_a_reused_target_with_the_sources_unique_indexes_and_finer_ones_is_moved(servers, db, tmp_path):
    """Accepted: the key and the source's unique email, plus a unique index that only adds columns to the source's."""
    table = quote_table(db, "t")
    sql(servers.source, _SOURCE % table, "INSERT INTO %s VALUES %s" % (table, _ROWS))
    sql(servers.target, "CREATE DATABASE %s" % quote_ident(db),
        "CREATE TABLE %s (id INT NOT NULL, email VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
        "city VARCHAR(20) NOT NULL, PRIMARY KEY (id), UNIQUE KEY email_u (email), UNIQUE KEY email_city (city, email))" % table)
    ferry = FerryThread(move_config(servers, db, tmp_path / "state", reuse_target=True))
    assert caught_up_or_refused(servers, ferry, "a refusal of a fit table")
    assert assert_same(servers, db) == 3
