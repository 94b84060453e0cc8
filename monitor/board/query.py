"""The board's query: parameters, cursor, one replica's page from its due indexes, merging pages.

Pure functions over the worker's partitions (`PartitionState`: case table and `DueIndex`) and
the engine; no I/O, time passed in. `local_page` walks the due indexes of the stages asked for
from their front (or from the cursor), merged across partitions, decodes only the cases it
visits, and stops after `limit + 1` matches: the first page of at-risk and breached clocks costs
O(limit x log n) whatever the number of open cases. Filters on plan, priority, region and
customer are checked on the decoded case, so a rare value makes the walk longer (it visits the
clocks of the requested stages in due order until the page is full).
"""

from __future__ import annotations

import base64
import binascii
import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from monitor.core import events as ev
from monitor.core.calendar import US_PER_S, AlwaysCovered, Coverage
from monitor.core.case import CaseState, Engine
from monitor.stream.due_index import AT_RISK, BREACHED, OK, Entry
from monitor.stream.partition import PartitionState
from monitor.stream.table import decode_stored

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: `state` values and the index stages each one covers.
STATE_STAGES: dict[str, tuple[str, ...]] = {"at_risk": (AT_RISK,), "breached": (BREACHED,), "running": (OK, AT_RISK, BREACHED)}
DEFAULT_STATES = ("at_risk", "breached")
FILTERS = ("plan", "priority", "region", "metric", "customer")
#: Index entries one request visits at most before answering with what it found and a cursor.
MAX_VISITS = 20_000
#: How far ahead a countdown looks for the next closing of its calendar's window.
PAUSE_HORIZON_US = 8 * 86_400 * US_PER_S

#: The sort key of a board item: (due_us, case_id, metric).
Key = tuple[int, str, str]


class QueryError(ValueError):
    """A request parameter is invalid; the message says which and why."""


@dataclass(frozen=True)
class BoardQuery:
    """What a client asked for: stages, filters (each a set of accepted values), page size, cursor."""

    stages: tuple[str, ...] = (AT_RISK, BREACHED)
    filters: Mapping[str, frozenset[str]] = field(default_factory=dict)
    limit: int = DEFAULT_LIMIT
    after: Key | None = None

    def matches(self, state: CaseState, metric: str) -> bool:
        """Whether a clock of a case passes every filter."""
        for name, accepted in self.filters.items():
            value = metric if name == "metric" else state.customer_id if name == "customer" else getattr(state, name)
            if value not in accepted:
                return False
        return True


def _values(params: Mapping[str, Sequence[str]], name: str) -> list[str]:
    """Every comma-separated value of a repeatable parameter."""
    return [part.strip() for raw in params.get(name, ()) for part in raw.split(",") if part.strip()]


