"""`monitor worker`: the SLA engine on real topics.

One asyncio task runs the loop: fetch a batch of input records, decode each into a core event
(or a dead letter), apply it through the engine, tick the deadline indexes, then flush: SLA
events and dead letters first (awaited), then the changed case states to the changelog
(awaited), then commit the input offsets. A crash anywhere replays from the last commit; the
engine ignores events it already applied (by event_id) and emitted events carry deterministic
ids, so replays give duplicates with the same event_id and never lose an event.

Partitions: a consumer group over both input topics with the range assignor (same partition
number of both topics to the same member). On assignment a partition's cases are restored from
the compacted changelog and its deadline index rebuilt; on revocation the pending work is
flushed and committed, then the partition's cases and timers are dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from monitor.core.case import CaseState, Engine, Step
from monitor.core.events import TOPIC_CREATED, TOPIC_UPDATED, Rejection, parse_event
from monitor.core.policy import Catalog, PolicyError, bundled_catalog, load_catalog
from monitor.stream.clock import Clock, WallClock
from monitor.stream.codec import decode_key, decode_state, encode_key, encode_sla_event, encode_state, record_source
from monitor.stream.config import ConfigError, WorkerConfig, add_arguments, config_from
from monitor.stream.dead_letter import dead_letter_record
from monitor.stream.observer import NullObserver, WorkerObserver
from monitor.stream.partition import PartitionState
from monitor.stream.topics import TopicsError, check_copartitioned

log = structlog.get_logger("monitor.stream.worker")

#: Cases fired per partition per tick; the rest fire on the next loop turn.
MAX_FIRES_PER_TICK = 50_000
#: Key mismatch: the record key must be the case_id, or co-partitioning breaks.
KEY_MISMATCH = "key_mismatch"
#: Producer request limit: room for a dead letter carrying a 1 MiB value in base64.
MAX_REQUEST_BYTES = 4 * 1024 * 1024


#: Loop turns whose writes may be in flight at once (at-least-once pipeline depth).
MAX_FLUSH_JOBS_IN_FLIGHT = 2


@dataclass
class _FlushJob:
    """One loop turn's writes: outputs already sent, changelog to write after them, offsets to commit last."""

    sent: list[Any]
    changelog: list[tuple[int, str, bytes | None]]
    offsets: dict[TopicPartition, int]


class WorkerStartError(RuntimeError):
    """The worker cannot start (topics, broker or settings); the message says why."""


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self.worker._on_revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self.worker._on_assigned({tp.partition for tp in assigned})


