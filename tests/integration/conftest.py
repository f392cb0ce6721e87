"""Fixtures for integration tests.

Sandboxes (private mariadbd processes) are started once per test session;
each test gets a database of its own, dropped afterwards on both servers.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from integration_support import Ansible, Servers, sql

from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    base = str(tmp_path_factory.mktemp("sandboxes"))
    source, target = sandbox.up(base, ["source", "target"])
    yield Servers(source, target, base)
    sandbox.down(base)


_names = itertools.count()


@pytest.fixture
def db(servers: Servers, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database on the source (name unique per test)."""
    name = "t%d_%s" % (next(_names), re.sub(r"\W+", "_", request.node.name)[:40])
    sql(servers.source, "CREATE DATABASE %s" % quote_ident(name))
    yield name
    for server in (servers.source, servers.target):
        sql(server, "DROP DATABASE IF EXISTS %s" % quote_ident(name))


@pytest.fixture
def make_user(servers: Servers) -> Iterator[Any]:
    """Create a throw-away user on a sandbox: make_user(server, name, [GRANT scopes...]) -> options dict."""
    made = []

    def make(server: sandbox.Sandbox, name: str, grants: list[str]) -> dict[str, Any]:
        password = "pw-" + os.urandom(8).hex()
        account = "%s@'127.0.0.1'" % quote_ident(name)
        sql(server, "CREATE USER %s IDENTIFIED BY '%s'" % (account, password))
        for grant in grants:
            sql(server, "GRANT %s TO %s" % (grant, account))
        made.append((server, account))
        return {"host": "127.0.0.1", "port": server.port, "user": name, "password": password}

    yield make
    for server, account in made:
        sql(server, "DROP USER IF EXISTS %s" % account)


@pytest.fixture
def ansible(tmp_path: Path) -> Ansible:
    return Ansible(tmp_path)