def parse_query(params: Mapping[str, Sequence[str]]) -> BoardQuery:
    """A BoardQuery from query-string parameters (each name -> its values); QueryError when invalid."""
    states = _values(params, "state") or list(DEFAULT_STATES)
    unknown = [s for s in states if s not in STATE_STAGES]
    if unknown:
        raise QueryError(f"state {unknown[0]!r} is not one of {', '.join(STATE_STAGES)}")
    stages = tuple(dict.fromkeys(stage for s in states for stage in STATE_STAGES[s]))
    filters = {name: frozenset(_values(params, name)) for name in FILTERS if _values(params, name)}
    raw_limit = (params.get("limit") or [str(DEFAULT_LIMIT)])[-1]
    try:
        limit = int(raw_limit)
    except ValueError:
        raise QueryError(f"limit {raw_limit!r} is not an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    cursor = (params.get("cursor") or [""])[-1]
    return BoardQuery(stages, filters, limit, decode_cursor(cursor) if cursor else None)


def encode_cursor(key: Key) -> str:
    """An opaque, URL-safe cursor for the position just after `key`."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    """The key a cursor stands for; QueryError when it is not one this API made."""
    try:
        due, case_id, metric = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError):
        raise QueryError("cursor is not a cursor returned by this API") from None
    if not (isinstance(due, int) and isinstance(case_id, str) and isinstance(metric, str)):
        raise QueryError("cursor is not a cursor returned by this API")
    return due, case_id, metric


def _next_close(coverage: Coverage, now: int, horizon: int) -> int | None:
    """The first instant after `now` (within `horizon`) at which the covered stretch containing `now` ends."""
    if isinstance(coverage, AlwaysCovered) or coverage.covered_us(now, now + horizon) == horizon:
        return None
    lo, hi = 0, horizon   # covered throughout [now, now + lo); not throughout [now, now + hi)
    while hi - lo > US_PER_S:
        mid = (lo + hi) // 2
        if coverage.covered_us(now, now + mid) == mid:
            lo = mid
        else:
            hi = mid
    # The stretch ends inside (lo, hi]; no window reopens within a second of closing, so the
    # covered time up to hi is exactly the length of the stretch.
    return now + coverage.covered_us(now, now + hi)


class _Countdowns:
    """Per-request cache of each calendar's state at `now`: counting, and until when / from when."""

    def __init__(self, now: int) -> None:
        self.now = now
        self._seen: dict[int, tuple[bool, int | None, int | None]] = {}

    def of(self, coverage: Coverage) -> tuple[bool, int | None, int | None]:
        """(counting now, next pause instant or None, next resume instant or None).

        The resume is the next opening after `now` when not counting, else after the next pause."""
        known = self._seen.get(id(coverage))
        if known is None:
            if coverage.is_covered(self.now):
                pause = _next_close(coverage, self.now, PAUSE_HORIZON_US)
                known = (True, pause, coverage.add_us(pause, 1) - 1 if pause is not None else None)
            else:
                known = (False, None, coverage.add_us(self.now, 1) - 1)
            self._seen[id(coverage)] = known
        return known


def board_item(engine: Engine, state: CaseState, entry: Entry, now: int, countdowns: _Countdowns,
               replica: str, partition: int) -> dict[str, Any]:
    """One clock as the API shows it (see docs/board.md for each field)."""
    due, case_id, metric, _stage = entry
    clock = state.clocks[metric]
    rule = engine.rule(state, metric)
    assert rule is not None and rule.target_seconds is not None
    coverage = engine.coverage(state, rule)
    elapsed = engine.elapsed_us(state, clock, max(now, clock.started_at))
    counting, pauses_at, resumes_at = countdowns.of(coverage)
    fired = max(clock.fired) if clock.fired else None
    stage = "ok" if fired is None else "warned" if fired < 1.0 else "breached" if fired == 1.0 else "overdue"
    return {
        "case_id": case_id, "customer_id": state.customer_id, "plan": state.plan, "priority": state.priority,
        "region": state.region, "metric": metric, "cycle": clock.cycle, "calendar": rule.calendar,
        "target_seconds": rule.target_seconds, "started_at": ev.format_time(clock.started_at),
        "due_at": ev.format_time(due), "remaining_seconds": round(rule.target_seconds - elapsed / US_PER_S, 3),
        "stage": stage, "last_threshold": fired, "counting": counting,
        "pauses_at": ev.format_time(pauses_at) if pauses_at is not None else None,
        "resumes_at": ev.format_time(resumes_at) if resumes_at is not None else None,
        "replica": replica, "partition": partition, "cursor": encode_cursor((due, case_id, metric)),
    }


def _walk(partitions: Iterable[PartitionState], query: BoardQuery) -> Iterator[tuple[Entry, PartitionState]]:
    """Entries of the query's stages across partitions in due order, each with its partition."""

    def tagged(part: PartitionState) -> Iterator[tuple[Entry, PartitionState]]:
        for entry in part.board.iter_from(query.stages, query.after):
            yield entry, part

    return heapq.merge(*(tagged(p) for p in partitions), key=lambda pair: pair[0])


def local_page(engine: Engine, partitions: Iterable[PartitionState], query: BoardQuery, now: int,
               replica: str, max_visits: int = MAX_VISITS) -> tuple[list[dict[str, Any]], Key | None]:
    """This replica's items for the query (at most `limit`) and the key up to which it has answered
    (None: nothing follows). The walk stops after `max_visits` index entries, so a filter that
    matches few clocks answers with a short (even empty) page and a key to continue from, instead
    of holding the event loop for the whole index."""
    metrics = query.filters.get("metric")
    others = BoardQuery(query.stages, {k: v for k, v in query.filters.items() if k != "metric"})
    countdowns = _Countdowns(now)
    items: list[dict[str, Any]] = []
    visits = 0
    previous: Key | None = None
    for entry, part in _walk(partitions, query):
        if visits == max_visits:
            return items, previous
        visits += 1
        previous = entry[:3]
        if metrics is not None and entry[2] not in metrics:
            continue
        raw = part.cases.get(entry[1])
        if raw is None:
            continue
        state = decode_stored(raw)
        if others.filters and not others.matches(state, entry[2]):
            continue
        if len(items) == query.limit:
            return items, item_key(items[-1])
        items.append(board_item(engine, state, entry, now, countdowns, replica, part.number))
    return items, None


def item_key(item: Mapping[str, Any]) -> Key:
    """The sort key of an item (from its cursor, which carries the exact due instant)."""
    return decode_cursor(str(item["cursor"]))


Page = tuple[list[dict[str, Any]], "Key | None"]


def merge_pages(pages: Iterable[Page], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Several replicas' pages merged in due order, duplicates dropped: the first `limit` items and the next cursor.

    Each page is complete up to its key (None: complete), so the merged page stops at the
    smallest of those keys: nothing of any replica before it is missing."""
    by_key: dict[Key, dict[str, Any]] = {}   # a replica listed among its own peers answers twice
    bounds = []
    for items, answered_to in pages:
        if answered_to is not None:
            bounds.append(answered_to)
        for item in items:
            by_key.setdefault(item_key(item), item)
    bound = min(bounds, default=None)
    merged = sorted(((key, item) for key, item in by_key.items() if bound is None or key <= bound), key=lambda pair: pair[0])
    if len(merged) > limit:
        merged, bound = merged[:limit], merged[limit - 1][0]
    return [item for _, item in merged], (encode_cursor(bound) if bound is not None else None)
