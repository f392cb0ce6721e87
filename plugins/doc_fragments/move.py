"""Options that name a move or select what it moves, shared by the dbferry.mysql modules.

DOCUMENTATION (``dbferry.mysql.move``): ``name`` and ``state_dir``, which find a
move on the ferry host. CUTOVER (``dbferry.mysql.move.cutover``): the cutover's
waits and ``target_writable`` (config/module_options.py cutover_argument_spec). SELECTION
(``dbferry.mysql.move.selection``): ``databases`` and ``tables``. THROTTLING (``dbferry.mysql.move.throttling``):
load and lag limits, flag files and hooks (config/module_options.py throttle_argument_spec, defaults from
config/options.py). They mirror module_options.py, engine/selection.py and config/options.py; literal text because
ansible-test reads fragments without running them.
"""

from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """Doc fragments, used as dbferry.mysql.move, dbferry.mysql.move.cutover, dbferry.mysql.move.selection and
    dbferry.mysql.move.throttling."""

    DOCUMENTATION = r"""
options:
  name:
    description: The move's name; its state folder, log and lock are per name (letters, digits, C(-) and C(_)).
    type: str
    required: true
  state_dir:
    description: The move's state folder on the ferry host. Default C(~/.dbferry/moves/<name>).
    type: path
requirements:
  - PyMySQL 1.2.0 or later on the host that runs the module
"""

    CUTOVER = r"""
options:
  timeout:
    description: Seconds the cutover waits for the target to apply the source's final position.
    type: float
    default: 300
  stop_timeout:
    description: Seconds to wait for the agent to stop.
    type: float
    default: 60
  postpone_timeout:
    description: Seconds the cutover waits while the move's C(postpone_cutover_flag_file) exists; then it fails, saying so. The source
      is read-only by then, so a playbook waits for the flag file with M(dbferry.mysql.wait) before it makes the source read-only.
    type: float
    default: 3600
  target_writable:
    description: Set C(read_only=OFF) on the target at the end (the target user then needs the privilege to).
    type: bool
    default: false
"""

    SELECTION = r"""
options:
  databases:
    description:
      - Which databases to move. V(include) and V(exclude) are lists of shell-style patterns (C(*), C(?), C([...])),
        matched case-sensitively. An empty or missing V(include) selects every database except the system
        schemas and C(_dbferry); V(exclude) always wins.
      - A plain name in V(include) that does not exist on the source is an error.
    type: dict
    suboptions:
      include:
        description: Database name patterns to move.
        type: list
        elements: str
      exclude:
        description: Database name patterns to leave out.
        type: list
        elements: str
  tables:
    description:
      - Which tables of the selected databases to move, as C(db.table) patterns. An empty or missing
        V(include) selects every table; V(exclude) always wins.
    type: dict
    suboptions:
      include:
        description: C(db.table) patterns to move.
        type: list
        elements: str
      exclude:
        description: C(db.table) patterns to leave out.
        type: list
        elements: str
"""

    THROTTLING = r"""
options:
  max_load:
    description:
      - Throttle copy and apply while a status variable of the source (C(SHOW GLOBAL STATUS)) is above its limit,
        as C(Threads_running=25,Threads_connected=500) or a mapping of variable name to limit. Names are case-insensitive;
        one the source does not have throttles, with that as the reason. The check's own session counts in C(Threads_running).
      - Default none. Changeable while the move runs (dbferry.mysql.control).
    type: raw
  critical_load:
    description:
      - Stop the move at a checkpoint, with an error naming the variable, when a status variable of the source is above its
        limit (same form as O(max_load)). Starting the agent again resumes the move.
      - Default none. Changeable while the move runs (dbferry.mysql.control).
    type: raw
  critical_load_interval_millis:
    description:
      - When O(critical_load) is exceeded, hold copy and apply and look again after this many milliseconds; stop only if it
        is still exceeded then. Default 0, stop at once.
    type: int
  throttle_control_replicas:
    description:
      - Replicas whose lag throttles the move (MariaDB C(SHOW ALL SLAVES STATUS), C(Seconds_Behind_Master), whole seconds).
        No heartbeat table, as the move never writes to the source.
      - A replica whose SQL or IO thread is stopped or broken (C(Seconds_Behind_Master) NULL), that is not replicating, or
        that cannot be reached counts as lagging beyond any limit, and the status says so.
      - Each entry takes the connection options of O(source); C(user), C(password), C(config_file) and the TLS options it
        leaves out are those of O(source). The user needs C(SLAVE MONITOR) (MariaDB 10.5.9 and later) on the replica.
    type: list
    elements: dict
    suboptions:
      host:
        description: Host name or IP address of the replica. Default C(localhost).
        type: str
      port:
        description: TCP port of the replica. Default 3306.
        type: int
      user:
        description: User to log in as. Default the user of O(source).
        type: str
      password:
        description: Password of the user. Default the password of O(source). Never logged or returned.
        type: str
      unix_socket:
        description: Path of the replica's Unix socket; used instead of host and port when set.
        type: str
      config_file:
        description: A MySQL client option file (C([client]) section) read for defaults. Default that of O(source).
        type: path
      ca_cert:
        description: CA certificate file to verify the replica's certificate with; with it, C(ssl_mode) defaults to C(verify_identity).
        type: path
      client_cert:
        description: Client certificate file for TLS client authentication.
        type: path
      client_key:
        description: Private key file of the client certificate.
        type: path
      check_hostname:
        description: An older spelling of C(ssl_mode) with a CA - C(true) is C(verify_identity), C(false) is C(verify_ca).
        type: bool
      ssl_mode:
        description: How TLS is used (as in O(source)). Default that of O(source).
        type: str
        choices: [preferred, required, verify_ca, verify_identity]
      connect_timeout:
        description: Seconds to wait for the replica to accept a connection (a check waits 5 at most). Default 30.
        type: int
      read_timeout:
        description: Seconds to wait for the replica's answer (a check waits 5 at most). Default 60.
        type: int
  max_lag_millis:
    description:
      - Throttle while a replica of O(throttle_control_replicas) is further behind than this many milliseconds. Replicas
        report whole seconds, so a value under 1000 throttles on any lag of a second or more. Default 1500.
      - Changeable while the move runs (dbferry.mysql.control).
    type: int
  throttle_query:
    description:
      - A read-only query run on the source at each check; copy and apply are throttled while it returns a number above 0.
        A query that fails throttles too, with its error as the reason. Default none.
      - It runs in a read-only session and transaction, rolled back after each run, so a query that would write
        (INSERT, CREATE TABLE, ...) fails (and throttles) instead of changing the source.
      - Changeable while the move runs (dbferry.mysql.control).
    type: str
  throttle_flag_file:
    description: Throttle copy and apply while this file exists on the ferry host. Default none.
    type: path
  panic_flag_file:
    description:
      - Stop the move at a checkpoint as soon as this file exists on the ferry host, with an error that names it. The
        move's state on the target is kept; remove the file and start the agent again to resume. Default none.
    type: path
  postpone_cutover_flag_file:
    description:
      - While this file exists on the ferry host, dbferry.mysql.wait does not report the move caught up and
        dbferry.mysql.cutover waits (up to its C(postpone_timeout)) before it starts. Default none.
    type: path
  throttle_check_seconds:
    description: How often the load, replica, query and flag file conditions are checked. Default 0.5.
    type: float
  hooks_path:
    description:
      - A folder on the ferry host of executables run at the move's events. Every executable whose name starts with the
        event's name runs, in name order - C(on-start), C(on-copy-complete), C(on-status), C(on-failure) (from the
        agent), C(on-before-cutover), C(on-after-cutover), C(on-success) (from the cutover).
      - They get C(DBFERRY_MOVE), C(DBFERRY_EVENT), C(DBFERRY_PHASE), C(DBFERRY_ROWS_COPIED), C(DBFERRY_ROWS_ESTIMATED),
        C(DBFERRY_LAG_SECONDS), C(DBFERRY_APPLIED_POSITION), C(DBFERRY_STATE_DIR), C(DBFERRY_ERROR) and more
        (docs/throttling.md); never a password.
      - A failing hook is logged; a failing C(on-before-cutover) hook stops the cutover before it starts. Default none.
      - C(on-before-cutover) runs inside the read-only window (the source is read-only while it runs); keep it short.
      - The folder and every hook in it must belong to the agent's user (or root) and be writable by no one else;
        the agent refuses to start otherwise, and an unsafe hook is not run.
    type: path
  hooks_status_seconds:
    description: The C(on-status) hooks run this often, in seconds. Default 60.
    type: float
  hooks_timeout_seconds:
    description:
      - A hook still running after this many seconds is killed, with its process group, and logged as failed. Default 60.
      - A hook that exits has ended, even while a child it detached still runs (its output goes to a file, not a pipe).
    type: float
"""
