"""The worker's start-up topic check: inputs and changelog exist and are co-partitioned.

A case's created and updated events and its changelog record must be owned by the same worker,
so the three topics need the same partition count. Creating topics is the topic admin's job
(`monitor topics apply`, `monitor.runtime.topics`).
"""

from __future__ import annotations

from monitor.runtime.settings import KafkaSettings
from monitor.runtime.topics import TopicsError, require_topics
from monitor.stream.config import TopicNames


async def check_copartitioned(kafka: KafkaSettings, topics: TopicNames, timeout_s: float = 30.0) -> int:
    """Partition count shared by both inputs and the changelog; TopicsError when missing or unequal."""
    wanted = [topics.case_created, topics.case_updated, topics.changelog]
    counts = await require_topics(kafka, wanted, timeout_s)
    if len(set(counts.values())) != 1 or len(counts) != len(wanted):
        detail = ", ".join(f"{name} has {counts.get(name, '?')}" for name in wanted)
        raise TopicsError(
            f"input topics are not co-partitioned ({detail}); they must have the same partition count "
            "so that a case's created and updated events land on the same worker"
        )
    return next(iter(counts.values()))
