"""Create the notifier's own topics (delivery state, dead letters) when they are missing."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

TOPIC_ALREADY_EXISTS = 36


async def ensure_topics(bootstrap: str, topics: list[NewTopic]) -> list[str]:
    """Create missing topics; return the names created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(missing)
        created = []
        for name, code, *rest in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"cannot create topic {name}: error {code} {rest[0] if rest else ''}")
            if code == 0:
                created.append(name)
        return created
    finally:
        await admin.close()


def state_topic(name: str, partitions: int) -> NewTopic:
    """The compacted delivery-state topic: one record per (event_id, target)."""
    return NewTopic(name, partitions, 1, topic_configs={"cleanup.policy": "compact"})


def dead_letter_topic(name: str, partitions: int) -> NewTopic:
    """The notify dead-letter topic (delete policy, default retention)."""
    return NewTopic(name, partitions, 1)
