"""`monitor worker`: the SLA engine on real topics.

One asyncio task runs the loop: fetch a batch of input records, decode each into a core event
(or a dead letter; case-created partitions of the batch before case-updated ones), apply it
through the engine, fire the timers that are due, then flush: SLA
events and dead letters first (awaited), then the changed case states to the changelog
(awaited), then commit the input offsets. A crash anywhere replays from the last commit; the
engine ignores events it already applied (by event_id) and emitted events carry deterministic
ids, so replays give duplicates with the same event_id and never lose an event. Between turns
the loop sleeps until the next input record, the earliest due instant of its partitions' deadline
indexes, or the periodic lag check (MONITOR_TICK_SECONDS), whichever comes first: a timer fires
at its instant, not on the next tick, and an idle worker does not poll.

Partitions: a consumer group over both input topics with the range assignor (same partition
number of both topics to the same member). On assignment a partition's cases are restored from
the compacted changelog and its deadline index rebuilt; on revocation the pending work is
flushed and committed, then the partition's cases and timers are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import msgspec
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from monitor.core.case import CaseState, Engine, Step
from monitor.core.events import (
    FUTURE_TIMESTAMP,
    KEY_MISMATCH,
    PROCESSING_ERROR,
    TOPIC_CREATED,
    TOPIC_UPDATED,
    CaseUpdated,
    Rejection,
    format_time,
    parse_event,
)
from monitor.core.policy import Catalog, bundled_catalog, load_catalog
from monitor.observe.metrics import case_footprint
from monitor.runtime import kafka as kafka_clients
from monitor.runtime.heap import trim_heap
from monitor.runtime.topics import TopicsError
from monitor.stream.batching import Record, send_batched
from monitor.stream.changelog import POSITION_HEADER, encode_position, restore
from monitor.stream.clock import US_PER_S, Clock, ScaledClock, WallClock
from monitor.stream.codec import decode_key, encode_key, encode_sla_event, encode_state, record_source
from monitor.stream.config import WorkerConfig
from monitor.stream.dead_letter import dead_letter_record
from monitor.stream.due_index import clock_entries
from monitor.stream.observer import NullObserver, WorkerObserver
from monitor.stream.partition import PartitionState
from monitor.stream.store import MemoryStore, open_store
from monitor.stream.table import decode_stored, holds_state
from monitor.stream.topics import check_copartitioned

log = structlog.get_logger("monitor.stream.worker")

#: Cases fired per partition per tick; the rest fire on the next loop turn.
MAX_FIRES_PER_TICK = 50_000
#: Where a timer goes when the engine re-arms it at or before its firing instant (a bug guard, see _tick).
STUCK_TIMER_RETRY_US = 1_000_000
#: Cases whose decoded state the worker keeps for their next record (the oldest stored goes first);
#: ~1.2 KB each, so ~5 MB at most.
HOT_CASES_MAX = 4096
#: Producer request limit: room for a dead letter carrying a 1 MiB value in base64.
MAX_REQUEST_BYTES = 4 * 1024 * 1024


#: Loop turns whose writes may be in flight at once (at-least-once pipeline depth).
MAX_FLUSH_JOBS_IN_FLIGHT = 2
#: Longest wait for records before the loop looks at the stop request again.
MAX_IDLE_WAIT_S = 0.5
#: Attempts at writing one turn (outputs, then changelog) before the worker stops with exit 1.
MAX_WRITE_ATTEMPTS = 3
#: Pause between two attempts at writing a turn.
WRITE_RETRY_BACKOFF_S = 1.0
#: Bound on the membership check (a commit of already-committed offsets) after a stall.
MEMBERSHIP_CHECK_TIMEOUT_S = 10.0
#: Seconds between two checks that the topics still exist with their partition counts.
TOPIC_CHECK_INTERVAL_S = 10.0
#: Seconds between two log lines repeating a topic problem.
TOPIC_PROBLEM_LOG_EVERY_S = 60.0
#: Records handled after which the next idle loop turn returns the freed C heap to the system.
TRIM_AFTER_RECORDS = 20_000
#: A turn is idle when it waited at least this long for records and none came.
IDLE_TURN_S = 0.1




class _SourceLater:
    """The `source` a record's event is parsed with until something needs the real one (see _handle)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SOURCE_LATER"


#: Stands for the record's source in its parsed event and rejections; never stored, never encoded.
SOURCE_LATER = _SourceLater()

_Sourced = TypeVar("_Sourced", CaseUpdated, Rejection)


def with_source(item: _Sourced, source: dict[str, Any]) -> _Sourced:
    """A copy of an update or a rejection that carries `source`."""
    return msgspec.structs.replace(item, source=source)

Output = tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]
#: (partition, case_id, encoded state or None for a tombstone, position header value)
ChangelogRecord = tuple[int, str, bytes | None, bytes]


