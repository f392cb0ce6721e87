"""How a module's failure becomes its result (pure logic: a module that records fail_json)."""

from __future__ import annotations

import pytest

from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_errors import call_or_fail


class Ended(Exception):
    """fail_json ends the module; here it raises this with what it was given."""


class Module:
    def fail_json(self, **result):
        raise Ended(result)


def _raise(exc):
    def call():
        raise exc
    return call


def test_an_operator_error_fails_with_its_message_and_the_fields_for_the_rescue():
    with pytest.raises(Ended) as ended:
        call_or_fail(Module(), "cutover", _raise(DbferryError("no.", obj="m", fix="do.")), lambda: {"source_kept_read_only": "why"})
    assert ended.value.args[0] == {"msg": "no. Fix: do.", "source_kept_read_only": "why"}


def test_an_unexpected_error_still_carries_the_fields_a_rescue_acts_on():
    """Without the field the cutover role's rescue would make a source writable that must stay read-only."""
    with pytest.raises(Ended) as ended:
        call_or_fail(Module(), "cutover", _raise(OSError("disk full")), lambda: {"source_kept_read_only": "why"})
    result = ended.value.args[0]
    assert result["msg"] == "cutover failed unexpectedly: OSError: disk full" and result["source_kept_read_only"] == "why"
    assert "Traceback" in result["exception"]


def test_an_unexpected_error_without_fields_is_raised_as_a_bug():
    with pytest.raises(OSError):
        call_or_fail(Module(), "cutover", _raise(OSError("disk full")), lambda: {})
