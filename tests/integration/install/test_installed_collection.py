"""The collection as a user gets it: `ansible-galaxy collection build`, installed into an empty collections path of a
fresh virtualenv that holds only ansible-core and PyMySQL (the versions requirements.txt pins), then a move run by
the playbook's collection name (`ansible-playbook dbferry.mysql.move -i INVENTORY -l MOVE`) and `dbferry status`
from the installed collection's bin/dbferry with a python3 that has nothing but PyMySQL.

Why a copy of the checkout is built, not the checkout itself: ansible-galaxy checksums each file twice (listing,
then packing), and a file someone edits in between fails the build. The copy holds the files git knows, as a
fresh clone would (scripts/sanity.sh copies the same way).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from ferry_support import assert_same, make_load_tables
from integration_support import ROOT, sql
from playbook_support import move_variables

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.state import COMPLETE

# What a user runs, and what ansible-test sanity reads from an installed collection (tests/sanity, tests/config.yml).
SHIPPED = {"COPYING", "FILES.json", "MANIFEST.json", "README.md", "bin", "changelogs", "docs", "examples", "meta",
           "playbooks", "plugins", "roles", "tests"}


@dataclass
class Installed:
    """A fresh virtualenv with the pinned ansible-core and PyMySQL (and their dependencies; no pip), and the collection built and installed, under ``base``."""

    base: Path

    @property
    def venv(self) -> Path:
        return self.base / "venv"

    @property
    def collections(self) -> Path:
        return self.base / "collections"

    @property
    def tarball(self) -> Path:
        (tarball,) = (self.base / "dist").glob("dbferry-mysql-*.tar.gz")
        return tarball

    @property
    def collection(self) -> Path:
        return self.collections / "ansible_collections" / "dbferry" / "mysql"

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def env(self) -> dict[str, str]:
        """The user's environment: nothing of the checkout (the Makefile exports its link tree and .venv/bin on PATH)."""
        env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "PYTHON", "VIRTUAL_ENV"))}
        checkout_bin = (ROOT / ".venv" / "bin").resolve()
        path = [str(self.venv / "bin")] + [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != checkout_bin]
        env.update({"PATH": os.pathsep.join(path), "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
                    "ANSIBLE_HOME": str(self.base / "ansible-home"), "ANSIBLE_NOCOLOR": "1"})
        return env

    def run(self, *cmd: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run(list(cmd), cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout, check=False)
        assert proc.returncode == 0, "%s failed:\n%s\n%s" % (" ".join(cmd), proc.stdout[-4000:], proc.stderr[-4000:])
        return proc


def _pin(package: str) -> str:
    """``package==VERSION`` as requirements.txt pins it."""
    found = re.search(r"^%s==\S+$" % re.escape(package), (ROOT / "requirements.txt").read_text(), re.M | re.I)
    assert found, "requirements.txt pins no %s" % package
    return found.group(0)


def _copy_checkout(dest: Path) -> None:
    """The files git knows (tracked, and new ones not ignored), as a fresh clone holds them; modes kept (bin/dbferry)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is left out
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("installed")
    done = Installed(base)
    # Without pip (ensurepip takes longer than the rest): the tests' pip installs into it, from its cache when it can.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(done.venv)], check=True, timeout=120)
    done.run(sys.executable, "-m", "pip", "--python", done.bin("python"), "install", "-q", "--disable-pip-version-check",
             _pin("ansible-core"), _pin("PyMySQL"), cwd=base, timeout=600)
    _copy_checkout(base / "checkout")
    done.run(done.bin("ansible-galaxy"), "collection", "build", str(base / "checkout"), "--output-path", str(base / "dist"), cwd=base)
    done.collections.mkdir()
    done.run(done.bin("ansible-galaxy"), "collection", "install", str(done.tarball), "-p", str(done.collections), cwd=base)
    return done


@pytest.fixture(scope="module")
def bare_python(installed: Installed) -> str:
    """A python3 with PyMySQL and nothing else (no pip, no PyYAML, no ansible): what the launcher says it needs."""
    bare = installed.base / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=60)
    (pymysql,) = installed.venv.glob("lib/python3*/site-packages/pymysql")
    (site,) = bare.glob("lib/python3*/site-packages")
    (site / "pymysql").symlink_to(pymysql)
    python = str(bare / "bin" / "python3")
    for absent in ("yaml", "ansible", "tqdm"):
        assert subprocess.run([python, "-c", "import %s" % absent], capture_output=True, check=False).returncode != 0, absent
    return python


def test_the_tarball_ships_what_a_user_runs(installed, bare_python, tmp_path):
    """No development files in the tarball (bench, scripts, Makefile, lint configs, dev pins, the example vault's password,
    tests that need sandboxes); the runtime needs declared for execution environments; the version one place says."""
    with tarfile.open(installed.tarball) as tar:
        names = {member.name.rstrip("/") for member in tar.getmembers()}
        manifest = json.load(tar.extractfile("MANIFEST.json"))  # type: ignore[arg-type]
    assert {name.split("/")[0] for name in names} == SHIPPED
    assert {name for name in names if name.startswith("tests/")} <= {"tests/config.yml", "tests/sanity"} | {
        name for name in names if name.startswith("tests/sanity/")}
    assert "examples/vault-password.txt" not in names and "examples/inventory/hosts.yml" in names
    assert {"meta/ee-requirements.txt", "meta/execution-environment.yml", "meta/runtime.yml", "bin/dbferry"} <= names
    assert {name for name in names if name.startswith("changelogs/")} == {"changelogs/changelog.yaml", "changelogs/config.yaml"}
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert manifest["collection_info"]["version"] == version
    assert manifest["collection_info"]["repository"].startswith("https://")
    # ansible-builder reads the python requirements the file points to, relative to the collection
    ee = yaml.safe_load((installed.collection / "meta" / "execution-environment.yml").read_text())
    requirements = (installed.collection / ee["dependencies"]["python"]).read_text()
    assert re.search(r"^PyMySQL>=1\.2\.0$", requirements, re.M)
    # the fresh virtualenv sees one dbferry.mysql, the installed one
    listed = installed.run(installed.bin("ansible-galaxy"), "collection", "list", "dbferry.mysql", "--format", "json", cwd=tmp_path)
    assert list(json.loads(listed.stdout)) == [str(installed.collections / "ansible_collections")]
    launcher = installed.run(bare_python, str(installed.collection / "bin" / "dbferry"), "--version", cwd=tmp_path)
    assert launcher.stdout == "dbferry %s\n" % version
    # a ferry host without Ansible: the tarball unpacked where the launcher expects it (docs/install.md)
    unpacked = tmp_path / "opt" / "ansible_collections" / "dbferry" / "mysql"
    unpacked.mkdir(parents=True)
    installed.run("tar", "-xzf", str(installed.tarball), "-C", str(unpacked), cwd=tmp_path)
    assert installed.run(bare_python, str(unpacked / "bin" / "dbferry"), "--version", cwd=tmp_path).stdout == launcher.stdout


def test_a_move_by_collection_name_then_dbferry_status(installed, bare_python, ansible, servers, db, tmp_path):
    """`ansible-playbook dbferry.mysql.move -i INVENTORY -l MOVE` with the installed collection moves every row; the ferry
    host's python is the fresh virtualenv's (ansible-core and PyMySQL only); then `dbferry status`, started through a
    link on PATH to the installed bin/dbferry with a python3 that has only PyMySQL, reads the completed move."""
    make_load_tables(servers, db, 500)
    name = "installed-" + db[:30].replace("_", "-")
    variables = move_variables(servers, db, tmp_path, name, ansible_python_interpreter=installed.bin("python"))
    variables.update({key: "" for key in variables if key.startswith("dbferry_hook_")})  # the hooks are the tests' files
    vars_file = ansible.write_vars(variables)  # 0600: passwords
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {name: None, "other-move": None}}}))
    try:
        move = installed.run(installed.bin("ansible-playbook"), "dbferry.mysql.move", "-i", str(inventory), "-l", name,
                             "-e", "@" + str(vars_file), cwd=tmp_path, timeout=300)
    finally:
        sql(servers.source, "SET GLOBAL read_only = OFF")
    output = move.stdout + move.stderr
    assert "does not support Ansible version" not in output  # meta/runtime.yml's requires_ansible admits the pinned core
    assert "other-move" not in output
    assert re.search(r"^%s\s+: ok=\d+ +changed=\d+ +unreachable=0 +failed=0" % re.escape(name), move.stdout, re.M), move.stdout[-3000:]
    for key in ("dbferry_source", "dbferry_target", "dbferry_source_admin"):
        assert variables[key]["password"] not in output
    assert assert_same(servers, db) == 1000
    assert json.loads((tmp_path / "report.json").read_text())["outcome"] == "cut over"

    path_bin = tmp_path / "path-bin"
    path_bin.mkdir()
    (path_bin / "dbferry").symlink_to(installed.collection / "bin" / "dbferry")
    env = dict(installed.env(), PATH=os.pathsep.join([str(Path(bare_python).parent), str(path_bin), "/usr/bin", "/bin"]))
    status = subprocess.run(["dbferry", "status", name, "--state-dir", str(tmp_path / "state")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert status.returncode == 0, status.stderr
    snapshot = json.loads(status.stdout)
    assert snapshot["phase"] == COMPLETE and snapshot["move"] == name, snapshot
    assert {table: entry["done"] for table, entry in snapshot["tables"].items()} == {"%s.a" % db: True, "%s.b" % db: True}
    # without tqdm: --watch prints JSON lines (stdout is a pipe here) and ends with the move; the report needs nothing either
    watched = subprocess.run(["dbferry", "status", name, "--state-dir", str(tmp_path / "state"), "--watch"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60, check=False)
    assert watched.returncode == 0 and json.loads(watched.stdout)["phase"] == COMPLETE, watched.stderr
    report = subprocess.run(["dbferry", "report", name, "--state-dir", str(tmp_path / "state"), "--output", str(tmp_path / "r.html")], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert report.returncode == 0, report.stderr
    assert 'data-series="rows_per_second"' in (tmp_path / "r.html").read_text()
