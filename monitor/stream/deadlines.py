"""Per-partition deadline index: the next due instant of every case with timer work.

A binary heap with lazy deletion: `set` pushes a new entry and records the live due instant in
a dict; stale heap entries are skipped when popped and the heap is rebuilt when stale entries
outnumber live ones. `pop_due` is O(k log n) for k due cases; nothing scans all cases.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable


class DeadlineIndex:
    """case_id -> next due instant (epoch microseconds), ordered for popping what is due."""

    __slots__ = ("_heap", "_due")

    def __init__(self) -> None:
        self._heap: list[tuple[int, str]] = []
        self._due: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._due

    def due_of(self, case_id: str) -> int | None:
        """The live due instant of a case, or None."""
        return self._due.get(case_id)

    def set(self, case_id: str, due_us: int | None) -> None:
        """Record (or with None, remove) the next due instant of a case."""
        current = self._due.get(case_id)
        if due_us == current:
            return
        if due_us is None:
            del self._due[case_id]
        else:
            self._due[case_id] = due_us
            heapq.heappush(self._heap, (due_us, case_id))
        if len(self._heap) > 2 * len(self._due) + 1024:
            self._compact()

    def bulk_load(self, entries: Iterable[tuple[str, int]]) -> None:
        """Replace the contents with (case_id, due_us) pairs in O(n) (used after recovery)."""
        self._due = dict(entries)
        self._heap = [(due, case_id) for case_id, due in self._due.items()]
        heapq.heapify(self._heap)

    def next_due(self) -> int | None:
        """The earliest live due instant, or None when empty."""
        heap = self._heap
        while heap:
            due, case_id = heap[0]
            if self._due.get(case_id) == due:
                return due
            heapq.heappop(heap)
        return None

    def pop_due(self, now_us: int, limit: int | None = None) -> list[str]:
        """Remove and return the cases due at or before `now_us` (at most `limit`), earliest first."""
        out: list[str] = []
        heap, live = self._heap, self._due
        while heap and heap[0][0] <= now_us and (limit is None or len(out) < limit):
            due, case_id = heapq.heappop(heap)
            if live.get(case_id) == due:
                del live[case_id]
                out.append(case_id)
        return out

    def _compact(self) -> None:
        self._heap = [(due, case_id) for case_id, due in self._due.items()]
        heapq.heapify(self._heap)
