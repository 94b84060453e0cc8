"""Per-partition ordered index of running timed clocks by due instant, for the escalation board.

The deadline index (`deadlines.py`) orders cases by the next instant the *engine* has work
(the next threshold), which is not the order a person reads: the board lists clocks by their
breach instant, breached ones first. This index keeps one entry per running, unpaused, timed
clock, in one sorted list per stage (`ok`, `at_risk`, `breached`), so a query for at-risk and
breached clocks merges two short lists from their front and never touches the (usually far
more numerous) clocks still comfortably in time.

An entry is one small bytes object that sorts like `(due_us, case_id, metric)`: the due instant
(8 bytes, big-endian), the case id in UTF-8 with NUL escaped as NUL 0xFF, a NUL terminator and a
one-byte metric code (codes follow the metric names' order). A shorter case id sorts before a
longer one it prefixes, as strings do, because the terminator is smaller than any escaped or
following byte. No tuple, int or dict slot per clock: at a million open cases that is what
memory is spent on (see docs/board.md).

`sortedcontainers.SortedList` gives O(log n) insert/remove and O(log n) seek to a cursor. The
index keeps no map from case to entries: whoever moves a case passes its previous clocks (the
worker keeps them next to the case's state, `stream/table.py`), and removal is exact, so the
lists hold nothing stale. A case's clocks travel packed: 10 bytes each, the due instant, the
metric code and the stage code (`pack_clocks`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sortedcontainers import SortedList

from monitor.core.case import CaseState, Engine
from monitor.core.policy import METRICS
from monitor.stream.deadlines import DUE_BIAS, due_bytes, due_from_bytes

#: Stages a board entry is filed under: no threshold emitted, a warning emitted, the breach emitted.
OK, AT_RISK, BREACHED = "ok", "at_risk", "breached"
STAGES = (OK, AT_RISK, BREACHED)

#: (due_us, case_id, metric, stage): what iteration yields; sorts by due instant, then case and metric.
Entry = tuple[int, str, str, str]
#: (due_us, metric, stage): one running timed clock of a case, as the case's state gives it.
BoardClock = tuple[int, str, str]

#: Metric -> its one-byte code in entries, from 1, in the order of the names.
METRIC_CODES: dict[str, int] = {metric: code for code, metric in enumerate(sorted(METRICS), start=1)}
_METRIC_OF = {code: metric for metric, code in METRIC_CODES.items()}
#: (metric, stage) -> the two code bytes that follow the due instant in a packed clock.
_CLOCK_CODES = {(metric, stage): bytes((code, index)) for metric, code in METRIC_CODES.items()
                for index, stage in enumerate(STAGES)}
#: Bytes of one packed clock.
CLOCK_BYTES = 10
#: Clocks a case's value can carry (`stream/table.py`: the trailer byte counts them in 7 bits).
MAX_CLOCKS = 127
_TERMINATOR = b"\x00"


def stage_of(fired: Sequence[float]) -> str:
    """The stage of a clock from the thresholds it has emitted (1.0 and above mean breached)."""
    if not fired:
        return OK
    return BREACHED if max(fired) >= 1.0 else AT_RISK


def case_part(case_id: str) -> bytes:
    """The case id as it sits in an entry: UTF-8, NUL escaped, terminated (sorts as the string does)."""
    if "\x00" in case_id:
        return case_id.encode().replace(b"\x00", b"\x00\xff") + _TERMINATOR
    return case_id.encode() + _TERMINATOR


def pack_clocks(clocks: Sequence[BoardClock]) -> bytes:
    """A case's board clocks as bytes (10 per clock: due instant, metric code, stage code); at most MAX_CLOCKS."""
    if len(clocks) == 1:
        due, metric, stage = clocks[0]
        return (due + DUE_BIAS).to_bytes(8, "big") + _CLOCK_CODES[metric, stage]   # due_bytes, inlined
    if len(clocks) > MAX_CLOCKS:
        raise ValueError(f"a case with {len(clocks)} running clocks (at most {MAX_CLOCKS})")
    return b"".join([due_bytes(due) + _CLOCK_CODES[metric, stage] for due, metric, stage in clocks])


