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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from monitor.board.auth import AuthConfigError, load_token
from monitor.runtime.settings import (
    ConfigError,
    KafkaSettings,
    LogSettings,
    S,
    ServiceSettings,
    SharedSettings,
    env_vars,
    load_settings,
    lower_case,
)
from monitor.runtime.settings import add_arguments as add_shared_arguments
from monitor.runtime.topics import add_topic_arguments, topic_env_var, topic_flag, topic_names

__all__ = ["ConfigError", "KafkaSettings", "TopicNames", "WorkerConfig", "WorkerEngineSettings", "add_arguments", "config_from",
           "load_config", "topic_env_var", "topic_flag"]

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
        if topic_kind == "status":   # once per emitted event: no dict built per call
            return self.status
        if topic_kind == "breach":
            return self.breaches
        if topic_kind == "near_breach":
            return self.near_breaches
        raise KeyError(topic_kind)


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


Guarantee = Annotated[Literal["at_least_once", "exactly_once"], BeforeValidator(lower_case)]
TableStore = Annotated[Literal["memory", "rocksdb"], BeforeValidator(lower_case)]
_TEN_YEARS_S = 10 * 365 * 86400.0


class WorkerEngineSettings(SharedSettings):
    """The worker's own tuning: catalog, timers, table store, guarantees: MONITOR_TICK_SECONDS, ..."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_")

    policies: Path | None = Field(None, description="policy catalog TOML (default: the bundled one)")
    tick_seconds: float = Field(0.25, ge=0.01, le=60.0,
                                description="input lag check period, longest sleep of the loop (default 0.25)")
    hold_seconds: float = Field(600.0, ge=0.0, le=7 * 86400.0, description="how long to hold updates of unknown cases (600)")
    closed_retention_seconds: float = Field(
        DEFAULT_CLOSED_RETENTION_S, ge=0.0, le=_TEN_YEARS_S, json_schema_extra={"flag": "--closed-retention"},
        description="forget closed cases of plans without a reopen window this many seconds after closing "
                    "(default 2592000 = 30 days; 0 = keep)")
    peers: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="base URLs of all replicas' HTTP servers, comma-separated, for /cases of cases another replica "
                        "owns; dns+http://<headless service>:<port> means every address the name resolves to")
    processing_guarantee: Guarantee = Field("at_least_once", description="at_least_once | exactly_once")
    transactional_id: str | None = Field(None, description="transactional.id for exactly_once")
    table_store: TableStore = Field("memory", description="memory | rocksdb")
    state_dir: Path = Field(Path("./sla-monitor-state"), description="directory for the rocksdb table store")
    max_fetch_bytes: int = Field(4 * 1024 * 1024, ge=1024 * 1024, le=1024 ** 3,
                                 description="max bytes fetched per partition (4 MiB)")
    max_batch_records: int = Field(10_000, ge=1, le=1_000_000,
                                   description="input records processed between two flushes/ticks (10000)")
    max_clock_skew_seconds: float = Field(
        300.0, ge=0.0, le=_TEN_YEARS_S, json_schema_extra={"flag": "--max-clock-skew"},
        description="dead-letter events dated more than this many seconds ahead of the clock (300)")
    request_timeout_seconds: float = Field(
        30.0, ge=1.0, le=600.0, json_schema_extra={"flag": "--request-timeout"},
        description="producer request timeout: a write not acknowledged within it fails and is retried (30)")
    restore_timeout_seconds: float = Field(
        600.0, ge=1.0, le=86400.0, json_schema_extra={"flag": "--restore-timeout"},
        description="stop (exit 1) when the changelog of assigned partitions is not read within this (600)")

    @field_validator("policies")
    @classmethod
    def _policies_exist(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("no such file")
        return value

    @field_validator("closed_retention_seconds")
    @classmethod
    def _retention_not_tiny(cls, value: float) -> float:
        if 0 < value < 60:
            raise ValueError("must be 0 (keep) or at least 60")
        return value

    @field_validator("peers", mode="before")
    @classmethod
    def _peer_urls(cls, value: Any) -> Any:
        """Comma-separated base URLs, trailing slashes dropped; each http(s) or dns+http(s)."""
        if not isinstance(value, str):
            return value
        peers = tuple(p.strip().rstrip("/") for p in value.split(",") if p.strip())
        bad = [peer for peer in peers if not peer.removeprefix("dns+").startswith(("http://", "https://"))]
        if bad:
            raise ValueError("; ".join(f"{peer!r} is not an http(s) or dns+http(s) base URL" for peer in bad))
        return peers

    @field_validator("table_store")
    @classmethod
    def _rocksdb_installed(cls, value: str) -> str:
        if value == "rocksdb":
            try:
                import rocksdict  # noqa: F401
            except ImportError:
                raise ValueError("rocksdb needs the rocksdict package: pip install 'sla-monitor[rocksdb]'") from None
        return value

    @field_validator("state_dir")
    @classmethod
    def _state_dir_is_directory(cls, value: Path, info: ValidationInfo) -> Path:
        if info.data.get("table_store") == "rocksdb" and value.exists() and not value.is_dir():
            raise ValueError("is not a directory")
        return value


_TOPIC_ROLES = tuple(f.name for f in fields(TopicNames))


def environment_variables() -> set[str]:
    """Every environment variable the worker reads."""
    from monitor.runtime.connect import ConnectSettings

    return (set(env_vars(WorkerEngineSettings)) | set(env_vars(KafkaSettings)) | set(env_vars(LogSettings))
            | set(env_vars(WorkerServiceSettings)) | set(env_vars(ConnectSettings)) | {topic_env_var(role) for role in _TOPIC_ROLES})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every worker setting as an optional flag (defaults come from env, then code)."""
    add_shared_arguments(parser, KafkaSettings)
    add_shared_arguments(parser, LogSettings)
    add_shared_arguments(parser, WorkerServiceSettings)
    add_shared_arguments(parser, WorkerEngineSettings)
    add_topic_arguments(parser, _TOPIC_ROLES)


