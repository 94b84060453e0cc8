"""`monitor topics apply`: create missing topics from topics/topics.toml, report drift on the rest.

Also the start-up check the worker runs: the input topics and the state changelog must be
co-partitioned (same partition count), otherwise a case's created and updated events could be
owned by different workers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.runtime.connect import BrokerUnreachable
from monitor.stream.config import ConfigError, KafkaSettings, TopicNames, add_arguments, config_from

#: Error code the brokers answer when a topic already exists.
TOPIC_ALREADY_EXISTS = 36


class TopicsError(RuntimeError):
    """Topics are missing, misconfigured, or could not be created."""


def topics_dir() -> Path:
    """The topic specs and schemas: $MONITOR_TOPICS_DIR, else the copy in the wheel, else the checkout's topics/."""
    explicit = os.environ.get("MONITOR_TOPICS_DIR")
    if explicit:
        return Path(explicit)
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_topics"   # written by setup.py when a wheel is built
    return packaged if packaged.is_dir() else package.parent / "topics"


@dataclass(frozen=True)
class TopicSpec:
    """One topic as declared: its role, name, partitions, replication factor, configs."""

    role: str
    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)
    schema: str | None = None
    event_type: str | None = None


def load_specs(names: TopicNames | None = None, path: Path | None = None, *,
               partitions: int | None = None, replication_factor: int | None = None) -> list[TopicSpec]:
    """Topic specs from topics.toml, with names from `names` and optional count overrides."""
    source = path or topics_dir() / "topics.toml"
    with open(source, "rb") as fh:
        doc = tomllib.load(fh)
    defaults = doc.get("defaults", {})
    names_by_role = (names or TopicNames()).by_role()
    specs = []
    for role, table in doc["topics"].items():
        if role not in names_by_role:
            raise TopicsError(f"{source}: unknown topic role {role!r} (known: {', '.join(names_by_role)})")
        specs.append(TopicSpec(
            role=role,
            name=names_by_role[role],
            partitions=int(partitions or table.get("partitions", defaults.get("partitions", 6))),
            replication_factor=int(replication_factor or table.get("replication_factor",
                                                                  defaults.get("replication_factor", 1))),
            configs={str(k): str(v) for k, v in table.get("configs", {}).items()},
            schema=table.get("schema"),
            event_type=table.get("event_type"),
        ))
    return specs


def load_schema(spec: TopicSpec) -> dict[str, Any] | None:
    """The JSON Schema of a topic's values, or None for internal topics."""
    import json

    if spec.schema is None:
        return None
    return json.loads((topics_dir() / spec.schema).read_text())


@dataclass
class ApplyReport:
    """What `apply_topics` did and found."""

    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable report lines."""
        out = [f"created   {name}" for name in self.created]
        out += [f"ok        {name}" for name in self.unchanged]
        out += [f"DRIFT     {line}" for line in self.drift]
        return out


async def _partition_counts(admin: Any, names: Sequence[str]) -> dict[str, int]:
    described = await admin.describe_topics(list(names))
    counts = {}
    for topic in described:
        if topic.get("error_code", 0) == 0 and topic.get("partitions"):
            counts[topic["topic"]] = len(topic["partitions"])
    return counts


async def _topic_configs(admin: Any, names: Sequence[str]) -> dict[str, dict[str, str]]:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    if not names:
        return {}
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.resources:
            error_code, _message, _type, name, entries = resource[:5]
            if error_code == 0:
                configs[name] = {entry[0]: entry[1] for entry in entries}
    return configs


async def apply_topics(kafka: KafkaSettings, specs: Sequence[TopicSpec], timeout_s: float = 30.0) -> ApplyReport:
    """Create missing topics (idempotent) and report partition/config drift on existing ones."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**kafka.client_kwargs(), request_timeout_ms=int(timeout_s * 1000))
    await admin.start()
    report = ApplyReport()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            response = await admin.create_topics(
                [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=dict(s.configs)) for s in missing],
                timeout_ms=int(timeout_s * 1000),
            )
            for entry in response.topic_errors:
                name, code, message = entry[0], entry[1], entry[2] if len(entry) > 2 else None
                if code == 0:
                    report.created.append(name)
                elif code == TOPIC_ALREADY_EXISTS:  # created concurrently by another process
                    existing.add(name)
                else:
                    raise TopicsError(f"could not create topic {name!r}: error {code} {message or ''}".strip())
        present = [s for s in specs if s.name in existing]
        counts = await _partition_counts(admin, [s.name for s in present])
        configs = await _topic_configs(admin, [s.name for s in present])
        for spec in present:
            problems = []
            actual = counts.get(spec.name)
            if actual is not None and actual != spec.partitions:
                problems.append(f"partitions {actual}, spec {spec.partitions}")
            have = configs.get(spec.name, {})
            for key, want in spec.configs.items():
                if key in have and have[key] != want:
                    problems.append(f"{key}={have[key]}, spec {want}")
            if problems:
                report.drift.append(f"{spec.name}: " + "; ".join(problems))
            else:
                report.unchanged.append(spec.name)
    finally:
        await admin.close()
    return report


async def check_copartitioned(kafka: KafkaSettings, topics: TopicNames, timeout_s: float = 30.0) -> int:
    """Partition count shared by both inputs and the changelog; TopicsError when missing or unequal."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka.client_kwargs(), request_timeout_ms=int(timeout_s * 1000))
    await admin.start()
    try:
        wanted = [topics.case_created, topics.case_updated, topics.changelog]
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            raise TopicsError(f"topics missing: {', '.join(missing)}; run `monitor topics apply` first")
        counts = await _partition_counts(admin, wanted)
    finally:
        await admin.close()
    if len(set(counts.values())) != 1 or len(counts) != len(wanted):
        detail = ", ".join(f"{name} has {counts.get(name, '?')}" for name in wanted)
        raise TopicsError(
            f"input topics are not co-partitioned ({detail}); they must have the same partition count "
            "so that a case's created and updated events land on the same worker"
        )
    return next(iter(counts.values()))


async def _apply_once(kafka: KafkaSettings, specs: Sequence[TopicSpec]) -> ApplyReport:
    """One-shot: BrokerUnreachable (one line) when the brokers do not answer, else apply."""
    from monitor.runtime.connect import require_kafka

    await require_kafka(kafka.client_kwargs())
    return await apply_topics(kafka, specs)


def main(argv: list[str]) -> int:
    """`monitor topics apply [--partitions N] [--replication-factor N]`: create missing, report drift."""
    parser = argparse.ArgumentParser(prog="monitor topics", description="manage the worker's topics")
    parser.add_argument("action", choices=["apply"], help="apply: create missing topics, report drift")
    parser.add_argument("--partitions", type=int, default=None, help="override the spec's partition count")
    parser.add_argument("--replication-factor", type=int, default=None, help="override the replication factor")
    parser.add_argument("--spec", type=Path, default=None, help="topics.toml (default: topics/topics.toml)")
    parser.add_argument("--strict", action="store_true", help="exit 3 when drift is found")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from(args, os.environ)
        if not config.kafka.bootstrap:
            raise ConfigError("KAFKA_BROKER / --broker is required for `topics apply`")
        specs = load_specs(config.topics, args.spec, partitions=args.partitions,
                           replication_factor=args.replication_factor)
        report = asyncio.run(_apply_once(config.kafka, specs))
    except (ConfigError, TopicsError, BrokerUnreachable, OSError) as exc:
        print(f"monitor topics: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    return 3 if (report.drift and args.strict) else 0
