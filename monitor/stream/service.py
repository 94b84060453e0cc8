"""The worker process: a Worker plus its HTTP endpoints, signals and a bounded graceful stop."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

import structlog

from monitor.core.case import Engine
from monitor.core.policy import PolicyError
from monitor.runtime import connect
from monitor.stream.clock import Clock
from monitor.stream.config import ConfigError, WorkerConfig, add_arguments, config_from
from monitor.stream.observer import WorkerObserver
from monitor.stream.topics import TopicsError
from monitor.stream.worker import Worker, WorkerFailure, WorkerStartError, load_engine

log = structlog.get_logger("monitor.stream.worker")


async def serve(config: WorkerConfig, engine: Engine, clock: Clock | None = None,
                observer: WorkerObserver | None = None, install_signals: bool = True,
                stop: asyncio.Event | None = None, connect_timeout_s: float | None = None) -> int:
    """Run a worker (and its HTTP endpoints) until SIGTERM/SIGINT or `stop`; 0 on a clean stop.

    The worker waits for its brokers first (retrying, /readyz false), at most `connect_timeout_s`
    (None: as long as it takes); then BrokerUnreachable.
    """
    registry = None
    if observer is None and config.web_port:
        from prometheus_client import CollectorRegistry

        from monitor.observe.metrics import WorkerMetrics

        registry = CollectorRegistry()
        observer = WorkerMetrics(registry, engine.catalog, input_topics=config.topics.inputs)
    worker = Worker(config, engine, clock=clock, observer=observer)
    if install_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.request_stop)
    server = await _start_http(registry, worker, config) if registry is not None else None
    task = asyncio.create_task(_connect_then_run(worker, connect_timeout_s), name="sla-worker")
    stop_waiter = asyncio.create_task(worker._stopping.wait())
    relay = asyncio.create_task(_relay_stop(stop, worker)) if stop is not None else None
    code = 0
    try:
        await asyncio.wait({task, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            try:
                await asyncio.wait_for(task, config.shutdown_timeout_seconds)
            except TimeoutError:
                log.error("graceful stop exceeded its bound", seconds=config.shutdown_timeout_seconds)
                code = 1
        else:
            task.result()
    finally:
        stop_waiter.cancel()
        if relay is not None:
            relay.cancel()
        if server is not None:
            await server.stop()
    return code


async def _connect_then_run(worker: Worker, connect_timeout_s: float | None) -> None:
    if await connect.wait_for_kafka(worker.config.kafka.client_kwargs(), timeout_s=connect_timeout_s, stop=worker._stopping):
        await worker.run()


async def _relay_stop(stop: asyncio.Event, worker: Worker) -> None:
    await stop.wait()
    worker.request_stop()


async def _start_http(registry: Any, worker: Worker, config: WorkerConfig) -> Any:
    """Serve /metrics, /healthz, /readyz and /cases/{id} for this worker."""
    from monitor.observe.health import CheckResult, broker_reachable
    from monitor.observe.http import ObservabilityHttp

    def recovered() -> CheckResult:
        if not worker.recovered:
            return CheckResult(False, "no partitions assigned and recovered yet")
        return CheckResult(True, f"{len(worker.partitions)} partitions assigned and recovered")

    async def lookup(case_id: str) -> dict[str, Any] | None:
        return worker.case(case_id)

    from monitor.observe.peers import PeerCaseLookup

    server = ObservabilityHttp(
        registry,
        readiness={"broker": broker_reachable(config.kafka.bootstrap or ""), "partitions": recovered},
        case_lookup=lookup, peer_lookup=PeerCaseLookup(config.peers) if config.peers else None,
        metrics=worker.observer,  # type: ignore[arg-type]
    )
    port = await server.start(config.web_host, config.web_port)
    log.info("http listening", port=port)
    return server


def main(argv: list[str]) -> int:
    """`monitor worker [flags]`: run the worker until SIGTERM; exit 0 after a clean stop."""
    parser = argparse.ArgumentParser(prog="monitor worker", description="run the SLA worker on Kafka")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from(args, os.environ)
        if not config.kafka.bootstrap:
            raise ConfigError("KAFKA_BROKER / --broker is required (`monitor run` starts an embedded broker)")
        connect_timeout_s = connect.connect_timeout(os.environ)
        engine = load_engine(config)
    except (ConfigError, PolicyError, OSError, ValueError) as exc:
        print(f"monitor worker: {exc}", file=sys.stderr)
        return 2
    from monitor.observe.logging import configure_logging

    configure_logging(config.log_level)
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
