"""Per-partition deadline index: the next due instant of every case with timer work.

One `sortedcontainers.SortedList` of compact byte keys, `due instant (8 bytes, big-endian) +
case id (UTF-8)`, which sort by due instant, then case. A key is a single small bytes object (no
tuple, no int, no dict slot per case): at a million open cases that is what memory is spent on.
The index keeps no map from case to key: whoever moves a case removes its previous key (the
worker keeps the due instant next to the case's state, `stream/table.py`), and removal is exact,
so the list holds nothing stale. `pop_due` is O(k + log n) for k due cases; nothing scans all cases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sortedcontainers import SortedList

#: Added to a due instant (epoch µs) before it is written as 8 unsigned big-endian bytes, so that
#: instants before 1970 keep their order too.
DUE_BIAS = 1 << 63


def due_bytes(due_us: int) -> bytes:
    """A due instant as 8 bytes that sort like the instants."""
    return (due_us + DUE_BIAS).to_bytes(8, "big")


def due_from_bytes(raw: bytes) -> int:
    """The due instant of `due_bytes` (the first 8 bytes of `raw`)."""
    return int.from_bytes(raw[:8], "big") - DUE_BIAS


def timer_key(case_id: str, due_us: int) -> bytes:
    """The key of a case filed under a due instant."""
    return due_bytes(due_us) + case_id.encode()


class DeadlineIndex:
    """Cases ordered by their next due instant (epoch microseconds), for popping what is due."""

    __slots__ = ("_keys", "add", "discard")

    def __init__(self) -> None:
        self._keys: Any = SortedList()
        #: File a case under a `timer_key` (the list's own method: one call less on the hot path).
        self.add: Callable[[bytes], None] = self._keys.add
        #: Take a `timer_key` out (nothing happens when it is not filed).
        self.discard: Callable[[bytes], None] = self._keys.discard

    def __len__(self) -> int:
        return len(self._keys)

    def bulk_load(self, keys: Iterable[bytes]) -> None:
        """Replace the contents with these `timer_key`s in O(n log n) (used after recovery)."""
        self._keys.clear()
        self._keys.update(keys)

    def next_due(self) -> int | None:
        """The earliest due instant, or None when empty."""
        keys = self._keys
        return due_from_bytes(keys[0]) if keys else None

    def pop_due(self, now_us: int, limit: int | None = None) -> list[str]:
        """Remove and return the cases due at or before `now_us` (at most `limit`), earliest first."""
        keys = self._keys
        count = keys.bisect_left(due_bytes(now_us + 1))
        if limit is not None:
            count = min(count, limit)
        if not count:
            return []
        due = [key[8:].decode() for key in keys.islice(0, count)]
        del keys[:count]
        return due
