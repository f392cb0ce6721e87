"""What the binlog stream hands the applier: committed source transactions,
each with its row changes on moved tables, in binlog order.

Values in ``before``/``after`` images follow one rule: written with PyMySQL
through a session from connection.connect() into a column of the same type,
they store exactly what the source stores. Where PyMySQL's SELECT value has
that property (ints, Decimal, str, bytes, datetime, timedelta, zero dates as
strings) the stream returns the same Python type; text in a character set
other than utf8/latin1/ascii comes as its raw bytes, which store the same.
ENUM and SET values are their numbers (index, bitmask), as ints, not their
labels (docs/design.md step 3): a number stores the same value in a column of the
same definition with no text round trip, and the ENUM error value (index 0,
which PyMySQL reads as '') stays 0 even where '' is a label (index 1). A
strict session refuses index 0, so the applier writes rows holding it in a
lenient statement (engine/rows.py).

After images have every column the source logs, generated and invisible
ones too; column names come from binlog_row_metadata=FULL. Before images
hold only the table's key column when the stream was given it
(BinlogStream's ``keys``, which the ferry gives for every moved table):
the applier finds the row by its key and needs nothing else of the old
row, and stepping over the other values instead of decoding them saves a
third of the stream's work for updates. Without a key, before images have
every column too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

INSERT = "insert"
UPDATE = "update"
DELETE = "delete"


class RowChange(NamedTuple):
    """One row of a rows event on a moved table (source schema and table names)."""

    kind: str
    schema: str
    table: str
    #: UPDATE and DELETE: the row before the change, reduced to its key column (see the module docstring); INSERT: None.
    before: Optional[dict[str, Any]]
    #: INSERT and UPDATE: the row after the change, every column; DELETE: None.
    after: Optional[dict[str, Any]]


@dataclass(frozen=True)
class Transaction:
    """A committed source transaction.

    ``position`` is where a stream restarted after this transaction resumes
    (MariaDB: a gtid_binlog_pos style list such as ``0-1-42,1-7-3``).
    ``changes`` is empty for transactions that touch no moved table: they
    still advance the position, which cutover waits on.
    """

    position: str
    changes: tuple[RowChange, ...]
    timestamp: int
