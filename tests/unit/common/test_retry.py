"""Which errors a move retries (pure logic: the errors as the driver raises them)."""

from __future__ import annotations

import socket
import ssl

import pymysql
import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.retry import Backoff, is_transient


def _cannot_connect(cause: OSError) -> pymysql.err.OperationalError:
    """What PyMySQL's connect raises for an OSError during the handshake: 2003, with the cause kept."""
    exc = pymysql.err.OperationalError(2003, "Can't connect to MySQL server on 'db1' (%s)" % cause)
    exc.original_exception = cause
    return exc


@pytest.mark.parametrize("exc", [
    pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query (timed out)"),  # read_timeout
    pymysql.err.OperationalError(2006, "MySQL server has gone away (TimeoutError('timed out'))"),  # write_timeout
    _cannot_connect(socket.timeout("timed out")),
    _cannot_connect(ConnectionRefusedError(111, "Connection refused")),
], ids=["read timeout", "write timeout", "handshake timeout", "refused"])
def test_timeouts_and_dropped_connections_are_retried(exc):
    assert is_transient(exc)


def test_a_failed_tls_handshake_is_not_retried():
    verify = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: IP address mismatch")
    assert not is_transient(_cannot_connect(verify))
    assert not is_transient(_cannot_connect(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")))


def test_a_spent_budget_names_one_fix():
    """The last error's fix is the message's fix, once: not quoted in the message and then followed by another one."""
    backoff = Backoff("copy of shop.t", budget=0.0)
    backoff.failing_since = -1e9  # failing since long ago: the next failure ends the budget
    unreachable = DbferryError("cannot connect to ferry@db1:3306: (2003) refused.", obj="ferry@db1:3306", fix="start db1.")
    with pytest.raises(DbferryError) as raised:
        backoff.failed(unreachable)
    assert str(raised.value).count("Fix:") == 1
    assert str(raised.value).endswith("refused. Fix: start db1.")