class Worker:
    """The Kafka shell around one Engine: consume, apply, fire, produce, commit."""

    def __init__(
        self,
        config: WorkerConfig,
        engine: Engine,
        clock: Clock | None = None,
        observer: WorkerObserver | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock: Clock = clock or WallClock()
        self.observer: WorkerObserver = observer or NullObserver()
        self._track_cases = hasattr(self.observer, "move_case")
        topics = config.topics
        self._kind = {topics.case_created: TOPIC_CREATED, topics.case_updated: TOPIC_UPDATED}
        self.partitions: dict[int, PartitionState] = {}
        self._outbox: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]] = []
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._restorer: AIOKafkaConsumer | None = None
        self._jobs: asyncio.Queue[_FlushJob] = asyncio.Queue(maxsize=MAX_FLUSH_JOBS_IN_FLIGHT)
        self._flusher: asyncio.Task[None] | None = None
        self.partition_count = 0
        self.recovered = False
        self.started = asyncio.Event()
        #: Tick cost so far: number of ticks, total and worst seconds (for benchmarks and logs).
        self.tick_count = 0
        self.tick_total_s = 0.0
        self.tick_max_s = 0.0
        #: Input records handled since start (any outcome).
        self.records_handled = 0

    # ------------------------------------------------------------------ lifecycle

    def request_stop(self) -> None:
        """Ask the loop to stop consuming, flush, commit and return (signal-safe)."""
        self._stopping.set()

    @property
    def exactly_once(self) -> bool:
        """Whether outputs, state and offsets are written in one Kafka transaction."""
        return self.config.processing_guarantee == "exactly_once"

    async def start(self) -> None:
        """Check the topics, start the producer, the changelog reader and the group consumer."""
        kafka = self.config.kafka
        self.partition_count = await check_copartitioned(kafka, self.config.topics)
        producer_args: dict[str, Any] = dict(acks="all", linger_ms=5, max_request_size=MAX_REQUEST_BYTES,
                                             max_batch_size=512 * 1024, request_timeout_ms=30000)
        if self.exactly_once:
            producer_args["transactional_id"] = self.config.transactional_id or f"{self.config.group_id}-worker"
            producer_args["enable_idempotence"] = True
        self._producer = AIOKafkaProducer(**kafka.client_kwargs(), **producer_args)
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            if self.exactly_once:
                raise WorkerStartError(
                    f"exactly_once needs a broker with idempotent producers and transactions "
                    f"(InitProducerId failed: {exc!r}); use MONITOR_PROCESSING_GUARANTEE=at_least_once"
                ) from exc
            raise
        isolation = "read_committed" if self.exactly_once else "read_uncommitted"
        self._restorer = AIOKafkaConsumer(
            **kafka.client_kwargs(), group_id=None, enable_auto_commit=False, isolation_level=isolation,
            max_partition_fetch_bytes=self.config.max_fetch_bytes, fetch_max_wait_ms=50,
        )
        await self._restorer.start()
        session_ms = int(self.config.session_timeout_seconds * 1000)
        self._consumer = AIOKafkaConsumer(
            **kafka.client_kwargs(),
            group_id=self.config.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level=isolation,
            partition_assignment_strategy=(RangePartitionAssignor,),
            max_partition_fetch_bytes=self.config.max_fetch_bytes,
            fetch_max_bytes=max(50 * 1024 * 1024, self.config.max_fetch_bytes),
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(100, session_ms // 4),
            rebalance_timeout_ms=max(session_ms, 60000),
            max_poll_interval_ms=300000,
        )
        await self._consumer.start()
        self._consumer.subscribe(list(self.config.topics.inputs), listener=_Rebalance(self))
        log.info("worker started", group_id=self.config.group_id, partitions=self.partition_count,
                 guarantee=self.config.processing_guarantee)
        self.started.set()

    async def run(self) -> None:
        """Run until request_stop(); then flush, commit and leave the group."""
        await self.start()
        try:
            await self._loop()
        finally:
            await self._shutdown()

    async def _loop(self) -> None:
        assert self._consumer is not None
        tick_s = self.config.tick_seconds
        next_tick = time.monotonic()
        while not self._stopping.is_set():
            wait_s = max(0.0, next_tick - time.monotonic())
            batch = await self._consumer.getmany(timeout_ms=int(wait_s * 1000), max_records=self.config.max_batch_records)
            async with self._lock:
                for tp, records in batch.items():
                    self._process(tp, records)
                if time.monotonic() >= next_tick:
                    await self._refresh_lag()
                    began = time.perf_counter()
                    more = self._tick()
                    spent = time.perf_counter() - began
                    self.tick_count += 1
                    self.tick_total_s += spent
                    self.tick_max_s = max(self.tick_max_s, spent)
                    next_tick = time.monotonic() + (0 if more else tick_s)
                await self._flush()
                if self._flusher is not None and self._flusher.done():
                    await self._drain()   # raises what stopped the flusher

    async def _shutdown(self) -> None:
        try:
            async with self._lock:
                await self._flush()
                await self._drain()
        finally:
            if self._flusher is not None:
                self._flusher.cancel()
            for client in (self._consumer, self._restorer, self._producer):
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.stop()
            log.info("worker stopped")

    # ------------------------------------------------------------------ records

    def _process(self, tp: TopicPartition, records: list[Any]) -> None:
        part = self.partitions.get(tp.partition)
        if part is None:  # revoked between fetch and processing: the new owner reads it
            return
        kind = self._kind[tp.topic]
        observer = self.observer
        wall = self.clock.now_us()
        newest_ts = 0
        for record in records:
            part.next_offsets[tp.topic] = record.offset + 1
            if record.timestamp and record.timestamp > newest_ts:
                newest_ts = record.timestamp
            value = record.value if record.value is not None else b""
            source = record_source(tp.topic, tp.partition, record.offset, record.key, record.value)
            event = parse_event(kind, value, source)
            if not isinstance(event, Rejection):
                part.observe(tp.topic, event.occurred_at)
                if decode_key(record.key) != event.case_id:
                    event = Rejection(KEY_MISMATCH, "the record key must be the case_id (UTF-8), so that all "
                                      "events of a case land on the same partition",
                                      event.event_id, event.case_id, source)
            if isinstance(event, Rejection):
                self._dead_letter(event, wall)
                observer.on_consumed(tp.topic, "dead_letter")
                continue
            case_id = event.case_id
            raw = part.cases.get(case_id)
            state = decode_state(raw) if raw is not None else None
            duplicate = state is not None and event.event_id in state.seen
            before = self._footprint(state)
            step = self.engine.apply(state, event, part.apply_time(wall))
            self._absorb(part, case_id, raw, step, wall, before)
            observer.on_consumed(tp.topic, "duplicate" if duplicate else "applied")
        self.records_handled += len(records)
        if newest_ts:
            observer.set_last_event_timestamp(newest_ts / 1000)

    def _footprint(self, state: CaseState | None) -> Any:
        if not self._track_cases:
            return None
        from monitor.observe.metrics import case_footprint

        return case_footprint(state)

    def _absorb(self, part: PartitionState, case_id: str, raw: bytes | None, step: Step, wall: int,
                before: Any, timer: bool = False) -> None:
        """Queue the step's outputs and dead letters, store its state, update the case's timer."""
        for event in step.emitted:
            key, value, headers, body = encode_sla_event(event)
            self._outbox.append((self.config.topics.output_for(event.topic_kind), key, value, headers))
            self.observer.on_emitted(body)
            if timer:
                self.observer.on_fire_delay((wall - event.at) / 1_000_000)
        for rejection in step.rejections:
            self._dead_letter(rejection, wall)
        if step.state is None:
            if raw is not None:
                del part.cases[case_id]
                part.dirty[case_id] = None
            part.index.set(case_id, None)
        else:
            encoded = encode_state(step.state)
            if encoded != raw:
                part.cases[case_id] = encoded
                part.dirty[case_id] = encoded
            part.index.set(case_id, step.next_due_us)
        if self._track_cases:
            self.observer.move_case(part.number, before, self._footprint(step.state))  # type: ignore[attr-defined]

    def _dead_letter(self, rejection: Rejection, wall: int) -> None:
        key, value = dead_letter_record(rejection, wall)
        self._outbox.append((self.config.topics.dead_letter, key, value, []))
        self.observer.on_dead_letter(rejection.reason)
        source = rejection.source or {}
        log.info("dead letter", reason=rejection.reason, case_id=rejection.case_id, event_id=rejection.event_id,
                 topic=source.get("topic"), partition=source.get("partition"), offset=source.get("offset"))

    # ------------------------------------------------------------------ timers

    def _tick(self) -> bool:
        """Fire what is due on every partition; True when a partition has more due right now."""
        wall = self.clock.now_us()
        more = False
        pending = 0
        for part in self.partitions.values():
            fire_at = part.fire_time(wall)
            if fire_at is not None:
                due = part.index.pop_due(fire_at, limit=MAX_FIRES_PER_TICK)
                more = more or len(due) == MAX_FIRES_PER_TICK
                for case_id in due:
                    raw = part.cases.get(case_id)
                    if raw is None:
                        continue
                    state = decode_state(raw)
                    before = self._footprint(state)
                    step = self.engine.tick(state, fire_at)
                    self._absorb(part, case_id, raw, step, wall, before, timer=True)
            pending += len(part.index)
            seen = part.stream_time()
            if seen is not None:
                self.observer.set_stream_lag(part.number, (wall - seen) / 1_000_000)
        self.observer.set_timers_pending(pending)
        return more

    async def _refresh_lag(self) -> None:
        """Mark which input partitions still have unread records (position < end)."""
        consumer = self._consumer
        assert consumer is not None
        for part in self.partitions.values():
            lagging = set()
            for topic in self.config.topics.inputs:
                tp = TopicPartition(topic, part.number)
                end = consumer.last_stable_offset(tp) if self.exactly_once else consumer.highwater(tp)
                try:
                    position = await asyncio.wait_for(consumer.position(tp), 1.0)
                except (TimeoutError, IllegalStateError, KafkaError):
                    position = None
                if end is None or position is None or position < end:
                    lagging.add(topic)
                if end is not None:
                    committed = part.committed.get(topic, position if position is not None else end)
                    self.observer.set_consumer_lag(topic, part.number, end - committed)
            part.lagging = lagging

    # ------------------------------------------------------------------ output

    async def _flush(self) -> None:
        """Hand this turn's work to the flush pipeline (at-least-once) or commit it in one transaction."""
        producer = self._producer
        assert producer is not None
        offsets: dict[TopicPartition, int] = {}
        for part in self.partitions.values():
            for topic, offset in part.next_offsets.items():
                if part.enqueued.get(topic) != offset:
                    offsets[TopicPartition(topic, part.number)] = offset
                    part.enqueued[topic] = offset
        changelog = [(part.number, case_id, value) for part in self.partitions.values()
                     for case_id, value in part.dirty.items()]
        for part in self.partitions.values():
            part.dirty = {}
        outbox, self._outbox = self._outbox, []
        if not outbox and not offsets and not changelog:
            return
        if self.exactly_once:
            async with producer.transaction():
                await asyncio.gather(*await self._send_outputs(producer, outbox))
                await asyncio.gather(*await self._send_changelog(producer, changelog))
                if offsets:
                    await producer.send_offsets_to_transaction(offsets, self.config.group_id)
            self._mark_committed(offsets)
            return
        sent = await self._send_outputs(producer, outbox)
        await self._jobs.put(_FlushJob(sent, changelog, offsets))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._run_flusher(), name="sla-flusher")

    async def _drain(self) -> None:
        """Wait until every queued flush job is written and committed; re-raise a flusher failure."""
        if self._flusher is not None and not self._flusher.done():
            waiter = asyncio.create_task(self._jobs.join())
            await asyncio.wait({waiter, self._flusher}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        if self._flusher is not None and self._flusher.done() and self._flusher.exception() is not None:
            raise self._flusher.exception()  # type: ignore[misc]

    async def _run_flusher(self) -> None:
        """In order, per job: outputs acknowledged -> changelog written and acknowledged -> offsets committed."""
        producer, consumer = self._producer, self._consumer
        assert producer is not None and consumer is not None
        while True:
            job = await self._jobs.get()
            try:
                if job.sent:
                    await asyncio.gather(*job.sent)
                changelog = await self._send_changelog(producer, job.changelog)
                if changelog:
                    await asyncio.gather(*changelog)
                if job.offsets:
                    try:
                        await consumer.commit(job.offsets)
                    except CommitFailedError as exc:  # rebalanced: the new owner replays from the last commit
                        log.warning("commit failed, partitions moved", error=str(exc))
                    else:
                        self._mark_committed(job.offsets)
            finally:
                self._jobs.task_done()

    def _mark_committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            part = self.partitions.get(tp.partition)
            if part is not None:
                part.committed[tp.topic] = offset

    async def _send_outputs(self, producer: AIOKafkaProducer,
                            outbox: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]) -> list[Any]:
        return [await producer.send(topic, value=value, key=key, headers=headers) for topic, key, value, headers in outbox]

    async def _send_changelog(self, producer: AIOKafkaProducer, records: list[tuple[int, str, bytes | None]]) -> list[Any]:
        topic = self.config.topics.changelog
        return [await producer.send(topic, value=value, key=encode_key(case_id), partition=number)
                for number, case_id, value in records]

    # ------------------------------------------------------------------ rebalancing

    async def _on_revoked(self, numbers: set[int]) -> None:
        async with self._lock:
            try:
                await self._flush()
                await self._drain()
            except KafkaError as exc:
                log.warning("flush on revoke failed; the new owner replays from the last commit", error=repr(exc))
            for number in numbers:
                if self.partitions.pop(number, None) is not None:
                    self.observer.forget_partition(number)
            log.info("partitions revoked", partitions=sorted(numbers))

    async def _on_assigned(self, numbers: set[int]) -> None:
        async with self._lock:
            new = sorted(n for n in numbers if n not in self.partitions)
            started = time.monotonic()
            restored = await self._restore(new)
            for number, part in restored.items():
                part.lagging = set(self.config.topics.inputs)
                self.partitions[number] = part
            self.recovered = True
            log.info("partitions assigned", partitions=sorted(numbers), restored=new,
                     cases=sum(len(p.cases) for p in restored.values()),
                     seconds=round(time.monotonic() - started, 3))

    async def _restore(self, numbers: list[int]) -> dict[int, PartitionState]:
        """Read the changelog partitions to their end into fresh PartitionStates; rebuild timers."""
        parts = {n: PartitionState(n) for n in numbers}
        if not numbers:
            return parts
        restorer = self._restorer
        assert restorer is not None
        tps = [TopicPartition(self.config.topics.changelog, n) for n in numbers]
        restorer.assign(tps)
        await restorer.seek_to_beginning(*tps)
        # Done when the position reaches the high watermark of a fetch response. (ListOffsets is
        # not used: tansu 0.6 answers it with the last batch's base offset + 1, not the end.)
        remaining = set(tps)
        while remaining:
            batch = await restorer.getmany(*remaining, timeout_ms=200, max_records=50_000)
            for tp, records in batch.items():
                cases = parts[tp.partition].cases
                for record in records:
                    case_id = decode_key(record.key)
                    if case_id is None:
                        continue
                    if record.value is None:
                        cases.pop(case_id, None)
                    else:
                        cases[case_id] = record.value
            for tp in list(remaining):
                end = restorer.last_stable_offset(tp) if self.exactly_once else restorer.highwater(tp)
                if end is not None and await restorer.position(tp) >= end:
                    remaining.discard(tp)
        restorer.assign([])
        for part in parts.values():
            part.index.bulk_load(self._due_entries(part.cases))
            self.observer.rebuild_partition(part.number, (decode_state(raw) for raw in part.cases.values())
                                            if self._track_cases else ())
        return parts

    def _due_entries(self, cases: Mapping[str, bytes]) -> Iterable[tuple[str, int]]:
        next_due = self.engine.next_due
        for case_id, raw in cases.items():
            due = next_due(decode_state(raw))
            if due is not None:
                yield case_id, due

    # ------------------------------------------------------------------ queries

    def case(self, case_id: str) -> dict[str, Any] | None:
        """The stored state of a case owned by this worker (JSON-able), with its next due instant."""
        for part in self.partitions.values():
            raw = part.cases.get(case_id)
            if raw is not None:
                state = decode_state(raw)
                due = part.index.due_of(case_id)
                return {"partition": part.number, "next_due_us": due, "state": state.to_dict()}
        return None


