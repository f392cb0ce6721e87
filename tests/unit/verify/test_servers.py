"""Two servers compared without a move: whether a server stands at a given position (pure logic)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.verify.servers import at_position


def test_a_server_is_at_a_position_when_every_named_domain_ends_at_the_same_transaction():
    assert at_position("0-1-42", "0-1-42")
    assert at_position("0-1-42,1-7-3", "0-1-42")  # domains the position does not name are not looked at
    assert not at_position("0-1-43", "0-1-42")  # further on
    assert not at_position("0-1-41", "0-1-42")  # not there yet
    assert not at_position("1-7-3", "0-1-42")  # the domain is missing
    assert at_position("", "")
