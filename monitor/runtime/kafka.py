"""The one Kafka client factory: every consumer, producer and admin client of every app is built here.

Clients get the connection settings (bootstrap, TLS, SASL) from `KafkaSettings.client_kwargs`
and never ask the broker to create a topic as a side effect of a metadata request: aiokafka
hard-codes `allow_auto_topic_creation=True` in its metadata requests (v4+), so a typo in a topic
name would silently create a topic with the broker's defaults. Topics are created only by the
topic admin (`monitor.runtime.topics`) from topics/topics.toml. Producers place keyed records with
`partition_for_key`: the Java client's murmur2 placement (aiokafka's default), computed faster.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence
from typing import Any

import aiokafka.admin.client
import aiokafka.client
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.metadata import MetadataRequest

from monitor.runtime.settings import FileTokenProvider, KafkaSettings

__all__ = ["FileTokenProvider", "NoAutoCreateMetadataRequest", "admin", "consumer", "murmur2", "partition_for_key",
           "producer"]


class NoAutoCreateMetadataRequest(MetadataRequest):  # type: ignore[misc]
    """A metadata request that never asks the broker to auto-create the topics it names."""

    def __init__(self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = None) -> None:
        super().__init__(topics, False)


# aiokafka offers no option for it: its client and admin build metadata requests from these names.
aiokafka.client.MetadataRequest = NoAutoCreateMetadataRequest
aiokafka.admin.client.MetadataRequest = NoAutoCreateMetadataRequest


_MURMUR2_SEED = 0x9747B28C
_MURMUR2_M = 0x5BD1E995
_UINT32 = 0xFFFFFFFF
#: Number of whole 4-byte words -> a little-endian unpacker of that many (record keys are short).
_WORDS: dict[int, Callable[[bytes], tuple[int, ...]]] = {}
_WORDS_MAX = 256


def murmur2(data: bytes) -> int:
    """The Java client's murmur2 of `data` as an unsigned 32-bit int (as aiokafka's `murmur2`).

    Same value as `aiokafka.partitioner.murmur2` (a property test holds it to that), several
    times faster: the words are unpacked in one `struct` call and each step masks once.
    """
    m = _MURMUR2_M
    length = len(data)
    h = _MURMUR2_SEED ^ length
    words = length >> 2
    if words:
        unpack = _WORDS.get(words)
        if unpack is None:
            unpack = struct.Struct(f"<{words}I").unpack_from
            if words <= _WORDS_MAX:
                _WORDS[words] = unpack
        for k in unpack(data):
            k = (k * m) & _UINT32
            k ^= k >> 24
            h = ((h * m) ^ (k * m)) & _UINT32
    extra = length & 3
    if extra:
        end = length - extra
        if extra == 3:
            h ^= data[end + 2] << 16
        if extra >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * m) & _UINT32
    h ^= h >> 13
    h = (h * m) & _UINT32
    return h ^ (h >> 15)


def partition_for_key(key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
    """The producer's partitioner: aiokafka's DefaultPartitioner (the Java client's) with `murmur2`.

    A key goes to `all_partitions[(murmur2(key) & 0x7fffffff) % len(all_partitions)]`; no key,
    to a random available partition (any partition when none is available).
    """
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]


def producer(kafka: KafkaSettings, **options: Any) -> AIOKafkaProducer:
    """A producer (acks=all, keys placed by `partition_for_key`, unless `options` say otherwise) on the cluster."""
    options.setdefault("acks", "all")
    options.setdefault("partitioner", partition_for_key)
    return AIOKafkaProducer(**kafka.client_kwargs(), **options)


def consumer(kafka: KafkaSettings, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer (manual commits unless `options` say otherwise) on the configured cluster."""
    options.setdefault("enable_auto_commit", False)
    return AIOKafkaConsumer(*topics, **kafka.client_kwargs(), **options)


def admin(kafka: KafkaSettings, timeout_s: float = 30.0) -> AIOKafkaAdminClient:
    """An admin client on the configured cluster (the topic admin's only way in)."""
    return AIOKafkaAdminClient(**kafka.client_kwargs(), request_timeout_ms=int(timeout_s * 1000))
