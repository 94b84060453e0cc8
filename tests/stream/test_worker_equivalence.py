"""The worker's record path against the plainest pipeline that does the same thing.

`Worker._process` skips work where it can (it builds a record's source only for what carries it,
does not apply an event the case has already seen, batches metric updates). The reference
below does every step for every record, as the worker did before those shortcuts: source first,
parse, check, decode, apply, encode, queue. For any sequence of records both must queue the same
outputs and dead letters in the same order, store the same states, mark the same states for the
changelog and count the same outcomes.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from monitor.core.case import Engine
from monitor.core.events import FUTURE_TIMESTAMP, KEY_MISMATCH, TOPIC_CREATED, TOPIC_UPDATED, Rejection, format_time, parse_event
from monitor.observe.metrics import WorkerMetrics
from monitor.stream.codec import decode_key, decode_state, encode_sla_event, encode_state, record_source
from monitor.stream.config import WorkerConfig
from monitor.stream.dead_letter import dead_letter_record
from monitor.stream.partition import PartitionState
from monitor.stream.table import decode_stored, state_length
from monitor.stream.worker import Worker, load_engine

CONFIG = WorkerConfig(web_port=0)
TOPICS = CONFIG.topics
WALL = 1_795_000_000_000_000
MINUTE = 60_000_000
KIND = {TOPICS.case_created: TOPIC_CREATED, TOPICS.case_updated: TOPIC_UPDATED}


class FixedClock:
    def now_us(self) -> int:
        return WALL


def reference(engine: Engine, chunks: list[tuple[str, list[ConsumerRecord[Any, Any]]]]) -> dict[str, Any]:
    """Every step for every record: what the worker's outputs, states and outcomes must equal."""
    cases: dict[str, bytes] = {}
    dirty: dict[str, bytes | None] = {}
    outbox: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]] = []
    outcomes: Counter[str] = Counter()
    skew_us = int(CONFIG.max_clock_skew_seconds * 1_000_000)

    def dead_letter(rejection: Rejection) -> None:
        key, value = dead_letter_record(rejection, WALL)
        outbox.append((TOPICS.dead_letter, key, value, []))

    for topic, records in chunks:
        for record in records:
            source = record_source(topic, 0, record.offset, record.key, record.value)
            event = parse_event(KIND[topic], record.value if record.value is not None else b"", source)
            if not isinstance(event, Rejection):
                if event.occurred_at > WALL + skew_us:
                    event = Rejection(FUTURE_TIMESTAMP, f"occurred_at {format_time(event.occurred_at)} is more than "
                                      f"{CONFIG.max_clock_skew_seconds:g}s after the worker's clock ({format_time(WALL)})",
                                      event.event_id, event.case_id, source)
                elif decode_key(record.key) != event.case_id:
                    event = Rejection(KEY_MISMATCH, "the record key must be the case_id (UTF-8), so that all events of a "
                                      "case land on the same partition", event.event_id, event.case_id, source)
            if isinstance(event, Rejection):
                dead_letter(event)
                outcomes["dead_letter"] += 1
                continue
            raw = cases.get(event.case_id)   # the encoded state alone: no index keys
            state = decode_state(raw) if raw is not None else None
            duplicate = state is not None and event.event_id in state.seen
            step = engine.apply(state, event, WALL, emitted_at=WALL)
            encoded = encode_state(step.state) if step.state is not None else None
            for emitted in step.emitted:
                key, value, headers = encode_sla_event(emitted)
                outbox.append((TOPICS.output_for(emitted.topic_kind), key, value, headers))
            for rejection in step.rejections:
                dead_letter(rejection)
            if encoded is None:
                if raw is not None:
                    del cases[event.case_id]
                    dirty[event.case_id] = None
            elif encoded != raw:
                cases[event.case_id] = dirty[event.case_id] = encoded
            if duplicate:
                outcomes["duplicate"] += 1
            elif any(rejection.event_id == event.event_id for rejection in step.rejections):
                outcomes["dead_letter"] += 1
            else:
                outcomes["applied"] += 1
    return {"outbox": outbox, "cases": cases, "dirty": dirty, "outcomes": outcomes}


_cases = st.sampled_from(["C1", "C2", "C3"])
_ids = st.sampled_from([f"e{i}" for i in range(8)])
_at = st.sampled_from([WALL - 90 * MINUTE, WALL - 40 * MINUTE, WALL - 5 * MINUTE, WALL, WALL + 3650 * 24 * 60 * MINUTE])


@st.composite
def _record_value(draw: st.DrawFn, topic: str) -> tuple[bytes | None, bytes | None]:
    """(key, value) of one input record: mostly well-formed events, some broken or mis-keyed."""
    case_id = draw(_cases)
    key = draw(st.sampled_from([case_id.encode()] * 6 + [None, b"other", b"\xff"]))
    kind = draw(st.sampled_from(["event"] * 8 + ["garbage"]))
    if kind == "garbage":
        return key, draw(st.sampled_from([b"{", b"", None, b"[]", b"\xff\xfe"]))
    body: dict[str, Any] = {"event_id": draw(_ids), "case_id": case_id, "occurred_at": format_time(draw(_at))}
    if topic == TOPICS.case_created:
        body.update(plan=draw(st.sampled_from(["adobe-online", "adobe-enterprise", "no-such-plan"])),
                    priority=draw(st.sampled_from(["P1", "P2", "P9"])), region="emea", customer_id="acme")
    else:
        body["agent_response"] = draw(st.booleans())
        status = draw(st.sampled_from([None, None, "pending_customer", "open", "resolved", "closed", "reopened"]))
        if status is not None:
            body["status"] = status
    return key, json.dumps(body).encode()


