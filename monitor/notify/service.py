"""`monitor notify`: load routing, contacts and secrets, then run the notifier on the shared runtime.

The notifier takes the same flags and environment variables as the worker for everything they
share (Kafka connection and security, logging, topic names); what must differ between the two
processes when they start from one environment file (HTTP port, consumer group, timeouts) has
the same flag and a MONITOR_NOTIFY_ prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import structlog
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from monitor.notify.channels import BOARD_URL_ENV, build_channels
from monitor.notify.contacts import EMPTY_CONTACTS, Contacts, ContactsError, load_contacts
from monitor.notify.metrics import NotifyMetrics
from monitor.notify.notifier import Notifier, NotifierConfig
from monitor.notify.routing import Routing, RoutingError, load_routing
from monitor.notify.secrets import SecretsError, resolve_secrets
from monitor.observe.health import CheckResult, broker_reachable
from monitor.runtime import connect
from monitor.runtime.http import HttpServer
from monitor.runtime.logging import configure_logging
from monitor.runtime.runner import run_until_stopped
from monitor.runtime.settings import (
    ConfigError,
    KafkaSettings,
    LogSettings,
    ServiceSettings,
    SharedSettings,
    add_arguments,
    env_vars,
    load_settings,
)
from monitor.runtime.topics import TopicsError, add_topic_arguments, default_names, topic_env_var, topic_names

EXAMPLE_ROUTING = Path(__file__).with_name("example-routing.toml")
EXIT_CONFIG = 2
#: Topic roles (topics/topics.toml) the notifier reads and writes.
INPUT_ROLES = ("near_breaches", "breaches", "status")
OWN_ROLES = ("notify_state", "notify_dead_letter")

log = structlog.get_logger("monitor.notify")


class NotifyServiceSettings(ServiceSettings):
    """The notifier's HTTP endpoint, group, timeouts and files: MONITOR_NOTIFY_WEB_PORT, MONITOR_NOTIFY_GROUP_ID, ..."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_NOTIFY_")

    web_port: int = Field(8082, ge=0, le=65535, description="HTTP port for /metrics, /healthz, /readyz (0 = off)")
    group_id: str = Field("sla-notify", min_length=1, description="Kafka consumer group of the notifiers")
    routing: Path | None = Field(None, description=f"routing TOML file (required; example: {EXAMPLE_ROUTING.name})")
    contacts: Path | None = Field(None, description="contacts TOML file (default: none, contact: targets resolve to nobody)")


@dataclass(frozen=True)
class NotifySetup:
    """Everything `monitor notify` needs, validated."""

    kafka: KafkaSettings
    log: LogSettings
    service: NotifyServiceSettings
    topics: dict[str, str]
    connect: connect.ConnectSettings


def environment_variables() -> set[str]:
    """Every environment variable `monitor notify` reads (besides the secrets its routing file names)."""
    return (set(env_vars(KafkaSettings)) | set(env_vars(LogSettings)) | set(env_vars(NotifyServiceSettings))
            | set(env_vars(connect.ConnectSettings)) | {topic_env_var(role) for role in (*INPUT_ROLES, *OWN_ROLES)} | {BOARD_URL_ENV})


def build_parser() -> argparse.ArgumentParser:
    """Command-line options; each has an environment variable (shown in --help)."""
    p = argparse.ArgumentParser(prog="monitor notify", description="Deliver SLA near-breach, breach and met events to people.")
    add_arguments(p, NotifyServiceSettings)
    p.add_argument("--check", action="store_true", help="validate routing, contacts and secrets, print the rules, exit")
    p.add_argument("--no-create-topics", action="store_true",
                   help="do not create the state and dead-letter topics at start (`monitor topics apply` does)")
    add_arguments(p, KafkaSettings)
    add_arguments(p, LogSettings)
    add_arguments(p, connect.ConnectSettings)
    add_topic_arguments(p, (*INPUT_ROLES, *OWN_ROLES))
    return p


def load_setup(args: argparse.Namespace, environ: Mapping[str, str]) -> NotifySetup:
    """Validate flags and environment together; ConfigError lists every problem."""
    problems: list[str] = []

    def attempt(load: type[SharedSettings]) -> object:
        try:
            return load_settings(load, args, environ)
        except ConfigError as exc:
            problems.extend(exc.problems)
            return None

    kafka, log_settings, service = attempt(KafkaSettings), attempt(LogSettings), attempt(NotifyServiceSettings)
    connect_settings = attempt(connect.ConnectSettings)
    defaults = default_names()
    topics = topic_names(args, environ, {role: defaults[role] for role in (*INPUT_ROLES, *OWN_ROLES)}, problems)
    if isinstance(service, NotifyServiceSettings) and service.routing is None:
        problems.append(f"MONITOR_NOTIFY_ROUTING / --routing is required; see {EXAMPLE_ROUTING}")
    if problems:
        raise ConfigError(problems)
    assert isinstance(kafka, KafkaSettings) and isinstance(log_settings, LogSettings)
    assert isinstance(service, NotifyServiceSettings) and isinstance(connect_settings, connect.ConnectSettings)
    return NotifySetup(kafka, log_settings, service, topics, connect_settings)


