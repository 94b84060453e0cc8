"""Worker configuration from flags and environment variables, validated at start.

Flags win over environment variables, which win over defaults. `load_config` collects every
problem and raises one `ConfigError` listing them all, so a misconfigured deployment fails at
start with a message that says what to fix.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

GUARANTEES = ("at_least_once", "exactly_once")
TABLE_STORES = ("memory", "rocksdb")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$")


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem found."""


@dataclass(frozen=True)
class TopicNames:
    """Names of every topic the worker reads or writes (all configurable)."""

    case_created: str = "case-created"
    case_updated: str = "case-updated"
    near_breaches: str = "sla-near-breaches"
    breaches: str = "sla-breaches"
    status: str = "sla-status"
    dead_letter: str = "sla-dead-letter"
    changelog: str = "sla-monitor-cases-changelog"

    @property
    def inputs(self) -> tuple[str, str]:
        """The two co-partitioned input topics."""
        return (self.case_created, self.case_updated)

    def by_role(self) -> dict[str, str]:
        """role (the key in topics/topics.toml) -> topic name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def output_for(self, topic_kind: str) -> str:
        """Output topic for an SlaEvent.topic_kind ('near_breach', 'breach', 'status')."""
        return {"near_breach": self.near_breaches, "breach": self.breaches, "status": self.status}[topic_kind]


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach the brokers: bootstrap list and optional SASL/TLS."""

    bootstrap: str | None = None
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password: str | None = field(default=None, repr=False)
    client_id: str = "sla-monitor"

    def with_bootstrap(self, bootstrap: str) -> KafkaSettings:
        """A copy pointing at `bootstrap` (used when the caller starts an embedded broker)."""
        return KafkaSettings(**{**self.__dict__, "bootstrap": bootstrap})

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by aiokafka consumers, producers and admin clients."""
        if not self.bootstrap:
            raise ConfigError("KAFKA_BROKER is not set")
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            kwargs["ssl_context"] = create_ssl_context(
                cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile,
                password=self.ssl_password,
            )
        if self.security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        return kwargs


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the worker needs to start; built by `load_config`."""

    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    topics: TopicNames = field(default_factory=TopicNames)
    group_id: str = "sla-monitor"
    policies: Path | None = None
    tick_seconds: float = 0.25
    state_dir: Path = Path("./sla-monitor-state")
    web_port: int = 6066
    web_host: str = "0.0.0.0"
    hold_seconds: float = 600.0
    closed_retention_seconds: float | None = None
    peers: tuple[str, ...] = ()
    processing_guarantee: str = "at_least_once"
    transactional_id: str | None = None
    log_level: str = "INFO"
    table_store: str = "memory"
    max_fetch_bytes: int = 4 * 1024 * 1024
    shutdown_timeout_seconds: float = 20.0
    session_timeout_seconds: float = 10.0
    max_batch_records: int = 10_000
    max_clock_skew_seconds: float = 300.0


