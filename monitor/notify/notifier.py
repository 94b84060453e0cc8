"""The I/O shell: consume SLA events, plan deliveries, run one lane per target, record, then commit.

Guarantees (see README "Escalation notifications"):
- a delivery is recorded in the state topic before its input offset is committed;
- a (event_id, target) already recorded, or currently in flight, is never sent again;
- each lane (target) retries and folds bursts on its own, so a failing target never blocks another.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from monitor.contract import format_timestamp
from monitor.notify import burst
from monitor.notify.channels.alertmanager import AlertmanagerChannel
from monitor.notify.channels.base import Channel
from monitor.notify.contacts import Contacts
from monitor.notify.delivery import AttemptResult, Delivered, GiveUp, RetryLater, next_step
from monitor.notify.events import MET, NoticeError, parse_notice
from monitor.notify.ledger import ALERTMANAGER, DEAD_LETTERED, DELIVERED, DIGESTED, RESOLVED_BY_MET, DeliveryRecord, Ledger
from monitor.notify.metrics import (
    OUTCOME_DEAD_LETTERED,
    OUTCOME_DELIVERED,
    OUTCOME_DIGESTED,
    OUTCOME_DUPLICATE,
    OUTCOME_UNRESOLVED,
    NotifyMetrics,
)
from monitor.notify.offsets import CommitTracker
from monitor.notify.plan import Delivery, plan_deliveries
from monitor.notify.routing import ChannelSpec, Routing
from monitor.notify.state_store import StateStore
from monitor.runtime import kafka as kafka_clients
from monitor.runtime.settings import KafkaSettings
from monitor.runtime.topics import apply_topics, load_specs, require_topics

log = structlog.get_logger("monitor.notify")

DEFAULT_INPUT_TOPICS: tuple[str, ...] = ("sla-near-breaches", "sla-breaches", "sla-status")
DIGEST_NAMESPACE = uuid.UUID("a4a1f0a6-5b5e-4f35-8f43-6c1d3c2f9b10")
RECORD_RETRY_SECONDS = 1.0
#: Bound on asking the broker for a partition's position when reporting the consumer lag.
POSITION_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class NotifierConfig:
    """Kafka wiring and limits of one notifier process."""

    kafka: KafkaSettings
    group_id: str = "sla-notify"
    input_topics: tuple[str, ...] = DEFAULT_INPUT_TOPICS
    state_topic: str = "sla-notify-state"
    dead_letter_topic: str = "sla-notify-dead-letter"
    #: Create the state and dead-letter topics from topics/topics.toml when they are missing.
    create_topics: bool = True
    session_timeout_seconds: float = 10.0
    max_in_flight_messages: int = 1_000
    commit_interval_seconds: float = 0.5
    #: After a stop request, how long in-flight deliveries may still finish before the last commit.
    drain_seconds: float = 15.0


def utc_now() -> datetime:
    """Wall clock, UTC."""
    return datetime.now(timezone.utc)


def rfc3339(when: datetime) -> str:
    """UTC timestamp in the contract's format (monitor.contract.format_timestamp)."""
    return format_timestamp(when)


@dataclass
class Ticket:
    """One input message waiting for its deliveries to be recorded."""

    partition: TopicPartition
    offset: int
    remaining: int = 0


@dataclass
class Job:
    """One delivery in flight, and the input messages waiting on it."""

    delivery: Delivery
    taken_at: float
    tickets: list[Ticket] = field(default_factory=list)


class Lane:
    """Sequential delivery to one target, with burst folding; ordering per target is preserved."""

    def __init__(self, notifier: Notifier, name: str, spec: ChannelSpec) -> None:
        self.notifier = notifier
        self.name = name
        self.spec = spec
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.state: burst.BurstState[Job] = burst.BurstState()
        self.task = asyncio.create_task(self._run(), name=f"lane:{spec.name}")

    async def _run(self) -> None:
        clock = self.notifier.monotonic
        limit = self.spec.burst
        while True:
            due = burst.flush_due_at(limit, self.state)
            job: Job | None
            if due is None:
                job = await self.queue.get()
            else:
                try:
                    job = await asyncio.wait_for(self.queue.get(), timeout=max(0.0, due - clock()))
                except TimeoutError:
                    job = None
            try:
                if job is not None:
                    self.state, send_now = burst.admit(limit, self.state, job, clock())
                    if send_now:
                        await self.notifier.deliver(job)
                self.state, folded = burst.flush(limit, self.state, clock())
                if folded:
                    await self.notifier.deliver_digest(list(folded), self.spec)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not kill the lane; the job stays uncommitted and is retried on restart
                log.exception("lane_error", channel=self.spec.name)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.notifier.commit()
        for tp in revoked:
            self.notifier.tracker.forget(tp)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        # Another instance may have recorded deliveries for these partitions: read them first.
        await self.notifier.catch_up()


