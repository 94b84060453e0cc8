"""Per-partition ordered index of running timed clocks by due instant, for the escalation board.

The deadline index (`deadlines.py`) orders cases by the next instant the *engine* has work
(the next threshold), which is not the order a person reads: the board lists clocks by their
breach instant, breached ones first. This index keeps one entry per running, unpaused, timed
clock: `(due_us, case_id, metric, stage)`, in one sorted list per stage (`ok`, `at_risk`,
`breached`), so a query for at-risk and breached clocks merges two short lists from their front
and never touches the (usually far more numerous) clocks still comfortably in time.

`sortedcontainers.SortedList` gives O(log n) insert/remove and O(log n) seek to a cursor; a dict
case_id -> its entries makes an update remove exactly the old entries (no lazy deletion, so the
lists hold nothing stale). Entries are recomputed from the case state whenever the worker stores
a changed state, and all at once after a partition's restore.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sortedcontainers import SortedList

from monitor.core.case import CaseState, Engine

#: Stages a board entry is filed under: no threshold emitted, a warning emitted, the breach emitted.
OK, AT_RISK, BREACHED = "ok", "at_risk", "breached"
STAGES = (OK, AT_RISK, BREACHED)

#: (due_us, case_id, metric, stage): sorts by due instant, then case and metric (a total order).
Entry = tuple[int, str, str, str]


def stage_of(fired: Sequence[float]) -> str:
    """The stage of a clock from the thresholds it has emitted (1.0 and above mean breached)."""
    if not fired:
        return OK
    return BREACHED if max(fired) >= 1.0 else AT_RISK


class DueIndex:
    """case_id -> entries of its running timed clocks, iterable in due order per stage."""

    __slots__ = ("_lists", "_by_case")

    def __init__(self) -> None:
        self._lists: dict[str, Any] = {stage: SortedList() for stage in STAGES}
        #: One Entry (the common single-clock case) or a tuple of Entries.
        self._by_case: dict[str, Entry | tuple[Entry, ...]] = {}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._lists.values())

    def count(self, stage: str) -> int:
        """Entries filed under one stage."""
        return len(self._lists[stage])

    def entries_of(self, case_id: str) -> tuple[Entry, ...]:
        """The entries currently held for a case (empty when none)."""
        held = self._by_case.get(case_id)
        if held is None:
            return ()
        return (held,) if isinstance(held[0], int) else held

    def set(self, case_id: str, entries: Sequence[Entry]) -> None:
        """Replace a case's entries (an empty sequence removes the case)."""
        old = self.entries_of(case_id)
        if tuple(entries) == old:
            return
        lists = self._lists
        for entry in old:
            lists[entry[3]].remove(entry)
        if not entries:
            self._by_case.pop(case_id, None)
            return
        for entry in entries:
            lists[entry[3]].add(entry)
        self._by_case[case_id] = entries[0] if len(entries) == 1 else tuple(entries)

    def bulk_load(self, entries: Iterable[Entry]) -> None:
        """Replace the contents with these entries in O(n log n) (used after a restore)."""
        by_stage: dict[str, list[Entry]] = {stage: [] for stage in STAGES}
        by_case: dict[str, Entry | tuple[Entry, ...]] = {}
        for entry in entries:
            by_stage[entry[3]].append(entry)
            held = by_case.get(entry[1])
            if held is None:
                by_case[entry[1]] = entry
            elif isinstance(held[0], int):
                by_case[entry[1]] = (held, entry)
            else:
                by_case[entry[1]] = (*held, entry)
        self._lists = {stage: SortedList(items) for stage, items in by_stage.items()}
        self._by_case = by_case

    def iter_from(self, stages: Iterable[str], after: tuple[int, str, str] | None = None) -> Iterator[Entry]:
        """Entries of the given stages in due order, starting strictly after the (due_us, case_id, metric) key."""
        iterators = []
        for stage in dict.fromkeys(stages):
            entries = self._lists[stage]
            start = 0 if after is None else entries.bisect_right((*after, "\uffff"))
            iterators.append(entries.islice(start))
        if len(iterators) == 1:
            return iter(iterators[0])
        return heapq.merge(*iterators)


def clock_entries(engine: Engine, state: CaseState | None, case_id: str) -> list[Entry]:
    """The board entries of a case: one per running, unpaused, timed clock (none for a forgotten case)."""
    if state is None or state.plan is None:
        return []
    entries: list[Entry] = []
    for clock in state.clocks.values():
        if not clock.running:
            continue
        due = engine.due_at(state, clock.metric)
        if due is not None:
            entries.append((due, case_id, sys.intern(clock.metric), stage_of(clock.fired)))
    return entries
