"""Move configuration validation (pure logic)."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.config.move_config import default_server_id, load_config, parse_config
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError

BASE = {"name": "shop-move", "source": {"host": "db1", "user": "f", "password": "s3cret"}, "target": {"host": "db2", "port": 3307}}


def _with(**changes):
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    data.update(changes)
    return data


def test_defaults():
    config = parse_config(BASE)
    assert (config.batch_rows, config.concurrency, config.batch_events) == (2000, 2, 2000)
    assert (config.heartbeat_seconds, config.stall_seconds) == (1.0, 30.0)
    assert config.server_id == default_server_id("shop-move")
    assert config.state_dir.endswith("/.dbferry/moves/shop-move")
    assert config.target.port == 3307 and config.source.password == "s3cret"
    assert "s3cret" not in repr(config)


def test_issue_example_parses():
    config = parse_config(_with(databases={"include": ["shop"], "exclude": []}, tables={"include": ["shop.*"], "exclude": ["shop.tmp_*"]},
                                rename={"databases": {"shop": "shop_v2"}, "tables": {}}, copy={"batch_rows": 5000, "concurrency": 4},
                                apply={"batch_events": 100}, binlog={"server_id": 4242}, state_dir="/tmp/x"))
    assert config.target_name("shop", "orders") == ("shop_v2", "orders")
    assert (config.batch_rows, config.concurrency, config.batch_events, config.server_id) == (5000, 4, 100, 4242)
    assert not config.selection.selects_table("shop", "tmp_1")


def test_table_rename_within_and_across_databases():
    config = parse_config(_with(rename={"databases": {"shop": "shop_v2"}, "tables": {"shop.a": "a2", "shop.b": "other.b2"}}))
    assert config.target_name("shop", "a") == ("shop_v2", "a2")
    assert config.target_name("shop", "b") == ("other", "b2")


@pytest.mark.parametrize("data,key,fix", [
    (_with(copy={"batch_row": 10}), "copy.batch_row", "did you mean copy.batch_rows?"),
    (_with(copy={"batch_rows": 0}), "copy.batch_rows", "set copy.batch_rows: 2000"),
    (_with(copy={"batch_rows": "many"}), "copy.batch_rows", "set copy.batch_rows"),
    (_with(name="shop move!"), "name", "pick a name"),
    ({"name": "x", "source": {}}, "target", "add target:"),
    (_with(source={"hostname": "db1"}), "source", "use only:"),
    (_with(rename={"databases": ["shop"]}), "rename.databases", "{old_name: new_name}"),
    (_with(reuse_target="yes"), "reuse_target", "true or false"),
    (_with(binlog={"stall_seconds": 0.5}), "binlog.stall_seconds", "set binlog.stall_seconds: 30.0"),
    (_with(binlog={"stall_seconds": 10, "heartbeat_seconds": 6}), "binlog.heartbeat_seconds", "must never look stalled"),
])
def test_errors_name_the_key_and_the_fix(data, key, fix):
    with pytest.raises(DbferryError) as err:
        parse_config(data)
    assert err.value.obj == key
    assert fix in err.value.fix


def test_digest_ignores_tuning_but_not_identity():
    base = parse_config(BASE).digest
    assert parse_config(_with(copy={"batch_rows": 10})).digest == base
    assert parse_config(_with(source={"host": "db1", "user": "f", "password": "rotated"})).digest == base
    assert parse_config(_with(target={"host": "db3"})).digest != base
    assert parse_config(_with(databases={"include": ["shop"]})).digest != base


def test_load_yaml_and_json(tmp_path):
    yml = tmp_path / "move.yml"
    yml.write_text("name: m1\nsource: {host: a}\ntarget: {host: b}\ncopy:\n  batch_rows: 10\n")
    assert load_config(str(yml)).batch_rows == 10
    bad = tmp_path / "bad.yml"
    bad.write_text("name: [\n")
    with pytest.raises(DbferryError, match="is not valid YAML"):
        load_config(str(bad))
    with pytest.raises(DbferryError, match="cannot read the move configuration"):
        load_config(str(tmp_path / "missing.yml"))
