"""Throttle, run-time settings, throttle-check reasons and hook environments (pure logic)."""

from __future__ import annotations

import threading

import pytest
import yaml

from ansible_collections.dbferry.mysql.plugins.doc_fragments.move import ModuleDocFragment
from ansible_collections.dbferry.mysql.plugins.module_utils.config.move_config import format_thresholds, parse_config, thresholds
from ansible_collections.dbferry.mysql.plugins.module_utils.config.options import BY_KEY
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.controls.hooks import environment
from ansible_collections.dbferry.mysql.plugins.module_utils.config.module_options import move_config, throttle_argument_spec
from ansible_collections.dbferry.mysql.plugins.module_utils.controls.throttle import Throttle
from ansible_collections.dbferry.mysql.plugins.module_utils.controls.throttle_checks import exceeded, replica_lag
from ansible_collections.dbferry.mysql.plugins.module_utils.config.tunables import Tunables

BASE = {"name": "shop-move", "source": {"host": "db1", "user": "ferry", "password": "s3cret", "ca_cert": "/ca.pem"}, "target": {"host": "db2"}}


def test_thresholds_parse_both_forms():
    assert thresholds("max_load", "Threads_running=25, Threads_connected=500") == {"Threads_running": 25, "Threads_connected": 500}
    assert thresholds("max_load", {"Threads_running": 25}) == {"Threads_running": 25}
    assert thresholds("max_load", "") == {} and thresholds("max_load", None) == {}
    assert format_thresholds({"Threads_running": 25, "Threads_connected": 500}) == "Threads_running=25,Threads_connected=500"


@pytest.mark.parametrize("value,message", [
    ("Threads_running", "'Threads_running', which is not variable=number"),
    ("Threads_running=many", "sets Threads_running to 'many'"),
    ("Threads_running=-1", "sets Threads_running to '-1'"),
    ("x; DROP TABLE t=1", "is not a status variable name"),
    (25, "must be a string or a mapping"),
])
def test_bad_thresholds_name_the_key_and_the_item(value, message):
    with pytest.raises(DbferryError) as err:
        parse_config(dict(BASE, critical_load=value))
    assert err.value.obj == "critical_load" and message in err.value.message
    assert "Threads_running=25,Threads_connected=500" in err.value.fix


def test_throttle_options_parse_with_defaults():
    config = parse_config(BASE)
    assert (config.max_load, config.critical_load, config.critical_load_interval_millis, config.max_lag_millis) == ({}, {}, 0, 1500)
    assert (config.throttle_check_seconds, config.hooks_status_seconds, config.hooks_timeout_seconds) == (0.5, 60.0, 60.0)
    assert config.throttle_control_replicas == () and config.panic_flag_file is None
    config = parse_config(dict(BASE, throttle_control_replicas=[{"host": "r1"}, {"host": "r2", "user": "mon", "password": "x"}],
                               panic_flag_file="relative.flag", max_lag_millis=2000))
    first, second = config.throttle_control_replicas
    assert (first.host, first.user, first.password, first.ca_cert) == ("r1", "ferry", "s3cret", "/ca.pem")  # the source's login
    assert (second.user, second.password) == ("mon", "x")
    assert config.panic_flag_file.startswith("/") and config.max_lag_millis == 2000
    assert "s3cret" not in repr(config)


@pytest.mark.parametrize("changes,key", [
    ({"max_lag_millis": 50}, "max_lag_millis"),
    ({"throttle_control_replicas": [{"hostname": "r1"}]}, "throttle_control_replicas[0]"),
    ({"throttle_control_replicas": "r1,r2"}, "throttle_control_replicas"),
    ({"hooks_path": 7}, "hooks_path"),
    ({"throttle_check_seconds": 0}, "throttle_check_seconds"),
])
def test_bad_throttle_options_name_the_key(changes, key):
    with pytest.raises(DbferryError) as err:
        parse_config(dict(BASE, **changes))
    assert err.value.obj == key


def test_runtime_settings_validate_like_the_configuration():
    tunables = Tunables.of(parse_config(dict(BASE, max_load="Threads_running=25")))
    assert tunables.settings()["max_load"] == "Threads_running=25"
    assert tunables.update({"batch_rows": "500", "max_load": "Threads_running=30"}, dry_run=True) == {
        "batch_rows": [2000, 500], "max_load": ["Threads_running=25", "Threads_running=30"]}
    assert tunables.batch_rows == 2000  # a dry run changes nothing
    assert tunables.update({"batch_rows": 500, "batch_events": 2000}) == {"batch_rows": [2000, 500]}  # batch_events was 2000 already
    assert tunables.batch_rows == 500 and tunables.update({"batch_rows": 500}) == {}
    with pytest.raises(DbferryError) as err:
        tunables.update({"batch_rows": 10, "batch_sizes": 3})
    assert err.value.obj == "batch_sizes" and "settable: batch_rows" in err.value.fix
    assert tunables.batch_rows == 500  # a bad change changes nothing
    with pytest.raises(DbferryError) as err:
        tunables.update({"batch_rows": "0"})
    assert err.value.obj == "copy.batch_rows" and "from 1 to 100000" in err.value.message
    with pytest.raises(DbferryError, match="nothing to set"):
        tunables.update({})
    assert tunables.update({"max_load": ""}) == {"max_load": ["Threads_running=25", ""]} and tunables.max_load == {}