@st.composite
def _chunks(draw: st.DrawFn) -> list[tuple[str, list[ConsumerRecord[Any, Any]]]]:
    """Batches of records as the consumer hands them over: a run of one topic's partition at a time."""
    offsets = {TOPICS.case_created: 0, TOPICS.case_updated: 0}
    chunks = []
    for topic in draw(st.lists(st.sampled_from(list(offsets)), min_size=1, max_size=6)):
        records = []
        for key, value in draw(st.lists(_record_value(topic), min_size=1, max_size=6)):
            records.append(ConsumerRecord(topic=topic, partition=0, offset=offsets[topic], timestamp=WALL // 1000,
                                          timestamp_type=0, key=key, value=value, checksum=None,
                                          serialized_key_size=0, serialized_value_size=0, headers=()))
            offsets[topic] += 1
        chunks.append((topic, records))
    return chunks


ENGINE = load_engine(CONFIG)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=_chunks())
def test_the_worker_queues_stores_and_counts_what_the_plain_pipeline_does(
        chunks: list[tuple[str, list[ConsumerRecord[Any, Any]]]]) -> None:
    registry = CollectorRegistry()
    worker = Worker(CONFIG, ENGINE, clock=FixedClock(), observer=WorkerMetrics(registry, ENGINE.catalog))
    part = worker.partitions.setdefault(0, PartitionState(0))
    part.lagging = set()
    for topic, records in chunks:
        worker._process(TopicPartition(topic, 0), records)
    expected = reference(ENGINE, chunks)
    assert worker._outbox == expected["outbox"]
    assert {case_id: stored[:state_length(stored)] for case_id, stored in part.cases.items()} == expected["cases"]
    assert part.dirty == expected["dirty"]
    counted: Counter[str] = Counter()
    for topic in KIND:
        for outcome in ("applied", "duplicate", "dead_letter"):
            counted[outcome] += int(registry.get_sample_value("sla_events_consumed_total", {"topic": topic, "outcome": outcome}) or 0)
    assert +counted == +expected["outcomes"]
    open_cases = sum(1 for raw in expected["cases"].values() if decode_state(raw).is_open)
    gauge = sum(sample.value for family in registry.collect() if family.name == "sla_cases_open" for sample in family.samples)
    assert gauge == open_cases


def test_an_update_fetched_with_its_case_creation_is_applied_not_held() -> None:
    config = WorkerConfig(web_port=0, hold_seconds=0)   # an update for an unknown case is refused at once
    worker = Worker(config, load_engine(config), clock=FixedClock())
    part = worker.partitions.setdefault(0, PartitionState(0))
    part.lagging = set()
    at = format_time(WALL - 5 * MINUTE)
    answer = json.dumps({"event_id": "C1-r", "case_id": "C1", "occurred_at": at, "agent_response": True}).encode()
    created = json.dumps({"event_id": "C1-c", "case_id": "C1", "occurred_at": at, "plan": "adobe-online",
                          "priority": "P1", "region": "emea"}).encode()
    batch = {TopicPartition(TOPICS.case_updated, 0): [_record(TOPICS.case_updated, 0, answer)],   # fetched first
             TopicPartition(TOPICS.case_created, 0): [_record(TOPICS.case_created, 0, created)]}
    worker._process_batch(batch)
    assert decode_stored(part.cases["C1"]).seen == ["C1-c", "C1-r"]
    assert [json.loads(value)["type"] for topic, _, value, _ in worker._outbox] == ["sla.met"]
    assert part.next_offsets == {TOPICS.case_created: 1, TOPICS.case_updated: 1}


def _record(topic: str, offset: int, value: bytes) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(topic=topic, partition=0, offset=offset, timestamp=WALL // 1000, timestamp_type=0, key=b"C1",
                          value=value, checksum=None, serialized_key_size=0, serialized_value_size=0, headers=())


class RaisingAfterChanging(Engine):
    """An engine with a bug: it changes the case state in place for event 'boom', then raises."""

    def apply(self, state: Any, event: Any, now: Any, emitted_at: Any = None) -> Any:
        step = super().apply(state, event, now, emitted_at)
        if event.event_id == "boom":
            raise RuntimeError("bug after changing the state")
        return step


def test_a_state_the_engine_changed_before_raising_is_not_reused_within_the_fetch() -> None:
    worker = Worker(CONFIG, RaisingAfterChanging(ENGINE.catalog), clock=FixedClock())
    part = worker.partitions.setdefault(0, PartitionState(0))
    part.lagging = set()
    at = format_time(WALL - 5 * MINUTE)
    created = json.dumps({"event_id": "C1-c", "case_id": "C1", "occurred_at": at, "plan": "adobe-online",
                          "priority": "P1", "region": "emea"}).encode()
    boom = json.dumps({"event_id": "boom", "case_id": "C1", "occurred_at": at, "agent_response": True}).encode()
    answer = json.dumps({"event_id": "C1-r", "case_id": "C1", "occurred_at": at, "agent_response": True}).encode()
    worker._process_batch({TopicPartition(TOPICS.case_created, 0): [_record(TOPICS.case_created, 0, created)],
                           TopicPartition(TOPICS.case_updated, 0): [_record(TOPICS.case_updated, 0, boom),
                                                                     _record(TOPICS.case_updated, 1, answer)]})
    kinds = [json.loads(value).get("type") or json.loads(value)["reason"] for _, _, value, _ in worker._outbox]
    assert kinds == ["processing_error", "sla.met"]   # the answer met the clock the failed record never stopped
    assert decode_stored(part.cases["C1"]).seen == ["C1-c", "C1-r"]
