"""Helpers for the integration tests: isolated topic sets, producing, collecting, validating."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from monitor.core.events import format_time
from monitor.runtime.topics import apply_topics, load_schema, load_specs, topic_env_var, topics_dir
from monitor.stream.config import TopicNames, WorkerConfig, config_from

FAST_POLICIES = Path(__file__).with_name("fast_policies.toml")
_counter = itertools.count()


def unique_topics(partitions: int = 3) -> tuple[TopicNames, int]:
    """A fresh set of topic names for one test (the broker is shared by the session)."""
    tag = f"t{os.getpid()}x{next(_counter)}x{uuid.uuid4().hex[:6]}"
    names = TopicNames(**{role: f"{tag}.{name}" for role, name in TopicNames().by_role().items()})
    return names, partitions


async def create_topics(bootstrap: str, names: TopicNames, partitions: int = 3) -> None:
    """Create the topic set through the same code path as `monitor topics apply`."""
    config = worker_config(bootstrap, names)
    report = await apply_topics(config.kafka, load_specs(names.by_role(), partitions=partitions))
    assert not report.drift, report.drift


def worker_env(bootstrap: str, names: TopicNames, **extra: str) -> dict[str, str]:
    """Environment variables configuring a worker for this test's topics and the fast catalog."""
    env = {
        "KAFKA_BROKER": bootstrap,
        "MONITOR_POLICIES": str(FAST_POLICIES),
        "MONITOR_TICK_SECONDS": "0.1",
        "MONITOR_WEB_PORT": "0",
        "MONITOR_GROUP_ID": f"group-{names.case_created}",
        "MONITOR_SESSION_TIMEOUT_SECONDS": "6",
        "MONITOR_SHUTDOWN_TIMEOUT_SECONDS": "15",
    }
    env.update({topic_env_var(role): name for role, name in names.by_role().items()})
    env.update(extra)
    return env


def worker_config(bootstrap: str, names: TopicNames, **extra: str) -> WorkerConfig:
    """A validated WorkerConfig for this test."""
    return config_from(None, worker_env(bootstrap, names, **extra))


def iso(dt: datetime) -> str:
    """RFC 3339 UTC text as the producers send it."""
    return format_time(int(dt.timestamp() * 1_000_000))


def now_utc() -> datetime:
    """Wall clock now, UTC."""
    return datetime.now(UTC)


def created(case_id: str, at: datetime, plan: str = "fast", priority: str = "P1", region: str = "emea",
            event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """A case-created body."""
    return {"event_id": event_id or f"{case_id}-created", "case_id": case_id, "occurred_at": iso(at),
            "plan": plan, "priority": priority, "region": region, "customer_id": "acme", **extra}


def updated(case_id: str, at: datetime, event_id: str, **fields: Any) -> dict[str, Any]:
    """A case-updated body."""
    return {"event_id": event_id, "case_id": case_id, "occurred_at": iso(at), **fields}


async def produce(bootstrap: str, records: list[tuple[str, bytes | None, bytes]]) -> None:
    """Send (topic, key, value) records and wait for every ack."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=8 * 1024 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=value, key=key) for topic, key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def as_record(topic: str, body: dict[str, Any]) -> tuple[str, bytes, bytes]:
    """(topic, key=case_id, JSON value)."""
    return topic, body["case_id"].encode(), json.dumps(body).encode()


@dataclass
class Received:
    """One output record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: dict[str, Any]
    headers: dict[str, bytes]
    received: float


async def collect(bootstrap: str, topics: list[str], until: Callable[[list[Received]], bool],
                  timeout_s: float) -> list[Received]:
    """Read `topics` from the beginning until `until(records)` or the timeout; returns what was read."""
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    out: list[Received] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not until(out):
            batch = await consumer.getmany(timeout_ms=200)
            for tp, records in batch.items():
                for r in records:
                    out.append(Received(tp.topic, tp.partition, r.offset, r.key, json.loads(r.value),
                                        dict(r.headers), time.time()))
    finally:
        await consumer.stop()
    return out


_schemas: dict[str, Any] = {}


def validate_output(names: TopicNames, record: Received) -> None:
    """Validate an output record against its topic's JSON Schema in topics/ (and its event type)."""
    specs = {spec.name: spec for spec in load_specs(names.by_role())}
    spec = specs[record.topic]
    if spec.role not in _schemas:
        _schemas[spec.role] = load_schema(spec)
    jsonschema.Draft202012Validator(_schemas[spec.role]).validate(record.value)
    if spec.event_type is not None:
        assert record.value["type"] == spec.event_type
        assert record.headers["event_id"] == record.value["event_id"].encode()
        assert record.key == record.value["case_id"].encode()


def seconds_between(a: str, b: str) -> float:
    """b - a in seconds for two RFC 3339 strings."""
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def shift(at: datetime, seconds: float) -> datetime:
    """at + seconds."""
    return at + timedelta(seconds=seconds)


assert topics_dir().is_dir()
