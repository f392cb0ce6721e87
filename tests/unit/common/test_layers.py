"""The engine does not depend on the development tools (dev/: sandboxes, load), not even through another package."""

from __future__ import annotations

import ast
from pathlib import Path

MODULE_UTILS = Path(__file__).resolve().parents[3] / "plugins" / "module_utils"


def _imports(path: Path) -> set[Path]:
    """The module_utils files that ``path`` imports with relative imports (the only kind module_utils uses)."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = path.parent
        for _level in range(node.level - 1):
            base = base.parent
        target = base.joinpath(*node.module.split(".")) if node.module else base
        names = [target / alias.name for alias in node.names] + [target]
        found.update(p.with_suffix(".py") for p in names if p.with_suffix(".py").is_file())
        found.update(p / "__init__.py" for p in names if (p / "__init__.py").is_file())
    return found


def _reachable(start: list[Path]) -> set[Path]:
    seen: set[Path] = set()
    todo = list(start)
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(_imports(path))
    return seen


def test_engine_never_imports_dev():
    engine = sorted((MODULE_UTILS / "engine").glob("*.py"))
    assert engine, MODULE_UTILS
    reached = _reachable(engine)
    assert MODULE_UTILS / "server" / "connection.py" in reached  # the walk follows imports across packages
    assert not [str(p.relative_to(MODULE_UTILS)) for p in reached if p.parent.name == "dev"]


def test_the_walk_sees_an_import_of_dev():
    """The check above would notice one: the CLI's ``from ..dev import sandbox`` (bin/dbferry sandbox) is found."""
    assert MODULE_UTILS / "dev" / "sandbox.py" in _reachable([MODULE_UTILS / "agent" / "cli.py"])
