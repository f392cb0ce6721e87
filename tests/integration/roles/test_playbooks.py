"""The runbook: playbooks/move.yml, rehearse.yml and abort.yml with the roles, run by ansible-playbook
against the sandboxes through the example inventory (examples/inventory, its vault included), with
only the connections, the selection and the test's paths given as extra vars."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from ferry_support import DmlLoad, assert_same, make_load_tables
from playbook_support import checkpoints, failure_message, move_variables, run_playbook
from integration_support import ROOT, root_session, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.agent import process as agent
from ansible_collections.dbferry.mysql.plugins.module_utils.agent.process import read_status
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import servers_seen
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import SERVER_OPTIONS, fetch_value, login_name
from ansible_collections.dbferry.mysql.plugins.module_utils.server.flavor import detect_flavor

ROLES = ("preflight", "copy", "cutover", "move")


def _secrets(variables: dict[str, Any]) -> list[str]:
    return [variables[key]["password"] for key in ("dbferry_source", "dbferry_target", "dbferry_source_admin")]


def _hook_lines(tmp_path: Path) -> list[str]:
    path = tmp_path / "hooks.log"
    return path.read_text().splitlines() if path.exists() else []


def _read_only(server: Any) -> int:
    with root_session(server) as conn:
        return int(fetch_value(conn, "SELECT @@GLOBAL.read_only"))


def _until(condition: Any, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.1)


def test_roles_document_every_variable_with_its_default():
    """defaults/main.yml, meta/argument_specs.yml and README.md agree on every variable of every role."""
    readme = (ROOT / "README.md").read_text()
    shared: dict[str, Any] = {}
    for role in ROLES:
        folder = ROOT / "roles" / role
        defaults = yaml.safe_load((folder / "defaults" / "main.yml").read_text())
        options = yaml.safe_load((folder / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
        assert (folder / "README.md").exists() and (folder / "meta" / "main.yml").exists()
        for name, spec in options.items():
            assert name.startswith("dbferry_"), name
            if spec.get("required") or name == "dbferry_source_admin":
                assert name not in defaults, "%s: a required variable has no default" % name
            else:
                assert defaults[name] == spec["default"], "%s/%s: defaults/main.yml says %r, argument_specs %r" % (
                    role, name, defaults[name], spec["default"])
            if spec["type"] == "dict" and name in ("dbferry_source", "dbferry_target", "dbferry_source_admin"):
                assert set(spec["options"]) == set(SERVER_OPTIONS), name
                assert spec["options"]["password"]["no_log"] is True
            assert shared.setdefault(name, {k: v for k, v in spec.items() if k != "required"}) == {
                k: v for k, v in spec.items() if k != "required"}, "%s differs between roles" % name
            assert re.search(r"^\| `%s` \|" % re.escape(name), readme, re.M), "README.md does not list %s" % name
            assert name in (folder / "README.md").read_text(), "roles/%s/README.md does not list %s" % (role, name)
        assert set(defaults) <= set(options), "%s: defaults without argument spec: %s" % (role, set(defaults) - set(options))
    move_options = yaml.safe_load((ROOT / "roles/move/meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(shared) == set(move_options), "the move role takes every variable of the roles it chains"


def test_roles_declare_every_variable_their_tasks_read():
    """Every dbferry_* variable a role's tasks and templates read is in its argument specs (so in its defaults and README too).

    Why: a variable read but not declared gets no default and no check when the role runs on its own (an
    undefined error, or a ``default()`` in the task that can differ from the other roles' default).
    The names a role defines itself for its hooks (``vars:`` keys such as dbferry_hook) do not count.
    """
    for role in ROLES:
        folder = ROOT / "roles" / role
        options = yaml.safe_load((folder / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
        text = "".join(path.read_text() for path in sorted(folder.glob("tasks/*.yml")) + sorted(folder.glob("templates/*")))
        read = set(re.findall(r"\bdbferry_\w+", text)) - set(re.findall(r"^\s+(dbferry_\w+):", text, re.M))
        assert read <= set(options), "roles/%s reads variables its argument specs do not declare: %s" % (role, ", ".join(sorted(read - set(options))))


def _tasks(items: Any) -> Any:
    """Every task of a task list or a play list, those in blocks (block, rescue, always) and plays (pre_tasks, tasks, ...) included."""
    for item in items or ():
        nested = [key for key in ("block", "rescue", "always", "pre_tasks", "roles", "tasks", "post_tasks", "handlers") if key in item]
        for key in nested:
            yield from _tasks(item[key] if key != "roles" else ())
        if not nested:
            yield item


def test_tasks_pass_every_connection_option_of_a_connection_dict():
    """A task that passes a connection dict (dbferry_source_admin, ...) to a module key by key passes every key of SERVER_OPTIONS.

    Why: a key left out is silently not used, so a task that skips ssl_mode would connect
    without the TLS verification the operator asked for (and preflight checked).
    """
    files = sorted((ROOT / "roles").glob("*/tasks/*.yml")) + sorted((ROOT / "playbooks").glob("*.yml"))
    checked = 0
    for path in files:
        for task in _tasks(yaml.safe_load(path.read_text())):
            for module, args in task.items():
                if not isinstance(args, dict):
                    continue
                mapped: dict[str, dict[str, Any]] = {}
                for arg, value in args.items():
                    found = re.fullmatch(r"\{\{ (\w+)\.(\w+) \| default\(omit\) \}\}", str(value))
                    if found and found.group(2) in SERVER_OPTIONS:
                        mapped.setdefault(found.group(1), {})[found.group(2)] = arg
                for variable, keys in mapped.items():
                    checked += 1
                    where = "%s: task %r (%s) passes %s" % (path.relative_to(ROOT), task.get("name"), module, variable)
                    assert set(keys) == set(SERVER_OPTIONS), "%s without %s" % (where, ", ".join(sorted(set(SERVER_OPTIONS) - set(keys))))
                    assert all(arg == login_name(key) for key, arg in keys.items()), "%s under other option names: %s" % (where, keys)
    assert checked, "no task passes a connection dict key by key: the pattern this test looks for has changed"


def test_the_cutover_role_connects_as_the_admin_login_asks_tls(ansible, servers, db, tmp_path):
    """The cutover role uses dbferry_source_admin's ssl_mode: required against a source without TLS stops it before the source is touched."""
    playbook = tmp_path / "cutover.yml"
    playbook.write_text(yaml.safe_dump([{"name": "cut over", "hosts": "localhost", "gather_facts": False, "roles": ["dbferry.mysql.cutover"]}]))
    variables = move_variables(servers, db, tmp_path, "cutover-tls")
    variables["dbferry_source_admin"]["ssl_mode"] = "required"
    run = subprocess.run([str(ansible.bin("ansible-playbook")), str(playbook), "-i", "localhost,", "-e", "@" + str(ansible.write_vars(variables))],
                         env=ansible.env(), capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode != 0
    assert "ssl_mode required insists on TLS, but the server does not offer it" in failure_message(run.stdout)
    assert _read_only(servers.source) == 0
    assert variables["dbferry_source_admin"]["password"] not in run.stdout + run.stderr


def test_staged_rehearsal_through_the_example_inventory(ansible, servers, db, tmp_path):
    """`move.yml -i examples/inventory -l staging` while the app writes: the whole move with the hooks in
    order, only the staging host, inline verification (the copy role starts the agent with verify.inline,
    the cutover compares only the rows changed since), a report, then dbferry_cleanup removes the move's
    state. A postpone-cutover flag file that does not exist holds nothing."""
    make_load_tables(servers, db, 3000)
    name = "stg-" + db[:40].replace("_", "-")
    variables = move_variables(servers, db, tmp_path, name, dbferry_cleanup=True, dbferry_verify_method="inline",
                               dbferry_postpone_cutover_flag_file=str(tmp_path / "no-postpone.flag"))
    load = DmlLoad(servers, db, connections=2, seed=5, per_second=50)
    try:
        proc = run_playbook(ansible, "move.yml", variables, "-l", "staging")
    finally:
        load.finish()  # its writes were refused since read-only; it retried until now
        sql(servers.source, "SET GLOBAL read_only = OFF")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert "shop-staging" in proc.stdout and "shop-production" not in proc.stdout  # -l staging: production untouched
    assert load.statements > 50
    assert _hook_lines(tmp_path) == ["before_read_only %s -" % name,
                                     "after_read_only %s %s" % (name, _hook_lines(tmp_path)[1].split()[-1]),
                                     "after_cutover %s %s" % (name, _hook_lines(tmp_path)[1].split()[-1])]
    # the position read once read-only: a GTID per domain (other tests on the shared sandboxes write in other domains)
    assert re.fullmatch(r"\d+-\d+-\d+(,\d+-\d+-\d+)*", _hook_lines(tmp_path)[1].split()[-1])
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["outcome"] == "cut over" and report["rows_copied"] > 5000 and report["rows_per_second"] > 0
    # inline: both tables vouched for by their copy hashes, only the rows changed since compared (not all 6000)
    assert report["verify"]["result"] == "ok" and report["verify"]["method"] == "inline" and report["verify"]["tables"] == 2, report
    assert report["verify"]["rows"] < 3000, report["verify"]
    assert 0 < report["read_only_window_seconds"] < 60 and report["agent"] == "removed (dbferry_cleanup)"
    assert "Wait while the cutover is postponed" in proc.stdout  # the cutover role's wait before read-only ran
    assert assert_same(servers, db) > 5000
    # dbferry_cleanup: the state folder and the checkpoints are gone, the moved tables stay
    assert not (tmp_path / "state").exists() and checkpoints(servers, name) == 0
    for secret in _secrets(variables):
        assert secret not in proc.stdout and secret not in proc.stderr
    # -l is required: a move never runs for the whole inventory by accident
    everything = run_playbook(ansible, "move.yml", variables)
    assert everything.returncode != 0 and "Say which moves to run" in everything.stdout


def test_rehearsal_then_a_failed_cutover_makes_the_source_writable_again(ansible, servers, db, tmp_path):
    """rehearse.yml -l staging never touches the source and leaves the agent in sync; then a move whose
    verification fails (a target row changed behind the agent's back) makes the source writable again,
    runs the on-failure hook and says so, both with read-only, verify and cutover in one task (no
    after-read-only hook) and as three tasks (with it); once the row is right again the one task cuts
    over; abort.yml removes what is left."""
    make_load_tables(servers, db, 2000)
    name = "fail-" + db[:40].replace("_", "-")
    throttle_flag = tmp_path / "throttle.flag"
    # checksum: the row changed behind the agent's back below is clean to inline, which does not see it by design.
    variables = move_variables(servers, db, tmp_path, name, dbferry_rehearsal_verify=True, dbferry_copy_read_ahead=2, dbferry_verify_method="checksum",
                               dbferry_throttle_flag_file=str(throttle_flag), dbferry_throttle_check_seconds=0.2)
    rehearsal = run_playbook(ansible, "rehearse.yml", variables, "-l", "staging")
    assert rehearsal.returncode == 0, rehearsal.stdout[-5000:] + rehearsal.stderr[-2000:]
    # the role variables reached the agent's configuration; the ones left null are left out (config.py's defaults)
    stored = json.loads((tmp_path / "state" / "config.json").read_text())
    assert stored["throttle_flag_file"] == str(throttle_flag) and stored["throttle_check_seconds"] == 0.2, stored.keys()
    assert stored["copy"]["read_ahead"] == 2 and stored["verify"] == {"inline": False}
    assert not {"max_load", "max_lag_millis", "panic_flag_file", "hooks_path"} & set(stored)
    throttle_flag.touch()  # and the flag file holds the running agent
    _until(lambda: read_status(str(tmp_path / "state")).get("throttled"), "the agent throttled by %s" % throttle_flag)
    assert "throttle_flag_file" in read_status(str(tmp_path / "state"))["throttle_reason"]
    throttle_flag.unlink()
    _until(lambda: not read_status(str(tmp_path / "state")).get("throttled"), "the throttle released")
    assert "dbferry.mysql.read_only" not in rehearsal.stdout and "Make the source read-only" not in rehearsal.stdout
    assert _read_only(servers.source) == 0 and _hook_lines(tmp_path) == []  # no cutover hook ran
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["outcome"] == "rehearsal, source untouched" and report["agent"] == "running"
    assert report["verify"]["result"] == "ok" and report["verify"]["rows"] == 4000 and report["verify"]["differing_rows"] == 0
    assert report["read_only_window_seconds"] is None
    assert run_playbook(ansible, "rehearse.yml", variables, "-l", "staging", "-e", "dbferry_cutover=true").returncode != 0

    sql(servers.target, "UPDATE `%s`.a SET v = -1 WHERE id = 1500" % db)  # behind the agent's back; nothing else touches it
    # Without an after-read-only hook, read-only, verify and cutover are one task (dbferry.mysql.switchover).
    failed = run_playbook(ansible, "move.yml", dict(variables, dbferry_hook_after_read_only=""), "-l", "staging")
    assert failed.returncode != 0
    message = failure_message(failed.stdout)
    assert message.startswith("Move %s failed at 'Make the source read-only, verify and cut over, in one task (checksum)'" % name), message
    assert "switchover stopped at verify" in message and "%s.a" % db in message and "1500" in message
    assert "was made WRITABLE AGAIN" in message and "The cutover did not happen" in message
    assert "do not cut over to this target" in message and "playbooks/abort.yml" in message
    assert _read_only(servers.source) == 0
    lines = _hook_lines(tmp_path)
    assert [line.split()[0] for line in lines] == ["before_read_only", "on_failure"], lines
    assert "after_read_only writable_again=True read_only=False cut_over=False" in lines[1], lines[1]
    # With the hook, three tasks, so that it runs between them: the same failure, the same outcome.
    (tmp_path / "hooks.log").unlink()
    again = run_playbook(ansible, "move.yml", variables, "-l", "staging")
    assert again.returncode != 0
    message = failure_message(again.stdout)
    assert message.startswith("Move %s failed at 'Verify the target against the read-only source" % name), message
    assert "%s.a" % db in message and "1500" in message  # the verify message names the table and the key
    assert "was made WRITABLE AGAIN" in message and "The cutover did not happen" in message
    assert "do not cut over to this target" in message and "playbooks/abort.yml" in message
    assert _read_only(servers.source) == 0
    lines = _hook_lines(tmp_path)
    assert [line.split()[0] for line in lines] == ["before_read_only", "after_read_only", "on_failure"], lines
    assert "after_read_only writable_again=True read_only=False cut_over=False" in lines[2], lines[2]
    for secret in _secrets(variables):
        assert secret not in failed.stdout and secret not in failed.stderr and secret not in again.stdout and secret not in again.stderr
    assert checkpoints(servers, name) == 1  # the move is still there, resumable

    # The row brought back in line by a source write, the same playbook, one task again, cuts over; the after-cutover
    # hook sees the results under the names the three-task path registers.
    sql(servers.source, "UPDATE `%s`.a SET v = v + 1 WHERE id = 1500" % db)
    (tmp_path / "hooks.log").unlink()
    try:
        moved = run_playbook(ansible, "move.yml", dict(variables, dbferry_hook_after_read_only=""), "-l", "staging")
        assert _read_only(servers.source) == 1, moved.stdout[-6000:] + moved.stderr[-2000:]  # writes belong on the target now
    finally:
        sql(servers.source, "SET GLOBAL read_only = OFF")
    assert moved.returncode == 0, moved.stdout[-5000:] + moved.stderr[-2000:]
    lines = _hook_lines(tmp_path)
    assert [line.split()[0] for line in lines] == ["before_read_only", "after_cutover"], lines
    assert re.fullmatch(r"\d+-\d+-\d+(,\d+-\d+-\d+)*", lines[1].split()[-1]), lines[1]  # the final position
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["outcome"] == "cut over" and report["verify"]["result"] == "ok", report
    # the agent the rehearsal started copied the rows: its run's figures, recorded in the state folder, not null
    assert report["copy_seconds"] > 0 and report["rows_per_second"] > 0 and report["rows_copied"] == 4000, report
    assert 0 < report["read_only_window_seconds"] < 60 and report["final_position"] == lines[1].split()[-1], report
    assert_same(servers, db)

    # Run again, the move is found complete: it stays complete, and the report of the real cutover stays.
    report_text = (tmp_path / "report.json").read_text()
    found = run_playbook(ansible, "move.yml", variables, "-l", "staging")
    assert found.returncode == 0, found.stdout[-5000:] + found.stderr[-2000:]
    assert (tmp_path / "report.json").read_text() == report_text
    assert read_status(str(tmp_path / "state"))["phase"] == "complete"
    # Abort refuses a move that was cut over, says the source was made read-only, and removes nothing.
    aborted = run_playbook(ansible, "abort.yml", variables, "-l", "staging")
    assert aborted.returncode != 0
    message = failure_message(aborted.stdout)
    assert "was cut over already" in message and "made the source read-only" in message and "nothing was removed" in message, message
    assert "not touched" not in aborted.stdout
    assert (tmp_path / "state").exists() and checkpoints(servers, name) == 1
    cleaned = run_playbook(ansible, "move.yml", variables, "-l", "staging", "-e", "dbferry_cleanup=true")
    assert cleaned.returncode == 0, cleaned.stdout[-3000:]
    assert not (tmp_path / "state").exists() and checkpoints(servers, name) == 0
    assert (tmp_path / "report.json").read_text() == report_text


def test_a_preflight_failure_prints_the_short_message(ansible, servers, db, tmp_path):
    """A check that stops the move fails move.yml with the short message (what, which object, the fix) after the report, not
    the module's whole result as a JSON line first; nothing started, so the next step is to fix and run again (not resume)."""
    sql(servers.source, "CREATE TABLE `%s`.nokey (v INT)" % db)
    sql(servers.source, "INSERT INTO `%s`.nokey VALUES (1)" % db)
    name = "pre-" + db[:40].replace("_", "-")
    proc = run_playbook(ansible, "move.yml", move_variables(servers, db, tmp_path, name), "-l", "staging")
    assert proc.returncode != 0
    assert '"checks":' not in proc.stdout and max(len(line) for line in proc.stdout.splitlines()) < 1000, proc.stdout[-3000:]
    message = failure_message(proc.stdout)
    assert message.startswith("Move %s stopped at 'Stop at the preflight's findings', before the source was touched: " % name), message
    assert "primary_key [%s.nokey]" % db in message and message.count("Fix:") == 1, message
    assert message.endswith("Nothing was started. Next: fix what the message names, then run the same playbook again."), message
    assert checkpoints(servers, name) == 0


def test_a_state_folder_of_other_servers_fails_with_the_short_message(ansible, servers, db, tmp_path):
    """The agent refuses a state folder that recorded other servers (a DBA's rerun with new sandboxes under the same name):
    the play fails with that message alone, once, not the module's result as a JSON line first; nothing was started."""
    sql(servers.source, "CREATE TABLE `%s`.t (id INT PRIMARY KEY)" % db)
    name = "seen-" + db[:40].replace("_", "-")
    identities = {}
    for role, server in (("source", servers.target), ("target", servers.source)):  # the servers the other way round
        with root_session(server) as conn:
            identities[role] = servers_seen.identity(conn, detect_flavor(conn))
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    (state_dir / servers_seen.SERVERS_FILE).write_text(json.dumps(identities))
    proc = run_playbook(ansible, "move.yml", move_variables(servers, db, tmp_path, name), "-l", "staging")
    assert proc.returncode != 0
    # Two failed tasks (the role's short stop and the move's final message), each with its message only.
    assert '"queries":' not in proc.stdout and proc.stdout.count("fatal:") == 2, proc.stdout[-3000:]
    message = failure_message(proc.stdout)
    assert message.startswith("Move %s stopped at 'Stop when the agent did not start', before the source was touched: move %s was "
                              "started with other servers" % (name, name)), message
    assert message.endswith("Nothing was started. Next: fix what the message names, then run the same playbook again."), message
    assert checkpoints(servers, name) == 0


def test_a_move_that_does_not_catch_up_fails_with_the_short_message(ansible, servers, db, tmp_path):
    """The copy role's wait gives up (here: the cutover is postponed by a flag file, dbferry_wait_timeout 1 s): the play fails
    with the wait's message, not its result of up to 100 status samples as a JSON line; the agent runs on, so the next
    step is to run again, which resumes."""
    make_load_tables(servers, db, 100)
    name = "wait-" + db[:40].replace("_", "-")
    flag = tmp_path / "postpone.flag"
    flag.touch()
    variables = move_variables(servers, db, tmp_path, name, dbferry_postpone_cutover_flag_file=str(flag), dbferry_wait_timeout=1)
    try:
        proc = run_playbook(ansible, "rehearse.yml", variables, "-l", "staging")
    finally:
        agent.stop(str(tmp_path / "state"), timeout=60)
    assert proc.returncode != 0
    assert '"samples":' not in proc.stdout, proc.stdout[-3000:]
    message = failure_message(proc.stdout)
    assert message.startswith("Move %s stopped at 'Stop when the move did not catch up', before the source was touched: move %s has not "
                              "caught up after" % (name, name)), message
    assert "the cutover is postponed while %s exists" % flag in message and "lag None" not in message, message
    assert message.endswith("Next: fix what the message names, then run the same playbook again (it resumes), or abort the move with "
                            "playbooks/abort.yml."), message
