"""MariaDB GTID positions (``domain-server-seq`` lists, as in @@gtid_binlog_pos).

A position says, per replication domain, the last transaction included.
Comparing two positions is per domain: sequence numbers grow within a
domain, and domains are independent.
"""

from __future__ import annotations

from ..common.errors import DbferryError


def parse(position: str) -> dict[int, tuple[int, int]]:
    """``"0-1-42,1-7-3"`` -> ``{0: (1, 42), 1: (7, 3)}``; empty string -> ``{}``."""
    result: dict[int, tuple[int, int]] = {}
    for part in (p.strip() for p in (position or "").split(",")):
        if not part:
            continue
        try:
            domain, server, seq = (int(x) for x in part.split("-"))
        except ValueError:
            raise DbferryError("%r is not a MariaDB GTID position (domain-server-seq, ...)." % position, obj=position,
                               fix="use a value of @@GLOBAL.gtid_binlog_pos.") from None
        result[domain] = (server, seq)
    return result


def render(domains: dict[int, tuple[int, int]]) -> str:
    """The inverse of parse(), domains in order."""
    return ",".join("%d-%d-%d" % (d, s, n) for d, (s, n) in sorted(domains.items()))


def reached(applied: str, wanted: str) -> bool:
    """True when ``applied`` includes every transaction of ``wanted``."""
    have = parse(applied)
    return all(d in have and have[d][1] >= n for d, (_server, n) in parse(wanted).items())


def behind(applied: str, current: str) -> int:
    """How many transactions ``applied`` lacks to reach ``current`` (summed over domains)."""
    have = parse(applied)
    return sum(max(0, n - have.get(d, (0, 0))[1]) for d, (_server, n) in parse(current).items())