def unpack_clocks(packed: bytes) -> list[BoardClock]:
    """`pack_clocks` undone."""
    return [(due_from_bytes(packed[at:at + 8]), _METRIC_OF[packed[at + 8]], STAGES[packed[at + 9]])
            for at in range(0, len(packed), CLOCK_BYTES)]


def entry_keys(case_id: str, packed: bytes) -> Iterator[tuple[str, bytes]]:
    """(stage, entry) of each packed clock of a case."""
    cid = case_part(case_id)
    for at in range(0, len(packed), CLOCK_BYTES):
        yield STAGES[packed[at + 9]], packed[at:at + 8] + cid + packed[at + 8:at + 9]


def entry_key(due_us: int, case_id: str, metric: str) -> bytes:
    """The entry of one clock."""
    return due_bytes(due_us) + case_part(case_id) + bytes((METRIC_CODES[metric],))


def decode_entry(key: bytes, stage: str) -> Entry:
    """An entry back as (due_us, case_id, metric, stage)."""
    case_id = key[8:-2]
    if b"\x00" in case_id:
        case_id = case_id.replace(b"\x00\xff", b"\x00")
    return due_from_bytes(key), case_id.decode(), _METRIC_OF[key[-1]], stage


def _seek_key(after: tuple[int, str, str]) -> bytes:
    """The largest possible entry at or before the (due_us, case_id, metric) key of a cursor."""
    due, case_id, metric = after
    code = sum(1 for name in METRIC_CODES if name <= metric)   # the metric may be one this version lacks
    return due_bytes(due) + case_part(case_id) + bytes((code,))


class DueIndex:
    """Entries of the running timed clocks of a partition's cases, iterable in due order per stage."""

    __slots__ = ("_lists",)

    def __init__(self) -> None:
        self._lists: dict[str, Any] = {stage: SortedList() for stage in STAGES}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._lists.values())

    def count(self, stage: str) -> int:
        """Entries filed under one stage."""
        return len(self._lists[stage])

    def move(self, case_id: str, old: bytes, new: bytes) -> None:
        """Replace a case's packed clocks `old` (what it was last filed with) by `new` (empty: none)."""
        if old == new:
            return
        lists = self._lists
        cid = case_part(case_id) if "\x00" in case_id else case_id.encode() + _TERMINATOR
        if len(old) == CLOCK_BYTES:   # the common case: one clock
            lists[STAGES[old[9]]].discard(old[:8] + cid + old[8:9])
        else:
            for at in range(0, len(old), CLOCK_BYTES):
                lists[STAGES[old[at + 9]]].discard(old[at:at + 8] + cid + old[at + 8:at + 9])
        if len(new) == CLOCK_BYTES:
            lists[STAGES[new[9]]].add(new[:8] + cid + new[8:9])
        else:
            for at in range(0, len(new), CLOCK_BYTES):
                lists[STAGES[new[at + 9]]].add(new[at:at + 8] + cid + new[at + 8:at + 9])

    def bulk_load(self, keys: Mapping[str, Iterable[bytes]]) -> None:
        """Replace the contents with these `entry_key`s per stage in O(n log n) (used after a restore)."""
        self._lists = {stage: SortedList(keys.get(stage, ())) for stage in STAGES}

    def iter_from(self, stages: Iterable[str], after: tuple[int, str, str] | None = None) -> Iterator[Entry]:
        """Entries of the given stages in due order, starting strictly after the (due_us, case_id, metric) key."""
        iterators = []
        seek = None if after is None else _seek_key(after)
        for stage in dict.fromkeys(stages):
            keys = self._lists[stage]
            start = 0 if seek is None else keys.bisect_right(seek)
            iterators.append(_decoded(keys.islice(start), stage))
        if len(iterators) == 1:
            return iterators[0]
        return heapq.merge(*iterators)


def _decoded(keys: Iterable[bytes], stage: str) -> Iterator[Entry]:
    for key in keys:
        yield decode_entry(key, stage)


def clock_entries(engine: Engine, state: CaseState | None) -> list[BoardClock]:
    """The board clocks of a case: one per running, unpaused, timed clock (none for a forgotten case)."""
    if state is None or state.plan is None:
        return []
    clocks: list[BoardClock] = []
    for clock in state.clocks.values():
        if not clock.running:
            continue
        due = engine.due_at(state, clock.metric)
        if due is not None:
            clocks.append((due, clock.metric, stage_of(clock.fired)))
    return clocks
