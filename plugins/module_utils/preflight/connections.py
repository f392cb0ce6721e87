"""Checks that open the run's two sessions: the source and the target answer with the credentials given.

Every later check reads through these sessions; when one cannot be opened,
the checks that need it are skipped (registry.Needs) and this finding says why.
"""

from __future__ import annotations

from typing import Any, Optional

from ..common.errors import DbferryError
from ..server.connection import ServerSpec, connect
from ..server.flavor import Flavor, detect_flavor
from .context import Context
from .report import ERROR, OK


def _open(ctx: Context, role: str, spec: ServerSpec) -> tuple[Optional[Any], Optional[Flavor]]:
    """A session on the server and what it is; (None, None) when it cannot be reached, which is the finding."""
    try:
        conn = connect(spec)
    except DbferryError as exc:
        ctx.add(role + "_connection", ERROR, exc.obj, exc.message, exc.fix)
        return None, None
    flavor = detect_flavor(conn)
    ctx.report.servers[role] = flavor.label
    ctx.add(role + "_connection", OK, spec.describe(), "connected to %s." % flavor.label)
    return conn, flavor


def source_connection(ctx: Context) -> None:
    """The source answers with these credentials."""
    ctx.source, ctx.source_flavor = _open(ctx, "source", ctx.request.source)


def target_connection(ctx: Context) -> None:
    """The target answers with these credentials."""
    ctx.target, ctx.target_flavor = _open(ctx, "target", ctx.request.target)