def load_config(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> WorkerConfig:
    """Parse flags (argv) and environment (env, default os.environ) into a validated WorkerConfig."""
    environ = os.environ if env is None else env
    args = None
    if argv is not None:
        parser = argparse.ArgumentParser(prog="monitor worker")
        add_arguments(parser)
        args = parser.parse_args(list(argv))
    return config_from(args, environ)


def config_from(args: argparse.Namespace | None, env: Mapping[str, str]) -> WorkerConfig:
    """Build and validate a WorkerConfig from parsed flags and an environment mapping."""
    problems: list[str] = []

    def load(cls: type[S]) -> S:
        """The settings class from flags and env; on failure its problems are kept and its defaults used."""
        try:
            return load_settings(cls, args, env)
        except ConfigError as exc:
            problems.extend(exc.problems)
            return cls.model_construct()

    kafka, log_settings = load(KafkaSettings), load(LogSettings)
    service, engine = load(WorkerServiceSettings), load(WorkerEngineSettings)
    topics = TopicNames(**topic_names(args, env, TopicNames().by_role(), problems))
    token = None
    try:
        secret = service.http_auth_token.get_secret_value() if service.http_auth_token is not None else None
        token = load_token(secret, service.http_auth_token_file)
    except AuthConfigError as exc:
        problems.append(str(exc))

    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    retention = engine.closed_retention_seconds
    return WorkerConfig(
        kafka=kafka, topics=topics, group_id=service.group_id, policies=engine.policies,
        tick_seconds=engine.tick_seconds, state_dir=engine.state_dir, web_port=service.web_port,
        web_host=service.web_host, hold_seconds=engine.hold_seconds,
        closed_retention_seconds=None if retention == 0 else retention,   # 0 = keep
        peers=engine.peers, processing_guarantee=engine.processing_guarantee,
        transactional_id=engine.transactional_id, log=log_settings, table_store=engine.table_store,
        max_fetch_bytes=engine.max_fetch_bytes, shutdown_timeout_seconds=service.shutdown_timeout_seconds,
        session_timeout_seconds=service.session_timeout_seconds, max_batch_records=engine.max_batch_records,
        max_clock_skew_seconds=engine.max_clock_skew_seconds, restore_timeout_seconds=engine.restore_timeout_seconds,
        request_timeout_seconds=engine.request_timeout_seconds, http_auth_token=token, replica_name=service.replica_name,
    )