def test_throttle_holders_and_abort():
    throttle = Throttle()
    assert throttle.hold("max_load", "max_load: Threads_running=31 > 25") is True
    assert throttle.hold("max_load", "max_load: Threads_running=33 > 25") is False  # the reason is refreshed
    assert throttle.reasons() == ["max_load: Threads_running=33 > 25"] and throttle.holds("max_load")
    stop = threading.Event()
    waiter = threading.Thread(target=throttle.wait, args=(stop,))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # held
    assert throttle.release("max_load") is True and throttle.release("max_load") is False
    waiter.join(2)
    assert not waiter.is_alive()
    throttle.abort(DbferryError("panic"))
    with pytest.raises(DbferryError, match="panic"):
        throttle.wait(stop)


def test_exceeded_reasons():
    values = {"Threads_running": "31", "Threads_connected": "12", "Uptime_since_flush_status": "x"}
    assert exceeded(values, {"threads_running": 25, "Threads_connected": 500}) == ["threads_running=31 > 25"]
    assert exceeded(values, {"Threads_running": 31}) == []  # at the limit is not above it
    assert exceeded(values, {"No_such_thing": 1}) == ["the source has no status variable No_such_thing"]
    assert exceeded(values, {"Uptime_since_flush_status": 1}) == ["Uptime_since_flush_status=x is not a number"]


def test_replica_lag_reasons():
    row = {"Connection_name": "", "Seconds_Behind_Master": 0, "Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes"}
    assert replica_lag([row], 1500) is None
    assert replica_lag([dict(row, Seconds_Behind_Master=1)], 1500) is None
    assert replica_lag([dict(row, Seconds_Behind_Master=2)], 1500) == "is 2 s behind > max_lag_millis 1500"
    stopped = replica_lag([row, dict(row, Connection_name="b", Seconds_Behind_Master=None, Slave_SQL_Running="No")], 1500)
    assert stopped == "Seconds_Behind_Master is NULL (connection 'b'): IO thread Yes, SQL thread No; counts as lagging"
    assert "is not replicating" in replica_lag([], 1500)


def test_hook_environment_describes_the_move_without_secrets():
    config = parse_config(BASE)
    env = environment(config, "on-status", {"phase": "copying", "rows_copied": 10, "rows_estimated": 100, "lag_seconds": 0.5,
                                            "applied_position": "0-1-5", "throttled": True, "throttle_reason": "pause: x"})
    assert env["DBFERRY_MOVE"] == "shop-move" and env["DBFERRY_EVENT"] == "on-status" and env["DBFERRY_PHASE"] == "copying"
    assert (env["DBFERRY_ROWS_COPIED"], env["DBFERRY_ROWS_ESTIMATED"], env["DBFERRY_LAG_SECONDS"]) == ("10", "100", "0.5")
    assert env["DBFERRY_APPLIED_POSITION"] == "0-1-5" and env["DBFERRY_THROTTLED"] == "1" and env["DBFERRY_ERROR"] == ""
    assert env["DBFERRY_SOURCE"] == "ferry@db1:3306" and env["DBFERRY_STATE_DIR"] == config.state_dir
    assert not any("s3cret" in value for value in env.values())


def test_every_throttle_option_is_declared_documented_and_passed_on():
    spec = throttle_argument_spec()
    docs = yaml.safe_load(ModuleDocFragment.THROTTLING)["options"]
    assert set(spec) == set(docs) and all(key in BY_KEY for key in spec)
    assert set(spec["throttle_control_replicas"]["options"]) == set(docs["throttle_control_replicas"]["suboptions"])
    assert spec["throttle_control_replicas"]["options"]["password"]["no_log"] is True
    for key, entry in docs.items():
        assert entry["type"] == spec[key]["type"]
        default = BY_KEY[key].default
        if default not in (None, [], {}):
            assert "Default %g" % default in " ".join(entry["description"] if isinstance(entry["description"], list) else [entry["description"]])
    params = dict({key: None for key in spec}, name="m", source={"host": "a"}, target={"host": "b"}, max_load="Threads_running=9",
                  throttle_control_replicas=[{"host": "r", "user": None}])
    assert parse_config(move_config(params)).max_load == {"Threads_running": 9}
