"""The client factory against the real broker: topics are never created as a side effect; keyed records
are placed alike by `send` and `send_batched` (the Java client's murmur2 placement)."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.partitioner import DefaultPartitioner

from monitor.embedded_broker import EmbeddedBroker
from monitor.runtime import kafka as kafka_clients
from monitor.runtime.settings import KafkaSettings, load_settings
from monitor.runtime.topics import TopicsError, require_topics
from monitor.stream.batching import send_batched
from tests.integration.kafka_helpers import collect, create_topics, unique_topics


async def test_metadata_requests_do_not_create_topics(broker: EmbeddedBroker) -> None:
    settings = load_settings(KafkaSettings, None, {"KAFKA_BROKER": broker.bootstrap})
    name = f"typo-{uuid.uuid4().hex[:8]}"
    consumer = kafka_clients.consumer(settings, group_id=None)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        await consumer._client._metadata_update(consumer._client.cluster, [name])
    finally:
        await consumer.stop()
    admin = kafka_clients.admin(settings)
    await admin.start()
    try:
        assert name not in await admin.list_topics()
    finally:
        await admin.close()
    try:
        await require_topics(settings, [name])
    except TopicsError as exc:
        assert name in str(exc) and "monitor topics apply" in str(exc)
    else:
        raise AssertionError("a missing topic passed require_topics")


async def test_send_batched_places_keyed_records_where_send_does(broker: EmbeddedBroker) -> None:
    names, partitions = unique_topics(4)
    await create_topics(broker.bootstrap, names, partitions)
    settings = load_settings(KafkaSettings, None, {"KAFKA_BROKER": broker.bootstrap})
    keys = [f"C-{i}".encode() for i in range(40)]
    producer = kafka_clients.producer(settings)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(names.breaches, key=key, value=b'{"by": "send"}') for key in keys])
        await asyncio.gather(*await send_batched(producer, [(names.breaches, None, key, b'{"by": "batch"}', [])
                                                            for key in keys]))
    finally:
        await producer.stop()
    records = await collect(broker.bootstrap, [names.breaches], lambda out: len(out) >= 2 * len(keys), 30.0)
    placed: dict[tuple[bytes | None, str], int] = {(r.key, r.value["by"]): r.partition for r in records}
    assert len(records) == 2 * len(keys)
    for key in keys:
        expected = DefaultPartitioner()(key, list(range(partitions)), list(range(partitions)))
        assert placed[(key, "send")] == placed[(key, "batch")] == expected
    assert len(set(placed.values())) == partitions
