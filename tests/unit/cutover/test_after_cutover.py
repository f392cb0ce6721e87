"""Pure logic of the after-cutover check and the move's target lock name."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.after_cutover import transaction_gtid
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.target_lock import lock_name


def test_transaction_gtid_is_the_domain_that_moved():
    assert transaction_gtid("0-1-41", "0-1-42") == "0-1-42"
    assert transaction_gtid("0-1-41,1-7-3", "0-1-41,1-7-4") == "1-7-4"
    assert transaction_gtid("0-1-41", "0-1-41,2-9-1") == "2-9-1"


def test_lock_name_fits_the_server_s_limit():
    assert lock_name("shop-move") == "dbferry:shop-move"
    long_name = lock_name("m" * 64)
    assert long_name.startswith("dbferry:") and len(long_name) == 64 and long_name != lock_name("m" * 63 + "n")
