"""The client factory against the real broker: topics are never created as a side effect."""

from __future__ import annotations

import uuid

from monitor.embedded_broker import EmbeddedBroker
from monitor.runtime import kafka as kafka_clients
from monitor.runtime.settings import KafkaSettings, load_settings
from monitor.runtime.topics import TopicsError, require_topics


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
