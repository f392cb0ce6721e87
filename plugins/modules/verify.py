#!/usr/bin/python
# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module dbferry.mysql.verify: compare a move's target tables with the source, row by row (or two stopped servers)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: verify
short_description: Verify that a move's target tables hold exactly the source's rows
version_added: 0.1.0
description:
  - Waits until the move has copied every table and applied the source's binlog up to O(position), then compares
    every table of the move on the source and the target, reading only.
  - The move's tables, where they went (renamed databases and tables) and their key columns are read
    from the target's C(_dbferry) schema, so only the move's O(name) is needed.
  - "V(checksum): each table is cut into key ranges of O(chunk_rows) source keys (the key's columns compared by the
    server, in their collation); both servers compute the row count and an order-independent digest of every row in
    each range. The first and the last range are open, so rows the target holds below the source's first key or beyond
    its last are found too."
  - "The row digest is exact: every column is compared as its stored bytes (no collation), NULL, V('') and V('NULL')
    differ, trailing spaces in VARCHAR count, FLOAT values are compared at full precision and ENUM values by their
    number too. Equal because the server stores them alike: CHAR values differing only in trailing spaces, -0.0 and 0.0."
  - A range that differs is compared again once the move has applied the source's position of that moment, so
    a difference left by writes still arriving passes; one that stays is narrowed down to rows and columns.
  - For a definite answer both sides must be quiet (make the source read-only first). While the source is still
    written, a range can differ only because the target has applied more or fewer of the latest writes; the second
    comparison clears most of these, but a report may still name rows written at that moment.
  - The task fails when any row differs; C(msg) names the first few by table, key and columns.
  - "Without a move (O(databases) instead of O(name)): any two servers, e.g. a replica of the source and a replica of
    the target, both stopped at the cutover's position, are compared as they stand, with the same row digest. The tables
    are the source's base tables in O(databases) (narrowed by O(tables)), each compared with the table of the same name
    on the target; each needs a key (a primary key, or a unique key on NOT NULL columns; see M(dbferry.mysql.preflight)).
    Nothing can catch up, so both servers must stand still:
    each one's C(@@gtid_current_pos) is read before and after the comparison, and the task fails, naming the server,
    when one moved, or when it is not at O(position) (source) or O(target_position) (target) where given."
  - The module never changes anything but with O(before_read_only); it reports C(changed=false) and supports check mode.
  - "With O(before_read_only), while the source is still writable and before the read-only window: with O(method=inline),
    the tables inline cannot vouch for get a checksum pass (their differing rows are marked in the target's C(_dbferry),
    which is the only change, and the window compares only their changed rows); then the window is estimated from what is
    left to verify (RV(window); the agent's binlog lag is not known here, M(dbferry.mysql.switchover) adds it), and the task
    fails when that is over O(max_read_only_seconds). M(dbferry.mysql.switchover)
    does the same by itself; this is for a playbook that shows the estimate first, or makes the source read-only with its
    own tasks."
author:
  - dbferry maintainers (@dbferry)
options:
  name:
    description:
      - The move's name, as given to the move when it started.
      - One of O(name) and O(databases) is required.
    type: str
  databases:
    description:
      - Compare two servers without a move (see the description), in these databases of the source (names or patterns
        such as V(shop_*)). Excludes O(name), and O(method=inline) and O(timeout) do not apply.
    type: list
    elements: str
  target_position:
    description:
      - With O(databases), the GTID position the target must be at (its C(@@gtid_current_pos), per domain named), e.g.
        the position a stopped replica of the target was stopped at. Default is wherever it stands.
    type: str
  method:
    description:
      - V(checksum) compares every table by primary key ranges (see the description).
      - V(inline) is for moves that run with the move option C(verify.inline). The move hashed each copied batch on both
        sides as it wrote it and keeps a dirty set of the rows changed since, re-verified in the background; so only the
        dirty rows are compared, by key with the same exact row digest, and the time grows with the recent change
        rate, not with the table size.
      - With V(inline), a table that inline cannot vouch for (copied, or its binlog events applied, while C(verify.inline)
        was off) is compared with V(checksum) instead; its C(method) and C(note) say so.
      - V(inline) does not find a write to the target behind the move's back (not in the source's binlog) to a row that
        no later change made dirty; V(checksum) reads every row and does.
      - Default V(inline) with O(name) (moves run with C(verify.inline) by default), V(checksum) with O(databases).
      - M(dbferry.mysql.switchover) also makes, before the source is read-only, a checksum pass for the tables V(inline)
        cannot vouch for, so that they too are compared at their changed rows only.
    type: str
    choices: [checksum, inline]
  position:
    description:
      - The source GTID position (MariaDB C(@@gtid_binlog_pos) form) the move must have applied before tables are compared.
      - Default is the source's current position, read when the task starts.
      - With O(databases), the position the source must be at (its C(@@gtid_current_pos), per domain named).
    type: str
  timeout:
    description:
      - Seconds to wait for the move to reach O(position) (and to finish copying). On timeout the task fails,
        naming the applied and the wanted position; the move keeps running.
      - Also the limit for the waits before a differing range is compared again.
    type: float
    default: 300
  chunk_rows:
    description:
      - Source rows per compared key range. A range that differs is narrowed down by reading this many row digests
        from each side.
    type: int
    default: 1000
  parallel:
    description:
      - Tables verified at the same time, each with a source and a target session of its own.
    type: int
    default: 2
  tables:
    description:
      - Verify only these tables of the move, named as source C(db.table). Default is every table of the move.
      - With O(databases), only these tables of them (names or patterns, C(db.table)).
    type: list
    elements: str
  before_read_only:
    description:
      - Prepare and estimate the read-only window instead of verifying (see the description). Needs O(name).
    type: bool
    default: false
  max_read_only_seconds:
    description:
      - With O(before_read_only), the longest the read-only window may be expected to last; over it the task fails, naming
        the table that takes the longest. V(0) means no limit.
    type: float
    default: 5
