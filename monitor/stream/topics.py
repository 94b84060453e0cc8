"""The worker's start-up topic check: every topic it reads or writes exists, and the inputs and
the changelog are co-partitioned.

A case's created and updated events and its changelog record must be owned by the same worker,
so the three topics need the same partition count. Creating topics is the topic admin's job
(`monitor topics apply`, `monitor.runtime.topics`).
"""

from __future__ import annotations

from monitor.runtime.settings import KafkaSettings
from monitor.runtime.topics import TopicsError, require_topics
from monitor.stream.config import TopicNames


async def check_copartitioned(kafka: KafkaSettings, topics: TopicNames, timeout_s: float = 30.0) -> int:
    """Partition count shared by the inputs and the changelog; TopicsError when any worker topic is missing or counts differ."""
    wanted = [topics.case_created, topics.case_updated, topics.changelog]
    # Outputs too: a missing one would otherwise surface only at the first event written to it.
    counts = await require_topics(kafka, list(dict.fromkeys([*wanted, *topics.by_role().values()])), timeout_s)
    counts = {name: counts[name] for name in wanted if name in counts}
    if len(set(counts.values())) != 1 or len(counts) != len(wanted):
        detail = ", ".join(f"{name} has {counts.get(name, '?')}" for name in wanted)
        raise TopicsError(
            f"input topics are not co-partitioned ({detail}); they must have the same partition count "
            "so that a case's created and updated events land on the same worker"
        )
    return next(iter(counts.values()))
