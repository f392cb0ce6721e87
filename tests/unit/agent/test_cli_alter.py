"""`dbferry alter`'s command line: gh-ost's flags for every alter option, the connection without a password on it,
and bad input refused with one line before any server is reached (no server here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.agent import cli
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import ALTER_OPTIONS, parse_alter_config

REQUIRED_ARGS = ["alter", "--database", "shop", "--table", "orders", "--alter", "ADD COLUMN note TEXT"]


@pytest.fixture(autouse=True)
def no_password_in_environment(monkeypatch):
    monkeypatch.delenv(cli.PASSWORD_VARIABLE, raising=False)


def _raw(*extra: str) -> dict:
    return cli._alter_raw(cli.build_parser().parse_args(REQUIRED_ARGS + list(extra)))  # pylint: disable=protected-access


def _option_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "dba.cnf"
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


def test_every_alter_option_has_a_gh_ost_flag():
    alter = cli.build_parser()._subparsers._group_actions[0].choices["alter"]  # pylint: disable=protected-access
    flags = {flag for action in alter._actions for flag in action.option_strings}  # pylint: disable=protected-access
    expected = {"--" + option.key.replace("_", "-") for option in ALTER_OPTIONS if option.key != "server"}
    assert expected <= flags
    assert {"--chunk-size", "--max-load", "--cut-over-lock-timeout-seconds", "--login-config-file", "--noop"} <= flags
    assert not [flag for flag in flags if "password" in flag]


def test_a_password_on_the_command_line_is_refused(capsys):
    with pytest.raises(SystemExit) as ended:
        cli.build_parser().parse_args(REQUIRED_ARGS + ["--login-password", "secret"])
    assert ended.value.code == 2
    assert "--login-password" in capsys.readouterr().err


def test_command_line_becomes_the_alter_configuration(tmp_path):
    config = parse_alter_config(_raw(
        "--login-host", "db1.example.com", "--login-port", "3307", "--login-user", "dba",
        "--login-config-file", _option_file(tmp_path, "[client]\npassword=from-file\n"),
        "--chunk-size", "2000", "--dml-batch-size", "50", "--max-load", "Threads_running=25,Threads_connected=500",
        "--critical-load", "Threads_running=200", "--throttle-control-replicas", "db2.example.com:3306,db3",
        "--throttle-control-replicas", "db4:3310", "--max-lag-millis", "900", "--cut-over-lock-timeout-seconds", "5",
        "--default-retries", "7", "--rename-columns", "mail=email", "--rename-columns", "nick=handle,zip=postcode",
        "--exact-rowcount", "--no-concurrent-rowcount", "--initially-drop-ghost-table", "--ok-to-drop-table",
        "--no-verify", "--hooks-timeout-seconds", "30"))
    assert (config.database, config.table, config.alter) == ("shop", "orders", "ADD COLUMN note TEXT")
    assert (config.server.host, config.server.port, config.server.user) == ("db1.example.com", 3307, "dba")
    assert config.server.with_option_file().password == "from-file"
    assert (config.chunk_size, config.dml_batch_size, config.max_lag_millis) == (2000, 50, 900)
    assert config.max_load == {"Threads_running": 25, "Threads_connected": 500}
    assert config.critical_load == {"Threads_running": 200}
    assert [(r.host, r.port, r.user) for r in config.throttle_control_replicas] == [
        ("db2.example.com", 3306, "dba"), ("db3", 3306, "dba"), ("db4", 3310, "dba")]
    assert (config.cut_over_lock_timeout_seconds, config.default_retries, config.hooks_timeout_seconds) == (5, 7, 30)
    assert config.rename_columns == {"mail": "email", "nick": "handle", "zip": "postcode"}
    assert (config.exact_rowcount, config.concurrent_rowcount, config.verify) == (True, False, False)
    assert (config.initially_drop_ghost_table, config.initially_drop_old_table, config.ok_to_drop_table) == (True, False, True)


def test_options_left_out_take_the_alter_defaults():
    raw = _raw()
    assert set(raw) == {"database", "table", "alter"}
    config = parse_alter_config(raw)
    for option in ALTER_OPTIONS:
        if option.type in ("int", "bool") and option.default is not None:
            assert getattr(config, option.key) == option.default, option.key


def test_the_password_comes_from_the_environment_when_the_option_file_has_none(tmp_path, monkeypatch):
    monkeypatch.setenv(cli.PASSWORD_VARIABLE, "from-environment")
    without = _option_file(tmp_path, "[client]\nuser=dba\n")
    assert parse_alter_config(_raw("--login-config-file", without)).server.password == "from-environment"
    with_password = _option_file(tmp_path, "[client]\nuser=dba\npassword=from-file\n")
    config = parse_alter_config(_raw("--login-config-file", with_password))
    assert config.server.password is None and config.server.with_option_file().password == "from-file"


@pytest.mark.parametrize("args,named", [
    (["--chunk-size", "5"], "chunk_size"),
    (["--cut-over-lock-timeout-seconds", "0"], "cut_over_lock_timeout_seconds"),
    (["--max-load", "Threads_running"], "max_load"),
    (["--login-ssl-mode", "preferred", "--login-ca-cert", "/nonexistent/ca.pem"], "ssl_mode"),
])
def test_a_bad_value_fails_with_one_line_naming_it_before_connecting(args, named, capsys, monkeypatch):
    def no_server(*_args, **_kwargs):
        raise AssertionError("bad input must be refused before any server is reached")

    monkeypatch.setattr(cli, "run_controlled", no_server)
    status = cli.run(REQUIRED_ARGS + args)
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("dbferry: error: ") and err.count("\n") == 1 and named in err, err


def test_an_empty_alter_is_refused(capsys):
    assert cli.run(["alter", "--database", "shop", "--table", "orders", "--alter", " "]) == 2
    assert "alter" in capsys.readouterr().err


@pytest.mark.parametrize("text,message", [("a", "is not OLD=NEW"), ("a=", "is not OLD=NEW")])
def test_rename_pairs_must_be_old_equals_new(text, message, capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(REQUIRED_ARGS + ["--rename-columns", text])
    assert message in capsys.readouterr().err


def test_replicas_must_be_host_and_port(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(REQUIRED_ARGS + ["--throttle-control-replicas", "db2:port"])
    assert "is not HOST[:PORT]" in capsys.readouterr().err


def test_a_person_at_a_terminal_gets_events_as_short_lines(capsys):
    echo = cli._TerminalEcho()  # pylint: disable=protected-access
    echo.write('{"ts": "2026-12-03T13:45:27.231+00:00", "move": "alter-abc", "event": "copy_complete", "table": "shop.orders", "rows": 1500}\n')
    echo.flush()
    assert capsys.readouterr().out == "13:45:27 copy_complete        table=shop.orders rows=1500\n"
