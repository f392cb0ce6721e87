"""Every option of a move, declared once: its key, type, default, limits, meaning, and who else names it.

The config parser (move_config), the run-time settings (tunables, ``dbferry set``,
the control module) and the modules' argument specs read this registry. The
files Ansible needs as literal YAML (role defaults and argument specs, module
DOCUMENTATION) cannot import it; tests/unit/config/test_options.py holds them
to it, and scripts/role_specs.py writes the move role's copy of the other roles'
variables. See README.md in this folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

#: The default of an option that must be given.
REQUIRED = ...


@dataclass(frozen=True)
class Option:
    """One configuration key.

    ``type`` is Ansible's type name (``int``, ``float``, ``bool``, ``str``, ``path``, ``list``, ``dict``, ``raw``),
    so a module's argument spec is built from it. ``limits`` bound numbers, inclusive. ``runtime`` marks
    what an operator may change while a move runs, under the key's last part (``copy.batch_rows`` is
    ``batch_rows``). ``in_roles`` marks those a role variable sets one to one (see role_variable).
    """

    key: str
    type: str
    default: Any
    doc: str
    limits: Optional[tuple[float, float]] = None
    runtime: bool = False
    in_roles: bool = False

    @property
    def name(self) -> str:
        """The key without its section: the name ``dbferry set`` and Tunables use, and MoveConfig's field but for rename's two."""
        return self.key.rsplit(".", 1)[-1]

    @property
    def section(self) -> str:
        """The mapping a nested key is written in (``copy`` for ``copy.batch_rows``); empty for a top-level key."""
        return self.key.rpartition(".")[0]

    @property
    def role_variable(self) -> Optional[str]:
        """The roles' variable for it: ``dbferry_`` and the key with ``_`` for its dot (``dbferry_copy_batch_rows``)."""
        return "dbferry_" + self.key.replace(".", "_") if self.in_roles else None


#: The options of the move's data path: servers, selection, copy, apply, binlog and verification.
_DATA_PATH: tuple[Option, ...] = (
    Option("name", "str", REQUIRED, "move name: state, logs and locks are per name (letters, digits, - and _)"),
    Option("source", "dict", REQUIRED, "connection to the source server: host, port, user, password, unix_socket, ca_cert, ..."),
    Option("target", "dict", REQUIRED, "connection to the target server, same keys as source"),
    Option("databases.include", "list", [], "database name patterns to move; empty means every non-system database"),
    Option("databases.exclude", "list", [], "database name patterns to leave out"),
    Option("tables.include", "list", [], "db.table patterns to move; empty means every table of the selected databases"),
    Option("tables.exclude", "list", [], "db.table patterns to leave out"),
    Option("rename.databases", "dict", {}, "source database -> target database name"),
    Option("rename.tables", "dict", {}, "source db.table -> target table name (in the renamed database) or db.table"),
    Option("copy.batch_rows", "int", 2000, "rows per copy batch; one batch holds shared locks on its rows on the source while it is written "
           "to the target", limits=(1, 100000), runtime=True, in_roles=True),
    Option("copy.concurrency", "int", 2, "tables, or ranges of a table, copied at the same time", limits=(1, 64), in_roles=True),
    Option("copy.read_ahead", "int", 1, "batches of a table the copy reads ahead while it writes the one before (0 to 8), each holding its "
           "shared locks on the source until it is written; 0 reads a batch only after the one before is written (fewer locks held, a slower "
           "copy)", limits=(0, 8), in_roles=True),
    Option("copy.writers", "int", 2, "target sessions that write a table's batches at the same time (1 to 8), each batch in a "
           "transaction of its own; the table's cursor moves only over batches with every batch before them committed, and 1 writes one "
           "batch at a time", limits=(1, 8), in_roles=True),
    Option("copy.ranges", "int", 4, "ranges a big table's key space is cut into, copied at the same time (1 to 64), each with its own "
           "cursor; as many at once as copy.concurrency allows, and the bounds are chosen when the move starts and kept for its restarts",
           limits=(1, 64), in_roles=True),
    Option("copy.range_min_rows", "int", 1000000, "tables with fewer estimated rows than this are copied in one range (the estimate is "
           "the source's information_schema TABLE_ROWS)",
           limits=(1, 2**62), in_roles=True),
    Option("apply.batch_events", "int", 2000, "row changes applied per target transaction at most (whole source transactions only; "
           "a batch goes sooner when the target session is free)", limits=(1, 100000), runtime=True, in_roles=True),
    Option("binlog.server_id", "int", None, "server id the agent's binlog reader uses; default derived from the move name",
           limits=(1, 2**32 - 1), in_roles=True),
    Option("binlog.heartbeat_seconds", "float", 1.0, "the source sends a heartbeat this often when it has no events",
           limits=(0.1, 60), in_roles=True),
    Option("binlog.stall_seconds", "float", 30.0, "a binlog connection silent this long (no event, no heartbeat) is reopened",
           limits=(1, 3600), in_roles=True),
    Option("state_dir", "path", None, "the move's state folder on the ferry host (config, log, status, control socket); "
           "default ~/.dbferry/moves/<name>", in_roles=True),
    Option("reuse_target", "bool", False, "accept existing empty target tables (e.g. created by hand with other options) instead of "
           "refusing them; each must have the moved columns and the source's unique keys (no other)", in_roles=True),
    Option("source_is_replica", "bool", False, "the source is a replica of the real source, for a rehearsal that never touches the "
           "primary: its read-only step stops the replica's SQL threads at a final position (the primary is never written), and "
           "the replica replicates again after the cutover (docs/rehearsals.md); preflight refuses a replica source without it, "
           "and a source that is no replica or lacks log_slave_updates with it", in_roles=True),
    Option("verify.inline", "bool", True, "hash each copied batch on both sides and keep a dirty set of rows changed since, re-verified in "
           "the background, so that verify method inline (the default) compares only those rows; off, every row is compared in the "
           "read-only window, or by a checksum pass before it"),
)