attributes:
  check_mode:
    support: full
    details: Behaves the same in check mode, as it never writes, except that O(before_read_only) makes no checksum pass (it writes).
  diff_mode:
    support: none
  platform:
    platforms: posix
  action_group:
    support: full
    membership:
      - dbferry.mysql.servers
seealso:
  - module: dbferry.mysql.preflight
  - module: dbferry.mysql.cutover
  - module: dbferry.mysql.switchover
  - name: Action groups
    description: Setting the common options once with module_defaults.
    link: https://github.com/dbferry/dbferry.mysql/blob/main/docs/module_defaults.md
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - dbferry.mysql.connection.servers
notes:
  - The source user needs C(SELECT) on the moved databases; the target user C(SELECT) on the target databases and C(_dbferry).
"""

EXAMPLES = r"""
- name: Verify the shop move once the source is read-only
  dbferry.mysql.verify:
    name: shop-move
    source: "{{ dbferry_source }}"
    target: "{{ dbferry_target }}"

- name: Verify two tables, up to a position read earlier, with more tables at once
  dbferry.mysql.verify:
    name: shop-move
    source: "{{ dbferry_source }}"
    target: "{{ dbferry_target }}"
    position: "{{ final_position }}"
    timeout: 900
    parallel: 4
    tables: [shop.orders, shop.customers]
  register: verified

- name: After a rehearsal, compare a replica of the source and a replica of the target, both stopped at the cutover
  dbferry.mysql.verify:
    source: "{{ source_replica }}"
    target: "{{ target_replica }}"
    databases: [shop]
    position: "{{ rehearsal.final_position }}"
