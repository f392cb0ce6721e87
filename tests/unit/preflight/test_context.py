"""What checks share: findings marked allowed, and an ok finding only when a check found nothing (pure logic)."""

from __future__ import annotations

from ansible_collections.dbferry.mysql.plugins.module_utils.engine.selection import Selection
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.context import Context, Request
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.report import ERROR, OK, WARNING
from ansible_collections.dbferry.mysql.plugins.module_utils.preflight.selected_table import SelectedTable
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import ServerSpec


def _context(allow: frozenset = frozenset()) -> Context:
    spec = ServerSpec(host="db1", user="ferry")
    return Context(Request(spec, spec, Selection.from_options({"include": ["shop"]}), allow, 72, None, False, "fail"))


def test_an_allowed_check_marks_its_problems_only():
    ctx = _context(frozenset({"views"}))
    ctx.add("views", WARNING, "shop.v", "view shop.v is not moved.", "recreate it.")
    ctx.add("views", OK, "databases", "no views.")
    ctx.add("triggers", WARNING, "shop.t", "trigger.", "create it.")
    assert [(c.name, c.allowed) for c in ctx.report.checks] == [("views", True), ("views", False), ("triggers", False)]


def test_ok_unless_found_looks_only_at_findings_since_the_mark():
    ctx = _context()
    ctx.add("primary_key", ERROR, "shop.t", "no key.", "add one.")
    mark = ctx.mark()
    ctx.ok_unless_found("primary_key", mark, "tables", "every table has a key.")
    ctx.add("foreign_keys", ERROR, "shop.t (fk)", "a key.", "drop it.")
    ctx.ok_unless_found("foreign_keys", mark, "tables", "no foreign keys.")
    assert [(c.name, c.status) for c in ctx.report.checks] == [("primary_key", ERROR), ("primary_key", OK), ("foreign_keys", ERROR)]


def test_base_tables_leave_views_out():
    ctx = _context()
    ctx.tables = [SelectedTable("shop", "a", "BASE TABLE", "InnoDB"), SelectedTable("shop", "v", "VIEW", None)]
    assert [t.name for t in ctx.base_tables] == ["a"]
    assert ctx.source_name == "ferry@db1:3306"
