"""Pure commit watermark: offsets are committed only up to the first message not yet finished."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass
class CommitTracker:
    """Per partition: offsets in arrival order and which of them are finished."""

    _pending: dict[Hashable, deque[int]] = field(default_factory=dict)
    _finished: dict[Hashable, set[int]] = field(default_factory=dict)

    def started(self, partition: Hashable, offset: int) -> None:
        """A message was taken from the partition (offsets arrive in increasing order)."""
        self._pending.setdefault(partition, deque()).append(offset)

    def finished(self, partition: Hashable, offset: int) -> None:
        """Every delivery of the message at `offset` is recorded."""
        if partition in self._pending:
            self._finished.setdefault(partition, set()).add(offset)

    def committable(self, partition: Hashable) -> int | None:
        """Pop the finished prefix; return the offset to commit (last finished + 1) or None."""
        queue, done = self._pending.get(partition), self._finished.get(partition, set())
        last = None
        while queue and queue[0] in done:
            last = queue.popleft()
            done.discard(last)
        return None if last is None else last + 1

    def forget(self, partition: Hashable) -> None:
        """The partition was revoked: drop what we know about it."""
        self._pending.pop(partition, None)
        self._finished.pop(partition, None)

    def in_flight(self) -> int:
        """Messages taken but not yet committed-ready, over all partitions."""
        return sum(len(q) for q in self._pending.values())

    def partitions(self) -> list[Hashable]:
        """Partitions with tracked messages."""
        return list(self._pending)
