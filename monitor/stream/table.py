"""What a partition's case table holds per case: its encoded state followed by its index keys.

The worker must take a case out of its two indexes (timers, `deadlines.py`; board,
`due_index.py`) when the case changes, so it needs the keys the case was filed under. Keeping
them in a dict per index costs a Python object and a dict slot per case, which at a million
open cases was a third of the worker's memory; recomputing them from the previous state costs
calendar arithmetic on every record. So they travel with the state, in the same bytes object,
as a suffix:

    encoded state | [next due: 8 bytes] | board clocks (`due_index.pack_clocks`) | trailer

The trailer byte is `(number of board clocks << 1) | (1 if a next due is present)`; due
instants are `deadlines.due_bytes`. The encoded state is the changelog value
(`codec.encode_state`); the suffix never leaves the process: the changelog gets the state
alone, and a restore adds the suffix back when it rebuilds the indexes. Every value in a case
table has the suffix, so a value is read with `decode_stored`, not `codec.decode_state` (which
rejects the trailing bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from monitor.core.case import CaseState
from monitor.stream.codec import decode_state
from monitor.stream.deadlines import DUE_BIAS, DeadlineIndex, due_from_bytes
from monitor.stream.due_index import CLOCK_BYTES, BoardClock, DueIndex, pack_clocks, unpack_clocks
from monitor.stream.store import CaseStore


class Table(Protocol):
    """What `store_case` changes: a partition's cases, changelog queue and indexes (`PartitionState`)."""

    cases: CaseStore
    dirty: dict[str, bytes | None]
    index: DeadlineIndex
    board: DueIndex

#: Trailer byte -> the one-byte bytes object.
_TRAILERS = [bytes((n,)) for n in range(256)]


def stored_value(encoded: bytes, due: bytes, clocks: bytes) -> bytes:
    """The table value of a case: its encoded state, its next due (`due_bytes`, or b"" for none), its packed clocks."""
    return encoded + due + clocks + _TRAILERS[(len(clocks) // CLOCK_BYTES << 1) | (len(due) == 8)]


def store_case(part: Table, case_id: str, raw: bytes | None, encoded: bytes | None, next_due: int | None,
               clocks: Sequence[BoardClock] | None, popped: bool = False) -> bytes | None:
    """Store a case's new state in a partition's table and file it in both indexes (`PartitionState.store`).

    Returns the value the table holds for the case now (None: dropped).

    `raw`: the case's stored value before (None: a new case). `encoded`: its new state (None:
    the case is dropped, with a tombstone). `next_due`: its next timer. `clocks`: its board
    clocks (`clock_entries`), or None when the state is the one `raw` holds (`holds_state`;
    `encoded` is then not read). `popped`: its timer was taken out of the index
    (`index.pop_due`) since it was stored. A changed state is queued for the changelog.
    Runs for every record: the layout is read and written here without helper calls.
    """
    if raw is None:
        filed = old_clocks = b""
    else:
        trailer = raw[-1]
        clocks_at = len(raw) - 1 - CLOCK_BYTES * (trailer >> 1)
        state_end = clocks_at - 8 * (trailer & 1)
        filed, old_clocks = raw[state_end:clocks_at], raw[clocks_at:-1]
    due = b"" if next_due is None else (next_due + DUE_BIAS).to_bytes(8, "big")   # deadlines.due_bytes
    stored: bytes | None
    if encoded is None:
        if raw is not None:
            part.cases.pop(case_id)
            part.dirty[case_id] = None
        due = packed = b""
        stored = None
    elif clocks is None:   # same state: only the timer may have moved
        assert raw is not None, "a new case has its clocks computed"
        if due == filed and not popped:
            return raw
        packed = old_clocks
        part.cases[case_id] = stored = stored_value(raw[:state_end], due, packed)
    else:
        packed = pack_clocks(clocks) if clocks else b""
        part.dirty[case_id] = encoded
        part.cases[case_id] = stored = encoded + due + packed + _TRAILERS[(len(packed) // CLOCK_BYTES << 1) | (due != b"")]
    if packed != old_clocks:
        part.board.move(case_id, old_clocks, packed)
    if due != filed or popped:
        cid = case_id.encode()
        if filed and not popped:
            part.index.discard(filed + cid)
        if due:
            part.index.add(due + cid)
    return stored


def state_length(stored: bytes) -> int:
    """Length of the encoded state at the start of a stored value."""
    trailer = stored[-1]
    return len(stored) - 1 - CLOCK_BYTES * (trailer >> 1) - 8 * (trailer & 1)


def split(stored: bytes) -> tuple[int, bytes, bytes]:
    """(length of the encoded state, next due bytes or b"", packed clocks) of a stored value."""
    trailer = stored[-1]
    clocks_at = len(stored) - 1 - CLOCK_BYTES * (trailer >> 1)
    if trailer & 1:
        return clocks_at - 8, stored[clocks_at - 8:clocks_at], stored[clocks_at:-1]
    return clocks_at, b"", stored[clocks_at:-1]


def index_keys(stored: bytes) -> tuple[int | None, list[BoardClock]]:
    """(next due, board clocks) a stored value carries, as numbers and names."""
    _, due, clocks = split(stored)
    return (due_from_bytes(due) if due else None), unpack_clocks(clocks)


def holds_state(stored: bytes, encoded: bytes) -> bool:
    """Whether a stored value's state is exactly `encoded` (no copy made)."""
    if not stored.startswith(encoded):
        return False
    trailer = stored[-1]   # state_length, inlined: this runs for every record
    return len(stored) - 1 - CLOCK_BYTES * (trailer >> 1) - 8 * (trailer & 1) == len(encoded)


def decode_stored(stored: bytes) -> CaseState:
    """The CaseState of a stored value; ValueError when its state cannot be read."""
    trailer = stored[-1]   # state_length, inlined: this runs for every record
    return decode_state(stored, len(stored) - 1 - CLOCK_BYTES * (trailer >> 1) - 8 * (trailer & 1))
