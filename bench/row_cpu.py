"""CPU per row of the binlog path, reader and applier apart (issue 19: writers with 10-50-row transactions).

Not a part of ``make bench``: a measurement for changes to binlog/ and engine/rows.py. Wall time on this shared
2-core machine says little about them; process CPU time does. On two sandboxes of its own (``--dir``, kept between
runs: the backlog is written once), ``bench.t`` (harness.narrow_table) on both sides and a backlog of
``--transactions`` transactions of ``--size`` rows (RowMix: 60 % UPDATE, 20 % INSERT, 20 % DELETE) in the source's
binlog. Each run then, in this process:

reader:  the reader process's loop (reader._Reader) over the backlog, its transactions pickled as the pipe pickles
         them (multiprocessing's ForkingPickler), kept in memory; CPU time of the loop.
applier: an Applier (engine/applier.py, both threads) over those messages, unpickled as BinlogStream receives them,
         writing to the target; CPU time of the process while it runs (its waits on the target cost none).

Prints the median µs per row of ``--runs`` runs for each.
    PYTHONPATH=.build/collections .venv/bin/python bench/row_cpu.py --dir /tmp/rowcpu-sbx
``--down`` stops the sandboxes and removes the folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import threading
import time
from multiprocessing.reduction import ForkingPickler
from typing import Any, Optional

from harness import DATABASE, RowMix, narrow_table

from ansible_collections.dbferry.mysql.plugins.module_utils.binlog import gtid
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.assembler import Assembler
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.changes import Transaction
from ansible_collections.dbferry.mysql.plugins.module_utils.binlog.reader import _collations, _from_wire, _Reader
from ansible_collections.dbferry.mysql.plugins.module_utils.config.move_config import parse_config
from ansible_collections.dbferry.mysql.plugins.module_utils.config.tunables import Tunables
from ansible_collections.dbferry.mysql.plugins.module_utils.controls.throttle import Throttle
from ansible_collections.dbferry.mysql.plugins.module_utils.dev import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.engine import state
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.applier import Applier
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.tables import read_tables
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import close_quietly, connect, execute, fetch_value
from ansible_collections.dbferry.mysql.plugins.module_utils.server.flavor import detect_flavor

SERVER_ID = 0x5EED


class _Reached(BrokenPipeError):
    """The backlog's last transaction was sent: ends _Reader.run as a parent gone would."""


class _Channel:
    """The reader's end of the pipe, pickling as multiprocessing's Connection.send does, into memory."""

    def __init__(self, final: str) -> None:
        self.final = gtid.parse(final)
        self.messages: list[bytes] = []

    def send(self, item: Any) -> None:
        data = bytes(ForkingPickler.dumps(item))
        if isinstance(item, list):
            self.messages.append(data)
            if any(gtid.parse(txn[0]) == self.final for txn in item):
                raise _Reached()
        elif isinstance(item, BaseException):
            raise item


class _Replay:
    """A BinlogStream's next_transaction over recorded messages, unpickled and rebuilt as BinlogStream._receive does."""

    def __init__(self, messages: list[bytes]) -> None:
        self.messages = list(reversed(messages))
        self.ready: list[Transaction] = []

    def next_transaction(self, timeout: float) -> Optional[Transaction]:
        if not self.ready:
            if not self.messages:
                time.sleep(timeout)
                return None
            self.ready = list(reversed(_from_wire(ForkingPickler.loads(self.messages.pop()))))
        return self.ready.pop()


def _setup(folder: str, rows: int, transactions: int, size: int) -> dict[str, Any]:
    """The sandboxes, the table on both and the backlog, made once; what a run needs to know of them."""
    recorded = os.path.join(folder, "backlog.json")
    if os.path.exists(recorded):
        sandbox.up(os.path.join(folder, "sandboxes"), ["source", "target"])
        with open(recorded, encoding="utf-8") as handle:
            return json.load(handle)
    source_box, target_box = sandbox.up(os.path.join(folder, "sandboxes"), ["source", "target"])
    table = narrow_table(rows)
    for box in (source_box, target_box):
        conn = connect(box.spec("root"), read_timeout=600)
        try:
            execute(conn, "CREATE DATABASE %s" % DATABASE)
            table.create(conn)
        finally:
            close_quietly(conn)
    conn = connect(source_box.spec("root"), autocommit=False)
    try:
        start = fetch_value(conn, "SELECT @@GLOBAL.gtid_binlog_pos")
        execute(conn, "USE %s" % DATABASE)
        mixes = [RowMix(rows, index, 4) for index in range(4)]
        written = 0
        for number in range(transactions):
            for statement in mixes[number % 4].transaction(size).statements:
                execute(conn, statement)
                written += 1
            conn.commit()
        final = fetch_value(conn, "SELECT @@GLOBAL.gtid_binlog_pos")
    finally:
        close_quietly(conn)
    info = {"start": start, "final": final, "rows_written": written}
    with open(recorded, "w", encoding="utf-8") as handle:
        json.dump(info, handle)
    return info


