"""Worker configuration from flags and environment variables, validated at start.

Flags win over environment variables, which win over defaults. `load_config` collects every
problem and raises one `ConfigError` listing them all, so a misconfigured deployment fails at
start with a message that says what to fix. The Kafka connection, logging and topic-name
settings are the shared ones of `monitor.runtime` (the notifier reads the same); this module
adds what only the worker has.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from monitor.board.auth import AuthConfigError, load_token
from monitor.runtime.settings import ConfigError, KafkaSettings, LogSettings, ServiceSettings, env_vars, load_settings
from monitor.runtime.settings import add_arguments as add_shared_arguments
from monitor.runtime.topics import add_topic_arguments, topic_env_var, topic_flag, topic_names

__all__ = ["ConfigError", "KafkaSettings", "TopicNames", "WorkerConfig", "add_arguments", "config_from", "load_config",
           "topic_env_var", "topic_flag"]

GUARANTEES = ("at_least_once", "exactly_once")
TABLE_STORES = ("memory", "rocksdb")


#: How long a closed case of a plan without a reopen window is kept (30 days); 0 = keep forever.
DEFAULT_CLOSED_RETENTION_S = 30 * 86400.0


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


class WorkerServiceSettings(ServiceSettings):
    """The worker's HTTP endpoint, group and timeouts: MONITOR_WEB_PORT, MONITOR_GROUP_ID, ..."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_")

    web_port: int = Field(6066, ge=0, le=65535, description="HTTP port for /metrics, /healthz, /readyz, /cases (0 = off)")
    group_id: str = Field("sla-monitor", min_length=1, description="Kafka consumer group of the workers")
    http_auth_token: SecretStr | None = Field(
        None, description="token required by every HTTP path but /metrics, /healthz, /readyz (environment only)")
    http_auth_token_file: Path | None = Field(None, description="file holding the HTTP access token")
    replica_name: str | None = Field(None, min_length=1, description="this replica's name in board answers (default: host name)")


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the worker needs to start; built by `load_config`."""

    kafka: KafkaSettings = field(default_factory=KafkaSettings.model_construct)
    topics: TopicNames = field(default_factory=TopicNames)
    group_id: str = "sla-monitor"
    policies: Path | None = None
    tick_seconds: float = 0.25
    state_dir: Path = Path("./sla-monitor-state")
    web_port: int = 6066
    web_host: str = "0.0.0.0"
    hold_seconds: float = 600.0
    closed_retention_seconds: float | None = DEFAULT_CLOSED_RETENTION_S
    peers: tuple[str, ...] = ()
    processing_guarantee: str = "at_least_once"
    transactional_id: str | None = None
    log: LogSettings = field(default_factory=LogSettings.model_construct)
    table_store: str = "memory"
    max_fetch_bytes: int = 4 * 1024 * 1024
    shutdown_timeout_seconds: float = 20.0
    session_timeout_seconds: float = 10.0
    max_batch_records: int = 10_000
    max_clock_skew_seconds: float = 300.0
    restore_timeout_seconds: float = 600.0
    request_timeout_seconds: float = 30.0
    #: HTTP access token (MONITOR_HTTP_AUTH_TOKEN, or read from MONITOR_HTTP_AUTH_TOKEN_FILE); None = open.
    http_auth_token: str | None = field(default=None, repr=False)
    #: This replica's name in board answers (default: the host name).
    replica_name: str | None = None


#: setting -> (flag, environment variable, help)
_SETTINGS: dict[str, tuple[str, str, str]] = {
    "policies": ("--policies", "MONITOR_POLICIES", "policy catalog TOML (default: the bundled one)"),
    "tick_seconds": ("--tick-seconds", "MONITOR_TICK_SECONDS", "input lag check period, longest sleep of the loop (default 0.25)"),
    "state_dir": ("--state-dir", "MONITOR_STATE_DIR", "directory for the rocksdb table store"),
    "hold_seconds": ("--hold-seconds", "MONITOR_HOLD_SECONDS", "how long to hold updates of unknown cases (600)"),
    "closed_retention_seconds": ("--closed-retention", "MONITOR_CLOSED_RETENTION_SECONDS",
                                 "forget closed cases of plans without a reopen window this many seconds after "
                                 "closing (default 2592000 = 30 days; 0 = keep)"),
    "peers": ("--peers", "MONITOR_PEERS",
              "base URLs of all replicas' HTTP servers, comma-separated, for /cases of cases another replica owns; "
              "dns+http://<headless service>:<port> means every address the name resolves to"),
    "processing_guarantee": ("--processing-guarantee", "MONITOR_PROCESSING_GUARANTEE", "at_least_once | exactly_once"),
    "transactional_id": ("--transactional-id", "MONITOR_TRANSACTIONAL_ID", "transactional.id for exactly_once"),
    "table_store": ("--table-store", "MONITOR_TABLE_STORE", "memory | rocksdb"),
    "max_fetch_bytes": ("--max-fetch-bytes", "MONITOR_MAX_FETCH_BYTES", "max bytes fetched per partition (4 MiB)"),
    "max_batch_records": ("--max-batch-records", "MONITOR_MAX_BATCH_RECORDS",
                          "input records processed between two flushes/ticks (10000)"),
    "max_clock_skew_seconds": ("--max-clock-skew", "MONITOR_MAX_CLOCK_SKEW_SECONDS",
                               "dead-letter events dated more than this many seconds ahead of the clock (300)"),
    "request_timeout_seconds": ("--request-timeout", "MONITOR_REQUEST_TIMEOUT_SECONDS",
                                "producer request timeout: a write not acknowledged within it fails and is retried (30)"),
    "restore_timeout_seconds": ("--restore-timeout", "MONITOR_RESTORE_TIMEOUT_SECONDS",
                                "stop (exit 1) when the changelog of assigned partitions is not read within this (600)"),
}
_TOPIC_ROLES = tuple(f.name for f in fields(TopicNames))


def environment_variables() -> set[str]:
    """Every environment variable the worker reads."""
    from monitor.runtime.connect import ConnectSettings

    return ({var for _, var, _ in _SETTINGS.values()} | set(env_vars(KafkaSettings)) | set(env_vars(LogSettings))
            | set(env_vars(WorkerServiceSettings)) | set(env_vars(ConnectSettings)) | {topic_env_var(role) for role in _TOPIC_ROLES})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every worker setting as an optional flag (defaults come from env, then code)."""
    add_shared_arguments(parser, KafkaSettings)
    add_shared_arguments(parser, LogSettings)
    add_shared_arguments(parser, WorkerServiceSettings)
    add_setting_arguments(parser, _SETTINGS)
    add_topic_arguments(parser, _TOPIC_ROLES)


