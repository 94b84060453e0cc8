"""`monitor run`: the main job on one machine; `monitor demo`: the demo feed alone.

`monitor run` starts the embedded broker when KAFKA_BROKER is unset, applies the topics, runs
the worker and a demo feed of realistic cases across every plan of the catalog, and shows
near-breaches and breaches as they reach their topics: a live table on a terminal, one line per
event otherwise. Time runs on a `ScaledClock` (default 600x: ten hours of business day per real
minute) injected into both the feed and the worker; nothing patches time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import heapq
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.core.case import Engine
from monitor.core.events import format_time, parse_event
from monitor.core.policy import PolicyError
from monitor.demo_view import EventView
from monitor.embedded_broker import free_port
from monitor.runtime import kafka as kafka_clients
from monitor.runtime.connect import EXIT_UNREACHABLE_ONE_SHOT, BrokerUnreachable, require_kafka
from monitor.runtime.settings import LogSettings
from monitor.runtime.settings import add_arguments as add_shared_arguments
from monitor.runtime.topics import TopicsError, add_topic_arguments, apply_topics, load_specs, require_topics
from monitor.stream.clock import Clock, ScaledClock, WallClock
from monitor.stream.config import ConfigError, KafkaSettings, TopicNames, WorkerConfig, WorkerEngineSettings, config_from
from monitor.stream.service import board_url, serve
from monitor.stream.worker import load_engine

DEFAULT_SCALE = 600.0
DEFAULT_RATE = 3.0   # cases per real second


def demo_start_us(now: datetime | None = None) -> int:
    """Where the demo clock starts: the latest Monday 06:00 UTC (business hours open in EMEA soon after)."""
    now = now or datetime.now(UTC)
    monday = (now - timedelta(days=now.weekday())).replace(hour=6, minute=0, second=0, microsecond=0)
    return int(monday.timestamp() * 1_000_000)


@dataclasses.dataclass(order=True)
class _Scheduled:
    due_us: int
    topic: str = dataclasses.field(compare=False)
    body: dict[str, Any] = dataclasses.field(compare=False)


class DemoFeed:
    """Realistic cases across every plan, priority and region; responses early, close or late."""

    def __init__(self, engine: Engine, clock: Clock, topics: TopicNames, seed: int = 7) -> None:
        self.engine = engine
        self.clock = clock
        self.topics = topics
        self.rng = random.Random(seed)
        self.cells = [(plan_id, priority, region)
                      for plan_id, plan in engine.catalog.plans.items()
                      for priority in plan.priorities
                      for region in engine.catalog.regions]
        self.pending: list[_Scheduled] = []
        self.count = 0

    def new_case(self) -> list[tuple[str, dict[str, Any]]]:
        """A case-created now, with its later updates scheduled; returns what to send now."""
        now = self.clock.now_us()
        plan, priority, region = self.rng.choice(self.cells)
        self.count += 1
        case_id = f"C{self.count:06d}"
        body = {"event_id": f"{case_id}-created", "case_id": case_id, "occurred_at": format_time(now), "plan": plan,
                "priority": priority, "region": region, "customer_id": self.rng.choice(["acme", "globex", "initech", "umbrella"]),
                "product": self.rng.choice(["analytics", "target", "campaign", "exchange", "sharepoint"])}
        created = parse_event("case-created", json.dumps(body).encode())
        step = self.engine.apply(None, created, now)  # type: ignore[arg-type]
        due = self.engine.due_at(step.state, "first_response") if step.state is not None else None
        span = (due - now) if due is not None else 4 * 3600 * 1_000_000
        roll = self.rng.random()
        if roll < 0.5:
            answer = self.rng.uniform(0.1, 0.7)        # comfortably in time
        elif roll < 0.75:
            answer = self.rng.uniform(0.76, 0.98)      # near-breach, then answered
        elif roll < 0.9:
            answer = self.rng.uniform(1.05, 1.6)       # late
        else:
            answer = None                              # never answered while the demo runs
        if answer is not None:
            at = now + int(span * answer)
            self._schedule(at, {"event_id": f"{case_id}-r1", "case_id": case_id, "agent_response": True})
            self._schedule(at + int(self.rng.uniform(0.5, 6) * 3600 * 1_000_000),
                           {"event_id": f"{case_id}-resolved", "case_id": case_id, "status": "resolved"})
        return [(self.topics.case_created, body)]

    def _schedule(self, at_us: int, body: dict[str, Any]) -> None:
        heapq.heappush(self.pending, _Scheduled(at_us, self.topics.case_updated, body))

    def due_updates(self) -> list[tuple[str, dict[str, Any]]]:
        """Updates whose time has come on the clock, stamped with their occurred_at."""
        now = self.clock.now_us()
        out = []
        while self.pending and self.pending[0].due_us <= now:
            item = heapq.heappop(self.pending)
            out.append((item.topic, {**item.body, "occurred_at": format_time(item.due_us)}))
        return out

    async def run(self, kafka: KafkaSettings, rate: float, stop: asyncio.Event) -> None:
        """Produce cases at `rate` per real second and their updates on time, until `stop`."""
        producer = kafka_clients.producer(kafka, linger_ms=5)
        try:
            await producer.start()
            next_case = time.monotonic()
            while not stop.is_set():
                batch = self.due_updates()
                if time.monotonic() >= next_case:
                    batch += self.new_case()
                    next_case += 1.0 / rate
                for topic, body in batch:
                    await producer.send(topic, json.dumps(body).encode(), key=body["case_id"].encode())
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.05)
            await producer.flush()
        finally:
            await producer.stop()


class EventFollower:
    """Follows the output topics into an EventView until the worker has stopped, then drains them."""

    def __init__(self, topics: TopicNames, view: EventView) -> None:
        self.topics = topics
        self.view = view

    async def run(self, kafka: KafkaSettings, done: asyncio.Event, clock: Clock, feed: DemoFeed) -> None:
        """Show events as they land until `done`; then read what is left, show it all, draw the last frame."""
        consumer = kafka_clients.consumer(kafka, self.topics.near_breaches, self.topics.breaches, self.topics.status,
                                          group_id=None, auto_offset_reset="latest")
        try:
            await consumer.start()
            last_redraw = 0.0
            while True:
                finishing = done.is_set()
                batch = await consumer.getmany(timeout_ms=200 if not finishing else 1000)
                for records in batch.values():
                    for record in records:
                        self.view.add(json.loads(record.value))
                if finishing and not batch:
                    break
                self.view.release(clock.now_us())
                if time.monotonic() - last_redraw > 0.5:
                    self.view.redraw(clock.now_us(), feed.count)
                    last_redraw = time.monotonic()
        finally:
            self.view.release()
            self.view.redraw(clock.now_us(), feed.count)
            await consumer.stop()


def _positive(text: str) -> float:
    """argparse type: a finite number > 0 (a rate or scale of 0 would divide by zero or stop time)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number > 0")
    return value