def _config(folder: str) -> dict[str, Any]:
    source_box, target_box = sandbox.load(os.path.join(folder, "sandboxes"))
    return {"name": "rowcpu", "source": source_box.connection_options("ferry_source"), "target": target_box.connection_options("ferry_target"),
            "databases": {"include": [DATABASE]}, "state_dir": os.path.join(folder, "state"), "verify": {"inline": False}}


def _read(config: Any, info: dict[str, Any]) -> tuple[float, list[bytes], int]:
    """The reader's CPU seconds over the backlog, its messages, and the rows they hold."""
    conn = connect(config.source)
    try:
        flavor = detect_flavor(conn)
        collations = _collations(conn, flavor)
    finally:
        close_quietly(conn)
    channel = _Channel(info["final"])
    assembler = Assembler(frozenset({(DATABASE, "t")}), collations, {(DATABASE, "t"): ("id",)})
    reader = _Reader(channel, os.getppid(), config.source, SERVER_ID, 1.0, 30, assembler)
    started = time.process_time()
    try:
        reader.run(dict(gtid.parse(info["start"])))
    except _Reached:
        pass
    seconds = time.process_time() - started
    rows = sum(len(txn.changes) for message in channel.messages for txn in _from_wire(ForkingPickler.loads(message)))
    return seconds, channel.messages, rows


def _apply(config: Any, messages: list[bytes], final: str) -> float:
    """The applier's CPU seconds (both threads) writing the messages' transactions to the target."""
    conn = connect(config.source)
    try:
        tables = read_tables(conn, config)
    finally:
        close_quietly(conn)
    stop = threading.Event()

    def applied(batch: list[Transaction], _changes: int) -> None:
        if any(gtid.parse(txn.position) == gtid.parse(final) for txn in batch):
            stop.set()

    target = connect(config.target, autocommit=False)
    try:
        state.ensure_schema(target)
        if state.load(target, config.name) is None:
            state.create(target, config.name, config.digest, tables)
        target.commit()
    finally:
        close_quietly(target)
    applier = Applier(config, tables, applied, Throttle(), Tunables.of(config))
    started = time.process_time()
    applier.run(_Replay(messages), stop)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default="/tmp/rowcpu-sbx")
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--transactions", type=int, default=3000)
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", choices=("reader", "applier"), help="one run under cProfile, top functions printed")
    parser.add_argument("--down", action="store_true")
    args = parser.parse_args()
    if args.down:
        sandbox.down(os.path.join(args.dir, "sandboxes"))
        shutil.rmtree(args.dir, ignore_errors=True)  # the backlog's record too: it describes those servers
        return
    info = _setup(args.dir, args.rows, args.transactions, args.size)
    config = parse_config(_config(args.dir))
    if args.profile:
        import cProfile  # pylint: disable=import-outside-toplevel
        import pstats  # pylint: disable=import-outside-toplevel
        profile = cProfile.Profile()
        if args.profile == "reader":
            profile.runcall(_read, config, info)
        else:
            messages = _read(config, info)[1]
            profile.runcall(_apply, config, messages, info["final"])
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return
    reads, applies = [], []
    for _run in range(args.runs):
        seconds, messages, rows = _read(config, info)
        reads.append(seconds * 1e6 / rows)
        applies.append(_apply(config, messages, info["final"]) * 1e6 / rows)
        print("run: %d rows, %d bytes pickled; reader %.2f µs/row, applier %.2f µs/row"
              % (rows, sum(map(len, messages)), reads[-1], applies[-1]), flush=True)
    print("median of %d: reader %.2f µs/row, applier %.2f µs/row" % (args.runs, statistics.median(reads), statistics.median(applies)))


if __name__ == "__main__":
    main()