#: setting -> (flag, environment variable, help)
_SETTINGS: dict[str, tuple[str, str, str]] = {
    "bootstrap": ("--broker", "KAFKA_BROKER", "bootstrap servers, host:port[,host:port...]"),
    "security_protocol": ("--security-protocol", "KAFKA_SECURITY_PROTOCOL", "/".join(SECURITY_PROTOCOLS)),
    "sasl_mechanism": ("--sasl-mechanism", "KAFKA_SASL_MECHANISM", "/".join(SASL_MECHANISMS)),
    "sasl_username": ("--sasl-username", "KAFKA_SASL_USERNAME", "SASL user"),
    "sasl_password": ("--sasl-password", "KAFKA_SASL_PASSWORD", "SASL password (prefer the env var)"),
    "ssl_cafile": ("--ssl-cafile", "KAFKA_SSL_CAFILE", "CA bundle (PEM) to verify the brokers"),
    "ssl_certfile": ("--ssl-certfile", "KAFKA_SSL_CERTFILE", "client certificate (PEM) for mTLS"),
    "ssl_keyfile": ("--ssl-keyfile", "KAFKA_SSL_KEYFILE", "client private key (PEM) for mTLS"),
    "ssl_password": ("--ssl-password", "KAFKA_SSL_PASSWORD", "password of the client key"),
    "client_id": ("--client-id", "KAFKA_CLIENT_ID", "Kafka client.id (default sla-monitor)"),
    "group_id": ("--group-id", "MONITOR_GROUP_ID", "consumer group (default sla-monitor)"),
    "policies": ("--policies", "MONITOR_POLICIES", "policy catalog TOML (default: the bundled one)"),
    "tick_seconds": ("--tick-seconds", "MONITOR_TICK_SECONDS", "timer tick period (default 0.25)"),
    "state_dir": ("--state-dir", "MONITOR_STATE_DIR", "directory for the rocksdb table store"),
    "web_port": ("--web-port", "MONITOR_WEB_PORT", "HTTP port for /metrics, /healthz, /readyz (0 = off)"),
    "web_host": ("--web-host", "MONITOR_WEB_HOST", "HTTP bind address (default 0.0.0.0)"),
    "hold_seconds": ("--hold-seconds", "MONITOR_HOLD_SECONDS", "how long to hold updates of unknown cases (600)"),
    "closed_retention_seconds": ("--closed-retention", "MONITOR_CLOSED_RETENTION_SECONDS",
                                 "forget closed cases of plans without a reopen window after this many seconds (keep)"),
    "peers": ("--peers", "MONITOR_PEERS",
              "base URLs of all replicas' HTTP servers, comma-separated, for /cases of cases another replica owns; "
              "dns+http://<headless service>:<port> means every address the name resolves to"),
    "processing_guarantee": ("--processing-guarantee", "MONITOR_PROCESSING_GUARANTEE", "at_least_once | exactly_once"),
    "transactional_id": ("--transactional-id", "MONITOR_TRANSACTIONAL_ID", "transactional.id for exactly_once"),
    "log_level": ("--log-level", "MONITOR_LOG_LEVEL", "DEBUG/INFO/WARNING/ERROR"),
    "table_store": ("--table-store", "MONITOR_TABLE_STORE", "memory | rocksdb"),
    "max_fetch_bytes": ("--max-fetch-bytes", "MONITOR_MAX_FETCH_BYTES", "max bytes fetched per partition (4 MiB)"),
    "shutdown_timeout_seconds": ("--shutdown-timeout", "MONITOR_SHUTDOWN_TIMEOUT_SECONDS", "bound on graceful stop (20)"),
    "max_batch_records": ("--max-batch-records", "MONITOR_MAX_BATCH_RECORDS",
                          "input records processed between two flushes/ticks (10000)"),
    "max_clock_skew_seconds": ("--max-clock-skew", "MONITOR_MAX_CLOCK_SKEW_SECONDS",
                               "dead-letter events dated more than this many seconds ahead of the clock (300)"),
    "session_timeout_seconds": ("--session-timeout", "MONITOR_SESSION_TIMEOUT_SECONDS",
                                "consumer group session timeout: how fast a dead worker's partitions move (10)"),
}
_TOPIC_ROLES = tuple(f.name for f in fields(TopicNames))


def topic_env_var(role: str) -> str:
    """Environment variable naming the topic of a role, e.g. MONITOR_TOPIC_CASE_CREATED."""
    return f"MONITOR_TOPIC_{role.upper()}"


