"""What the worker keeps for one assigned partition: its cases, their two indexes and progress.

A partition number covers the same partition of both input topics and of the state changelog
(they are co-partitioned). Time for firing (`fire_time`) follows the replay-safety rule: when
both input partitions are read to their end, the wall clock; otherwise the stream time of the
partitions still being read (the newest `occurred_at` seen on each, the slowest of them), never
ahead of the wall clock, and nothing at all before a record of every lagging partition was read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from monitor.core.case import CaseState, Engine
from monitor.stream.codec import decode_state
from monitor.stream.deadlines import DeadlineIndex, due_bytes
from monitor.stream.due_index import STAGES, DueIndex, clock_entries, entry_keys, pack_clocks
from monitor.stream.store import CaseStore, MemoryStore
from monitor.stream.table import split, store_case, stored_value


@dataclass
class PartitionState:
    """Cases (by case_id, their stored value: `stream/table.py`), timers and read progress of one partition number.

    `store`, `disarm` and `rebuild` change the cases and keep both indexes in step with them.
    """

    number: int
    cases: CaseStore = field(default_factory=MemoryStore)
    index: DeadlineIndex = field(default_factory=DeadlineIndex)
    #: running timed clocks by due instant, for the escalation board (monitor/board).
    board: DueIndex = field(default_factory=DueIndex)
    #: input topic -> offset after the last record processed (what to commit).
    next_offsets: dict[str, int] = field(default_factory=dict)
    #: input topic -> offsets handed to the flush pipeline.
    enqueued: dict[str, int] = field(default_factory=dict)
    #: input topic -> offsets already committed.
    committed: dict[str, int] = field(default_factory=dict)
    #: input topic -> committed offset when the partition was assigned (where reading resumed).
    base_offsets: dict[str, int] = field(default_factory=dict)
    #: input topic -> newest occurred_at (epoch µs) seen on this partition in this session.
    newest_seen: dict[str, int] = field(default_factory=dict)
    #: newest occurred_at seen on this partition on any input topic (the stream time), kept by `observe`.
    stream_time_us: int | None = None
    #: input topics that still have unread records (as of the last lag check); all until checked.
    lagging: set[str] = field(default_factory=set)
    #: case_id -> encoded state (None = tombstone) not yet written to the changelog.
    dirty: dict[str, bytes | None] = field(default_factory=dict)

    #: Store a case's new state and file it in both indexes (`table.store_case`).
    store = store_case

    def disarm(self, case_id: str, raw: bytes) -> None:
        """Record that a case whose timer was popped (`index.pop_due`) has none now."""
        state_end, _, clocks = split(raw)
        self.cases[case_id] = stored_value(raw[:state_end], b"", clocks)

    def rebuild(self, engine: Engine, take_states: Callable[[Iterable[CaseState]], None] | None = None) -> None:
        """File every case of a freshly restored table (changelog values, no index keys yet) in both indexes.

        Each state is decoded once: `take_states`, when given, is handed the decoded states as
        they are filed (the worker's case gauges count them in the same pass).
        """
        timers: list[bytes] = []
        board: dict[str, list[bytes]] = {stage: [] for stage in STAGES}

        def filing() -> Iterator[CaseState]:
            next_due, cases = engine.next_due, self.cases
            for case_id, raw in cases.items():
                state = decode_state(raw)
                due = next_due(state)
                clocks = pack_clocks(clock_entries(engine, state))
                if due is None:
                    cases[case_id] = stored_value(raw, b"", clocks)
                else:
                    due_key = due_bytes(due)
                    cases[case_id] = stored_value(raw, due_key, clocks)
                    timers.append(due_key + case_id.encode())   # timer_key
                for stage, key in entry_keys(case_id, clocks):
                    board[stage].append(key)
                yield state

        states = filing()
        if take_states is not None:
            take_states(states)
        for _ in states:   # whatever the taker left
            pass
        self.index.bulk_load(timers)
        self.board.bulk_load(board)

    def position(self, inputs: tuple[str, ...]) -> tuple[int, ...]:
        """The input position the partition's state reflects: next offset to read per input topic."""
        return tuple(self.next_offsets.get(topic, self.base_offsets.get(topic, 0)) for topic in inputs)

    def observe(self, topic: str, occurred_at_us: int) -> None:
        """Advance the stream time of one input topic with a record's occurred_at."""
        if occurred_at_us > self.newest_seen.get(topic, -1):
            self.newest_seen[topic] = occurred_at_us
            if self.stream_time_us is None or occurred_at_us > self.stream_time_us:
                self.stream_time_us = occurred_at_us

    def stream_time(self) -> int | None:
        """Newest occurred_at seen on this partition (any input topic), or None."""
        return self.stream_time_us

    def fire_time(self, wall_us: int) -> int | None:
        """The instant up to which timers may fire now (None: nothing may fire yet)."""
        if not self.lagging:
            return wall_us
        slowest: int | None = None
        for topic in self.lagging:
            seen = self.newest_seen.get(topic)
            if seen is None:
                return None
            slowest = seen if slowest is None else min(slowest, seen)
        assert slowest is not None
        return min(slowest, wall_us)

    def apply_time(self, wall_us: int) -> int:
        """The `now` given to Engine.apply: wall clock when caught up, else the stream time."""
        if not self.lagging:
            return wall_us
        seen = self.stream_time()
        return wall_us if seen is None else min(seen, wall_us)

    def timer_wait_us(self, wall_us: int) -> int | None:
        """Microseconds of wall clock until a timer of this partition may fire (0: now).

        None when nothing is due or only new input can make it fire (a lagging partition whose
        stream time is behind the wall clock): the loop then waits for input, not for time.
        """
        due = self.index.next_due()
        if due is None:
            return None
        fire_at = self.fire_time(wall_us)
        if fire_at is None:
            return None
        if due <= fire_at:
            return 0
        return due - wall_us if fire_at == wall_us else None