@dataclass
class _Turn:
    """One loop turn's writes: outputs first, then the changelog, then the input offsets."""

    outputs: list[Output]
    changelog: list[ChangelogRecord]
    offsets: dict[TopicPartition, int]
    #: at-least-once: the producer futures of `outputs` sent when the turn was queued.
    sent: list[Any] | None = None


class WorkerStartError(RuntimeError):
    """The worker cannot start (topics, broker or settings); the message says why."""


class WorkerFailure(RuntimeError):
    """The worker cannot go on safely (e.g. an assigned partition could not be restored)."""


class WriteFailure(WorkerFailure):
    """A turn's writes failed MAX_WRITE_ATTEMPTS times: stop, so a restart replays from the last commit."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
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
        self._track_cases = bool(self.observer.tracks_cases)
        topics = config.topics
        self._kind = {topics.case_created: TOPIC_CREATED, topics.case_updated: TOPIC_UPDATED}
        self._max_skew_us = int(config.max_clock_skew_seconds * 1_000_000)
        self.partitions: dict[int, PartitionState] = {}
        #: case_id -> (its stored value, that value decoded, its footprint) of the cases stored last:
        #: a case's next record skips decoding, in this fetch or a later one (see _handle).
        self._hot: OrderedDict[str, tuple[bytes, CaseState, Any]] = OrderedDict()
        self._outbox: list[Output] = []
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._restorer: AIOKafkaConsumer | None = None
        self._jobs: asyncio.Queue[_Turn] = asyncio.Queue(maxsize=MAX_FLUSH_JOBS_IN_FLIGHT)
        self._flusher: asyncio.Task[None] | None = None
        #: Set by a rebalance callback that failed (aiokafka only logs listener errors); the loop raises it.
        self._failure: WorkerFailure | None = None
        self.partition_count = 0
        self.recovered = False
        self.started = asyncio.Event()
        #: Tick cost so far: number of ticks, total and worst seconds (for benchmarks and logs).
        self.tick_count = 0
        self.tick_total_s = 0.0
        self.tick_max_s = 0.0
        #: Input records handled since start (any outcome).
        self.records_handled = 0
        self._records_at_trim = 0
        #: Times this worker found it had lost its partitions and dropped their unwritten work.
        self.fenced_count = 0
        #: Why the topics are not usable (missing, partition count changed), or None; for /readyz.
        self.topic_problem: str | None = None
        self._topic_watch: asyncio.Task[None] | None = None

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
                                             max_batch_size=512 * 1024, request_timeout_ms=int(self.config.request_timeout_seconds * 1000))
        if self.exactly_once:
            producer_args["transactional_id"] = self.config.transactional_id or f"{self.config.group_id}-worker"
            producer_args["enable_idempotence"] = True
        self._producer = kafka_clients.producer(kafka, **producer_args)
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
        self._restorer = kafka_clients.consumer(
            kafka, group_id=None, enable_auto_commit=False, isolation_level=isolation,
            max_partition_fetch_bytes=self.config.max_fetch_bytes, fetch_max_wait_ms=50,
        )
        await self._restorer.start()
        session_ms = int(self.config.session_timeout_seconds * 1000)
        self._consumer = kafka_clients.consumer(
            kafka,
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
        self._topic_watch = asyncio.create_task(self._watch_topics(), name="sla-topic-watch")
        log.info("worker started", group_id=self.config.group_id, partitions=self.partition_count,
                 guarantee=self.config.processing_guarantee)
        self.started.set()

    async def run(self) -> None:
        """Run until request_stop(); then flush, commit and leave the group."""
        try:
            await self.start()
            await self._loop()
        finally:
            await self._shutdown()

    async def _loop(self) -> None:
        assert self._consumer is not None
        tick_s = self.config.tick_seconds
        next_tick = time.monotonic()
        turn_began = time.monotonic()
        while not self._stopping.is_set():
            # Sleep until the next input, the earliest due timer, or the periodic lag check.
            wait_s = min(max(0.0, next_tick - time.monotonic()), self._timer_wait_s(), MAX_IDLE_WAIT_S)
            batch = await self._consumer.getmany(timeout_ms=math.ceil(wait_s * 1000),
                                                 max_records=self.config.max_batch_records)
            batch = await self._with_fetched_creations(batch)
            if not batch:
                self._on_idle(wait_s)
            async with self._lock:
                if self._failure is not None:
                    raise self._failure
                # After a stall (SIGSTOP, GC pause, VM freeze, CPU throttling) the group may have
                # moved the partitions: confirm membership before this turn produces anything.
                if not await self._confirm_membership(time.monotonic() - turn_began):
                    batch = {}
                turn_began = time.monotonic()
                self._process_batch(batch)
                lag_check = time.monotonic() >= next_tick
                if lag_check:
                    await self._refresh_lag()
                    next_tick = time.monotonic() + tick_s
                if lag_check or self._timer_wait_s() == 0:
                    began = time.perf_counter()
                    self._tick()   # more still due (over MAX_FIRES_PER_TICK): the next wait is 0
                    spent = time.perf_counter() - began
                    self.tick_count += 1
                    self.tick_total_s += spent
                    self.tick_max_s = max(self.tick_max_s, spent)
                if not await self._confirm_membership(time.monotonic() - turn_began):
                    continue
                await self._flush()
                if self._flusher is not None and self._flusher.done():
                    await self._drain()   # raises what stopped the flusher

    async def _shutdown(self) -> None:
        try:
            if self.started.is_set() and self._failure is None:   # after a failure: write nothing more
                async with self._lock:
                    await self._flush()
                    await self._drain()
        finally:
            for task in (self._flusher, self._topic_watch):
                if task is not None:
                    task.cancel()
            if self._consumer is not None:
                _leave_group_even_in_generation_zero(self._consumer)
            for part in self.partitions.values():
                part.cases.close()
            for client in (self._consumer, self._restorer, self._producer):
                if client is not None:
                    await _stop_client(client)
            log.info("worker stopped", ticks=self.tick_count, tick_max_s=round(self.tick_max_s, 6),
                     tick_mean_s=round(self.tick_total_s / self.tick_count, 6) if self.tick_count else None,
                     records=self.records_handled)

    # ------------------------------------------------------------------ records

    async def _with_fetched_creations(self, batch: dict[TopicPartition, list[Any]]) -> dict[TopicPartition, list[Any]]:
        """Add the case-created records the client already holds for the partitions whose updates are in `batch`.

        `getmany` stops at `max_records`, so the updates of a partition can come out of the client
        one call ahead of the creations it fetched with them; they would be held as updates of
        unknown cases and replayed later. Taking the held-back creations now (no wait: only what
        is already fetched) lets `_process_batch` apply them first. Each partition keeps its order.
        """
        consumer = self._consumer
        assert consumer is not None
        created = self.config.topics.case_created
        wanted = {TopicPartition(created, tp.partition) for tp in batch if self._kind.get(tp.topic) == TOPIC_UPDATED}
        if not wanted:
            return batch
        more = await consumer.getmany(*wanted, timeout_ms=0)
        for tp, records in more.items():
            batch[tp] = batch[tp] + records if tp in batch else records
        return batch

    def _process_batch(self, batch: Mapping[TopicPartition, list[Any]]) -> None:
        """Handle one fetch: the case-created partitions first, then the case-updated ones.

        An update fetched together with its case's creation is then applied to the case, instead
        of being held as an update for an unknown case (its bytes kept in a placeholder state) and
        replayed when the creation follows. The order within each partition is kept.
        """
        for tp, records in sorted(batch.items(), key=self._updates_last):
            self._process(tp, records)

    def _updates_last(self, item: tuple[TopicPartition, list[Any]]) -> bool:
        return self._kind[item[0].topic] == TOPIC_UPDATED

    def _process(self, tp: TopicPartition, records: list[Any]) -> None:
        part = self.partitions.get(tp.partition)
        if part is None:  # revoked between fetch and processing: the new owner reads it
            return
        kind = self._kind[tp.topic]
        observer = self.observer
        wall = self.clock.now_us()
        newest_ts = 0
        outcomes: dict[str, int] = {}
        next_offsets = part.next_offsets
        try:
            for record in records:
                if record.timestamp and record.timestamp > newest_ts:
                    newest_ts = record.timestamp
                try:
                    outcome = self._handle(part, tp, kind, record, wall)
                except Exception as exc:  # no record may stop the worker: it becomes a dead letter
                    self._hot.clear()   # a state the engine was changing when it raised is not reused
                    outcome = self._processing_error(tp, record, exc, wall)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                # Only now, with the record's outcome queued for the same flush, may its offset be committed.
                next_offsets[tp.topic] = record.offset + 1
        finally:
            for outcome, count in outcomes.items():
                observer.on_consumed(tp.topic, outcome, count)
        self.records_handled += len(records)
        if newest_ts:
            observer.set_last_event_timestamp(newest_ts / 1000)

    def _handle(self, part: PartitionState, tp: TopicPartition, kind: str, record: Any, wall: int) -> str:
        """Decode, check, apply and queue one input record; returns its consumed outcome."""
        value = record.value if record.value is not None else b""
        key_case = decode_key(record.key)
        raw = part.cases.get(key_case) if key_case is not None else None
        # The record's source (where it came from and its bytes in base64) is built only for what
        # carries it: a dead letter, or an update the engine may hold until its case exists.
        held = kind == TOPIC_UPDATED and raw is None
        event = parse_event(kind, value, self._source(tp, record) if held else SOURCE_LATER)
        if isinstance(event, Rejection):
            return self._reject_record(event, tp, record, wall)
        if event.occurred_at > wall + self._max_skew_us:
            return self._reject_record(Rejection(
                FUTURE_TIMESTAMP, f"occurred_at {format_time(event.occurred_at)} is more than "
                f"{self.config.max_clock_skew_seconds:g}s after the worker's clock ({format_time(wall)})",
                event.event_id, event.case_id), tp, record, wall)
        if key_case != event.case_id:
            return self._reject_record(Rejection(
                KEY_MISMATCH, "the record key must be the case_id (UTF-8), so that all events of a case land "
                "on the same partition", event.event_id, event.case_id), tp, record, wall)
        part.observe(tp.topic, event.occurred_at)
        case_id = event.case_id
        hot = self._hot.get(case_id) if raw is not None else None
        state: CaseState | None
        if hot is not None and hot[0] is raw:   # the table still holds the very value stored with it: exact
            state, before = hot[1], hot[2]
        else:
            state = decode_stored(raw) if raw is not None else None
            before = case_footprint(state) if self._track_cases else None
        if state is not None:
            if event.event_id in state.seen:
                return "duplicate"   # Engine.apply changes nothing for an event it already applied
            if state.plan is None and isinstance(event, CaseUpdated):   # another update held for this unknown case
                event = with_source(event, self._source(tp, record))
        step = self.engine.apply(state, event, part.apply_time(wall), emitted_at=wall)
        rejected = False
        if step.rejections:
            step.rejections = [self._with_source(rejection, tp, record) for rejection in step.rejections]
            rejected = any(rejection.event_id == event.event_id for rejection in step.rejections)
        self._absorb(part, case_id, raw, step, wall, before)
        return "dead_letter" if rejected else "applied"

    def _source(self, tp: TopicPartition, record: Any) -> dict[str, Any]:
        """The `source` of an input record (what a dead letter and a held update carry)."""
        return record_source(tp.topic, tp.partition, record.offset, record.key, record.value)

    def _with_source(self, rejection: Rejection, tp: TopicPartition, record: Any) -> Rejection:
        """The rejection of the record being handled with its source filled in (others unchanged)."""
        if rejection.source is SOURCE_LATER:
            return with_source(rejection, self._source(tp, record))
        return rejection

    def _reject_record(self, rejection: Rejection, tp: TopicPartition, record: Any, wall: int) -> str:
        """Dead-letter the record being handled for this rejection (its source filled in)."""
        self._dead_letter(with_source(rejection, self._source(tp, record)), wall)
        return "dead_letter"

    def _processing_error(self, tp: TopicPartition, record: Any, exc: Exception, wall: int) -> str:
        """Dead-letter a record whose handling raised (a bug or an input no check foresaw)."""
        log.error("record raised while processing; dead-lettered", error=type(exc).__name__,
                  topic=tp.topic, partition=tp.partition, offset=record.offset)
        detail = str(exc)[:200].encode("utf-8", "backslashreplace").decode()
        return self._reject_record(Rejection(PROCESSING_ERROR, f"{type(exc).__name__}: {detail}"), tp, record, wall)

    def _absorb(self, part: PartitionState, case_id: str, raw: bytes | None, step: Step, wall: int,
                before: Any, timer: bool = False) -> None:
        """Queue the step's outputs and dead letters, store its state, update the case's timer, keep it decoded."""
        # Encode first: if anything here raises, nothing of the step has been queued yet.
        output_for = self.config.topics.output_for
        encoded = encode_state(step.state) if step.state is not None else None
        changed = encoded is not None and (raw is None or not holds_state(raw, encoded))
        clocks = clock_entries(self.engine, step.state) if changed else None
        for event in step.emitted:
            key, value, headers = encode_sla_event(event)
            self._outbox.append((output_for(event.topic_kind), key, value, headers))
            self.observer.on_emitted(event)
            if timer:
                self.observer.on_fire_delay((wall - event.at) / 1_000_000)
        for rejection in step.rejections:
            self._dead_letter(rejection, wall)
        stored = part.store(case_id, raw, encoded, step.next_due_us, clocks, popped=timer)   # encoded None: the case is dropped
        after = None
        if self._track_cases:
            after = case_footprint(step.state)
            if after is not before:
                self.observer.move_case(part.number, before, after)
        # The case's next record (this fetch or a later one) skips decoding while the table holds `stored`.
        hot_cases = self._hot
        if stored is None or step.state is None or not isinstance(part.cases, MemoryStore):
            hot_cases.pop(case_id, None)
        else:
            if case_id in hot_cases:
                hot_cases.move_to_end(case_id)   # stored again: now the newest
            elif len(hot_cases) >= HOT_CASES_MAX:
                hot_cases.popitem(last=False)
            hot_cases[case_id] = (stored, step.state, after)

    def _dead_letter(self, rejection: Rejection, wall: int) -> None:
        key, value = dead_letter_record(rejection, wall)
        self._outbox.append((self.config.topics.dead_letter, key, value, []))
        self.observer.on_dead_letter(rejection.reason)
        source = rejection.source or {}
        log.info("dead letter", reason=rejection.reason, case_id=rejection.case_id, event_id=rejection.event_id,
                 topic=source.get("topic"), partition=source.get("partition"), offset=source.get("offset"))

    # ------------------------------------------------------------------ timers

    def _timer_wait_s(self) -> float:
        """Real seconds until a timer of some partition may fire: 0 now, inf when only input can make one fire."""
        wall = self.clock.now_us()
        wait: int | None = None
        for part in self.partitions.values():
            part_wait = part.timer_wait_us(wall)
            if part_wait is not None and (wait is None or part_wait < wait):
                wait = part_wait
        if wait is None:
            return math.inf
        return self.clock.to_real_seconds(wait / US_PER_S) if isinstance(self.clock, ScaledClock) else wait / US_PER_S

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
                    hot = self._hot.get(case_id)
                    if hot is not None and hot[0] is raw:   # the state decoded when `raw` was stored (see _handle)
                        state, before = hot[1], hot[2]
                    else:
                        state = decode_stored(raw)
                        before = case_footprint(state) if self._track_cases else None
                    try:
                        step = self.engine.tick(state, fire_at, emitted_at=wall)
                    except Exception:  # leave the case without a timer rather than fail every tick
                        log.exception("engine failed on a timer", case_id=case_id, partition=part.number)
                        self._hot.pop(case_id, None)   # the engine may have changed the state before raising
                        part.disarm(case_id, raw)
                        continue
                    if step.next_due_us is not None and step.next_due_us <= fire_at:
                        # Engine.tick promises a next due instant after `fire_at`; one at or before it
                        # would be popped again at once and spin the loop. Keep the case, retry in 1 s.
                        log.error("engine re-armed a timer that is already due; retrying in 1 s",
                                  case_id=case_id, partition=part.number)
                        step = replace(step, next_due_us=fire_at + STUCK_TIMER_RETRY_US)
                    self._absorb(part, case_id, raw, step, wall, before, timer=True)
            pending += len(part.index)
            seen = part.stream_time()
            if seen is not None:
                self.observer.set_stream_lag(part.number, (wall - seen) / 1_000_000)
        self.observer.set_timers_pending(pending)
        return more

    async def _watch_topics(self) -> None:
        """Every 10 s: are both inputs and the changelog there, with the partition count we started with?

        While not, `topic_problem` says why (/readyz turns not ready) and a log line repeats it once a
        minute. When they are back the worker stops (WorkerFailure, exit 1): a broker that lost its
        topics lost the changelog and offsets too, so the state in memory no longer matches; the
        restart rebuilds it from what the broker has now.
        """
        last_logged = 0.0
        while True:
            await asyncio.sleep(TOPIC_CHECK_INTERVAL_S)
            try:
                count = await check_copartitioned(self.config.kafka, self.config.topics, timeout_s=TOPIC_CHECK_INTERVAL_S)
                problem = None if count == self.partition_count else (
                    f"partition count changed from {self.partition_count} to {count}")
            except TopicsError as exc:
                problem = str(exc)
            except (KafkaError, OSError, TimeoutError):
                continue   # broker unreachable: the broker check of /readyz says so
            if problem is not None:
                if self.topic_problem is None or time.monotonic() - last_logged >= TOPIC_PROBLEM_LOG_EVERY_S:
                    log.error("topics not usable; not ready", problem=problem)
                    last_logged = time.monotonic()
                self.topic_problem = problem
            elif self.topic_problem is not None:
                log.error("topics are back after a problem; stopping so that a restart rebuilds the state",
                          problem=self.topic_problem)
                self._failure = WorkerFailure(f"topics changed under the worker ({self.topic_problem}); restart needed")
                return

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
        """Write this turn's work: one transaction (exactly-once) or the ordered pipeline (at-least-once)."""
        failed = self._flusher_failure()
        if failed is not None:  # never go on past a turn whose writes failed
            raise failed
        turn = self._take_turn()
        if turn is None:
            return
        if self.exactly_once:
            await self._write_transaction(turn)
        else:
            await self._enqueue(turn)

    def _take_turn(self) -> _Turn | None:
        """Collect what this turn wrote: outputs, changed states (with their position), new offsets."""
        offsets: dict[TopicPartition, int] = {}
        changelog: list[ChangelogRecord] = []
        inputs = self.config.topics.inputs
        for part in self.partitions.values():
            for topic, offset in part.next_offsets.items():
                if part.enqueued.get(topic) != offset:
                    offsets[TopicPartition(topic, part.number)] = offset
                    part.enqueued[topic] = offset
            if part.dirty:
                position = encode_position(part.position(inputs))
                changelog.extend((part.number, case_id, value, position) for case_id, value in part.dirty.items())
                part.dirty = {}
        outputs, self._outbox = self._outbox, []
        if not outputs and not offsets and not changelog:
            return None
        return _Turn(outputs, changelog, offsets)

    # -- exactly-once: outputs, state and offsets in one Kafka transaction

    async def _write_transaction(self, turn: _Turn) -> None:
        """Send everything record by record inside one transaction, offsets included, and commit it."""
        producer = self._producer
        assert producer is not None
        async with producer.transaction():
            sent = [await producer.send(topic, value=value, key=key, headers=headers)
                    for topic, key, value, headers in turn.outputs]
            sent += [await producer.send(self.config.topics.changelog, value=value, key=encode_key(case_id),
                                         partition=number, headers=[(POSITION_HEADER, position)])
                     for number, case_id, value, position in turn.changelog]
            await asyncio.gather(*sent)
            if turn.offsets:
                await producer.send_offsets_to_transaction(turn.offsets, self.config.group_id)
        self._mark_committed(turn.offsets)

    # -- at-least-once: outputs acknowledged -> changelog acknowledged -> offsets committed, pipelined

    async def _enqueue(self, turn: _Turn) -> None:
        """Send the turn's outputs now and queue the rest for the flusher (at most two turns in flight)."""
        try:
            turn.sent = await self._send_outputs(turn.outputs)
        except KafkaError as exc:  # refused when handed over (metadata, buffer): the flusher retries the turn
            log.warning("write failed; retrying the turn", attempt=0, error=repr(exc))
            turn.sent = None
        await self._jobs.put(turn)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._run_flusher(), name="sla-flusher")

    async def _run_flusher(self) -> None:
        """In order, per turn: outputs acknowledged -> changelog written and acknowledged -> offsets committed."""
        consumer = self._consumer
        assert consumer is not None
        while True:
            turn = await self._jobs.get()
            try:
                await self._write_turn(turn)
                if turn.offsets:
                    try:
                        await consumer.commit(turn.offsets)
                    except CommitFailedError as exc:  # rebalanced: the new owner replays from the last commit
                        log.warning("commit failed, partitions moved", error=str(exc))
                    else:
                        self._mark_committed(turn.offsets)
            finally:
                self._jobs.task_done()

    async def _write_turn(self, turn: _Turn) -> None:
        """Outputs then changelog, acknowledged; the whole turn again on failure, MAX_WRITE_ATTEMPTS in all.

        Resending outputs gives duplicates under the same event_id, never a loss. After the last
        attempt: WriteFailure, which stops the worker (exit 1) before any later offset is committed.
        """
        for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
            try:
                if turn.sent is None:
                    turn.sent = await self._send_outputs(turn.outputs)
                await asyncio.gather(*turn.sent)
                await asyncio.gather(*await self._send_changelog(turn.changelog))
                return
            except KafkaError as exc:
                turn.sent = None
                if attempt == MAX_WRITE_ATTEMPTS:
                    log.error("writes failed; stopping so that a restart replays from the last commit",
                              attempts=attempt, error=repr(exc), outputs=len(turn.outputs), changelog=len(turn.changelog))
                    raise WriteFailure(f"a turn's writes failed {attempt} times, last with {exc!r}; "
                                       "nothing past it was committed") from exc
                log.warning("write failed; retrying the turn", attempt=attempt, error=repr(exc))
                await asyncio.sleep(WRITE_RETRY_BACKOFF_S)

    async def _send_outputs(self, outputs: list[Output]) -> list[Any]:
        producer = self._producer
        assert producer is not None
        return await send_batched(producer, [(topic, None, key, value, headers) for topic, key, value, headers in outputs])

    async def _send_changelog(self, records: list[ChangelogRecord]) -> list[Any]:
        producer = self._producer
        assert producer is not None
        topic = self.config.topics.changelog
        # A turn's records of one partition share their position: one headers list for all of them.
        headers: dict[bytes, list[tuple[str, bytes]]] = {}
        batch: list[Record] = []
        for number, case_id, value, position in records:
            position_headers = headers.get(position)
            if position_headers is None:
                position_headers = headers[position] = [(POSITION_HEADER, position)]
            batch.append((topic, number, encode_key(case_id), value, position_headers))
        return await send_batched(producer, batch)

    async def _drain(self) -> None:
        """Wait until every queued flush job is written and committed; re-raise a flusher failure."""
        if self._flusher is not None and not self._flusher.done():
            waiter = asyncio.create_task(self._jobs.join())
            await asyncio.wait({waiter, self._flusher}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        failed = self._flusher_failure()
        if failed is not None:
            raise failed

    def _flusher_failure(self) -> BaseException | None:
        """The error that stopped the flusher, if one did (it is otherwise only cancelled, by shutdown)."""
        flusher = self._flusher
        if flusher is None or not flusher.done() or flusher.cancelled():
            return None
        return flusher.exception()

    async def _reset_pipeline(self) -> None:
        """Forget every queued flush job and the flusher (after all partitions were dropped).

        Used when a flush on revocation failed or membership was lost: the jobs still queued
        belong to partitions this worker no longer owns; committing them later could skip past
        writes that never landed. Their owner (maybe this worker again) replays from the last commit.
        """
        flusher, self._flusher = self._flusher, None
        if flusher is not None and not flusher.done():
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await flusher
        self._jobs = asyncio.Queue(maxsize=MAX_FLUSH_JOBS_IN_FLIGHT)
        self._outbox = []

    def _mark_committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            part = self.partitions.get(tp.partition)
            if part is not None:
                part.committed[tp.topic] = offset

    # ------------------------------------------------------------------ membership (fencing)

    def _fenced_locally(self) -> bool:
        """Whether the consumer already knows it lost its membership (a heartbeat or commit was
        answered UnknownMemberId/IllegalGeneration and aiokafka reset the member id)."""
        coordinator = getattr(self._consumer, "_coordinator", None)
        if coordinator is None or not self.partitions:
            return False
        return not coordinator.member_id or coordinator.generation < 0

    async def _confirm_membership(self, turn_s: float) -> bool:
        """True when this worker may write for its partitions; else drop them and their pending writes.

        Every turn: the consumer's own view (cheap). After a turn that took more than half the
        session timeout (the process may have been stopped past its session): a commit of the
        already-committed offsets, which the coordinator refuses (UnknownMemberId,
        IllegalGeneration, RebalanceInProgress) when the group has moved on without us.
        """
        if not self.partitions:
            return True
        reason = "the consumer lost its group membership" if self._fenced_locally() else None
        if reason is None and turn_s > self.config.session_timeout_seconds / 2:
            reason = await self._membership_refused(turn_s)
        if reason is None:
            return True
        await self._drop_partitions(reason)
        return False

    async def _membership_refused(self, turn_s: float) -> str | None:
        """Commit the offsets already committed (or assigned at) for every partition; why it failed, or None."""
        consumer = self._consumer
        assert consumer is not None
        offsets = {TopicPartition(topic, part.number): part.committed.get(topic, part.base_offsets.get(topic, 0))
                   for part in self.partitions.values() for topic in self.config.topics.inputs}
        try:
            await asyncio.wait_for(consumer.commit(offsets), MEMBERSHIP_CHECK_TIMEOUT_S)
        except (CommitFailedError, IllegalStateError, KafkaError, TimeoutError) as exc:
            return f"membership check after a {turn_s:.1f}s stall failed: {type(exc).__name__}"
        log.info("membership confirmed after a stall", seconds=round(turn_s, 1))
        return None

    async def _drop_partitions(self, reason: str) -> None:
        """Forget every partition, its unwritten outputs, states and offsets; the group reassigns them."""
        numbers = sorted(self.partitions)
        log.warning("fenced: dropping the partitions and their unwritten work; rejoining the group",
                    reason=reason, partitions=numbers, outputs=len(self._outbox))
        await self._reset_pipeline()
        self._hot.clear()
        for number in numbers:
            part = self.partitions.pop(number)
            part.cases.close()
            self.observer.forget_partition(number)
        self.fenced_count += 1
        coordinator = getattr(self._consumer, "_coordinator", None)
        if coordinator is not None:   # make sure the consumer rejoins (and the restore runs) at the next fetch
            coordinator.request_rejoin()

    # ------------------------------------------------------------------ rebalancing

    async def _on_revoked(self, numbers: set[int]) -> None:
        async with self._lock:
            if self._fenced_locally():   # another member may own these partitions already: write nothing
                await self._drop_partitions("revoked after the group dropped this member")
                log.info("partitions revoked", partitions=sorted(numbers))
                return
            try:
                await self._flush()
                await self._drain()
            except Exception as exc:
                log.warning("flush on revoke failed; the new owner replays from the last commit", error=repr(exc))
                # Eager rebalancing revokes every partition, so nothing queued is still ours to commit.
                await self._reset_pipeline()
            finally:
                self._hot.clear()   # the decoded states of the revoked partitions' cases are not kept
                for number in numbers:
                    part = self.partitions.pop(number, None)
                    if part is not None:
                        part.cases.close()
                        self.observer.forget_partition(number)
            log.info("partitions revoked", partitions=sorted(numbers))

    async def _on_assigned(self, numbers: set[int]) -> None:
        async with self._lock:
            new = sorted(n for n in numbers if n not in self.partitions)
            started = time.monotonic()
            try:
                restored = await self._restore(new)
            except Exception as exc:
                # aiokafka logs and swallows listener errors: the partitions would stay assigned to
                # the consumer with no state here, their records read and skipped. Stop instead.
                log.exception("restore of assigned partitions failed", partitions=new)
                self._failure = WorkerFailure(f"restore of partitions {new} failed: {exc!r}")
                raise
            for number, part in restored.items():
                part.lagging = set(self.config.topics.inputs)
                part.base_offsets = await self._committed_offsets(number)
                self.partitions[number] = part
            self.recovered = True
            if new:
                self._trim_heap()
            log.info("partitions assigned", partitions=sorted(numbers), restored=new,
                     cases=sum(len(p.cases) for p in restored.values()),
                     seconds=round(time.monotonic() - started, 3))

    async def _committed_offsets(self, number: int) -> dict[str, int]:
        """The group's committed offset of each input topic's partition `number` (where reading resumes)."""
        consumer = self._consumer
        assert consumer is not None
        found: dict[str, int] = {}
        for topic in self.config.topics.inputs:
            try:
                offset = await asyncio.wait_for(consumer.committed(TopicPartition(topic, number)), MEMBERSHIP_CHECK_TIMEOUT_S)
            except (KafkaError, TimeoutError) as exc:
                log.warning("committed offset unknown; changelog positions start at 0", topic=topic,
                            partition=number, error=type(exc).__name__)
                offset = None
            found[topic] = offset if offset is not None else 0
        return found

    async def _restore(self, numbers: list[int]) -> dict[int, PartitionState]:
        """Fresh PartitionStates filled from the changelog, with their deadline indexes rebuilt."""
        parts = {n: PartitionState(n, cases=open_store(self.config.table_store, self.config.state_dir,
                                                       self.config.group_id, n)) for n in numbers}
        assert self._restorer is not None
        try:
            await restore(self._restorer, self.config.topics.changelog, {n: p.cases for n, p in parts.items()},
                          read_committed=self.exactly_once, timeout_s=self.config.restore_timeout_seconds)
            for part in parts.values():
                if self._track_cases:
                    part.rebuild(self.engine, functools.partial(self.observer.rebuild_partition, part.number))
                else:
                    part.rebuild(self.engine)
                    self.observer.rebuild_partition(part.number, ())
        except BaseException:
            for part in parts.values():
                part.cases.close()
            raise
        return parts

    def _on_idle(self, waited_s: float) -> None:
        """A fetch returned nothing: after a wait of at least IDLE_TURN_S that followed a burst of records, trim the heap."""
        if waited_s >= IDLE_TURN_S and self.records_handled - self._records_at_trim >= TRIM_AFTER_RECORDS:
            self._trim_heap()

    def _trim_heap(self) -> None:
        """Return the C heap freed by a burst of records or a restore to the system (`runtime/heap.py`)."""
        self._records_at_trim = self.records_handled
        began = time.perf_counter()
        if trim_heap():
            log.info("freed heap memory returned to the system", seconds=round(time.perf_counter() - began, 3))

    # ------------------------------------------------------------------ queries

    async def group_members(self, timeout_s: float = 2.0) -> tuple[str, int] | None:
        """(state, member count) of the worker's consumer group as the coordinator describes it, or None."""
        admin = kafka_clients.admin(self.config.kafka, timeout_s)
        try:
            await asyncio.wait_for(admin.start(), timeout_s)
            response = await asyncio.wait_for(admin.describe_consumer_groups([self.config.group_id]), timeout_s)
        except (KafkaError, OSError, TimeoutError):
            return None
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        for group in response[0].groups if response else ():
            _error, group_id, state, _type, _protocol, members = group[:6]
            if group_id == self.config.group_id:
                return str(state), len(members)
        return None

    def case(self, case_id: str) -> dict[str, Any] | None:
        """The SLA view of a case owned by this worker (Engine.describe at the clock's now), or None."""
        for part in self.partitions.values():
            raw = part.cases.get(case_id)
            if raw is not None:
                try:
                    view = self.engine.describe(decode_stored(raw), self.clock.now_us())
                except Exception as exc:  # a state the engine cannot describe still answers
                    log.error("case view failed", case_id=case_id, error=type(exc).__name__)
                    view = {"case_id": case_id, "known": True, "error": f"cannot describe: {type(exc).__name__}"}
                view["partition"] = part.number
                return view
        return None


async def _stop_client(client: AIOKafkaConsumer | AIOKafkaProducer) -> None:
    """Stop one aiokafka client; its errors do not keep the others from stopping.

    aiokafka 0.14's consumer.stop() cancels its pending fetch tasks and then awaits them, so it
    raises CancelledError when one was in flight (typically while the broker is unreachable).
    That is not a cancellation of this task: swallow it unless this task is being cancelled.
    """
    try:
        await client.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.warning("client stop was interrupted by an internal cancellation", client=type(client).__name__)
    except Exception as exc:
        log.warning("client stop failed", client=type(client).__name__, error=repr(exc))


def _leave_group_even_in_generation_zero(consumer: AIOKafkaConsumer) -> None:
    """Make consumer.stop() send LeaveGroup on brokers that number the first generation 0.

    aiokafka leaves the group on stop only when generation > 0 (Kafka starts at 1); tansu starts
    at 0, so the first member of a group would otherwise hold its partitions until its session
    times out. LeaveGroup carries only group and member id, so the generation value is not sent.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is not None and getattr(coordinator, "generation", None) == 0 and coordinator.member_id:
        coordinator.generation = 1


def load_engine(config: WorkerConfig) -> Engine:
    """The engine for the configured catalog (MONITOR_POLICIES or the bundled one)."""
    catalog: Catalog = load_catalog(config.policies) if config.policies else bundled_catalog()
    return Engine(catalog, hold_seconds=config.hold_seconds, closed_retention_seconds=config.closed_retention_seconds)
