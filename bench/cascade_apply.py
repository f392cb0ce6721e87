"""Part cascades: what following cascading foreign keys costs the applier (engine/cascades.py, issue 16).

One move of two tables, ``fam_parent`` (``--rows`` / 2 rows) and ``fam_child`` (``--rows`` rows, two a parent,
``FOREIGN KEY (p) REFERENCES fam_parent (id) ON DELETE CASCADE ON UPDATE CASCADE``); once their copy is done, two
backlogs, each written by 4 connections while the agent is stopped, and timed from just before a new agent process
starts until the target's checkpoint holds the source's position, as apply (a) is:

- **plain**: single-row changes that cascade nothing: 60 % child updates, 20 % parent updates of a column no
  constraint references, 20 % child inserts. The batches hold parent changes, so the applier looks at each, and
  finds nothing to follow: this is the cost of the check.
- **cascading**: each transaction a parent's delete, which deletes its two children on the source, unseen by the
  binlog: every batch re-copies children (a locking read on the target, one on the source, a delete and an insert).

Ratio: cascading transactions/s over plain ones. The rows and backlog sizes follow ``--rows`` as apply's do.
"""

from __future__ import annotations

import random
import time
from typing import Any

from harness import Agent, Bench, Figure, FlatOutWriter, Options, Table, log, number

from ansible_collections.dbferry.mysql.plugins.module_utils.dev.load import Transaction

WRITERS = 4
COPY_TIMEOUT = 600.0
#: At 1M rows the cascading backlog took 199 s and about 570 s on 2026-12-04 (300 s ended the part before it was done).
DRAIN_TIMEOUT = 600.0


def family_tables(rows: int) -> list[Table]:
    """``fam_parent`` with ``rows`` / 2 rows and ``fam_child`` with ``rows``, child ``k`` of parent ``(k + 1) / 2``."""
    parents = max(1, rows // 2)
    return [Table("fam_parent", "CREATE TABLE {db}.fam_parent (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, n INT NOT NULL) ENGINE=InnoDB",
                  "INSERT INTO {db}.fam_parent SELECT seq, CONCAT('parent-', seq), 0 FROM seq_1_to_{rows}", parents),
            Table("fam_child", "CREATE TABLE {db}.fam_child (id BIGINT PRIMARY KEY, p BIGINT NOT NULL, v INT NOT NULL, "
                               "note VARCHAR(100) NOT NULL, CONSTRAINT fk_fam FOREIGN KEY (p) REFERENCES {db}.fam_parent (id) "
                               "ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB",
                  "INSERT INTO {db}.fam_child SELECT seq, (seq + 1) DIV 2, 0, CONCAT('child-', seq) FROM seq_1_to_{rows}", parents * 2)]


class PlainMix:
    """One writer's single-row changes that cascade nothing; connection ``index`` of ``connections`` owns the parents
    ``index + 1 (mod connections)``, their children, and the children it inserts."""

    def __init__(self, parents: int, index: int, connections: int) -> None:
        self.rng = random.Random(index)
        self.parents = range(index + 1, parents + 1, connections)
        self.next_key = parents * 2 + 1 + index
        self.step = connections

    def transaction(self, size: int) -> Transaction:
        statements = []
        for _row in range(size):
            pick, parent = self.rng.random(), self.rng.choice(self.parents)
            if pick < 0.6:
                statements.append("UPDATE fam_child SET v = v + 1 WHERE id = %d" % (parent * 2))
            elif pick < 0.8:
                statements.append("UPDATE fam_parent SET n = n + 1 WHERE id = %d" % parent)
            else:
                key, self.next_key = self.next_key, self.next_key + self.step
                statements.append("INSERT INTO fam_child VALUES (%d, %d, 0, 'new')" % (key, parent))
        return Transaction(tuple(statements), rows=size)


class CascadingMix:
    """One writer's parent deletes, each cascading to two children: connection ``index`` deletes its own parents in order."""

    def __init__(self, parents: int, index: int, connections: int) -> None:
        self.parents = iter(range(index + 1, parents + 1, connections))

    def transaction(self, size: int) -> Transaction:
        return Transaction(tuple("DELETE FROM fam_parent WHERE id = %d" % next(self.parents) for _row in range(size)), rows=size)


def _backlog(bench: Bench, move: Agent, mixes: list, transactions: int, label: str) -> tuple[float, dict[str, Any]]:
    """``transactions`` written while the agent is stopped; the rate at which a new agent applies them."""
    move.stop()
    written = FlatOutWriter(bench, mixes, (1, 1), limit=transactions).finish()
    final = bench.source_sequence()
    started = move.start()
    seconds = move.wait_applied(final, DRAIN_TIMEOUT) - started
    rate = written.transactions / seconds
    log("%s: backlog of %d transactions applied in %.1f s" % (label, written.transactions, seconds))
    return rate, {"written": written.as_dict(), "apply_seconds": round(seconds, 2), "transactions_per_second": round(rate)}


def measure(bench: Bench, options: Options) -> tuple[list[Figure], dict[str, Any]]:
    tables = family_tables(options.rows)
    for table in tables:
        bench.ensure(table)
    parents = tables[0].rows
    # Every parent is deleted at most once: the cascading backlog is bounded by them.
    transactions = min(options.backlog, parents - WRITERS)
    move = Agent(bench, "cascades", tables)
    move.start()
    move.wait_copied(COPY_TIMEOUT)
    time.sleep(0.5)  # the applier settles before it is stopped for the first backlog
    plain, plain_data = _backlog(bench, move, [PlainMix(parents, i, WRITERS) for i in range(WRITERS)], transactions, "plain")
    cascading, cascading_data = _backlog(bench, move, [CascadingMix(parents, i, WRITERS) for i in range(WRITERS)], transactions,
                                         "cascading")
    move.remove()
    ratio = round(cascading / plain, 3)
    figures = [Figure("cascades: backlog of %s 1-row txns, none cascading" % number(transactions), "%s txn/s" % number(plain)),
               Figure("cascades: backlog of %s parent deletes, 2 children each" % number(transactions), "%s txn/s" % number(cascading),
                      "%s txn/s without cascades" % number(plain), ratio)]
    return figures, {"plain": plain_data, "cascading": cascading_data, "cascading_to_plain_ratio": ratio}