# ---------------------------------------------------------------------- entry point


def load_engine(config: WorkerConfig) -> Engine:
    """The engine for the configured catalog (MONITOR_POLICIES or the bundled one)."""
    catalog: Catalog = load_catalog(config.policies) if config.policies else bundled_catalog()
    return Engine(catalog, hold_seconds=config.hold_seconds)


async def serve(config: WorkerConfig, engine: Engine, clock: Clock | None = None,
                observer: WorkerObserver | None = None, install_signals: bool = True,
                stop: asyncio.Event | None = None) -> int:
    """Run a worker (and its HTTP endpoints) until SIGTERM/SIGINT or `stop`; 0 on a clean stop."""
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
    task = asyncio.create_task(worker.run(), name="sla-worker")
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

    server = ObservabilityHttp(
        registry,
        readiness={"broker": broker_reachable(config.kafka.bootstrap or ""), "partitions": recovered},
        case_lookup=lookup, metrics=worker.observer,  # type: ignore[arg-type]
    )
    port = await server.start(config.web_host, config.web_port)
    log.info("http listening", port=port)
    return server


def main(argv: list[str]) -> int:
    """`monitor worker [flags]`: run the worker until SIGTERM; exit 0 after a clean stop."""
    parser = argparse.ArgumentParser(prog="monitor worker", description="run the SLA worker on Kafka")
    add_arguments(parser)
    args = parser.parse_args(argv)
    import os

    try:
        config = config_from(args, os.environ)
        if not config.kafka.bootstrap:
            raise ConfigError("KAFKA_BROKER / --broker is required (`monitor run` starts an embedded broker)")
        engine = load_engine(config)
    except (ConfigError, PolicyError, OSError) as exc:
        print(f"monitor worker: {exc}", file=sys.stderr)
        return 2
    from monitor.observe.logging import configure_logging

    configure_logging(config.log_level)
    try:
        return asyncio.run(serve(config, engine))
    except (TopicsError, WorkerStartError) as exc:
        print(f"monitor worker: {exc}", file=sys.stderr)
        return 2
