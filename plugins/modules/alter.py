#!/usr/bin/python
# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module dbferry.mysql.alter: change a table's schema online, without triggers (gh-ost's way)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: alter
short_description: Change a MySQL/MariaDB table's schema online, without triggers
version_added: 0.1.0
description:
  - Runs an C(ALTER TABLE) on a big table while the application keeps reading and writing it, the way gh-ost does, on the
    engine that moves databases - a ghost table C(_<table>_gho) is created with the new schema, the rows are copied into
    it in key chunks on the server (C(INSERT ... SELECT ... LOCK IN SHARE MODE), no row goes through the module),
    the table's row changes are read from the binlog and applied to it, and a short cut-over swaps the two names atomically.
  - No triggers - the application's writes never wait on the change's own writes, as they do with pt-online-schema-change.
  - Before the cut-over the ghost's rows are compared with the original's (O(verify), on by default), and during the
    cut-over's lock the rows changed since; any difference stops the change, names the table, key and columns and leaves
    the original in place.
  - A new C(UNIQUE) key that existing or incoming rows violate fails the change, naming the key and the values; the
    original is untouched. gh-ost drops such rows silently.
  - A value the new column type cannot hold fails the change with the table, the key range and the column (a strict
    session, never C(IGNORE)); added columns take their defaults, dropped columns are left out, generated columns are
    computed by the server, not copied.
  - Progress is checkpointed in the server's C(_dbferry) schema with each chunk; a change that stopped (a failure, a
    killed Ansible run) resumes from there the next time the task runs. One change per table at a time - a second run
    for the same table fails at once, naming the one that holds it.
  - Idempotent - a table that already has the change returns C(changed=false) and is left alone. It has it when the same
    change ran to its end here (its record in C(_dbferry) stays, complete) or when its C(CREATE TABLE) is what the change
    would make of it.
  - Check mode is gh-ost's run without C(--execute) - after the same checks, an empty copy of the table (C(_<table>_chk)) is
    created and altered, the new C(CREATE TABLE) is returned as the diff with the column mapping, and the copy is dropped;
    nothing else is written.
author:
  - dbferry maintainers (@dbferry)