def add_setting_arguments(parser: argparse.ArgumentParser | Any, names: Iterable[str]) -> None:
    """Add the flags of the named worker settings only (`monitor demo` takes --policies, not the timers)."""
    for name in names:
        flag, env, help_ = _SETTINGS[name]
        parser.add_argument(flag, dest=name, default=None, help=f"{help_} [env {env}]")


def _raw_settings(args: argparse.Namespace | None, env: Mapping[str, str]) -> dict[str, str]:
    raw: dict[str, str] = {}
    for name, (_, var, _) in _SETTINGS.items():
        value = getattr(args, name, None) if args is not None else None
        if value is None:
            value = env.get(var)
        if value is not None and value != "":
            raw[name] = value
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


def load_config(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
                parser: argparse.ArgumentParser | None = None) -> WorkerConfig:
    """Parse flags (argv) and environment (env, default os.environ) into a validated WorkerConfig."""
    environ = os.environ if env is None else env
    args = None
    if argv is not None:
        parser = parser or argparse.ArgumentParser(prog="monitor worker")
        if not any(a.dest == "group_id" for a in parser._actions):
            add_arguments(parser)
        args = parser.parse_args(list(argv))
    return config_from(args, environ)


def config_from(args: argparse.Namespace | None, env: Mapping[str, str]) -> WorkerConfig:
    """Build and validate a WorkerConfig from parsed flags and an environment mapping."""
    raw = _raw_settings(args, env)
    problems: list[str] = []

    kafka = KafkaSettings.model_construct()
    try:
        kafka = load_settings(KafkaSettings, args, env)
    except ConfigError as exc:
        problems += exc.problems
    log_settings = LogSettings.model_construct()
    try:
        log_settings = load_settings(LogSettings, args, env)
    except ConfigError as exc:
        problems += exc.problems
    service = WorkerServiceSettings.model_construct()
    try:
        service = load_settings(WorkerServiceSettings, args, env)
    except ConfigError as exc:
        problems += exc.problems
    topics = TopicNames(**topic_names(args, env, TopicNames().by_role(), problems))

    policies = Path(raw["policies"]) if "policies" in raw else None
    if policies is not None and not policies.is_file():
        problems.append(f"MONITOR_POLICIES / --policies: no such file {str(policies)!r}")

    tick = _number(raw, "tick_seconds", float, 0.01, 60.0, 0.25, problems)
    hold = _number(raw, "hold_seconds", float, 0.0, 7 * 86400.0, 600.0, problems)
    max_fetch = _number(raw, "max_fetch_bytes", int, 1024 * 1024, 1024 ** 3, 4 * 1024 * 1024, problems)
    max_batch = _number(raw, "max_batch_records", int, 1, 1_000_000, 10_000, problems)
    skew = _number(raw, "max_clock_skew_seconds", float, 0.0, 10 * 365 * 86400.0, 300.0, problems)
    restore_timeout = _number(raw, "restore_timeout_seconds", float, 1.0, 86400.0, 600.0, problems)
    request_timeout = _number(raw, "request_timeout_seconds", float, 1.0, 600.0, 30.0, problems)
    retention: float | None = _number(raw, "closed_retention_seconds", float, 0.0, 10 * 365 * 86400.0,
                                      DEFAULT_CLOSED_RETENTION_S, problems)
    if retention == 0:
        retention = None   # keep
    elif retention is not None and retention < 60:
        problems.append(f"MONITOR_CLOSED_RETENTION_SECONDS / --closed-retention: {retention:g} is below 60 (0 = keep)")
    peers = tuple(p.strip().rstrip("/") for p in raw.get("peers", "").split(",") if p.strip())
    for peer in peers:
        if not peer.removeprefix("dns+").startswith(("http://", "https://")):
            problems.append(f"MONITOR_PEERS / --peers: {peer!r} is not an http(s) or dns+http(s) base URL")
    guarantee = _choice(raw, "processing_guarantee", GUARANTEES, "at_least_once", problems)
    store = _choice(raw, "table_store", TABLE_STORES, "memory", problems)
    state_dir = Path(raw.get("state_dir", "./sla-monitor-state"))
    if store == "rocksdb":
        try:
            import rocksdict  # noqa: F401
        except ImportError:
            problems.append("MONITOR_TABLE_STORE=rocksdb needs the rocksdict package: pip install 'sla-monitor[rocksdb]'")
        if state_dir.exists() and not state_dir.is_dir():
            problems.append(f"MONITOR_STATE_DIR / --state-dir: {str(state_dir)!r} is not a directory")

    token = None
    try:
        secret = service.http_auth_token.get_secret_value() if service.http_auth_token is not None else None
        token = load_token(secret, service.http_auth_token_file)
    except AuthConfigError as exc:
        problems.append(str(exc))

    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return WorkerConfig(
        kafka=kafka, topics=topics, group_id=service.group_id, policies=policies, tick_seconds=tick,
        state_dir=state_dir, web_port=service.web_port, web_host=service.web_host,
        hold_seconds=hold, closed_retention_seconds=retention, peers=peers,
        processing_guarantee=guarantee, transactional_id=raw.get("transactional_id"),
        log=log_settings, table_store=store, max_fetch_bytes=max_fetch,
        shutdown_timeout_seconds=service.shutdown_timeout_seconds,
        session_timeout_seconds=service.session_timeout_seconds,
        max_batch_records=max_batch, max_clock_skew_seconds=skew,
        restore_timeout_seconds=restore_timeout, request_timeout_seconds=request_timeout,
        http_auth_token=token, replica_name=service.replica_name,
    )
