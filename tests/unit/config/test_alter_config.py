"""parse_alter_config: defaults from ALTER_OPTIONS, the server from login_* options or a mapping, one error per bad value."""

from __future__ import annotations

import os
from typing import Any

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import (
    ALTER_BY_KEY, ALTER_OPTIONS, AlterConfig, default_state_dir, parse_alter_config,
)
from ansible_collections.dbferry.mysql.plugins.module_utils.config.options import REQUIRED


def _raw(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"login_host": "db1", "login_port": 3307, "login_user": "u", "login_password": "p",
                           "database": "shop", "table": "orders", "alter": "ADD COLUMN note TEXT"}
    raw.update(overrides)
    return raw


def test_defaults_are_the_declared_ones() -> None:
    config = parse_alter_config(_raw())
    assert (config.server.host, config.server.port, config.server.user) == ("db1", 3307, "u")
    assert (config.database, config.table, config.alter) == ("shop", "orders", "ADD COLUMN note TEXT")
    for option in ALTER_OPTIONS:
        if option.default is REQUIRED or option.key in ("server", "state_dir") or option.type == "raw":
            continue
        value = getattr(config, option.key)
        assert value == (tuple(option.default) if isinstance(value, tuple) else option.default), option.key
    assert (config.chunk_size, config.dml_batch_size, config.cut_over_lock_timeout_seconds, config.default_retries) == (1000, 10, 3, 60)
    assert config.verify is True and config.ok_to_drop_table is False and config.max_lag_millis == 1500
    assert config.state_dir == default_state_dir("shop", "orders")


def test_every_field_is_an_option() -> None:
    fields = set(AlterConfig.__dataclass_fields__)
    assert fields == set(ALTER_BY_KEY)


def test_server_mapping_and_replicas_inherit_login() -> None:
    config = parse_alter_config({"server": {"host": "db1", "user": "u", "password": "p"}, "database": "d", "table": "t", "alter": "FORCE",
                                 "throttle_control_replicas": [{"host": "r1"}], "max_load": "Threads_running=25",
                                 "rename_columns": {"a": "b"}, "throttle_flag_file": "~/x"})
    assert config.throttle_control_replicas[0].host == "r1" and config.throttle_control_replicas[0].user == "u"
    assert config.max_load == {"Threads_running": 25} and config.rename_columns == {"a": "b"}
    assert config.throttle_flag_file == os.path.expanduser("~/x")


@pytest.mark.parametrize("overrides, key", [
    ({"chunk_size": 5}, "chunk_size"),
    ({"chunk_size": True}, "chunk_size"),
    ({"dml_batch_size": 101}, "dml_batch_size"),
    ({"nice_ratio": -0.5}, "nice_ratio"),
    ({"nice_ratio": "fast"}, "nice_ratio"),
    ({"nice_ratio": True}, "nice_ratio"),
    ({"cut_over_lock_timeout_seconds": 0}, "cut_over_lock_timeout_seconds"),
    ({"verify": "yes"}, "verify"),
    ({"rename_columns": {"a": ""}}, "rename_columns"),
    ({"rename_columns": {"a": "c", "b": "C"}}, "rename_columns"),
    ({"alter": "ALTER TABLE orders ADD x INT"}, "alter"),
    ({"database": None}, "database"),
    ({"chunk_sise": 10}, "chunk_sise"),
    ({"server": {"host": "x"}}, "server"),
    ({"throttle_control_replicas": ["r1"]}, "throttle_control_replicas[0]"),
])
def test_bad_values_name_their_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(DbferryError) as refused:
        parse_alter_config(_raw(**overrides))
    assert refused.value.obj == key and refused.value.fix


def test_unknown_key_suggests_the_close_one() -> None:
    with pytest.raises(DbferryError, match="is not a known option") as refused:
        parse_alter_config(_raw(chunk_sise=10))
    assert refused.value.fix == "did you mean chunk_size?"


def test_cli_text_numbers_and_trailing_semicolon() -> None:
    config = parse_alter_config(_raw(chunk_size="500", alter=" ADD COLUMN c INT; ", nice_ratio="0.5"))
    assert config.chunk_size == 500 and config.alter == "ADD COLUMN c INT" and config.nice_ratio == 0.5
    assert parse_alter_config(_raw(nice_ratio=2)).nice_ratio == 2.0


def test_default_state_dir_escapes_names() -> None:
    assert default_state_dir("shop", "orders").endswith(os.path.join("alters", "shop.orders"))
    assert default_state_dir("a.b", "c/d").endswith(os.path.join("alters", "a%2eb.c%2fd"))