#: Throttling, flag files and hooks (docs/throttling.md; the doc fragment dbferry.mysql.move.throttling documents them for
#: the modules). The roles leave them null unless set, so that the default here applies.
THROTTLING: tuple[Option, ...] = (
    Option("max_load", "raw", {}, "throttle copy and apply while a status variable of the source (SHOW GLOBAL STATUS) is above its limit, "
           "as 'Threads_running=25,Threads_connected=500' or a mapping of variable to limit", runtime=True, in_roles=True),
    Option("critical_load", "raw", {}, "stop the move at a checkpoint, with an error naming the variable, when a status variable of the "
           "source is above its limit (same form as max_load)", runtime=True, in_roles=True),
    Option("critical_load_interval_millis", "int", 0, "when critical_load is exceeded, hold copy and apply and look again after this many "
           "milliseconds; stop only if it is still exceeded then (0 stops at once)", limits=(0, 3600000),
           in_roles=True),
    Option("throttle_control_replicas", "list", [], "replicas whose lag throttles the move: a list of connections (same keys as source; "
           "user, password and TLS files left out are the source's)", in_roles=True),
    Option("max_lag_millis", "int", 1500, "throttle while a replica of throttle_control_replicas is further behind than this many "
           "milliseconds (replicas report whole seconds: under 1000 throttles on any lag)", limits=(100, 86400000), runtime=True, in_roles=True),
    Option("throttle_query", "str", None, "a read-only query run on the source at each check; copy and apply are throttled while it "
           "returns a number above 0", runtime=True, in_roles=True),
    Option("throttle_flag_file", "path", None, "throttle copy and apply while this file exists on the ferry host",
           in_roles=True),
    Option("panic_flag_file", "path", None, "stop the move at a checkpoint as soon as this file exists on the ferry host",
           in_roles=True),
    Option("postpone_cutover_flag_file", "path", None, "while this file exists on the ferry host the cutover is postponed: the wait "
           "module does not report the move caught up and the cutover waits", in_roles=True),
    Option("throttle_check_seconds", "float", 0.5, "how often the load, replica, query and flag file conditions are checked",
           limits=(0.05, 60), in_roles=True),
    Option("hooks_path", "path", None, "a folder on the ferry host of executables the agent and dbferry.mysql.cutover run at the move's "
           "events: on-start*, on-copy-complete*, on-before-cutover*, on-after-cutover*, on-success*, on-failure*, on-status*",
           in_roles=True),
    Option("hooks_status_seconds", "float", 60.0, "the on-status hooks of hooks_path run this often, in seconds", limits=(1, 86400),
           in_roles=True),
    Option("hooks_timeout_seconds", "float", 60.0, "a hook of hooks_path still running after this many seconds is killed (with its "
           "process group) and logged as failed", limits=(1, 86400), in_roles=True),
)

#: Every option, in the order errors and help list them.
OPTIONS: tuple[Option, ...] = _DATA_PATH + THROTTLING

#: The options by key.
BY_KEY: dict[str, Option] = {option.key: option for option in OPTIONS}

#: What an operator may change while a move runs (``dbferry set``, the control module): name -> config key.
RUNTIME_SETTINGS: dict[str, str] = {option.name: option.key for option in OPTIONS if option.runtime}