options:
  state:
    description:
      - V(started) starts the change in a detached agent on the host the task runs on and returns once it has prepared it
        (preflight, ghost table, start position). The agent copies, applies the binlog and verifies, then keeps applying
        and waits for V(cut_over). Use M(dbferry.mysql.wait) with RV(state_dir) to wait until it is ready (phase
        C(tailing)); C(dbferry status|pause|resume|throttle|unthrottle|set DATABASE.TABLE) control it meanwhile. A running
        agent of the same change is left alone (C(changed=false)); one that died is started again and resumes from the
        checkpoints.
      - V(cut_over) tells the running agent to swap the tables as soon as it is ready (at once, when it waits for this),
        waits until it has ended (at most O(timeout)) and returns what V(present) returns. A table that already has the
        change returns C(changed=false); with no agent running the change the task fails, saying so.
      - V(present) runs the change to completion in the task (copy, binlog tail, verification, cut-over) and returns when
        the table has its new schema. When an agent started with V(started) runs this change, it is told to cut over
        instead, as with V(cut_over) - the change is never run twice.
      - V(absent) stops an agent running the change and removes what a change of this table left behind - its ghost table,
        the cut-over's sentry table and its record in C(_dbferry) (the checkpoints of a stopped change, or the record of a
        finished one, after which the same ALTER would run again). The original table is never touched; an old table kept
        after a cut-over (C(_<table>_del)) is not removed either, drop it when you no longer need it.
    type: str
    choices: [present, started, cut_over, absent]
    default: present
  timeout:
    description:
      - With O(state=cut_over), or O(state=present) finding the change in its agent, the seconds to wait for the agent to
        end. The change keeps running when they are over; the task fails saying in which phase it is.
    type: float
    default: 86400
  database:
    description: The database (schema) of the table.
    type: str
    required: true
  table:
    description: The table to change. Its ghost C(_<table>_gho) and old C(_<table>_del) names must fit in 64 characters.
    type: str
    required: true
  alter:
    description:
      - The C(ALTER TABLE) specification, without C(ALTER TABLE <table>), e.g.
        C(ADD COLUMN description TEXT, ADD INDEX (created_at)). Several changes separated by commas are one change.
      - It must keep one of the table's keys (its primary key, or a unique key on C(NOT NULL) columns) as a unique key on
        the same columns (renamed ones too), in the same order, of the same types (an integer may widen). It is tried on an
        empty copy of the table before anything else is written, so an ALTER that does not parse or apply fails first,
        with the server's message.
      - Required with O(state=present).
    type: str
  rename_columns:
    description:
      - "Columns that O(alter) renames (C(RENAME COLUMN), C(CHANGE COLUMN)), as C({old name: new name}); their values are
        copied under the new name. A rename that O(alter) makes and this leaves out is refused (its values would be lost),
        and so is an entry that names a column the table or the new schema does not have."
    type: dict
    default: {}
  chunk_size:
    description:
      - Rows of the copy's first chunk (10 to 100000), as gh-ost's C(--chunk-size). Each chunk is one C(INSERT ... SELECT)
        that holds shared locks on its rows of the table until it commits, together with its checkpoint; each later chunk
        is sized to take about 25 ms, from 10 rows up to 10 times this value (100000 at most).
    type: int
    default: 1000
  nice_ratio:
    description:
      - After each chunk of the copy, pause this many times as long as the chunk took, as gh-ost's C(--nice-ratio).
        With V(1) the copy pauses as long as it works, which halves its share of a busy server's time and doubles its
        own; V(0) copies without pauses. The pause holds no lock (the chunk has committed).
    type: float
    default: 0.0
  copy_concurrency:
    description:
      - Chunks of the copy that run at once (1 to 16), each stream in a key range of its own with its own checkpoint;
        the ranges (two per stream) are chosen when the change starts and kept by a resumed change.
      - The server copies each chunk with one thread, so more streams copy faster where it has idle cores, and load it
        more. V(1) copies in one stream, as gh-ost does.
    type: int
    default: 1
  dml_batch_size:
    description:
      - Row changes from the binlog applied to the ghost table per transaction at most (1 to 100); whole transactions of
        the application only.
    type: int
    default: 10
  max_load:
    description:
      - Throttle the copy and the binlog apply while a status variable of the server (C(SHOW GLOBAL STATUS)) is above its
        limit, as C(Threads_running=25,Threads_connected=500) or a mapping of variable name to limit.
    type: raw
    default: {}
  critical_load:
    description:
      - Stop the change at a checkpoint, with an error naming the variable, when a status variable of the server is above
        its limit (same form as O(max_load)). Running the task again resumes it.
    type: raw
    default: {}
  throttle_control_replicas:
    description:
      - Replicas whose lag throttles the change (MariaDB C(SHOW ALL SLAVES STATUS), C(Seconds_Behind_Master), whole
        seconds). A replica that does not replicate or cannot be reached counts as lagging beyond any limit.
      - Each entry takes the connection options of the module (without their C(login_) prefix); C(user), C(password),
        C(config_file) and the TLS options it leaves out are the module's. The user needs C(SLAVE MONITOR) on the replica.
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: Host name or IP address of the replica. Default C(localhost).
        type: str
      port:
        description: TCP port of the replica. Default 3306.
        type: int
      user:
        description: User to log in as. Default O(login_user).
        type: str
      password:
        description: Password of the user. Default O(login_password). Never logged or returned.
        type: str
      unix_socket:
        description: Path of the replica's Unix socket; used instead of host and port when set.
        type: str
      config_file:
        description: A MySQL client option file (C([client]) section) read for defaults. Default O(config_file).
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
        description: How TLS is used (as O(ssl_mode)). Default that of the module.
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
        report whole seconds, so a value under 1000 throttles on any lag of a second or more.
    type: int
    default: 1500
  throttle_query:
    description:
      - A read-only query run on the server at each check; the copy and the apply are throttled while it returns a number
        above 0. A query that fails throttles too, with its error as the reason.
    type: str
  throttle_flag_file:
    description: Throttle the copy and the apply while this file exists on the host the task runs on.
    type: path
  panic_flag_file:
    description:
      - Stop the change at once, with an error that names the file, as soon as this file exists on the host the task runs
        on. The original table is untouched; the ghost table and the checkpoints are kept, so running the task again
        after removing the file resumes the change.
    type: path
  postpone_cut_over_flag_file:
    description:
      - While this file exists on the host the task runs on, the cut-over waits - the ghost table is kept in step with the
        original (binlog applied), and the cut-over starts as soon as the file is removed.
    type: path
  cut_over_lock_timeout_seconds:
    description:
      - Seconds the cut-over may block writes to the table at most (1 to 60). When the swap cannot finish within them
        (a long transaction holds the table, the ghost cannot catch up), the lock is released at once, the original is
        kept, and the cut-over is tried again after a pause, up to O(default_retries) times.
    type: int
    default: 3
  default_retries:
    description:
      - Cut-over attempts at most (1 to 10000), with a growing pause between them, before the change fails with the original
        table intact. The sessions that held the table are named in the failure message.
    type: int
    default: 60
  exact_rowcount:
    description:
      - Count the table's rows (C(SELECT COUNT(*))) for the progress and ETA, instead of the server's estimate.
    type: bool
    default: false
  concurrent_rowcount:
    description:
      - With O(exact_rowcount), count the rows while the copy runs instead of before it starts.
    type: bool
    default: true
  initially_drop_ghost_table:
    description:
      - Drop a ghost table C(_<table>_gho) that exists when the change starts and that no recorded change of this table owns
        (left by another tool or by hand). Without it such a table fails the change before anything is written.
    type: bool
    default: false
  initially_drop_old_table:
    description:
      - Drop a table C(_<table>_del) that exists when the change starts (an old table kept by an earlier change) before the
        cut-over. Without it such a table fails the change before anything is written.
    type: bool
    default: false
  ok_to_drop_table:
    description:
      - Drop the old table after the cut-over. Without it the old table is kept as C(_<table>_del) and returned in
        RV(old_table), to drop when you no longer need it (dropping a big table can stall the server, so drop it off-peak).
    type: bool
    default: false
  hooks_path:
    description:
      - A folder on the host the task runs on of executables run at the change's events, as the hooks of a move (every
        executable whose name starts with the event's name, in name order; C(DBFERRY_*) environment variables, never a
        password; see docs/throttling.md).
      - The folder and every hook in it must belong to the user the task runs as (or root) and be writable by no one else.
    type: path
  hooks_timeout_seconds:
    description: A hook of O(hooks_path) still running after this many seconds (1 to 86400) is killed, with its process group, and
      logged as failed.
    type: int
    default: 60
  verify:
    description:
      - Compare the ghost table's rows with the original's before the cut-over (by key range, every mapped column) and, under
        the cut-over's lock, the rows changed since. A difference stops the change before the swap, naming the table, the
        key and the columns. gh-ost has no such check.
      - V(false) saves the comparison's time (about one more read of the table); only for a table you can rebuild.
    type: bool
    default: true
  attempt_instant_ddl:
    description:
      - When the server can make the change natively without a copy (C(ALGORITHM=INSTANT), e.g. C(ADD COLUMN) on MariaDB
        10.3 and later), run the C(ALTER TABLE) itself instead, which takes milliseconds. Without it the change is only
        reported as possible in RV(instant) and a warning, and made online by the copy.
    type: bool
    default: false
  test_on_replica:
    description:
      - Rehearse the change on a replica - the C(login_*) options name the replica, which needs C(log_slave_updates=ON).
        The change copies, applies and verifies there as a real change does; then, instead of locking the table, the
        replica's SQL thread is stopped, the last comparison made, the tables swapped and swapped back, the ghost table
        and the change's record dropped, and the SQL thread started again. The replica is left as it was and the primary
        is never connected to (gh-ost's C(--test-on-replica)). The result has RV(rehearsal) true and C(changed=false).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: As gh-ost without C(--execute), after the same checks an empty copy of the table (C(_<table>_chk)) is
      created, altered and dropped; nothing else is written. With V(state=absent), reports whether it would
      remove anything.
  diff_mode:
    support: full
    details: The C(CREATE TABLE) before and after the change (in check mode, that of the altered empty copy), in the
      result with or without diff mode.
  platform:
    platforms: posix
  action_group:
    support: full
    membership:
      - dbferry.mysql.login
seealso:
  - module: dbferry.mysql.wait
  - module: dbferry.mysql.control
  - module: dbferry.mysql.migration
  - name: Throttling
    description: The load and lag limits a change obeys.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/throttling.md
  - name: Action groups
    description: Setting the common options once with module_defaults.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/module_defaults.md
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - dbferry.mysql.connection
notes:
  - V(present) runs the change in the foreground of the task, as gh-ost does in a terminal, and may take hours on a big
    table; V(started), M(dbferry.mysql.wait) and V(cut_over) run it in a detached agent instead, with the cut-over in a
    task of its own (a maintenance window, a later play). The agent needs only Python 3 and PyMySQL on the host.
  - The table needs a primary key, or a unique key on C(NOT NULL) columns, of any number of integer, C(DECIMAL),
    C(CHAR)/C(VARCHAR) (any collation), C(BINARY)/C(VARBINARY) or temporal columns, kept by the change (gh-ost's shared
    unique key). Tables with triggers are refused, with the fix.
  - Foreign keys - the new table gets the table's own constraints under the cut-over's lock; tables that reference it
    (children, in any database) are locked with it during the cut-over and re-pointed at the new table, one in-place
    C(ALTER TABLE) each (RV(foreign_keys) says which and the cost). Refused, with the fix - a cascading rule on the table's
    own constraints, a table that references itself, constraint names too long or taken once toggled.
  - The server needs C(log_bin) on, C(binlog_format=ROW), C(binlog_row_image=FULL) and C(binlog_row_metadata=FULL). The login
    user needs C(SELECT), C(INSERT), C(UPDATE), C(DELETE), C(CREATE), C(DROP), C(ALTER) and C(LOCK TABLES) on the database,
    the same but C(LOCK TABLES) on C(_dbferry) (the checkpoints), and C(REPLICATION SLAVE) and C(BINLOG MONITOR) globally.
    All of it is checked before anything is written.
  - A failed cut-over names the sessions that may hold the table - with C(PROCESS), every open transaction and every
    statement on it; without it, only the login's own sessions, and the message says so.
  - While the change runs, its status (phase, rows copied and estimated, rows/s, ETA, lag, throttle reason, what the cut-over
    waits for, its attempts) is kept in C(~/.dbferry/alters/<database>.<table>/status.json) on the host the task runs on
    (RV(state_dir)); C(dbferry status DATABASE.TABLE) shows it live, whichever state runs the change.
"""

EXAMPLES = r"""
# gh-ost --host=db1.example.com --user=dba --database=shop --table=orders \
#   --alter="ADD COLUMN description TEXT, ADD INDEX (created_at)" \
#   --chunk-size=2000 --max-load=Threads_running=25 --critical-load=Threads_running=200 \
#   --throttle-control-replicas=db2.example.com:3306 --max-lag-millis=1500 \
#   --cut-over-lock-timeout-seconds=3 --default-retries=60 \
#   --postpone-cut-over-flag-file=/tmp/orders.postpone --panic-flag-file=/tmp/orders.panic \
#   --initially-drop-ghost-table --ok-to-drop-table --execute
- name: Add a column and an index to shop.orders online, as the gh-ost command above does
  dbferry.mysql.alter:
    login_host: db1.example.com
    login_user: dba
    login_password: "{{ vault_dba_password }}"
    database: shop
    table: orders
    alter: ADD COLUMN description TEXT, ADD INDEX (created_at)
    chunk_size: 2000
    max_load: Threads_running=25
    critical_load: Threads_running=200
    throttle_control_replicas:
      - host: db2.example.com
        port: 3306
    max_lag_millis: 1500
    cut_over_lock_timeout_seconds: 3
    default_retries: 60
    postpone_cut_over_flag_file: /tmp/orders.postpone
    panic_flag_file: /tmp/orders.panic
    initially_drop_ghost_table: true
    ok_to_drop_table: true
  register: orders_change

- name: Show the new schema and what the cut-over cost
  ansible.builtin.debug:
    msg: "{{ orders_change.new_create }} ({{ orders_change.rows_copied }} rows, writes held {{ orders_change.cut_over_lock_seconds }} s)"

- name: Rename a column and widen it; the renamed column's values move with it
  dbferry.mysql.alter:
    login_unix_socket: /run/mysqld/mysqld.sock
    database: shop
    table: customers
    alter: CHANGE COLUMN mail email VARCHAR(320) NOT NULL
    rename_columns:
      mail: email

- name: Start the change in an agent; it copies, applies and verifies, then waits for the cut-over
  dbferry.mysql.alter:
    login_unix_socket: /run/mysqld/mysqld.sock
    database: shop
    table: orders
    alter: MODIFY amount DECIMAL(14,2) NOT NULL
    state: started
  register: orders_started

- name: Wait until it is ready (copied, verified, caught up)
  dbferry.mysql.wait:
    name: orders
    state_dir: "{{ orders_started.state_dir }}"
    timeout: 21600

- name: Cut over in the maintenance window
  dbferry.mysql.alter:
    login_unix_socket: /run/mysqld/mysqld.sock
    database: shop
    table: orders
    alter: MODIFY amount DECIMAL(14,2) NOT NULL
    state: cut_over

- name: Remove the ghost table and checkpoints a stopped change left behind
  dbferry.mysql.alter:
    login_unix_socket: /run/mysqld/mysqld.sock
    database: shop
    table: orders
    state: absent
"""

RETURN = r"""
state_dir:
  description: The change's folder on the host the task runs on (status, log, control socket; give it to M(dbferry.mysql.wait)).
  returned: always
  type: str
  sample: /home/dba/.dbferry/alters/shop.orders
pid:
  description: The agent's process id; null when no agent runs the change.
  returned: when O(state=started)
  type: int
  sample: 4242
status:
  description: The change's status when the task returned, as C(dbferry status) shows it (phase, rows, rate, ETA, lag, waiting_for).
  returned: when O(state=started)
  type: dict
old_create:
  description: The table's C(SHOW CREATE TABLE) before the change (now, in check mode, and when nothing changed).
  returned: when O(state=present) or O(state=cut_over)
  type: str
  sample: "CREATE TABLE `orders` (\n  `id` int(11) NOT NULL,\n  `amount` decimal(10,2) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB"
new_create:
  description: The table's C(SHOW CREATE TABLE) after the change (in check mode, that of the altered ghost table).
  returned: when O(state=present) or O(state=cut_over)
  type: str
  sample: "CREATE TABLE `orders` (\n  `id` int(11) NOT NULL,\n  `description` text DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB"
mapping:
  description: The copied columns, old name to new name (the same but for O(rename_columns)).
  returned: when O(state=present) or O(state=cut_over)
  type: dict
  sample: {id: id, amount: amount}
added:
  description: Columns of the new schema that are not copied (they take their defaults, or are generated).
  returned: when O(state=present) or O(state=cut_over)
  type: list
  elements: str
  sample: [description]
dropped:
  description: Columns of the old table whose values are not copied.
  returned: when O(state=present) or O(state=cut_over)
  type: list
  elements: str
  sample: []
rows_copied:
  description: Rows the copy wrote into the ghost table (0 in check mode and when nothing changed).
  returned: when O(state=present) or O(state=cut_over)
  type: int
  sample: 1000000
events_applied:
  description: Row changes from the binlog applied to the ghost table while the change ran.
  returned: when O(state=present) or O(state=cut_over)
  type: int
  sample: 4242
seconds:
  description: Seconds the change took in all.
  returned: when O(state=present) or O(state=cut_over)
  type: float
  sample: 12.5
cut_over_lock_seconds:
  description: Seconds the successful cut-over blocked writes to the table; null when there was no cut-over.
  returned: when O(state=present) or O(state=cut_over)
  type: float
  sample: 0.08
cut_over_attempts:
  description: Cut-overs tried, the successful one included.
  returned: when O(state=present) or O(state=cut_over)
  type: int
  sample: 1
retries:
  description: Cut-overs tried again after one timed out or failed (O(default_retries) bounds them).
  returned: when O(state=present) or O(state=cut_over)
  type: int
  sample: 0
old_table:
  description: The old table, kept as C(<database>._<table>_del); null when it was dropped (O(ok_to_drop_table)) or nothing changed.
  returned: when O(state=present) or O(state=cut_over)
  type: str
  sample: shop._orders_del
rehearsal:
  description: True when the change was rehearsed on a replica (O(test_on_replica)) and undone there; RV(new_create) is what it
    would make.
  returned: when O(state=present) or O(state=cut_over)
  type: bool
  sample: false
instant:
  description:
    - C(INSTANT) or C(INPLACE) when the server could make this change natively without blocking writes (see
      O(attempt_instant_ddl)), else null.
  returned: when O(state=present) or O(state=cut_over)
  type: str
  sample: INSTANT
foreign_keys:
  description:
    - What the change does (in check mode) or did with the foreign keys from and to the table; empty when there are none.
    - The table's own constraints are given to the new table under the cut-over's lock, named with a leading underscore
      added or removed (constraint names are unique per database; the old table keeps the old ones). The constraints of the
      tables that reference it are re-pointed at the new table right after the swap, one in-place, metadata-only
      C(ALTER TABLE) per child table.
  returned: when O(state=present) or O(state=cut_over)
  type: list
  elements: str
  sample: ["1 foreign key(s) of shop.lines re-pointed at the new table (`line_order` -> `_line_order`): the children are locked ..."]
diff:
  description: The C(CREATE TABLE) before and after the change, when it changes the table.
  returned: when O(state=present) or O(state=cut_over) and the table changes (or would, in check mode)
  type: dict
  sample: {before: "CREATE TABLE `orders` (...)", after: "CREATE TABLE `orders` (...)"}
queries:
  description:
    - The statements the task ran that change its servers, in the order run (as community.mysql's modules return them);
      not its reads, its session set-up (C(SET SESSION)) or its writes to the rows of dbferry's own C(_dbferry) schema
      (checkpoints, records). A bound value other than a number shows as C(?), a password written into a statement as
      C('********').
    - With V(present), the ghost table's C(CREATE TABLE ... LIKE) and C(ALTER TABLE), the cut-over's C(LOCK TABLES),
      C(RENAME TABLE) and C(DROP TABLE) (with O(test_on_replica), the replica's C(STOP SLAVE SQL_THREAD) and C(START
      SLAVE SQL_THREAD)); not the row copy (an C(INSERT ... SELECT) per chunk) nor the binlog's row changes applied to the
      ghost table. With V(started) and V(cut_over) the detached agent runs the change, and its statements are not
      listed. In check mode, the empty copy's C(CREATE TABLE ... LIKE), C(ALTER TABLE) and C(DROP TABLE).
    - A failed task returns them too - what ran before it failed.
  returned: always
  type: list
  elements: str
  sample: ["CREATE TABLE `shop`.`_orders_gho` LIKE `shop`.`orders`", "ALTER TABLE `shop`.`_orders_gho` ADD COLUMN note TEXT"]
"""


import json
import os
import threading
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dbferry.mysql.plugins.module_utils.agent import alter_agent
from ansible_collections.dbferry.mysql.plugins.module_utils.agent.process import read_status
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import PYMYSQL_IMPORT_ERROR, login_argument_spec
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.eventlog import EventLog
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_errors import call_or_fail
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_queries import report_queries
from ansible_collections.dbferry.mysql.plugins.module_utils.config.alter_config import ALTER_OPTIONS, LOGIN_KEYS, AlterConfig, parse_alter_config
from ansible_collections.dbferry.mysql.plugins.module_utils.config.module_options import throttle_argument_spec
from ansible_collections.dbferry.mysql.plugins.module_utils.config.options import REQUIRED
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.plan import alter_name
from ansible_collections.dbferry.mysql.plugins.module_utils.osc.runner import AlterResult, already_applied, noop_alter, remove_alter

#: Keys of ALTER_OPTIONS that are not options of the module: the server is the login_* options, the binlog reader's
#: server id is derived from the table's name, and the status folder is the default one of the table.
NOT_MODULE_OPTIONS = ("server", "server_id", "state_dir")
#: The ALTER given to the configuration for state=absent, which removes by table and never reads it: a no-op rebuild.
ABSENT_ALTER = "FORCE"
#: What a finished change returns (AlterResult's fields).
RESULT_KEYS = ("changed", "old_create", "new_create", "mapping", "added", "dropped", "rows_copied", "events_applied", "seconds",
               "cut_over_lock_seconds", "cut_over_attempts", "retries", "old_table", "instant", "rehearsal", "foreign_keys")


def alter_argument_spec() -> dict[str, Any]:
    """login_*, every option of ALTER_OPTIONS with its type and default, state and timeout."""
    spec = login_argument_spec()
    for option in ALTER_OPTIONS:
        if option.key in NOT_MODULE_OPTIONS:
            continue
        entry: dict[str, Any] = {"type": option.type}
        if option.default is REQUIRED:
            entry["required"] = True
        elif option.default is not None:
            entry["default"] = option.default
        spec[option.key] = entry
    # Only present and started need the ALTER: absent removes what any change of the table left; cut_over tells the change
    # that runs, whose ALTER it has.
    spec["alter"].pop("required", None)
    spec["throttle_control_replicas"].update(
        {k: v for k, v in throttle_argument_spec()["throttle_control_replicas"].items() if k != "type"})
    spec["state"] = {"type": "str", "choices": ["present", "started", "cut_over", "absent"], "default": "present"}
    spec["timeout"] = {"type": "float", "default": 86400}
    return spec


def _finished(module: AnsibleModule, outcome: AlterResult, table: str) -> dict[str, Any]:
    """The module's result for a change that ended (or would, in check mode): its fields and the diff; its warnings told."""
    for warning in outcome.warnings:
        module.warn(warning)
    result = {key: getattr(outcome, key) for key in RESULT_KEYS}
    if outcome.changed:
        result["diff"] = {"before": outcome.old_create, "after": outcome.new_create,
                          "before_header": "%s (now)" % table, "after_header": "%s (changed)" % table}
    return result


def _running_agent(config: AlterConfig) -> bool:
    """Whether an agent runs THIS change from the table's folder; DbferryError when what runs there is another change of
    the table, or a run in the foreground (whose end is not this task's to ask for)."""
    pid = alter_agent.running(config)
    if pid is None:
        return False
    try:
        with open(os.path.join(config.state_dir, alter_agent.CONFIG_FILE), encoding="utf-8") as handle:
            stored = json.load(handle)
    except FileNotFoundError:
        raise DbferryError("a change of %s.%s runs in the foreground (pid %s), not in an agent." % (config.database, config.table, pid),
                           obj="%s.%s" % (config.database, config.table),
                           fix="let it end (or stop it), then run this task again.") from None
    running = parse_alter_config(stored)  # normalized as this task's is: a trailing newline or ";" is the same ALTER
    if (running.alter, running.rename_columns) != (config.alter, config.rename_columns):
        raise DbferryError("another change of %s.%s runs in its agent (pid %s): %r." % (config.database, config.table, pid, running.alter),
                           obj="%s.%s" % (config.database, config.table),
                           fix="cut it over or remove it (state: absent) before starting this one.")
    return True


def _started(module: AnsibleModule, config: AlterConfig, raw: dict[str, Any], log: EventLog, running: bool) -> dict[str, Any]:
    """state: started; ``running``: an agent runs this change (_running_agent)."""
    if module.check_mode:
        outcome = None if running else noop_alter(config, log)
        return {"changed": bool(outcome and outcome.changed), "pid": alter_agent.running(config), "status": read_status(config.state_dir)}
    if not running and already_applied(config):
        return {"changed": False, "pid": None, "status": read_status(config.state_dir)}
    changed, pid, _config = alter_agent.start(raw)
    return {"changed": changed, "pid": pid, "status": read_status(config.state_dir)}


def _cut_over(module: AnsibleModule, config: AlterConfig, log: EventLog, running: bool) -> dict[str, Any]:
    """state: cut_over, and state: present when the change runs in its agent (``running``, from _running_agent)."""
    table = "%s.%s" % (config.database, config.table)
    if not running:
        if already_applied(config):
            log.event("alter_already_applied", table=table)
            return {"changed": False}
        raise alter_agent.nothing_runs(config)
    if module.check_mode:
        return {"changed": True, "status": read_status(config.state_dir)}
    return _finished(module, alter_agent.cut_over(config, module.params["timeout"]), table)


def main() -> None:
    module = AnsibleModule(argument_spec=alter_argument_spec(), supports_check_mode=True,
                           required_if=[("state", "present", ("alter",)), ("state", "started", ("alter",)), ("state", "cut_over", ("alter",))])
    report_queries(module)
    if PYMYSQL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    params = module.params
    table = "%s.%s" % (params["database"], params["table"])
    what = "alter of " + table
    raw = {key: params[key] for key in [option.key for option in ALTER_OPTIONS if option.key not in NOT_MODULE_OPTIONS] + sorted(LOGIN_KEYS)}
    if params["state"] == "absent":
        # Removal is by table (whatever change of it is recorded), so no ALTER is read; the configuration still wants one.
        raw["alter"] = ABSENT_ALTER
    config = call_or_fail(module, what, lambda: parse_alter_config(raw))
    # The module's events are not kept: its result says what happened, and a stopped change's checkpoints are in _dbferry.
    log = EventLog(alter_name(config.database, config.table))
    state = params["state"]
    if state == "absent":
        def absent() -> bool:
            if module.check_mode:
                return alter_agent.running(config) is not None or remove_alter(config, log, check_mode=True)
            stopped = alter_agent.forget(config)
            return remove_alter(config, log) or stopped
        module.exit_json(changed=call_or_fail(module, what, absent), state_dir=config.state_dir)
    running = call_or_fail(module, what, lambda: _running_agent(config))
    if state == "started":
        module.exit_json(state_dir=config.state_dir, **call_or_fail(module, what, lambda: _started(module, config, raw, log, running)))
    if state == "cut_over" or running:
        module.exit_json(state_dir=config.state_dir, **call_or_fail(module, what, lambda: _cut_over(module, config, log, running)))
    # The change in this task, with the controls of a running change (dbferry status and the like); a table that already
    # has it is left alone (changed false); noop_alter compares the same way.
    outcome = call_or_fail(module, what, lambda: noop_alter(config, log) if module.check_mode else alter_agent.run_controlled(
        config, log, threading.Event()))
    module.exit_json(state_dir=config.state_dir, **_finished(module, outcome, table))


if __name__ == "__main__":
    main()
