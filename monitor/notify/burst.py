"""Pure burst protection: above a rate per target, fold events into one digest message.

A sliding window of `per_seconds` admits up to `max_events` individual messages. Once the window
is full, events are folded into an open digest, which is flushed as one message `per_seconds`
after it opened (and counts as one message in the window). Time is a float argument (seconds on
any monotonic clock).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from monitor.notify.routing import BurstSettings

T = TypeVar("T")


@dataclass(frozen=True)
class BurstState(Generic[T]):
    """Recent individual send instants plus the open digest, if any."""

    sent_at: tuple[float, ...] = ()
    digest_opened_at: float | None = None
    folded: tuple[T, ...] = ()


def _recent(sent_at: tuple[float, ...], limit: BurstSettings, now: float) -> tuple[float, ...]:
    return tuple(t for t in sent_at if now - t < limit.per_seconds)


def admit(limit: BurstSettings | None, state: BurstState[T], item: T, now: float) -> tuple[BurstState[T], bool]:
    """Admit one item: (new state, True) to send it now, (new state, False) if it was folded."""
    if limit is None:
        return state, True
    recent = _recent(state.sent_at, limit, now)
    if state.digest_opened_at is None and len(recent) < limit.max_events:
        return BurstState(sent_at=recent + (now,)), True
    opened = state.digest_opened_at if state.digest_opened_at is not None else now
    return BurstState(sent_at=recent, digest_opened_at=opened, folded=state.folded + (item,)), False


def flush_due_at(limit: BurstSettings | None, state: BurstState[T]) -> float | None:
    """When the open digest must be sent; None when no digest is open."""
    if limit is None or state.digest_opened_at is None:
        return None
    return state.digest_opened_at + limit.per_seconds


def flush(limit: BurstSettings | None, state: BurstState[T], now: float) -> tuple[BurstState[T], tuple[T, ...]]:
    """If the digest is due, close it: (new state, folded items to send as one digest)."""
    due = flush_due_at(limit, state)
    if limit is None or due is None or now < due:
        return state, ()
    return replace(state, sent_at=_recent(state.sent_at, limit, now) + (now,), digest_opened_at=None, folded=()), state.folded