def describe(routing: Routing, contacts: Contacts) -> str:
    """Human summary of the rules, for --check."""
    lines = [f"routing {routing.source}: {len(routing.channels)} channels, {len(routing.rules)} rules"]
    for name, spec in routing.channels.items():
        burst = f", burst {spec.burst.max_events}/{spec.burst.per_seconds:g}s" if spec.burst else ""
        lines.append(f"  channel {name}: {spec.kind}, {spec.retry.max_attempts} attempts{burst}")
    for i, rule in enumerate(routing.rules):
        targets = ", ".join(r.key for r in rule.notify)
        lines.append(f"  rule {i} {rule.name!r} -> {targets}{' (continue)' if rule.continue_ else ''}")
    lines.append(f"contacts {contacts.source}: {len(contacts.customers)} customers")
    missing = sorted(routing.contact_roles() - contacts.roles())
    if missing:
        lines.append(f"  warning: no customer has role(s) {', '.join(missing)}")
    return "\n".join(lines)


def notifier_config(setup: NotifySetup, create_topics: bool = True) -> NotifierConfig:
    """The notifier's Kafka wiring from the validated settings."""
    service = setup.service
    return NotifierConfig(
        kafka=setup.kafka, group_id=service.group_id,
        input_topics=tuple(setup.topics[role] for role in INPUT_ROLES),
        state_topic=setup.topics["notify_state"], dead_letter_topic=setup.topics["notify_dead_letter"],
        create_topics=create_topics, session_timeout_seconds=service.session_timeout_seconds,
        # in-flight deliveries get three quarters of the bound; the rest is for the last commit and client stop
        drain_seconds=service.shutdown_timeout_seconds * 0.75,
    )


def http_server(notifier: Notifier, kafka: KafkaSettings) -> HttpServer:
    """/metrics, /healthz (event loop), /readyz (broker reachable, delivery state loaded and consuming)."""

    def consuming() -> CheckResult:
        if notifier.ready.is_set():
            return CheckResult(True, f"delivery state loaded ({len(notifier.ledger.done)} records), consuming")
        return CheckResult(False, "loading the delivery state")

    return HttpServer(notifier.metrics.registry,
                      readiness={"broker": broker_reachable(kafka.bootstrap or ""), "consuming": consuming})


async def serve(setup: NotifySetup, routing: Routing, contacts: Contacts, environ: Mapping[str, str],
                create_topics: bool = True, install_signals: bool = True, stop: asyncio.Event | None = None,
                connect_timeout_s: float | None = None) -> int:
    """Run the notifier and its HTTP endpoints until a stop signal (first waiting for the brokers, /readyz false)."""
    secrets = resolve_secrets(routing, environ)
    service = setup.service
    quit_ = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        notifier = Notifier(notifier_config(setup, create_topics), routing, contacts,
                            build_channels(routing, secrets, session), NotifyMetrics())
        server = http_server(notifier, setup.kafka) if service.web_port else None
        if server is not None:
            port = await server.start(service.web_host, service.web_port)
            log.info("http_listening", port=port)

        async def connect_then_run() -> None:
            if await connect.wait_for_kafka(setup.kafka.client_kwargs(), timeout_s=connect_timeout_s, stop=quit_):
                await notifier.run(quit_)

        try:
            return await run_until_stopped(connect_then_run(), request_stop=quit_.set, grace_s=service.shutdown_timeout_seconds,
                                           stop=stop, install_signals=install_signals, name="sla-notify")
        finally:
            if server is not None:
                await server.stop()


def main(argv: list[str]) -> int:
    """Entry point of `monitor notify`."""
    environ = os.environ
    args = build_parser().parse_args(argv)
    try:
        setup = load_setup(args, environ)
        assert setup.service.routing is not None
        routing = load_routing(setup.service.routing)
        contacts = load_contacts(setup.service.contacts) if setup.service.contacts else EMPTY_CONTACTS
        resolve_secrets(routing, environ)  # fail before touching Kafka
        if args.check:
            print(describe(routing, contacts))
            return 0
        if not setup.kafka.bootstrap:
            raise ConfigError("KAFKA_BROKER / --broker is required")
    except (ConfigError, RoutingError, ContactsError, SecretsError) as exc:
        print(f"monitor notify: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(setup.log.level, setup.log.format)
    try:
        return asyncio.run(serve(setup, routing, contacts, environ, create_topics=not args.no_create_topics,
                                 connect_timeout_s=setup.connect.connect_timeout_seconds))
    except TopicsError as exc:
        print(f"monitor notify: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except connect.BrokerUnreachable as exc:
        print(f"monitor notify: {exc}", file=sys.stderr)
        return connect.EXIT_UNREACHABLE_LONG_RUNNING
    except connect.CONNECTION_ERRORS:   # reached at first, then lost while starting
        print(f"monitor notify: {connect.unreachable(setup.kafka.bootstrap or '')}", file=sys.stderr)
        return connect.EXIT_UNREACHABLE_LONG_RUNNING
