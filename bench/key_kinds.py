"""Part keys: the copy with other keys than an integer one (issue 16), each next to an integer key on the same rows.

Issue 16's target: a composite or string key may not make the copy more than 15 % slower than an integer key on the
same rows. Four tables hold the same rows, the narrow table ``t``'s columns and values plus four key columns (the
same in all four, whichever is the key), filled from the sequence engine as ``t`` is; only the PRIMARY KEY differs:

- ``keys_int``: ``id BIGINT``, the reference;
- ``keys_composite``: ``(tenant INT, name VARCHAR(100) utf8mb4_general_ci)``, tenant ``seq % 1000``, name ``name-<seq>``;
- ``keys_uuid``: ``guid BINARY(16)``, ``UNHEX(MD5(seq))``: in random order relative to the insertion, as UUIDs are
  (the source's pages split as a UUID-keyed table's do);
- ``keys_varchar``: ``code VARCHAR(40) utf8mb4_general_ci``, ``k<seq, 12 digits>``: in insertion order, so that the
  line shows what comparing text in a collation costs, apart from the random order.

Each is copied by a move of its own, timed as copy_phase.py times its copies (from just before the agent starts to
the checkpoint that records the copy done), its table read into the source's buffer pool just before (warm()). The
ratio is integer seconds / variant seconds: 0.85x is 15 % slower. With ``--repeat N`` the four are taken N times,
interleaved, and the fastest of each kept (all are in the JSON).

The JSON also has, for each table, how the source runs the copier's batch query (``batch_plan``: EXPLAIN of its
WHERE, ORDER BY and LIMIT, keys.after_condition, after the middle key): a range of PRIMARY read in key order, or not;
and its size on the source (``source_mb``: a table filled out of key order has half-full pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from copy_phase import copy_table, fastest
from harness import DATABASE, Bench, BenchError, Figure, Options, Table, narrow_table, number
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import for_arguments, quote_ident, quote_table
from ansible_collections.dbferry.mysql.plugins.module_utils.config.options import BY_KEY
from ansible_collections.dbferry.mysql.plugins.module_utils.engine.keys import after_condition, compare_args, key_list
from ansible_collections.dbferry.mysql.plugins.module_utils.server.connection import fetch_all, fetch_value

#: The issue's target (#16): at most 15 % slower than the integer key, as a ratio of the integer key's seconds.
KEY_RATIO = 0.85

#: The key columns every variant has, appended to ``t``'s, and their values from the sequence (unique each).
KEY_COLUMNS = ("tenant INT NOT NULL, name VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL, "
               "guid BINARY(16) NOT NULL, code VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL")
KEY_VALUES = "seq % 1000, CONCAT('name-', seq), UNHEX(MD5(seq)), CONCAT('k', LPAD(seq, 12, '0'))"


@dataclass(frozen=True)
class KeyKind:
    """One variant: its name (the table's is ``keys_<name>``), its PRIMARY KEY's columns and how the table line says it."""

    name: str
    columns: tuple[str, ...]
    label: str


INTEGER = KeyKind("int", ("id",), "BIGINT")
KINDS = (INTEGER,
         KeyKind("composite", ("tenant", "name"), "(INT, VARCHAR(100) general_ci)"),
         KeyKind("uuid", ("guid",), "BINARY(16), random order"),
         KeyKind("varchar", ("code",), "VARCHAR(40) general_ci"))


def replace_once(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced; an error if ``old`` is not there exactly once (narrow_table changed shape)."""
    if text.count(old) != 1:
        raise BenchError("narrow_table's SQL no longer has %r exactly once: key_kinds.py derives its tables from it" % old)
    return text.replace(old, new)


def keyed_table(rows: int, kind: KeyKind) -> Table:
    """``keys_<kind>``: ``t``'s columns and rows plus the key columns, keyed by ``kind``'s."""
    narrow = narrow_table(rows)
    name = "keys_" + kind.name
    ddl = replace_once(narrow.ddl, "{db}.t (", "{db}.%s (" % name)
    ddl = replace_once(ddl, "id BIGINT PRIMARY KEY", "id BIGINT NOT NULL")
    ddl = replace_once(ddl, ") ENGINE", ",\n  %s,\n  PRIMARY KEY (%s)) ENGINE" % (KEY_COLUMNS, ", ".join(quote_ident(c) for c in kind.columns)))
    fill = replace_once(narrow.fill, "{db}.t ", "{db}.%s " % name)
    fill = replace_once(fill, " FROM seq_1_to_", ", %s FROM seq_1_to_" % KEY_VALUES)
    return Table(name, ddl, fill, rows)


def batch_plan(bench: Bench, table: Table, kind: KeyKind) -> dict[str, Any]:
    """EXPLAIN of the copier's batch query (TableCopier.next_sql: its WHERE, ORDER BY and LIMIT of the default
    copy.batch_rows, the moves' own) after the middle key."""
    batch_rows = BY_KEY["copy.batch_rows"].default
    # Both run with arguments (``()`` for the first, as the copier's first batch), so names are escaped for that.
    keys = key_list(kind.columns)
    where = for_arguments(quote_table(DATABASE, table.name))
    middle = fetch_all(bench.source_conn, "SELECT %s FROM %s ORDER BY %s LIMIT 1 OFFSET %d" % (keys, where, keys, table.rows // 2), ())[0]
    with bench.source_conn.cursor() as cursor:
        cursor.execute("EXPLAIN SELECT * FROM %s WHERE %s ORDER BY %s LIMIT %d" % (where, after_condition(kind.columns), keys, batch_rows),
                       compare_args(tuple(middle)))
        names = [column[0] for column in cursor.description]
        plan = [dict(zip(names, row)) for row in cursor.fetchall()]
    return {name: plan[0][name] for name in ("type", "key", "key_len", "rows", "Extra")}


def warm(bench: Bench, table: Table) -> None:
    """Read ``table``'s clustered index into the source's buffer pool, so that its copy reads from memory, as copy's do.

    At 1M rows the four tables together outgrow the 1 GB pool (the composite and UUID ones have half-full pages from
    their out-of-order fill): without this, a copy read from disk whatever the tables filled or copied after it evicted.
    """
    fetch_value(bench.source_conn, "SELECT COUNT(*) FROM %s" % quote_table(DATABASE, table.name))


def source_mb(bench: Bench, table: Table) -> float:
    """The size of ``table``'s clustered index on the source (its rows and their page fill), in MB, by fresh statistics."""
    fetch_all(bench.source_conn, "ANALYZE TABLE %s" % quote_table(DATABASE, table.name))
    return round(fetch_value(bench.source_conn, "SELECT DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                             (DATABASE, table.name)) / 1e6, 1)


def drop(bench: Bench, tables: list[Table]) -> None:
    """Drop the part's tables from the source: over 1 GB at 1M rows, they would crowd ``t`` and ``wide`` out of the
    buffer pool for the parts after this one."""
    for table in tables:
        fetch_all(bench.source_conn, "DROP TABLE IF EXISTS %s" % quote_table(DATABASE, table.name))
        bench.filled.discard(table.name)


def measure(bench: Bench, options: Options) -> tuple[list[Figure], dict[str, Any]]:
    tables = [keyed_table(options.rows, kind) for kind in KINDS]
    for table in tables:
        bench.ensure(table)
    times: dict[str, list[float]] = {kind.name: [] for kind in KINDS}
    peaks: list[float] = []
    for _round in range(options.repeat):
        for kind, table in zip(KINDS, tables):
            warm(bench, table)
            seconds, rss, _batches = copy_table(bench, table, False)
            times[kind.name].append(seconds)
            peaks.append(rss)
    row_bytes = tables[0].row_bytes(bench.source_conn)
    data: dict[str, Any] = {"rows": options.rows, "row_bytes": row_bytes, "agent_peak_rss_mb": round(max(peaks), 1)}
    reference = fastest(times[INTEGER.name], options.rows)
    figures = [Figure("copy keys_int: %s rows, %s B/row, key %s" % (number(options.rows), number(row_bytes), INTEGER.label),
                      "%s rows/s (%.1f s)" % (number(reference["rows_per_second"]), reference["seconds"]),
                      "the reference of the key lines below")]
    for kind, table in zip(KINDS, tables):
        entry = fastest(times[kind.name], options.rows)
        entry.update(table=table.name, primary_key=list(kind.columns), batch_plan=batch_plan(bench, table, kind),
                     source_mb=source_mb(bench, table))
        data[kind.name] = entry
        if kind is INTEGER:
            continue
        entry["ratio_to_integer"] = round(reference["seconds"] / entry["seconds"], 3)
        figures.append(Figure("copy %s: key %s" % (table.name, kind.label), "%s rows/s (%.1f s)" % (number(entry["rows_per_second"]), entry["seconds"]),
                              "integer key %s rows/s (%.1f s)" % (number(reference["rows_per_second"]), reference["seconds"]),
                              entry["ratio_to_integer"], ">= %.2fx" % KEY_RATIO, entry["ratio_to_integer"] >= KEY_RATIO))
    drop(bench, tables)  # not after a failure: an agent left running would hold the DROP up (run.py resets after)
    return figures, data
