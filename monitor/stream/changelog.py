"""Read a partition's case table back from the compacted changelog topic."""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from monitor.stream.codec import decode_key
from monitor.stream.store import CaseStore


async def restore(restorer: AIOKafkaConsumer, topic: str, stores: Mapping[int, CaseStore],
                  read_committed: bool = False) -> None:
    """Fill `stores` (partition -> empty store) with the latest value per key of each changelog partition.

    `restorer` is a consumer without a group. Reading stops when the position reaches the high
    watermark (last stable offset under read_committed) reported by a fetch response; ListOffsets
    is not used because tansu 0.6 answers it with the last batch's base offset + 1, not the end.
    """
    if not stores:
        return
    tps = [TopicPartition(topic, number) for number in stores]
    restorer.assign(tps)
    try:
        await restorer.seek_to_beginning(*tps)
        remaining = set(tps)
        while remaining:
            batch = await restorer.getmany(*remaining, timeout_ms=200, max_records=50_000)
            for tp, records in batch.items():
                cases = stores[tp.partition]
                for record in records:
                    case_id = decode_key(record.key)
                    if case_id is None:
                        continue
                    if record.value is None:
                        cases.pop(case_id)
                    else:
                        cases[case_id] = record.value
            for tp in list(remaining):
                end = restorer.last_stable_offset(tp) if read_committed else restorer.highwater(tp)
                if end is not None and await restorer.position(tp) >= end:
                    remaining.discard(tp)
    finally:
        restorer.assign([])