def _parser(prog: str, description: str, roles: Sequence[str], logging: bool) -> argparse.ArgumentParser:
    """This command's options only: the feed's, --policies, the Kafka connection, (logging,) topic names."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    feed = parser.add_argument_group("demo feed")
    feed.add_argument("--duration", type=_positive, default=None, help="stop after this many real seconds")
    feed.add_argument("--scale", type=_positive, default=None, help=f"clock speed-up (run: {DEFAULT_SCALE:g}, demo: 1)")
    feed.add_argument("--rate", type=_positive, default=DEFAULT_RATE, help="new cases per real second")
    feed.add_argument("--seed", type=int, default=7, help="random seed of the demo feed")
    add_shared_arguments(feed, WorkerEngineSettings, names=["policies"])
    add_shared_arguments(parser.add_argument_group("Kafka connection"), KafkaSettings)
    if logging:
        add_shared_arguments(parser.add_argument_group("logging"), LogSettings)
    add_topic_arguments(parser.add_argument_group("topic names"), roles)
    return parser


async def _apply(config: WorkerConfig) -> None:
    report = await apply_topics(config.kafka, load_specs(config.topics.by_role()))
    for line in report.lines():
        print(f"topics: {line}", file=sys.stderr)


def _stop_after(loop: asyncio.AbstractEventLoop, stop: asyncio.Event, duration: float | None) -> None:
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)


async def _run_all(config: WorkerConfig, engine: Engine, scale: float, rate: float, seed: int, duration: float | None) -> int:
    clock: Clock = ScaledClock(demo_start_us(), scale) if scale != 1 else WallClock()
    stop = asyncio.Event()
    _stop_after(asyncio.get_running_loop(), stop, duration)
    await _apply(config)
    feed = DemoFeed(engine, clock, config.topics, seed)
    # hold each event two real seconds so that events of all topics and partitions show in time order
    view = EventView(sys.stdout, scale, clock.now_us(), hold_us=int(2_000_000 * scale))
    worker_done = asyncio.Event()
    follower = asyncio.create_task(EventFollower(config.topics, view).run(config.kafka, worker_done, clock, feed))
    worker = asyncio.create_task(serve(config, engine, clock=clock, install_signals=False, stop=stop))
    produce = asyncio.create_task(feed.run(config.kafka, rate, stop))
    try:
        code = await worker
    finally:
        stop.set()
        await produce
        worker_done.set()
        await follower
    print(f"demo: {feed.count} cases; {view.totals()}", file=sys.stderr)
    return code


def main(argv: list[str]) -> int:
    """`monitor run`: embedded broker (unless KAFKA_BROKER), topics, worker, demo feed, live view."""
    args = _parser("monitor run", "the main job: worker + demo feed on a virtual clock, on an embedded broker "
                   "unless KAFKA_BROKER is set", list(TopicNames().by_role()), logging=True).parse_args(argv)
    env = dict(os.environ)
    env.setdefault("MONITOR_WEB_PORT", str(free_port()))   # serves the board; 0 turns HTTP off
    env.setdefault("MONITOR_WEB_HOST", "127.0.0.1")
    try:
        config = config_from(args, env)
        engine = load_engine(config)
    except (ConfigError, PolicyError, OSError) as exc:
        print(f"monitor run: {exc}", file=sys.stderr)
        return 2
    from monitor.runtime.logging import configure_logging

    # quieter than the worker by default: the demo prints its own progress
    explicit = getattr(args, "LogSettings.level", None) or os.environ.get("MONITOR_LOG_LEVEL")
    configure_logging(config.log.level if explicit else "WARNING", config.log.format, stream=sys.stderr)
    broker = None
    if not config.kafka.bootstrap:
        from monitor.embedded_broker import BrokerStartError, EmbeddedBroker

        try:
            broker = EmbeddedBroker().start()
        except BrokerStartError as exc:
            print(f"monitor run: {exc}", file=sys.stderr)
            return 2
        print(f"embedded broker (tansu, memory storage) on {broker.bootstrap}", file=sys.stderr)
        config = dataclasses.replace(config, kafka=config.kafka.with_bootstrap(broker.bootstrap))
    try:
        if broker is None:
            asyncio.run(require_kafka(config.kafka.client_kwargs()))
        if config.web_port:
            print(f"escalation board: {board_url(config.web_host, config.web_port)}", file=sys.stderr, flush=True)
        return asyncio.run(_run_all(config, engine, args.scale or DEFAULT_SCALE, args.rate, args.seed, args.duration))
    except BrokerUnreachable as exc:
        print(f"monitor run: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE_ONE_SHOT
    finally:
        if broker is not None:
            broker.stop()


def demo_main(argv: list[str]) -> int:
    """`monitor demo`: only the demo feed, to the configured broker (real time unless --scale)."""
    args = _parser("monitor demo", "only the demo feed: realistic cases to the input topics of KAFKA_BROKER",
                   ("case_created", "case_updated"), logging=False).parse_args(argv)
    try:
        config = config_from(args, os.environ)
        if not config.kafka.bootstrap:
            raise ConfigError("KAFKA_BROKER / --broker is required for `monitor demo` (`monitor run` starts one)")
        engine = load_engine(config)
    except (ConfigError, PolicyError, OSError) as exc:
        print(f"monitor demo: {exc}", file=sys.stderr)
        return 2

    async def feed_only() -> int:
        scale = args.scale or 1.0
        clock: Clock = ScaledClock(int(time.time() * 1_000_000), scale) if scale != 1 else WallClock()
        stop = asyncio.Event()
        _stop_after(asyncio.get_running_loop(), stop, args.duration)
        feed = DemoFeed(engine, clock, config.topics, args.seed)
        await require_kafka(config.kafka.client_kwargs())
        await require_topics(config.kafka, list(config.topics.inputs))
        await feed.run(config.kafka, args.rate, stop)
        print(f"demo: produced {feed.count} cases", file=sys.stderr)
        return 0

    try:
        return asyncio.run(feed_only())
    except BrokerUnreachable as exc:
        print(f"monitor demo: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE_ONE_SHOT
    except TopicsError as exc:
        print(f"monitor demo: {exc}", file=sys.stderr)
        return 2
