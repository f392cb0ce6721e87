"""Part 2, binlog apply: how fast the agent drains a backlog, and whether it keeps up with writers running flat out.

One move of the narrow table; once its copy is done:

(a) backlog: the agent is stopped; 4 connections write single-row autocommit transactions (the RowMix of
    UPDATE/INSERT/DELETE) as fast as the source takes them, 300,000 for 1M rows; the agent is started again and
    the time runs from just before its process starts until the target's checkpoint holds the source's position.
(b) keeping up, single-row: with the agent tailing, 4 connections write single-row transactions flat out for 60 s
    while the source's and the applied positions are sampled every 0.1 s (the lag of a sample is how long the
    applier took to reach the source position seen then; harness.lags). Then the time the applier takes to reach
    the writers' final position (the drain). Keeps up: maximum lag and drain both at most 1 s.
(c) the same with transactions of 10 to 50 rows each.

Writers that leave the applier more than ABORT_LAG_SECONDS behind are stopped early: the verdict is plain by
then, and the backlog, which has to drain before the next scenario, stays bounded. The ratio of (a) is drain
rate / the rate the 4 connections wrote the backlog at; of (b) and (c), the applier's rate over the writers'
(1.0 keeps pace).
"""

from __future__ import annotations

import time
from typing import Any

from harness import DRAIN_TXN_PER_SECOND, MAX_LAG_SECONDS, Agent, Bench, Figure, FlatOutWriter, LagSampler, Options, RowMix, \
    Sample, lags, log, narrow_table, number, rss_figure, wait_for

WRITERS = 4
COPY_TIMEOUT = 600.0
#: At the issue's 15,000 transactions/s the backlog drains in 20 s; far slower appliers still finish the run.
DRAIN_TIMEOUT = 300.0
ABORT_LAG_SECONDS = 5.0


def _backlog(bench: Bench, move: Agent, mixes: list[RowMix], transactions: int) -> tuple[Figure, dict[str, Any]]:
    """Scenario (a): ``transactions`` written while the agent is stopped, then the time a new agent takes to apply them."""
    move.stop()
    written = FlatOutWriter(bench, mixes, (1, 1), limit=transactions).finish()
    log("backlog of %d transactions written in %.1f s" % (written.transactions, written.seconds))
    final = bench.source_sequence()
    started = move.start()
    ready = time.perf_counter()
    seconds = move.wait_applied(final, DRAIN_TIMEOUT) - started
    rate, write_rate = written.transactions / seconds, written.transactions / written.seconds
    log("backlog applied in %.1f s" % seconds)
    # agent_start_seconds: until the agent had prepared and published its first status (it may be applying by then).
    data = {"written": written.as_dict(), "apply_seconds": round(seconds, 2), "agent_start_seconds": round(ready - started, 2),
            "transactions_per_second": round(rate), "rows_per_second": round(written.rows / seconds),
            "ratio_to_write_rate": round(rate / write_rate, 3)}
    figure = Figure("apply (a): backlog of %s 1-row txns" % number(written.transactions), "%s txn/s (%.1f s)" % (number(rate), seconds),
                    "%d conns wrote it at %s txn/s" % (WRITERS, number(write_rate)),
                    data["ratio_to_write_rate"], ">= %s txn/s" % number(DRAIN_TXN_PER_SECOND), rate >= DRAIN_TXN_PER_SECOND)
    return figure, data


def _per_second(samples: list[Sample], lag: list[float]) -> list[list[Any]]:
    """[second, source transactions, applied transactions, max lag] per second of the run: how the lag developed."""
    rows: list[list[Any]] = []
    start = samples[0]
    for sample, value in zip(samples, lag):
        second = int(sample.at - start.at)
        if not rows or rows[-1][0] != second:
            rows.append([second, sample.source - start.source, sample.applied - start.applied, 0.0])
        rows[-1][1:] = [sample.source - start.source, sample.applied - start.applied, round(max(rows[-1][3], value), 2)]
    return rows


def _keep_up(bench: Bench, move: Agent, mixes: list[RowMix], sizes: tuple[int, int], seconds: float, label: str) -> tuple[Figure, dict[str, Any]]:
    """Scenario (b) or (c): writers flat out for ``seconds`` while the agent tails; the lag while they write, then the drain."""
    sampler = LagSampler(bench, move)
    try:
        first_applied = move.applied()
        writer = FlatOutWriter(bench, mixes, sizes)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline and sampler.behind() <= ABORT_LAG_SECONDS:
            move.alive()
            time.sleep(0.1)
        stopped_early = time.perf_counter() < deadline
        written = writer.finish()
        writers_done = time.perf_counter()
        applied_meanwhile = move.applied() - first_applied
        final = bench.source_sequence()
        wait_for(lambda: sampler.reached(final) is not None, DRAIN_TIMEOUT, "move %s draining" % move.name, move.alive)
        drain = max(0.0, sampler.reached(final) - writers_done)
    finally:
        samples = sampler.stop()
    lag = lags(samples)
    # Once the final position is applied every sample is resolved; the figures are of the samples taken while writing.
    ordered = sorted(value for sample, value in zip(samples, lag) if sample.at <= writers_done)
    worst, p99 = ordered[-1], ordered[-(-len(ordered) * 99 // 100) - 1]
    keeps_up = worst <= MAX_LAG_SECONDS and drain <= MAX_LAG_SECONDS
    ratio = applied_meanwhile / written.transactions
    log("%s: %d transactions in %.1f s, max lag %.2f s, drain %.2f s" % (label, written.transactions, written.seconds, worst, drain))
    data = {"written": written.as_dict(), "rows_per_transaction": list(sizes), "writers_stopped_early": stopped_early,
            "applied_while_writing": applied_meanwhile, "applied_to_written_ratio": round(ratio, 3),
            "max_lag_seconds": round(worst, 2), "p99_lag_seconds": round(p99, 2), "drain_seconds": round(drain, 2),
            "keeps_up": keeps_up, "samples_while_writing": len(ordered), "per_second": _per_second(samples, lag)}
    early = ", stopped at %.0f s" % written.seconds if stopped_early else ""
    figure = Figure("apply (%s): %d conns, %s-row txns, %.0f s" % (label, WRITERS, "-".join(map(str, sorted(set(sizes)))), seconds),
                    "max lag %.2f s, p99 %.2f s, drain %.2f s" % (worst, p99, drain),
                    "source %s txn/s, %s rows/s%s" % (number(written.transactions / written.seconds), number(written.rows / written.seconds), early),
                    round(ratio, 3), "keeps up, lag <= %.0f s" % MAX_LAG_SECONDS, keeps_up)
    return figure, data


def measure(bench: Bench, options: Options) -> tuple[list[Figure], dict[str, Any]]:
    table = narrow_table(options.rows)
    bench.ensure(table)
    bench.written(table)
    move = Agent(bench, "apply", [table])
    move.start()
    move.wait_copied(COPY_TIMEOUT)
    mixes = [RowMix(table.rows, index, WRITERS) for index in range(WRITERS)]
    backlog, backlog_data = _backlog(bench, move, mixes, options.backlog)
    single, single_data = _keep_up(bench, move, mixes, (1, 1), options.write_seconds, "b")
    multi, multi_data = _keep_up(bench, move, mixes, (10, 50), options.write_seconds, "c")
    rss = move.peak_rss_mb()
    move.remove()
    data = {"backlog": backlog_data, "single_row": single_data, "multi_row": multi_data, "agent_peak_rss_mb": round(rss, 1)}
    return [backlog, single, multi, rss_figure("agent peak RSS, apply (a)-(c)", [rss])], data
