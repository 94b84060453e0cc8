"""The one topic admin, fed by topics/topics.toml: specs, `monitor topics apply`, existence checks.

Every topic of every app (the worker's inputs, outputs and changelog; the notifier's delivery
state and dead letters) is declared once in topics.toml under a role. Each role's name can be
overridden by `--topic-<role>` / `MONITOR_TOPIC_<ROLE>`; partitions and replication factor come
from the file (`[defaults]`, per-topic values) or from `monitor topics apply --partitions N
--replication-factor N`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.runtime import kafka as kafka_clients
from monitor.runtime.connect import BrokerUnreachable, require_kafka
from monitor.runtime.settings import ConfigError, KafkaSettings, add_arguments, load_settings

#: Error code the brokers answer when a topic already exists.
TOPIC_ALREADY_EXISTS = 36
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


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
    direction: str = "internal"


def _document(path: Path | None = None) -> tuple[Path, dict[str, Any]]:
    source = path or topics_dir() / "topics.toml"
    with open(source, "rb") as fh:
        return source, tomllib.load(fh)


def default_names(path: Path | None = None) -> dict[str, str]:
    """role -> default topic name, for every role in topics.toml."""
    _, doc = _document(path)
    return {role: str(table["name"]) for role, table in doc["topics"].items()}


def load_specs(names: Mapping[str, str] | None = None, path: Path | None = None, *,
               partitions: int | None = None, replication_factor: int | None = None) -> list[TopicSpec]:
    """Specs of the roles in `names` (role -> name; all roles with their default names when None)."""
    source, doc = _document(path)
    defaults = doc.get("defaults", {})
    tables: dict[str, Any] = doc["topics"]
    wanted = dict(names) if names is not None else {role: str(t["name"]) for role, t in tables.items()}
    unknown = sorted(set(wanted) - set(tables))
    if unknown:
        raise TopicsError(f"{source}: no topic role {', '.join(map(repr, unknown))} (known: {', '.join(tables)})")
    specs = []
    for role, name in wanted.items():
        table = tables[role]
        specs.append(TopicSpec(
            role=role,
            name=name,
            partitions=int(partitions or table.get("partitions", defaults.get("partitions", 6))),
            replication_factor=int(replication_factor or table.get("replication_factor",
                                                                  defaults.get("replication_factor", 1))),
            configs={str(k): str(v) for k, v in table.get("configs", {}).items()},
            schema=table.get("schema"),
            event_type=table.get("event_type"),
            direction=str(table.get("direction", "internal")),
        ))
    return specs


def load_schema(spec: TopicSpec) -> dict[str, Any] | None:
    """The JSON Schema of a topic's values, or None for internal topics."""
    if spec.schema is None:
        return None
    schema: dict[str, Any] = json.loads((topics_dir() / spec.schema).read_text())
    return schema


# ---------------------------------------------------------------------- names from flags / env


def topic_env_var(role: str) -> str:
    """Environment variable naming the topic of a role, e.g. MONITOR_TOPIC_CASE_CREATED."""
    return f"MONITOR_TOPIC_{role.upper()}"


def topic_flag(role: str) -> str:
    """Flag naming the topic of a role, e.g. --topic-case-created."""
    return "--topic-" + role.replace("_", "-")


def add_topic_arguments(parser: argparse.ArgumentParser | Any, roles: Collection[str]) -> None:
    """One `--topic-<role>` flag per role (defaults stay None: env, then topics.toml, decide)."""
    for role in roles:
        parser.add_argument(topic_flag(role), dest=f"topic_{role}", default=None, metavar="NAME",
                            help=f"topic name for {role} [env {topic_env_var(role)}]")


def topic_names(args: argparse.Namespace | None, environ: Mapping[str, str], defaults: Mapping[str, str],
                problems: list[str]) -> dict[str, str]:
    """role -> name from flags, then env, then `defaults`; invalid or shared names go to `problems`."""
    names: dict[str, str] = {}
    for role, default in defaults.items():
        value = getattr(args, f"topic_{role}", None) if args is not None else None
        names[role] = value or environ.get(topic_env_var(role)) or default
    for role, name in names.items():
        if not _TOPIC_NAME.match(name):
            problems.append(f"{topic_env_var(role)} / {topic_flag(role)}: {name!r} is not a valid topic name "
                            "(letters, digits, '.', '_', '-'; at most 249)")
    seen: dict[str, str] = {}
    for role, name in names.items():
        if name in seen:
            problems.append(f"topics {seen[name]} and {role} are both {name!r}; every topic needs its own name")
        seen.setdefault(name, role)
    return names


# ---------------------------------------------------------------------- admin


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


async def partition_counts(admin: Any, names: Sequence[str]) -> dict[str, int]:
    """topic -> partition count, for the topics of `names` that exist."""
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
    from aiokafka.admin import NewTopic

    admin = kafka_clients.admin(kafka, timeout_s)
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
        counts = await partition_counts(admin, [s.name for s in present])
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


async def require_topics(kafka: KafkaSettings, names: Sequence[str], timeout_s: float = 30.0) -> dict[str, int]:
    """topic -> partition count for `names`; TopicsError naming the missing ones (nothing is created)."""
    admin = kafka_clients.admin(kafka, timeout_s)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            raise TopicsError(f"topics missing: {', '.join(missing)}; run `monitor topics apply` first")
        return await partition_counts(admin, list(names))
    finally:
        await admin.close()


async def _apply_once(kafka: KafkaSettings, specs: Sequence[TopicSpec]) -> ApplyReport:
    """One-shot: BrokerUnreachable (one line) when the brokers do not answer, else apply."""
    await require_kafka(kafka.client_kwargs())
    return await apply_topics(kafka, specs)


def main(argv: list[str]) -> int:
    """`monitor topics apply [--partitions N] [--replication-factor N]`: create missing, report drift."""
    parser = argparse.ArgumentParser(prog="monitor topics", description="create and check every topic of topics/topics.toml")
    parser.add_argument("action", choices=["apply"], help="apply: create missing topics, report drift")
    parser.add_argument("--partitions", type=int, default=None, help="override the spec's partition count")
    parser.add_argument("--replication-factor", type=int, default=None, help="override the replication factor")
    parser.add_argument("--spec", type=Path, default=None, help="topics.toml (default: topics/topics.toml)")
    parser.add_argument("--strict", action="store_true", help="exit 3 when drift is found")
    add_arguments(parser, KafkaSettings)
    try:
        roles = default_names()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"monitor topics: cannot read topics.toml: {exc}", file=sys.stderr)
        return 2
    add_topic_arguments(parser, roles)
    args = parser.parse_args(argv)
    problems: list[str] = []
    try:
        kafka = load_settings(KafkaSettings, args, os.environ)
    except ConfigError as exc:
        problems += exc.problems
        kafka = None
    if args.spec:
        try:
            roles = default_names(args.spec)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            print(f"monitor topics: cannot read {str(args.spec)!r}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
            return 2
    names = topic_names(args, os.environ, roles, problems)
    if kafka is not None and not kafka.bootstrap:
        problems.append("KAFKA_BROKER / --broker is required for `topics apply`")
    try:
        if problems or kafka is None:
            raise ConfigError(problems)
        specs = load_specs(names, args.spec, partitions=args.partitions, replication_factor=args.replication_factor)
        report = asyncio.run(_apply_once(kafka, specs))
    except (ConfigError, TopicsError, BrokerUnreachable, OSError) as exc:
        print(f"monitor topics: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    return 3 if (report.drift and args.strict) else 0
