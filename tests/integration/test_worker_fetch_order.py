"""Updates handed out by the client ahead of their cases' creations are applied, not held.

`getmany(max_records=...)` drains the client's buffer partition by partition, so the
case-updated records of a partition can come out one call before the case-created records the
same fetch brought. The worker takes those already-fetched creations into the same turn
(`Worker._with_fetched_creations`) and handles creations first, so no update waits as an update
of an unknown case. Real tansu and a real consumer; the split is made by asking for the updates
alone, as a `getmany` that stopped at its record limit would hand them out.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from monitor.embedded_broker import EmbeddedBroker
from monitor.stream.codec import encode_key
from monitor.stream.worker import Worker, load_engine
from tests.integration.kafka_helpers import as_record, create_topics, created, now_utc, produce, unique_topics, updated, worker_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_creations_already_fetched_join_the_turn_of_their_updates(broker: EmbeddedBroker) -> None:
    names, partitions = unique_topics(partitions=1)
    await create_topics(broker.bootstrap, names, partitions)
    at = now_utc()
    cases = [f"F-{i}" for i in range(5)]
    await produce(broker.bootstrap, [as_record(names.case_created, created(c, at)) for c in cases]
                  + [as_record(names.case_updated, updated(c, at, f"{c}-answer", agent_response=True)) for c in cases])
    config = worker_config(broker.bootstrap, names)
    worker = Worker(config, load_engine(config))
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        created_tp, updated_tp = TopicPartition(names.case_created, 0), TopicPartition(names.case_updated, 0)
        consumer.assign([created_tp, updated_tp])
        updates: list[object] = []
        deadline = time.monotonic() + 30
        while len(updates) < len(cases) and time.monotonic() < deadline:   # the updates alone, as a split getmany
            updates += (await consumer.getmany(updated_tp, timeout_ms=500)).get(updated_tp, [])
        assert len(updates) == len(cases)
        while consumer.highwater(created_tp) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)   # the creations' fetch is in the client's buffer (or on its way)
        worker._consumer = consumer
        batch = {updated_tp: list(updates)}
        while created_tp not in batch and time.monotonic() < deadline:
            batch = await worker._with_fetched_creations(batch)
            await asyncio.sleep(0.05)
        assert [r.key for r in batch[created_tp]] == [encode_key(c) for c in cases], "the fetched creations join the turn"
        assert batch[updated_tp] == updates
        assert await worker._with_fetched_creations({}) == {}
    finally:
        worker._consumer = None
        await consumer.stop()