"""

RETURN = r"""
tables:
  description: Per verified table, in source name order.
  returned: success or when rows differ
  type: list
  elements: dict
  contains:
    table:
      description: The source table, as C(db.table).
      type: str
      sample: shop.orders
    target_table:
      description: Where it went on the target, as C(db.table).
      type: str
      sample: shop_v2.orders
    rows:
      description: Rows compared (the source's count; with V(inline), the dirty rows compared).
      type: int
      sample: 120000
    chunks:
      description: Key ranges compared.
      type: int
      sample: 121
    seconds:
      description: Time spent on the table.
      type: float
      sample: 1.92
    mismatches:
      description: Differing rows in key order, at most 100 per table.
      type: list
      elements: dict
      contains:
        key:
          description: The row's key value; a list of values for a key of several columns; bytes as 0x-prefixed hex, DECIMAL and temporal values as text.
          type: raw
          sample: 4711
        kind:
          description: V(differs) (on both sides, other values), V(missing) (on the target) or V(extra) (only on the target).
          type: str
          sample: differs
        columns:
          description: The differing columns, for V(differs); empty otherwise.
          type: list
          elements: str
          sample: [total, status]
    truncated:
      description: More rows differ than C(mismatches) lists.
      type: bool
      sample: false
    method:
      description: How the table was compared, V(inline) (its dirty rows only) or V(checksum) (every row).
      returned: when O(method=inline)
      type: str
      sample: inline
    note:
      description: Why a table was compared with V(checksum) under O(method=inline); empty otherwise.
      returned: when O(method=inline)
      type: str
      sample: "compared by checksum: the move does not run with verify.inline"
method:
  description: The verification method.
  returned: when O(method=inline)
  type: str
  sample: inline
rows_compared:
  description: Rows compared over all tables (with V(inline), the dirty rows plus the rows of tables compared by checksum).
  returned: when O(method=inline)
  type: int
  sample: 42
window:
  description: With O(before_read_only), the expected read-only window and the checksum pass made for it, as
    RV(dbferry.mysql.switchover#module:window) describes.
  returned: with O(before_read_only)
  type: dict
  sample: {seconds: 0.4, summary: "expected read-only window 0.4 s (shop.orders: its 3120 dirty rows, 0.3 s)"}
position:
  description: The source position the move had to apply before the comparison; with O(databases), the source's position.
  returned: success or when rows differ
  type: str
  sample: 0-1-4242
applied_position:
  description: The move's applied position when the wait ended; with O(databases), the target's position.
  returned: success or when rows differ
  type: str
  sample: 0-1-4242
seconds:
  description: Time the whole verification took, the wait included.
  returned: success or when rows differ
  type: float
  sample: 3.5
auto_increment_behind:
  description:
    - Tables whose next C(AUTO_INCREMENT) value is lower on the target than on the source (ids the source handed out to rows
      that are gone leave no row to copy). Not a differing row, and the task warns instead of failing, because the cutover
      raises them while the source is read-only (M(dbferry.mysql.cutover), RV(dbferry.mysql.cutover#module:auto_increment_raised));
      a target that took over without that would hand out ids the source gave out already.
  returned: success or when rows differ
  type: list
  elements: dict
  sample: [{table: shop.orders, target_table: shop.orders, source: 5, target: 4}]
"""


from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import (
    PYMYSQL_IMPORT_ERROR,
    ServerSpec,
    server_argument_spec,
)
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.module_errors import call_or_fail
from ansible_collections.dbferry.mysql.plugins.module_utils.verify.checksum import (
    DEFAULT_CHUNK_ROWS,
    DEFAULT_METHOD,
    DEFAULT_PARALLEL,
    DEFAULT_TIMEOUT,
    METHODS,
    MOVE_ADVICE,
    VerifyReport,
    verify,
)
from ansible_collections.dbferry.mysql.plugins.module_utils.verify.servers import compare_servers
from ansible_collections.dbferry.mysql.plugins.module_utils.verify.budget import DEFAULT_MAX_SECONDS, refuse_over
from ansible_collections.dbferry.mysql.plugins.module_utils.cutover.switchover import VerifyStep, plan_window
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.selection import Selection

#: What a failed comparison of two servers without a move tells the operator.
SERVERS_ADVICE = "The two servers do not hold the same rows in these tables."


def _run(params: dict) -> VerifyReport:
    """A move's verification, or two servers compared without one (databases)."""
    source, target = ServerSpec.from_options(params["source"]), ServerSpec.from_options(params["target"])
    if params["databases"] is None:
        return verify(source, target, params["name"], method=params["method"] or DEFAULT_METHOD, position=params["position"], timeout=params["timeout"],
                      chunk_rows=params["chunk_rows"], parallel=params["parallel"], tables=params["tables"])
    if params["method"] not in (None, "checksum"):
        raise DbferryError("method %s needs a move; servers without one are compared by checksum." % params["method"], obj="method",
                           fix="leave method out, or give the move's name instead of databases.")
    selection = Selection.from_options({"include": params["databases"]}, {"include": params["tables"] or []})
    return compare_servers(source, target, selection, source_position=params["position"], target_position=params["target_position"],
                           chunk_rows=params["chunk_rows"], parallel=params["parallel"])


def _before_read_only(module: AnsibleModule) -> None:
    """The checksum pass and the window estimate (switchover.plan_window); fails over the budget, the source untouched."""
    params = module.params
    step = VerifyStep(params["method"] or DEFAULT_METHOD, params["timeout"], params["chunk_rows"], params["parallel"],
                      params["max_read_only_seconds"])
    planned = call_or_fail(module, "verify", lambda: plan_window(
        ServerSpec.from_options(params["source"]), ServerSpec.from_options(params["target"]), params["name"], None,
        step, prepare=not module.check_mode))
    result = {"changed": planned.changed, "window": planned.as_dict()}
    try:
        refuse_over(planned.expected, params["max_read_only_seconds"])
    except DbferryError as exc:
        module.fail_json(msg="%s The source was not touched." % exc, **result)
    module.exit_json(**result)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str"},
            "databases": {"type": "list", "elements": "str"},
            "target_position": {"type": "str"},
            "source": server_argument_spec(),
            "target": server_argument_spec(),
            "method": {"type": "str", "choices": list(METHODS)},
            "position": {"type": "str"},
            "timeout": {"type": "float", "default": DEFAULT_TIMEOUT},
            "chunk_rows": {"type": "int", "default": DEFAULT_CHUNK_ROWS},
            "parallel": {"type": "int", "default": DEFAULT_PARALLEL},
            "tables": {"type": "list", "elements": "str"},
            "before_read_only": {"type": "bool", "default": False},
            "max_read_only_seconds": {"type": "float", "default": DEFAULT_MAX_SECONDS},
        },
        supports_check_mode=True,
        required_one_of=[("name", "databases")],
        mutually_exclusive=[("name", "databases")],
        required_by={"target_position": "databases"},
        required_if=[("before_read_only", True, ("name",))],
    )
    if PYMYSQL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    params = module.params
    if params["before_read_only"]:
        _before_read_only(module)
    report = call_or_fail(module, "verify", lambda: _run(params))
    result = dict(report.as_dict(), changed=False)
    if report.auto_increment_behind:
        module.warn("AUTO_INCREMENT is behind on the target in %s; the cutover raises it (dbferry.mysql.cutover), a target that takes "
                    "over otherwise hands out ids the source gave out already." % "; ".join(b.describe() for b in report.auto_increment_behind))
    if report.mismatched:
        module.fail_json(msg=report.failure_message(advice=SERVERS_ADVICE if params["databases"] else MOVE_ADVICE), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
