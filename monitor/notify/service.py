"""`monitor notify`: load routing, contacts and secrets, then run the notifier until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import structlog

from monitor.notify.channels import build_channels
from monitor.notify.contacts import EMPTY_CONTACTS, Contacts, ContactsError, load_contacts
from monitor.notify.metrics import NotifyMetrics
from monitor.notify.notifier import DEFAULT_INPUT_TOPICS, Notifier, NotifierConfig
from monitor.notify.routing import Routing, RoutingError, load_routing
from monitor.notify.secrets import SecretsError, resolve_secrets
from monitor.notify.web import start_web
from monitor.runtime import connect

EXAMPLE_ROUTING = Path(__file__).with_name("example-routing.toml")
EXIT_CONFIG = 2


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name)
    return int(value) if value else default


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    """Command-line options; every option has an environment fallback."""
    p = argparse.ArgumentParser(prog="monitor notify", description="Deliver SLA near-breach, breach and met events to people.")
    p.add_argument("--routing", default=environ.get("MONITOR_NOTIFY_ROUTING"), help="routing TOML file ($MONITOR_NOTIFY_ROUTING)")
    p.add_argument("--contacts", default=environ.get("MONITOR_NOTIFY_CONTACTS"), help="contacts TOML file ($MONITOR_NOTIFY_CONTACTS)")
    p.add_argument("--bootstrap", default=environ.get("KAFKA_BROKER", "127.0.0.1:9092"), help="Kafka bootstrap servers ($KAFKA_BROKER)")
    p.add_argument("--group", default=environ.get("MONITOR_NOTIFY_GROUP", "sla-notify"), help="consumer group ($MONITOR_NOTIFY_GROUP)")
    p.add_argument("--topics", default=environ.get("MONITOR_NOTIFY_TOPICS", ",".join(DEFAULT_INPUT_TOPICS)),
                   help="comma-separated input topics ($MONITOR_NOTIFY_TOPICS)")
    p.add_argument("--state-topic", default=environ.get("MONITOR_NOTIFY_STATE_TOPIC", "sla-notify-state"))
    p.add_argument("--dead-letter-topic", default=environ.get("MONITOR_NOTIFY_DEAD_LETTER_TOPIC", "sla-notify-dead-letter"))
    p.add_argument("--no-create-topics", action="store_true", help="do not create the state and dead-letter topics")
    p.add_argument("--web-host", default=environ.get("MONITOR_NOTIFY_WEB_HOST", "0.0.0.0"))
    p.add_argument("--web-port", type=int, default=_env_int(environ, "MONITOR_NOTIFY_WEB_PORT", 8082),
                   help="/metrics, /healthz, /readyz port; 0 disables ($MONITOR_NOTIFY_WEB_PORT)")
    p.add_argument("--session-timeout-ms", type=int, default=_env_int(environ, "MONITOR_NOTIFY_SESSION_TIMEOUT_MS", 10_000))
    p.add_argument("--heartbeat-interval-ms", type=int, default=_env_int(environ, "MONITOR_NOTIFY_HEARTBEAT_INTERVAL_MS", 3_000))
    p.add_argument("--shutdown-grace", type=float, default=float(environ.get("MONITOR_NOTIFY_SHUTDOWN_GRACE_SECONDS", "20")),
                   help="seconds to finish in-flight deliveries on SIGTERM")
    p.add_argument("--check", action="store_true", help="validate routing, contacts and secrets, print the rules, exit")
    p.add_argument("--log-level", default=environ.get("LOG_LEVEL", "info"))
    return p


def configure_logging(level: str) -> None:
    """JSON lines on stderr (ours and the libraries'); fields only, never message bodies or secrets."""
    numeric = logging.getLevelName(level.upper())
    shared: list[structlog.typing.Processor] = [structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processor=structlog.processors.JSONRenderer(), foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    logging.getLogger("aiokafka").setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


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


async def serve(args: argparse.Namespace, routing: Routing, contacts: Contacts, environ: Mapping[str, str],
                connect_timeout_s: float | None = None) -> int:
    """Run the notifier and its web endpoint until a stop signal (first waiting for the brokers, /readyz false)."""
    secrets = resolve_secrets(routing, environ)
    config = NotifierConfig(
        bootstrap=args.bootstrap, group_id=args.group,
        input_topics=tuple(t.strip() for t in args.topics.split(",") if t.strip()),
        state_topic=args.state_topic, dead_letter_topic=args.dead_letter_topic,
        create_topics=not args.no_create_topics, session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=args.heartbeat_interval_ms, shutdown_grace_seconds=args.shutdown_grace,
    )
    metrics = NotifyMetrics()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with aiohttp.ClientSession() as session:
        notifier = Notifier(config, routing, contacts, build_channels(routing, secrets, session), metrics)
        runner = await start_web(metrics, notifier.ready, args.web_host, args.web_port) if args.web_port else None
        try:
            if await connect.wait_for_kafka({"bootstrap_servers": config.bootstrap}, timeout_s=connect_timeout_s, stop=stop):
                await notifier.run(stop)
        finally:
            if runner is not None:
                await runner.cleanup()
    return 0


def main(argv: list[str]) -> int:
    """Entry point of `monitor notify`."""
    environ = os.environ
    args = build_parser(environ).parse_args(argv)
    try:
        if not args.routing:
            print(f"monitor notify: --routing (or $MONITOR_NOTIFY_ROUTING) is required; see {EXAMPLE_ROUTING}", file=sys.stderr)
            return EXIT_CONFIG
        routing = load_routing(args.routing)
        contacts = load_contacts(args.contacts) if args.contacts else EMPTY_CONTACTS
        if args.check:
            resolve_secrets(routing, environ)
            print(describe(routing, contacts))
            return 0
        resolve_secrets(routing, environ)  # fail before touching Kafka
        connect_timeout_s = connect.connect_timeout(environ)
        configure_logging(args.log_level)
        return asyncio.run(serve(args, routing, contacts, environ, connect_timeout_s))
    except (RoutingError, ContactsError, SecretsError, ValueError) as exc:
        print(f"monitor notify: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except connect.BrokerUnreachable as exc:
        print(f"monitor notify: {exc}", file=sys.stderr)
        return connect.EXIT_UNREACHABLE_LONG_RUNNING
    except connect.CONNECTION_ERRORS:   # reached at first, then lost while starting
        print(f"monitor notify: {connect.unreachable(args.bootstrap)}", file=sys.stderr)
        return connect.EXIT_UNREACHABLE_LONG_RUNNING
