"""A read position in one binlog event's bytes.

Table maps and row images are read field by field, each field's size said
by the one before it; a truncated or misread event must fail where it
runs out, not yield a short value that the applier would write.
"""

from __future__ import annotations


class EventBuffer:
    """A read position in one event's bytes; reading past the end is an error, never a short value."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise ValueError("binlog event ends after %d bytes; %d more were expected" % (len(self.data), end - len(self.data)))
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def skip(self, size: int) -> None:
        """Step over ``size`` bytes without copying them: a value nobody reads (a before image's non-key columns)."""
        end = self.pos + size
        if end > len(self.data):
            self.take(size)  # raises, naming the shortfall
        self.pos = end

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "little")

    def packed_uint(self) -> int:
        """A length-encoded integer (1, 3, 4 or 9 bytes)."""
        first = self.uint(1)
        if first < 251:
            return first
        return self.uint({252: 2, 253: 3, 254: 8}[first])

    def packed_bytes(self) -> bytes:
        return self.take(self.packed_uint())

    def at_end(self) -> bool:
        return self.pos >= len(self.data)
