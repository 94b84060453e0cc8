"""`monitor worker`: a Worker on the shared runtime (HTTP endpoints, signals, bounded graceful stop)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import structlog

from monitor.core.case import Engine
from monitor.core.policy import PolicyError
from monitor.observe.cases import CASE_ROUTE, CaseRoute
from monitor.observe.health import CheckResult, broker_reachable
from monitor.runtime import connect
from monitor.runtime.http import HttpServer
from monitor.runtime.runner import configure_gc, run_until_stopped
from monitor.runtime.settings import add_arguments as add_settings_arguments
from monitor.runtime.settings import load_settings
from monitor.runtime.topics import TopicsError
from monitor.stream.clock import Clock
from monitor.stream.config import ConfigError, WorkerConfig, add_arguments, config_from
from monitor.stream.observer import WorkerObserver
from monitor.stream.worker import Worker, WorkerFailure, WorkerStartError, load_engine

log = structlog.get_logger("monitor.stream.worker")


async def serve(config: WorkerConfig, engine: Engine, clock: Clock | None = None,
                observer: WorkerObserver | None = None, install_signals: bool = True,
                stop: asyncio.Event | None = None, connect_timeout_s: float | None = None) -> int:
    """Run a worker (and its HTTP endpoints) until SIGTERM/SIGINT or `stop`; 0 on a clean stop.

    The worker waits for its brokers first (retrying, /readyz false), at most `connect_timeout_s`
    (None: as long as it takes); then BrokerUnreachable.
    """
    server: HttpServer | None = None
    if observer is None and config.web_port:
        from prometheus_client import CollectorRegistry

        from monitor.observe.metrics import WorkerMetrics

        registry = CollectorRegistry()
        metrics = WorkerMetrics(registry, engine.catalog, input_topics=config.topics.inputs)
        observer = metrics
        worker = Worker(config, engine, clock=clock, observer=observer)
        server = _http_server(registry, metrics, worker, config)
    else:
        worker = Worker(config, engine, clock=clock, observer=observer)
    if server is not None:
        port = await server.start(config.web_host, config.web_port)
        log.info("http listening", port=port, board=board_url(config.web_host, port),
                 auth="token" if config.http_auth_token else "none")
    quit_ = asyncio.Event()

    def request_stop() -> None:
        quit_.set()
        worker.request_stop()

    async def connect_then_run() -> None:
        if await connect.wait_for_kafka(config.kafka.client_kwargs(), timeout_s=connect_timeout_s, stop=quit_):
            await worker.run()

    try:
        return await run_until_stopped(connect_then_run(), request_stop=request_stop,
                                       grace_s=config.shutdown_timeout_seconds, stop=stop,
                                       install_signals=install_signals, name="sla-worker")
    finally:
        if server is not None:
            await server.stop()


def _http_server(registry: Any, metrics: Any, worker: Worker, config: WorkerConfig) -> HttpServer:
    """/metrics, /healthz, /readyz (broker reachable, partitions recovered) and /cases/{id} for this worker."""

    async def recovered() -> CheckResult:
        if worker.topic_problem is not None:
            return CheckResult(False, f"topics not usable: {worker.topic_problem}")
        if not worker.recovered:
            return CheckResult(False, "no partitions assigned and recovered yet")
        if worker.partitions:
            return CheckResult(True, f"{len(worker.partitions)} partitions assigned and recovered")
        # No partition: fine only for a replica that has nothing to do in a settled group.
        group = await worker.group_members()
        if group is None:
            return CheckResult(False, "no partitions assigned; the group could not be described")
        state, members = group
        if state == "Stable" and members > worker.partition_count:
            return CheckResult(True, f"idle replica: the group has {members} members for {worker.partition_count} "
                                     "partitions and none is assigned here")
        return CheckResult(False, f"no partitions assigned although the group ({state}) has {members} members "
                                  f"for {worker.partition_count} partitions")

    async def lookup(case_id: str) -> dict[str, Any] | None:
        return worker.case(case_id)

    from monitor.board.api import board_for_worker
    from monitor.observe.peers import PeerCaseLookup

    server = HttpServer(
        registry,
        readiness={"broker": broker_reachable(config.kafka.bootstrap or ""), "partitions": recovered},
        on_readiness=metrics.set_ready,
    )
    board, auth = board_for_worker(worker, config)
    route = CaseRoute(lookup, PeerCaseLookup(config.peers, headers=auth.peer_headers()) if config.peers else None)
    server.add_get(CASE_ROUTE, route.handle)
    for path, handler in board.routes().items():
        server.add_get(path, handler)
    server.add_middleware(auth.middleware)
    return server


def board_url(host: str, port: int) -> str:
    """The board's URL for a bind address and port (wildcard addresses become 127.0.0.1)."""
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/board"


def main(argv: list[str]) -> int:
    """`monitor worker [flags]`: run the worker until SIGTERM; exit 0 after a clean stop."""
    parser = argparse.ArgumentParser(prog="monitor worker", description="run the SLA worker on Kafka")
    add_arguments(parser)
    add_settings_arguments(parser, connect.ConnectSettings)
    args = parser.parse_args(argv)
    try:
        config = config_from(args, os.environ)
        if not config.kafka.bootstrap:
            raise ConfigError("KAFKA_BROKER / --broker is required (`monitor run` starts an embedded broker)")
        connect_timeout_s = load_settings(connect.ConnectSettings, args, os.environ).connect_timeout_seconds
        engine = load_engine(config)
    except (ConfigError, PolicyError, OSError) as exc:
        print(f"monitor worker: {exc}", file=sys.stderr)
        return 2
    from monitor.runtime.logging import configure_logging

    configure_logging(config.log.level, config.log.format)
    configure_gc()
    try:
        return asyncio.run(serve(config, engine, connect_timeout_s=connect_timeout_s))
    except (TopicsError, WorkerStartError) as exc:
        print(f"monitor worker: {exc}", file=sys.stderr)
        return 2
    except connect.BrokerUnreachable as exc:
        print(f"monitor worker: {exc}", file=sys.stderr)
        return connect.EXIT_UNREACHABLE_LONG_RUNNING
    except connect.CONNECTION_ERRORS:   # reached at first, then lost while starting
        bootstrap = config.kafka.bootstrap or ""
        print(f"monitor worker: {connect.unreachable(bootstrap)}", file=sys.stderr)
        return connect.EXIT_UNREACHABLE_LONG_RUNNING
    except WorkerFailure as exc:   # logged where it happened; the group moves the partitions on
        print(f"monitor worker: stopped: {exc}", file=sys.stderr)
        return 1