def topic_flag(role: str) -> str:
    """Flag naming the topic of a role, e.g. --topic-case-created."""
    return "--topic-" + role.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every worker setting as an optional flag (defaults come from env, then code)."""
    for name, (flag, env, help_) in _SETTINGS.items():
        parser.add_argument(flag, dest=name, default=None, help=f"{help_} [env {env}]")
    for role in _TOPIC_ROLES:
        parser.add_argument(topic_flag(role), dest=f"topic_{role}", default=None,
                            help=f"topic name for {role} [env {topic_env_var(role)}]")


def _raw_settings(args: argparse.Namespace | None, env: Mapping[str, str]) -> dict[str, str]:
    raw: dict[str, str] = {}
    for name, (_, var, _) in _SETTINGS.items():
        value = getattr(args, name, None) if args is not None else None
        if value is None:
            value = env.get(var)
        if value is not None and value != "":
            raw[name] = value
    for role in _TOPIC_ROLES:
        value = getattr(args, f"topic_{role}", None) if args is not None else None
        if value is None:
            value = env.get(topic_env_var(role))
        if value:
            raw[f"topic_{role}"] = value
    return raw


def _number(raw: dict[str, str], name: str, kind: type, low: float, high: float,
            default: Any, problems: list[str]) -> Any:
    if name not in raw:
        return default
    flag, var, _ = _SETTINGS[name]
    try:
        value = kind(raw[name])
    except ValueError:
        problems.append(f"{var} / {flag}: {raw[name]!r} is not a {'number' if kind is float else 'whole number'}")
        return default
    if not (low <= value <= high):
        problems.append(f"{var} / {flag}: {value} is outside {low:g}..{high:g}")
    return value


def _choice(raw: dict[str, str], name: str, allowed: Sequence[str], default: str,
            problems: list[str], upper: bool = False) -> str:
    value = raw.get(name, default)
    value = value.upper() if upper else value.lower()
    if value not in allowed:
        flag, var, _ = _SETTINGS[name]
        problems.append(f"{var} / {flag}: {raw.get(name)!r} is not one of {', '.join(allowed)}")
        return default
    return value


def validate_bootstrap(bootstrap: str) -> list[str]:
    """Problems with a host:port[,host:port] list (empty list when it is fine)."""
    problems = []
    items = [item.strip().removeprefix("kafka://") for item in bootstrap.split(",")]
    if not any(items):
        return ["KAFKA_BROKER / --broker: empty bootstrap list"]
    for item in items:
        match = _HOST_PORT.match(item)
        if not match:
            problems.append(f"KAFKA_BROKER / --broker: {item!r} is not host:port")
        elif not 0 < int(match.group(2)) < 65536:
            problems.append(f"KAFKA_BROKER / --broker: port of {item!r} is not 1..65535")
    return problems


def load_config(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
                parser: argparse.ArgumentParser | None = None) -> WorkerConfig:
    """Parse flags (argv) and environment (env, default os.environ) into a validated WorkerConfig."""
    environ = os.environ if env is None else env
    args = None
    if argv is not None:
        parser = parser or argparse.ArgumentParser(prog="monitor worker")
        if not any(a.dest == "bootstrap" for a in parser._actions):
            add_arguments(parser)
        args = parser.parse_args(list(argv))
    return config_from(args, environ)


def config_from(args: argparse.Namespace | None, env: Mapping[str, str]) -> WorkerConfig:
    """Build and validate a WorkerConfig from parsed flags and an environment mapping."""
    raw = _raw_settings(args, env)
    problems: list[str] = []

    bootstrap = raw.get("bootstrap")
    if bootstrap is not None:
        problems += validate_bootstrap(bootstrap)
        # hand the clients what was validated: aiokafka takes "kafka://h" as a host name
        bootstrap = ",".join(item.strip().removeprefix("kafka://") for item in bootstrap.split(","))
    protocol = _choice(raw, "security_protocol", SECURITY_PROTOCOLS, "PLAINTEXT", problems, upper=True)
    mechanism = raw.get("sasl_mechanism")
    if protocol.startswith("SASL"):
        if mechanism is None:
            problems.append(f"KAFKA_SASL_MECHANISM is required with KAFKA_SECURITY_PROTOCOL={protocol}")
        else:
            mechanism = _choice(raw, "sasl_mechanism", SASL_MECHANISMS, "PLAIN", problems, upper=True)
        for name in ("sasl_username", "sasl_password"):
            if name not in raw:
                problems.append(f"{_SETTINGS[name][1]} is required with KAFKA_SECURITY_PROTOCOL={protocol}")
    elif mechanism is not None or "sasl_username" in raw:
        problems.append(f"SASL settings are set but KAFKA_SECURITY_PROTOCOL is {protocol} (use SASL_SSL or SASL_PLAINTEXT)")
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        if name in raw:
            if not protocol.endswith("SSL"):
                problems.append(f"{_SETTINGS[name][1]} is set but KAFKA_SECURITY_PROTOCOL is {protocol} (use SSL or SASL_SSL)")
            elif not Path(raw[name]).is_file():
                problems.append(f"{_SETTINGS[name][1]}: no such file {raw[name]!r}")
    if ("ssl_certfile" in raw) != ("ssl_keyfile" in raw):
        problems.append("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together (mTLS)")

    kafka = KafkaSettings(
        bootstrap=bootstrap, security_protocol=protocol, sasl_mechanism=mechanism,
        sasl_username=raw.get("sasl_username"), sasl_password=raw.get("sasl_password"),
        ssl_cafile=raw.get("ssl_cafile"), ssl_certfile=raw.get("ssl_certfile"),
        ssl_keyfile=raw.get("ssl_keyfile"), ssl_password=raw.get("ssl_password"),
        client_id=raw.get("client_id", "sla-monitor"),
    )

    names = {role: raw.get(f"topic_{role}", getattr(TopicNames(), role)) for role in _TOPIC_ROLES}
    for role, name in names.items():
        if not _TOPIC_NAME.match(name):
            problems.append(f"{topic_env_var(role)} / {topic_flag(role)}: {name!r} is not a valid topic name "
                            "(letters, digits, '.', '_', '-'; at most 249)")
    seen: dict[str, str] = {}
    for role, name in names.items():
        if name in seen:
            problems.append(f"topics {seen[name]} and {role} are both {name!r}; every topic needs its own name")
        seen.setdefault(name, role)
    topics = TopicNames(**names)

    policies = Path(raw["policies"]) if "policies" in raw else None
    if policies is not None and not policies.is_file():
        problems.append(f"MONITOR_POLICIES / --policies: no such file {str(policies)!r}")

    tick = _number(raw, "tick_seconds", float, 0.01, 60.0, 0.25, problems)
    web_port = _number(raw, "web_port", int, 0, 65535, 6066, problems)
    hold = _number(raw, "hold_seconds", float, 0.0, 7 * 86400.0, 600.0, problems)
    max_fetch = _number(raw, "max_fetch_bytes", int, 1024 * 1024, 1024 ** 3, 4 * 1024 * 1024, problems)
    shutdown = _number(raw, "shutdown_timeout_seconds", float, 1.0, 600.0, 20.0, problems)
    session = _number(raw, "session_timeout_seconds", float, 1.0, 300.0, 10.0, problems)
    max_batch = _number(raw, "max_batch_records", int, 1, 1_000_000, 10_000, problems)
    skew = _number(raw, "max_clock_skew_seconds", float, 0.0, 10 * 365 * 86400.0, 300.0, problems)
    retention = (
        _number(raw, "closed_retention_seconds", float, 60.0, 10 * 365 * 86400.0, 0.0, problems)
        if "closed_retention_seconds" in raw else None
    )
    peers = tuple(p.strip().rstrip("/") for p in raw.get("peers", "").split(",") if p.strip())
    for peer in peers:
        if not peer.removeprefix("dns+").startswith(("http://", "https://")):
            problems.append(f"MONITOR_PEERS / --peers: {peer!r} is not an http(s) or dns+http(s) base URL")
    guarantee = _choice(raw, "processing_guarantee", GUARANTEES, "at_least_once", problems)
    log_level = _choice(raw, "log_level", LOG_LEVELS, "INFO", problems, upper=True)
    store = _choice(raw, "table_store", TABLE_STORES, "memory", problems)
    state_dir = Path(raw.get("state_dir", "./sla-monitor-state"))
    if store == "rocksdb":
        try:
            import rocksdict  # noqa: F401
        except ImportError:
            problems.append("MONITOR_TABLE_STORE=rocksdb needs the rocksdict package: pip install 'sla-monitor[rocksdb]'")
        if state_dir.exists() and not state_dir.is_dir():
            problems.append(f"MONITOR_STATE_DIR / --state-dir: {str(state_dir)!r} is not a directory")
    group_id = raw.get("group_id", "sla-monitor")

    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return WorkerConfig(
        kafka=kafka, topics=topics, group_id=group_id, policies=policies, tick_seconds=tick,
        state_dir=state_dir, web_port=web_port, web_host=raw.get("web_host", "0.0.0.0"),
        hold_seconds=hold, closed_retention_seconds=retention, peers=peers,
        processing_guarantee=guarantee, transactional_id=raw.get("transactional_id"),
        log_level=log_level, table_store=store, max_fetch_bytes=max_fetch,
        shutdown_timeout_seconds=shutdown, session_timeout_seconds=session,
        max_batch_records=max_batch, max_clock_skew_seconds=skew,
    )