class Notifier:
    """Consumes SLA events and delivers them; construct, then `await run(stop_event)`."""

    def __init__(self, config: NotifierConfig, routing: Routing, contacts: Contacts, channels: Mapping[str, Channel],
                 metrics: NotifyMetrics, *, wall: Callable[[], datetime] = utc_now,
                 monotonic: Callable[[], float] = time.monotonic, rng: random.Random | None = None) -> None:
        self.config = config
        self.routing = routing
        self.contacts = contacts
        self.channels = channels
        self.metrics = metrics
        self.wall = wall
        self.monotonic = monotonic
        self.rng = rng or random.Random()
        self.ledger = Ledger()
        self.tracker = CommitTracker()
        self.lanes: dict[str, Lane] = {}
        self.inflight: dict[tuple[str, str], Job] = {}
        self.ready = asyncio.Event()
        self.stopping = False
        self._pending_commit: dict[TopicPartition, int] = {}
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._store: StateStore | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then drain in-flight deliveries for up to the grace period."""
        cfg = self.config
        # A missing topic (a typo in a name) must stop the start, not leave a ready notifier idle.
        own = [] if cfg.create_topics else [cfg.state_topic, cfg.dead_letter_topic]
        await require_topics(cfg.kafka, [*cfg.input_topics, *own])
        if cfg.create_topics:
            specs = load_specs({"notify_state": cfg.state_topic, "notify_dead_letter": cfg.dead_letter_topic})
            report = await apply_topics(cfg.kafka, specs)
            if report.created:
                log.info("topics_created", topics=report.created)
            for drift in report.drift:
                log.warning("topic_drift", detail=drift)
        self._producer = kafka_clients.producer(cfg.kafka, enable_idempotence=False, linger_ms=2)
        await self._producer.start()
        self._store = StateStore(cfg.kafka, cfg.state_topic, self._producer)
        session_ms = int(cfg.session_timeout_seconds * 1000)
        consumer = kafka_clients.consumer(
            cfg.kafka, group_id=cfg.group_id, auto_offset_reset="earliest", session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(100, session_ms // 4), rebalance_timeout_ms=session_ms,
        )
        self._consumer = consumer
        committer: asyncio.Task[None] | None = None
        try:
            await self._store.start()
            loaded = await self.catch_up()
            log.info("state_loaded", records=loaded, topic=cfg.state_topic)
            consumer.subscribe(list(cfg.input_topics), listener=_Rebalance(self))
            await consumer.start()
            committer = asyncio.create_task(self._commit_loop(), name="committer")
            self.ready.set()
            log.info("notifier_started", group=cfg.group_id, topics=list(cfg.input_topics))
            while not stop.is_set():
                self._apply_backpressure(consumer)
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                for tp, records in batches.items():
                    for record in records:
                        await self._take(tp, record)
                await self._observe_lag(consumer)
            log.info("notifier_stopping", in_flight=self.tracker.in_flight())
            self.stopping = True
            consumer.pause(*consumer.assignment())
            await self._drain(cfg.drain_seconds)
            await self.commit()
        finally:
            self.stopping = True
            for lane in self.lanes.values():
                lane.task.cancel()
            if committer is not None:
                committer.cancel()
            await asyncio.gather(*(lane.task for lane in self.lanes.values()), *( [committer] if committer else []),
                                 return_exceptions=True)
            for channel in self.channels.values():
                if isinstance(channel, AlertmanagerChannel):
                    await channel.close()   # stop re-posting: the alerts end at their endsAt unless a new run takes over
            await consumer.stop()
            await self._store.stop()
            await self._producer.stop()
            log.info("notifier_stopped")

    async def catch_up(self) -> int:
        """Read delivery records written since the last read (at start and on partition assignment)."""
        assert self._store is not None
        count = await self._store.catch_up(self.ledger)
        self.metrics.ledger_records.set(len(self.ledger.done))
        self._restore_alerts()
        return count

    def _restore_alerts(self) -> None:
        """Alertmanager channels take over the alerts the ledger says are firing (a previous run posted them)."""
        for name, channel in self.channels.items():
            if not isinstance(channel, AlertmanagerChannel):
                continue
            notices = {}
            for key, event in self.ledger.firing_alerts(name).items():
                try:
                    notices[key] = parse_notice(json.dumps(event).encode())
                except NoticeError as exc:
                    log.warning("alert_not_restorable", channel=name, case_id=key[0], reason=exc.reason)
            restored = channel.restore_firing(notices)
            if restored:
                log.info("alerts_restored", channel=name, alerts=restored)

    async def _observe_lag(self, consumer: AIOKafkaConsumer) -> None:
        """sla_notify_consumer_lag_messages: high watermark minus position, per assigned partition."""
        self.metrics.set_consumer_lag(await consumer_lags(consumer))

    def _apply_backpressure(self, consumer: AIOKafkaConsumer) -> None:
        assigned = consumer.assignment()
        if self.tracker.in_flight() >= self.config.max_in_flight_messages:
            consumer.pause(*assigned)
        else:
            consumer.resume(*assigned)
        self.metrics.in_flight.set(self.tracker.in_flight())

    async def _drain(self, grace_seconds: float) -> None:
        deadline = self.monotonic() + grace_seconds
        while self.tracker.in_flight() and self.monotonic() < deadline:
            await self.commit()
            await asyncio.sleep(0.05)

    # --- commits --------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.commit_interval_seconds)
            await self.commit()

    async def commit(self) -> None:
        """Commit, per partition, up to the first message whose deliveries are not all recorded."""
        if self._consumer is None:
            return
        for tp in self.tracker.partitions():
            position = self.tracker.committable(tp)
            if position is not None:
                self._pending_commit[tp] = position
        if not self._pending_commit:
            return
        offsets = {tp: OffsetAndMetadata(pos, "") for tp, pos in self._pending_commit.items()}
        try:
            await self._consumer.commit(offsets)
        except (KafkaError, AssertionError) as exc:
            log.warning("commit_failed", error=type(exc).__name__)
        finally:
            self._pending_commit.clear()
        self.metrics.in_flight.set(self.tracker.in_flight())

    # --- intake ---------------------------------------------------------------------------

    async def _take(self, tp: TopicPartition, record: Any) -> None:
        self.tracker.started(tp, record.offset)
        try:
            notice = parse_notice(record.value or b"")
        except NoticeError as exc:
            await self._dead_letter_invalid(tp, record, exc)
            self.tracker.finished(tp, record.offset)
            return
        plan = plan_deliveries(notice, self.routing, self.contacts, self.ledger)
        for recipient in plan.duplicates:
            self.metrics.notifications.labels(recipient.channel, OUTCOME_DUPLICATE).inc()
            log.info("duplicate_skipped", event_id=notice.event_id, case_id=notice.case_id, channel=recipient.channel)
        for recipient in plan.unresolved:
            self.metrics.notifications.labels(recipient.channel, OUTCOME_UNRESOLVED).inc()
            log.warning("contact_unresolved", event_id=notice.event_id, case_id=notice.case_id, channel=recipient.channel,
                        target=recipient.to)
        ticket = Ticket(tp, record.offset)
        taken_at = self.monotonic()
        for delivery in plan.deliveries:
            key = (notice.event_id, delivery.target)
            ticket.remaining += 1
            running = self.inflight.get(key)
            if running is not None:  # same event again while its delivery is still running
                running.tickets.append(ticket)
                continue
            job = Job(delivery=delivery, taken_at=taken_at, tickets=[ticket])
            self.inflight[key] = job
            if delivery.spec.kind in RESOLVED_BY_MET and notice.is_trigger:
                self.ledger.note_pending_trigger(delivery.target, notice)
            self._lane(delivery).queue.put_nowait(job)
        if ticket.remaining == 0:
            self.tracker.finished(tp, record.offset)

    def _lane(self, delivery: Delivery) -> Lane:
        lane = self.lanes.get(delivery.lane)
        if lane is None:
            lane = self.lanes[delivery.lane] = Lane(self, delivery.lane, delivery.spec)
        return lane

    # --- delivery -------------------------------------------------------------------------

    async def _attempts(self, spec: ChannelSpec, send: Callable[[], Any], log_fields: dict[str, Any]) -> Delivered | GiveUp:
        attempt = 1
        while True:
            result: AttemptResult = await send()
            step = next_step(spec.retry, attempt, result, self.rng.random())
            if isinstance(step, RetryLater):
                self.metrics.retries.labels(spec.name).inc()
                log.info("delivery_retry", attempt=attempt, delay_s=round(step.delay, 3), error=result.error, **log_fields)
                await asyncio.sleep(step.delay)
                attempt = step.attempt
                continue
            return step

    async def deliver(self, job: Job) -> None:
        """Deliver one event to one target with retries; record the outcome; release the input message."""
        d = job.delivery
        channel = self.channels[d.recipient.channel]
        fields = {"event_id": d.notice.event_id, "case_id": d.notice.case_id, "channel": d.spec.name}
        resolves: tuple[str, ...] = ()
        if d.spec.kind in RESOLVED_BY_MET and d.notice.type == MET:
            resolves = self.ledger.open_incidents(d.target, d.notice)
            if not resolves:  # the triggers it waited for were dead-lettered: nothing to resolve
                await self._finish([job], DELIVERED, attempts=0)
                return
        step = await self._attempts(d.spec, lambda: channel.send(d, self.wall(), resolves), fields)
        if isinstance(step, Delivered):
            self._count_success(job, OUTCOME_DELIVERED)
            log.info("delivered", attempts=step.attempts, resolves=len(resolves) or None, **fields)
            await self._finish([job], DELIVERED, attempts=step.attempts, resolves=resolves)
        else:
            await self._give_up([job], step)

    async def deliver_digest(self, jobs: Sequence[Job], spec: ChannelSpec) -> None:
        """Deliver folded events as one digest message (a single folded event goes out on its own)."""
        if len(jobs) == 1:
            await self.deliver(jobs[0])
            return
        channel = self.channels[spec.name]
        deliveries = [j.delivery for j in jobs]
        digest_id = str(uuid.uuid5(DIGEST_NAMESPACE, jobs[0].delivery.lane + "|" + "|".join(sorted(d.notice.event_id for d in deliveries))))
        window = spec.burst.per_seconds if spec.burst else 0.0
        fields = {"digest_id": digest_id, "channel": spec.name, "events": len(jobs)}
        step = await self._attempts(spec, lambda: channel.send_digest(deliveries, self.wall(), digest_id, window), fields)
        if isinstance(step, Delivered):
            for job in jobs:
                self._count_success(job, OUTCOME_DIGESTED)
            log.info("digest_delivered", attempts=step.attempts, **fields)
            await self._finish(jobs, DIGESTED, attempts=step.attempts, digest_id=digest_id)
        else:
            await self._give_up(jobs, step)

    def _count_success(self, job: Job, outcome: str) -> None:
        name = job.delivery.spec.name
        self.metrics.notifications.labels(name, outcome).inc()
        self.metrics.delivery_seconds.labels(name).observe(max(0.0, self.monotonic() - job.taken_at))

    async def _give_up(self, jobs: Sequence[Job], step: GiveUp) -> None:
        for job in jobs:
            d = job.delivery
            await self._write_until_done(self.config.dead_letter_topic, d.notice.case_id.encode(),
                                         json.dumps(self._dead_letter_value(d, step)).encode())
            self.metrics.notifications.labels(d.spec.name, OUTCOME_DEAD_LETTERED).inc()
            self.metrics.dead_letters.labels(d.spec.name).inc()
            log.warning("dead_lettered", event_id=d.notice.event_id, case_id=d.notice.case_id, channel=d.spec.name,
                        attempts=step.attempts, reason=step.reason, error=step.last_error)
        await self._finish(jobs, DEAD_LETTERED, attempts=step.attempts)

    def _dead_letter_value(self, d: Delivery, step: GiveUp) -> dict[str, Any]:
        return {
            "reason": "delivery_failed" if step.reason == "exhausted" else "delivery_rejected",
            "message": f"{d.spec.kind} channel {d.spec.name!r} gave up after {step.attempts} attempt(s)",
            "channel": d.spec.name, "kind": d.spec.kind, "target": d.target,
            "event_id": d.notice.event_id, "case_id": d.notice.case_id,
            "attempts": step.attempts, "last_error": step.last_error,
            "event": d.notice.raw, "failed_at": rfc3339(self.wall()),
        }

    async def _dead_letter_invalid(self, tp: TopicPartition, record: Any, exc: NoticeError) -> None:
        value = {
            "reason": "invalid_event", "detail": exc.reason, "message": str(exc),
            "source_topic": tp.topic, "partition": tp.partition, "offset": record.offset,
            "key_b64": base64.b64encode(record.key or b"").decode(), "value_b64": base64.b64encode(record.value or b"").decode(),
            "event_id": None, "case_id": None, "rejected_at": rfc3339(self.wall()),
        }
        await self._write_until_done(self.config.dead_letter_topic, record.key, json.dumps(value).encode())
        self.metrics.dead_letters.labels("-").inc()
        log.warning("invalid_event", topic=tp.topic, partition=tp.partition, offset=record.offset, reason=exc.reason)

    async def _finish(self, jobs: Sequence[Job], outcome: str, attempts: int,
                      resolves: tuple[str, ...] = (), digest_id: str | None = None) -> None:
        """Record each job's outcome (acks=all), then release the input messages waiting on it."""
        now = rfc3339(self.wall())
        records = [
            DeliveryRecord(event_id=j.delivery.notice.event_id, target=j.delivery.target, channel=j.delivery.spec.name,
                           kind=j.delivery.spec.kind, outcome=outcome, event_type=j.delivery.notice.type,
                           case_id=j.delivery.notice.case_id, metric=j.delivery.notice.metric, cycle=j.delivery.notice.cycle,
                           attempts=attempts, recorded_at=now, resolves=resolves, digest_id=digest_id,
                           event=j.delivery.notice.raw if _kept_for_repost(j.delivery, outcome) else None)
            for j in jobs
        ]
        await asyncio.gather(*(self._write_until_done(self.config.state_topic, r.key, r.to_json()) for r in records))
        for job, record in zip(jobs, records, strict=True):
            self.ledger.apply(record)
            self.inflight.pop((record.event_id, record.target), None)
            for ticket in job.tickets:
                ticket.remaining -= 1
                if ticket.remaining == 0:
                    self.tracker.finished(ticket.partition, ticket.offset)
        self.metrics.ledger_records.set(len(self.ledger.done))

    async def _write_until_done(self, topic: str, key: bytes | None, value: bytes) -> None:
        assert self._producer is not None
        while True:
            try:
                await self._producer.send_and_wait(topic, key=key, value=value)
                return
            except KafkaError as exc:
                log.error("kafka_write_failed", topic=topic, error=type(exc).__name__)
                await asyncio.sleep(RECORD_RETRY_SECONDS)


async def consumer_lags(consumer: AIOKafkaConsumer, timeout_s: float = POSITION_TIMEOUT_S) -> dict[tuple[str, int], int]:
    """High watermark minus position per assigned partition (left out: a position not known within `timeout_s`)."""
    lags: dict[tuple[str, int], int] = {}
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is None:
            continue
        try:  # position() may have to ask the broker: bounded, so a slow broker never stalls delivery
            position = await asyncio.wait_for(consumer.position(tp), timeout_s)
        except (TimeoutError, IllegalStateError, KafkaError):
            continue
        lags[(tp.topic, tp.partition)] = highwater - position
    return lags


def _kept_for_repost(delivery: Delivery, outcome: str) -> bool:
    """A trigger delivered to Alertmanager: its record keeps the event, so a restarted notifier re-posts it."""
    return delivery.spec.kind == ALERTMANAGER and outcome == DELIVERED and delivery.notice.is_trigger
