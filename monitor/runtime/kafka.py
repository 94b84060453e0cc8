"""The one Kafka client factory: every consumer, producer and admin client of every app is built here.

Clients get the connection settings (bootstrap, TLS, SASL) from `KafkaSettings.client_kwargs`
and never ask the broker to create a topic as a side effect of a metadata request: aiokafka
hard-codes `allow_auto_topic_creation=True` in its metadata requests (v4+), so a typo in a topic
name would silently create a topic with the broker's defaults. Topics are created only by the
topic admin (`monitor.runtime.topics`) from topics/topics.toml.
"""

from __future__ import annotations

from typing import Any

import aiokafka.admin.client
import aiokafka.client
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.metadata import MetadataRequest

from monitor.runtime.settings import FileTokenProvider, KafkaSettings

__all__ = ["FileTokenProvider", "NoAutoCreateMetadataRequest", "admin", "consumer", "producer"]


class NoAutoCreateMetadataRequest(MetadataRequest):  # type: ignore[misc]
    """A metadata request that never asks the broker to auto-create the topics it names."""

    def __init__(self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = None) -> None:
        super().__init__(topics, False)


# aiokafka offers no option for it: its client and admin build metadata requests from these names.
aiokafka.client.MetadataRequest = NoAutoCreateMetadataRequest
aiokafka.admin.client.MetadataRequest = NoAutoCreateMetadataRequest


def producer(kafka: KafkaSettings, **options: Any) -> AIOKafkaProducer:
    """A producer (acks=all unless `options` say otherwise) on the configured cluster."""
    options.setdefault("acks", "all")
    return AIOKafkaProducer(**kafka.client_kwargs(), **options)


def consumer(kafka: KafkaSettings, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer (manual commits unless `options` say otherwise) on the configured cluster."""
    options.setdefault("enable_auto_commit", False)
    return AIOKafkaConsumer(*topics, **kafka.client_kwargs(), **options)


def admin(kafka: KafkaSettings, timeout_s: float = 30.0) -> AIOKafkaAdminClient:
    """An admin client on the configured cluster (the topic admin's only way in)."""
    return AIOKafkaAdminClient(**kafka.client_kwargs(), request_timeout_ms=int(timeout_s * 1000))
