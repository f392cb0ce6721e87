"""The registry: one list of uniquely named checks, which the run order, CHECKS and ALLOWABLE follow (pure logic)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.selection import Selection
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight import registry
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.context import Context, Request
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.selected_table import SelectedTable
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec


def _context() -> Context:
    spec = ServerSpec(host="db1", user="ferry")
    return Context(Request(spec, spec, Selection.from_options({"include": ["shop"]}), frozenset(), 72, None, False, "fail"))


def test_every_check_name_is_registered_once():
    assert len(registry.CHECKS) == len(set(registry.CHECKS))


def test_checks_follow_the_registry_order():
    assert registry.CHECKS == tuple(name for entry in registry.REGISTRY for name in entry.names)
    assert registry.CHECKS[:2] == ("source_connection", "target_connection")
    assert registry.CHECKS[-1] == "source_admin"


def test_every_allowable_name_is_a_registered_check():
    assert set(registry.ALLOWABLE) <= set(registry.CHECKS)
    assert len(registry.ALLOWABLE) == len(set(registry.ALLOWABLE))


def test_each_registered_function_is_registered_once():
    functions = [entry.run for entry in registry.REGISTRY]
    assert len(functions) == len(set(functions))


def test_needs_are_known():
    assert all(entry.needs <= {registry.SOURCE, registry.TARGET, registry.SELECTED} for entry in registry.REGISTRY)


def test_an_entry_runs_only_when_what_it_needs_is_there():
    ctx = _context()
    on_source = registry.Registered(("x",), lambda c: None, frozenset({registry.SOURCE}))
    on_selected = registry.Registered(("y",), lambda c: None, frozenset({registry.SOURCE, registry.SELECTED}))
    always = registry.Registered(("z",), lambda c: None)
    assert always.can_run(ctx)
    assert not on_source.can_run(ctx)
    ctx.source = object()
    assert on_source.can_run(ctx) and not on_selected.can_run(ctx)
    # A view alone counts: the views check must still report it.
    ctx.tables = [SelectedTable("shop", "v", "VIEW", None)]
    assert on_selected.can_run(ctx)


def test_the_connection_checks_need_nothing_and_everything_after_them_a_session():
    first, second, *rest = registry.REGISTRY
    assert (first.needs, second.needs) == (frozenset(), frozenset())
    assert [entry.names for entry in rest if not entry.needs] == [("source_admin",)]
