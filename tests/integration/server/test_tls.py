"""TLS modes against a real TLS-enabled sandbox (issue 13, item 16).

A private CA signs the sandbox's certificate for the name ``localhost``
only; connecting to 127.0.0.1 is therefore a host name the certificate does
not list, which verify_identity must refuse and verify_ca accept. Whether a
session is encrypted is the server's own word (``Ssl_cipher``).
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from preflight_support import only_check, run_preflight

from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec, close_quietly, connect, fetch_all
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.retry import is_transient, run_reconnecting


@dataclass
class TlsServer:
    server: sandbox.Sandbox
    ca: str
    other_ca: str


def _openssl(*args: str) -> None:
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def _make_ca(folder: Path, name: str) -> tuple[str, str]:
    key, cert = str(folder / (name + ".key")), str(folder / (name + ".pem"))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=dbferry test " + name)
    return key, cert


@pytest.fixture(scope="module")
def tls(servers, tmp_path_factory) -> Iterator[TlsServer]:
    folder = tmp_path_factory.mktemp("tls")
    ca_key, ca = _make_ca(folder, "ca")
    _other_key, other_ca = _make_ca(folder, "other-ca")
    key, csr, cert, ext = (str(folder / name) for name in ("server.key", "server.csr", "server.pem", "san.ext"))
    Path(ext).write_text("subjectAltName=DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
    (server,) = sandbox.up(servers.base, ["tls"], options=["ssl-ca=" + ca, "ssl-cert=" + cert, "ssl-key=" + key, "innodb-buffer-pool-size=32M"])
    yield TlsServer(server, ca, other_ca)
    sandbox.down(servers.base, ["tls"])


def _spec(server: sandbox.Sandbox, **options: Any) -> ServerSpec:
    options.setdefault("host", "127.0.0.1")
    return ServerSpec(port=server.port, user="ferry_source", password=server.passwords["ferry_source"], config_file=None, **options)


def _cipher(spec: ServerSpec) -> str:
    conn = connect(spec)
    try:
        return fetch_all(conn, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")[0][1]
    finally:
        close_quietly(conn)


def _refused(spec: ServerSpec) -> DbferryError:
    """The error connecting with ``spec``; a retry loop must give up on it at its first attempt."""
    attempts = []

    def open_sessions() -> tuple:
        attempts.append(1)
        return (connect(spec),)

    with pytest.raises(DbferryError) as error:
        run_reconnecting("a test session", threading.Event(), open_sessions, lambda _conn: True)
    assert attempts == [1], "retried %d times" % len(attempts)
    assert not is_transient(error.value)
    assert spec.password not in error.value.message
    return error.value


@pytest.mark.parametrize("options", [{}, {"ssl_mode": "verify_identity"}], ids=["ca_cert alone", "verify_identity"])
def test_a_certificate_for_another_host_name_is_refused_at_once(tls, options):
    error = _refused(_spec(tls.server, ca_cert=tls.ca, **options))
    assert error.message.startswith("cannot connect to ferry_source@127.0.0.1:%d: TLS (ssl_mode verify_identity) failed: " % tls.server.port)
    assert "certificate verify failed" in error.message and "127.0.0.1" in error.message
    assert error.obj == "ferry_source@127.0.0.1:%d" % tls.server.port
    assert "connect by that name" in error.fix and "ssl_mode: verify_ca" in error.fix


def test_a_certificate_of_another_ca_is_refused_at_once(tls):
    error = _refused(_spec(tls.server, host="localhost", ca_cert=tls.other_ca, ssl_mode="verify_ca"))
    assert "TLS (ssl_mode verify_ca) failed" in error.message and "certificate verify failed" in error.message


def test_verify_identity_by_the_certificate_name_and_verify_ca_by_address_connect_encrypted(tls):
    assert _cipher(_spec(tls.server, host="localhost", ca_cert=tls.ca)) != ""
    assert _cipher(_spec(tls.server, ca_cert=tls.ca, ssl_mode="verify_ca")) != ""
    assert _cipher(_spec(tls.server, ca_cert=tls.ca, check_hostname=False)) != ""  # the older spelling of verify_ca


def test_required_encrypts_without_a_ca_and_refuses_a_server_without_tls(tls, servers):
    assert _cipher(_spec(tls.server, ssl_mode="required")) != ""
    for options in ({"ssl_mode": "required"}, {"ssl_mode": "verify_ca", "ca_cert": tls.ca}):
        error = _refused(_spec(servers.source, **options))
        assert error.message == "cannot connect to ferry_source@127.0.0.1:%d: ssl_mode %s insists on TLS, but the server does not offer it." % (
            servers.source.port, options["ssl_mode"])
        assert "enable TLS on the server" in error.fix and "ssl_mode: preferred" in error.fix


def test_preferred_by_default_encrypts_when_the_server_offers_tls_and_connects_plainly_when_not(tls, servers):
    assert _cipher(_spec(tls.server)) != ""
    assert _cipher(_spec(servers.source)) == ""


def test_preflight_reports_the_certificate_error_of_a_source(ansible, tls, servers, db):
    source = dict(tls.server.connection_options("ferry_source"), ca_cert=tls.ca, ssl_mode="verify_identity")
    run = run_preflight(ansible, servers, db, source=source)
    check = only_check(run, "source_connection")
    assert "TLS (ssl_mode verify_identity) failed" in check["message"] and "connect by that name" in check["fix"]
    assert source["password"] not in run.output


def test_contradictory_tls_options_fail_the_task_with_the_fix(ansible, servers):
    args = {"login_host": "127.0.0.1", "login_port": servers.source.port, "login_user": "ferry_source", "login_password": "{{ pw }}",
            "config_file": "", "ssl_mode": "required", "ca_cert": "/etc/ssl/certs/ca-certificates.crt", "read_only": True}
    run = ansible.run("dbferry.mysql.read_only", args, {"pw": servers.source.passwords["ferry_source"]}, check_mode=True)
    assert run.failed and run.result["msg"] == (
        "ssl_mode: required of ferry_source@127.0.0.1:%d does not verify the server's certificate, but ca_cert is given. Fix: use "
        "ssl_mode: verify_identity (or verify_ca) to check the certificate against ca_cert, or leave ssl_mode out." % servers.source.port)
