"""The compacted changelog topic: records carry the input position they reflect; restore keeps,
per case, the state of the highest position.

Every changelog record has a `position` header: the input offsets (next offset to read of each
co-partitioned input topic, in `TopicNames.inputs` order) of the partition when the state was
written. A worker that stalled past its session and writes late can only write states with
positions the new owner has already passed; restore drops a record whose position is strictly
behind (every component <=, one <) the position already kept for that case. Records without the
header (written before this rule) compare as unknown and are taken in log order.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from monitor.stream.codec import decode_key
from monitor.stream.store import CaseStore

log = structlog.get_logger("monitor.stream.changelog")

POSITION_HEADER = "position"
Position = tuple[int, ...]
#: Seconds between two progress lines of a long restore.
PROGRESS_EVERY_S = 10.0


class RestoreTimeout(TimeoutError):
    """The changelog could not be read to its end within the restore bound."""


def encode_position(position: Position) -> bytes:
    """Position -> header value ("12,40")."""
    return ",".join(str(offset) for offset in position).encode()


def decode_position(headers: Iterable[tuple[str, bytes]] | None) -> Position | None:
    """The position header of a changelog record, or None when absent or unreadable."""
    for name, value in headers or ():
        if name == POSITION_HEADER:
            try:
                return tuple(int(part) for part in value.decode().split(","))
            except (UnicodeDecodeError, ValueError):
                return None
    return None


def is_behind(candidate: Position | None, kept: Position | None) -> bool:
    """Whether `candidate` is strictly behind `kept`: no component ahead, at least one behind."""
    if candidate is None or kept is None or len(candidate) != len(kept):
        return False
    return all(c <= k for c, k in zip(candidate, kept, strict=True)) and candidate != kept


async def restore(restorer: AIOKafkaConsumer, topic: str, stores: Mapping[int, CaseStore],
                  read_committed: bool = False, timeout_s: float | None = None) -> dict[int, Position]:
    """Fill `stores` (partition -> empty store) from each changelog partition; per case the state
    with the highest position (ties and unknown positions: the later record).

    Returns, per partition, the highest position found (componentwise). `restorer` is a consumer
    without a group. Reading stops when the position reaches the high watermark (last stable
    offset under read_committed) reported by a fetch response; ListOffsets is not used because
    tansu 0.6 answers it with the last batch's base offset + 1, not the end. Logs progress every
    10 s; raises RestoreTimeout after `timeout_s`.
    """
    if not stores:
        return {}
    tps = [TopicPartition(topic, number) for number in stores]
    kept: dict[int, dict[str, Position | None]] = {number: {} for number in stores}
    highest: dict[int, Position] = {}
    last_position: dict[int, Position | None] = {}
    stale = 0
    read = 0
    began = last_log = time.monotonic()
    restorer.assign(tps)
    try:
        await restorer.seek_to_beginning(*tps)
        remaining = set(tps)
        while remaining:
            now = time.monotonic()
            if timeout_s is not None and now - began > timeout_s:
                raise RestoreTimeout(f"changelog {topic} partitions {sorted(tp.partition for tp in remaining)} "
                                     f"not read to their end within {timeout_s:g}s ({read} records read)")
            if now - last_log >= PROGRESS_EVERY_S:
                last_log = now
                log.info("restoring changelog", topic=topic, records=read, seconds=round(now - began, 1),
                         partitions_left=sorted(tp.partition for tp in remaining))
            batch = await restorer.getmany(*remaining, timeout_ms=200, max_records=50_000)
            for tp, records in batch.items():
                cases, positions = stores[tp.partition], kept[tp.partition]
                previous = last_position.get(tp.partition)
                read += len(records)
                for record in records:
                    case_id = decode_key(record.key)
                    if case_id is None:
                        continue
                    position = decode_position(record.headers)
                    if position is not None:
                        # The records of one turn are written together and share a position: keep one
                        # tuple for all of them (a million cases would otherwise hold a million copies).
                        if position == previous:
                            position = previous
                        previous = position
                    if is_behind(position, positions.get(case_id)):
                        stale += 1
                        continue
                    positions[case_id] = position
                    if position is not None:
                        highest[tp.partition] = _max(highest.get(tp.partition), position)
                    if record.value is None:
                        cases.pop(case_id)
                    else:
                        cases[case_id] = record.value
                last_position[tp.partition] = previous
            for tp in list(remaining):
                end = restorer.last_stable_offset(tp) if read_committed else restorer.highwater(tp)
                if end is not None and await restorer.position(tp) >= end:
                    remaining.discard(tp)
    finally:
        restorer.assign([])
    if stale:
        log.warning("changelog records behind a newer state of their case were skipped", topic=topic, records=stale)
    return highest


def _max(a: Position | None, b: Sequence[int]) -> Position:
    if a is None or len(a) != len(b):
        return tuple(b)
    return tuple(max(x, y) for x, y in zip(a, b, strict=True))
