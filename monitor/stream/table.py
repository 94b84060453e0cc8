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

from monitor.core.case import CaseState
from monitor.stream.codec import decode_state
from monitor.stream.deadlines import due_from_bytes
from monitor.stream.due_index import CLOCK_BYTES, BoardClock, unpack_clocks

#: Board clocks one value can carry (the trailer's 7 bits).
MAX_CLOCKS = 127


_TRAILERS = [bytes((n,)) for n in range(256)]


def stored_value(encoded: bytes, due: bytes, clocks: bytes) -> bytes:
    """The table value of a case: its encoded state, its next due (`due_bytes`, or b"" for none), its packed clocks."""
    count = len(clocks) // CLOCK_BYTES
    if count > MAX_CLOCKS:
        raise ValueError(f"a case with {count} running clocks (at most {MAX_CLOCKS})")
    return encoded + due + clocks + _TRAILERS[(count << 1) | (len(due) == 8)]


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
    return decode_state(stored[:len(stored) - 1 - CLOCK_BYTES * (trailer >> 1) - 8 * (trailer & 1)])
