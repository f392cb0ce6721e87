"""Checks of the source's binary log: the move reads every change from it, as full row events with column names.

Each setting is a check of its own, so a report names exactly the variable
to change; the fixes say where a setting changes only with a restart.
"""

from __future__ import annotations

from typing import Any

from ..server.connection import error_text, fetch_value, is_database_error
from .context import Context
from .report import ERROR, OK, WARNING

DEFAULT_MIN_BINLOG_RETENTION_HOURS = 72

SECONDS_PER_DAY = 86400


def _global(ctx: Context, variable: str) -> Any:
    return fetch_value(ctx.source, "SELECT @@GLOBAL.%s" % variable)


def value_finding(variable: str, actual: Any, wanted: str, fix: str) -> tuple[str, str, str]:
    """(status, message, fix) of a variable that must have one value; the server may answer in lower case."""
    if str(actual).upper() == wanted:
        return OK, "%s is %s." % (variable, wanted), ""
    return ERROR, "%s is %s; a move needs %s." % (variable, actual, wanted), fix


def _require(ctx: Context, variable: str, wanted: str, fix: str) -> None:
    status, message, fix = value_finding(variable, _global(ctx, variable), wanted, fix)
    ctx.add(variable, status, ctx.source_name, message, fix)


def log_bin(ctx: Context) -> None:
    """The source writes a binary log."""
    if int(_global(ctx, "log_bin")):
        ctx.add("log_bin", OK, ctx.source_name, "the binary log is on.")
    else:
        ctx.add("log_bin", ERROR, ctx.source_name, "the binary log is off (log_bin=OFF).",
                "add log_bin=binlog under [mysqld] in the source's my.cnf and restart it; it cannot be changed at run time.")


def binlog_format(ctx: Context) -> None:
    """Row events, not statements, so changes can be applied by key."""
    _require(ctx, "binlog_format", "ROW",
             "SET GLOBAL binlog_format = 'ROW' and set it in my.cnf; sessions keep their old format until they reconnect.")


def binlog_row_image(ctx: Context) -> None:
    """FULL images, so every column of a changed row is known."""
    _require(ctx, "binlog_row_image", "FULL", "SET GLOBAL binlog_row_image = 'FULL' and set it in my.cnf.")


def binlog_row_metadata(ctx: Context) -> None:
    """FULL metadata, so events carry column names."""
    if ctx.source_flavor.has_binlog_row_metadata:
        _require(ctx, "binlog_row_metadata", "FULL", "SET GLOBAL binlog_row_metadata = 'FULL' and set it in my.cnf.")
    else:
        ctx.add("binlog_row_metadata", ERROR, ctx.source_name,
                "%s has no binlog_row_metadata; events would not carry column names." % ctx.source_flavor.label,
                "upgrade the source to MariaDB 10.5+ or MySQL 8.0.1+.")


def log_bin_compress(ctx: Context) -> None:
    """Uncompressed binlog events, which the binlog stream can read."""
    if not ctx.source_flavor.has_binlog_compression:
        ctx.add("log_bin_compress", OK, ctx.source_name, "%s does not compress binlog events." % ctx.source_flavor.label)
    elif int(_global(ctx, "log_bin_compress")):
        ctx.add("log_bin_compress", ERROR, ctx.source_name, "log_bin_compress is ON; the binlog stream cannot read compressed events.",
                "SET GLOBAL log_bin_compress = OFF and set it in my.cnf, before the move starts.")
    else:
        ctx.add("log_bin_compress", OK, ctx.source_name, "log_bin_compress is OFF.")


def retention_finding(variable: str, value: float, min_hours: float) -> tuple[str, str, str]:
    """(status, message, fix) of a binlog expiry setting: ``variable`` counts seconds or, the older one, days; 0 keeps them."""
    seconds = value if variable.endswith("seconds") else value * SECONDS_PER_DAY
    if seconds == 0:
        return OK, "binlogs never expire (%s = 0); purge them by hand." % variable, ""
    if seconds < min_hours * 3600:
        return (WARNING,
                "binlogs expire after %.1f h (%s = %g), less than %g h; a move paused or slowed for longer "
                "cannot catch up and must start over." % (seconds / 3600, variable, value, min_hours),
                "raise it, e.g. SET GLOBAL binlog_expire_logs_seconds = 604800 (and in my.cnf), or allow binlog_retention.")
    return OK, "binlogs are kept %.1f h." % (seconds / 3600), ""


def binlog_retention(ctx: Context) -> None:
    """Binlogs outlive a paused or slow move."""
    # The first variable is the one the server obeys when both are set.
    variable = ctx.source_flavor.binlog_retention_variables[0]
    value = float(_global(ctx, variable) or 0)
    status, message, fix = retention_finding(variable, value, ctx.request.min_binlog_retention_hours)
    ctx.add("binlog_retention", status, ctx.source_name, message, fix)


def server_id(ctx: Context) -> None:
    """The source has a server id."""
    value = _global(ctx, "server_id")
    if int(value):
        ctx.add("server_id", OK, ctx.source_name, "server_id is %s." % value)
    else:
        ctx.add("server_id", ERROR, ctx.source_name, "server_id is 0; the source cannot serve a binlog stream.",
                "set server_id to a non-zero value unique in your replication topology, in my.cnf and with SET GLOBAL.")


def gtid_position(ctx: Context) -> None:
    """The start position can be read."""
    flavor = ctx.source_flavor
    try:
        position = fetch_value(ctx.source, flavor.gtid_position_sql)
        gtid_mode = "ON" if flavor.is_mariadb else str(_global(ctx, "gtid_mode"))
    except Exception as exc:  # noqa: BLE001 - any server error here is the finding
        if not is_database_error(exc):
            raise
        ctx.add("gtid_position", ERROR, ctx.source_name, "cannot read the binlog position: %s" % error_text(exc),
                "grant the source user %s." % flavor.binlog_monitor_privilege)
        return
    if not flavor.gtid_is_usable(gtid_mode):
        ctx.add("gtid_position", OK, ctx.source_name, "gtid_mode is %s: positions will be binlog file and offset." % gtid_mode)
    elif position:
        ctx.add("gtid_position", OK, ctx.source_name, "current position %s." % position)
    else:
        ctx.add("gtid_position", OK, ctx.source_name, "no transaction logged yet; the move starts at the beginning of the binlog.")
