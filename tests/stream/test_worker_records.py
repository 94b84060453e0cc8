"""Every input record gets exactly one outcome, and no record can stop the worker.

Drives the worker's real decode -> check -> apply -> encode path (`Worker._process`) with
records as aiokafka hands them over; no broker is needed for what happens inside one turn.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.case import Engine, Step
from monitor.core.events import CaseCreated, CaseUpdated
from monitor.stream.clock import WallClock
from monitor.stream.config import WorkerConfig
from monitor.stream.partition import PartitionState
from monitor.stream.table import decode_stored, stored_value
from monitor.stream.worker import Worker, load_engine

CONFIG = WorkerConfig(web_port=0)
CREATED = TopicPartition(CONFIG.topics.case_created, 0)
UPDATED = TopicPartition(CONFIG.topics.case_updated, 0)


class Outcomes:
    """A WorkerObserver that counts outcomes and dead-letter reasons."""

    def __init__(self) -> None:
        self.consumed: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()

    def on_consumed(self, topic: str, outcome: str, count: int = 1) -> None:
        self.consumed[outcome] += count

    def on_dead_letter(self, reason: str) -> None:
        self.reasons[reason] += 1

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def record(offset: int, value: bytes | None, key: bytes | None = b"C1", topic: str = CREATED.topic) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(topic=topic, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=key,
                          value=value, checksum=None, serialized_key_size=0, serialized_value_size=0, headers=())


def make(engine: Engine | None = None) -> tuple[Worker, Outcomes, PartitionState]:
    observer = Outcomes()
    worker = Worker(CONFIG, engine or load_engine(CONFIG), clock=WallClock(), observer=observer)
    part = worker.partitions.setdefault(0, PartitionState(0))
    return worker, observer, part


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def created(case_id: str = "C1", at: datetime | None = None, **extra: Any) -> bytes:
    when = at or datetime.now(UTC)
    return json.dumps({"event_id": f"{case_id}-c", "case_id": case_id, "occurred_at": iso(when),
                       "plan": "adobe-online", "priority": "P2", "region": "emea", **extra}).encode()


def dead_letters(worker: Worker) -> list[dict[str, Any]]:
    return [orjson.loads(value) for topic, _, value, _ in worker._outbox if topic == CONFIG.topics.dead_letter]


class RaisingEngine(Engine):
    """An engine with a bug: applying an event for case 'BUG' raises."""

    def apply(self, state: Any, event: CaseCreated | CaseUpdated, now: Any, emitted_at: Any = None) -> Step:
        if event.case_id == "BUG":
            raise RecursionError("maximum recursion depth exceeded")
        return super().apply(state, event, now, emitted_at)


def test_a_record_that_raises_is_dead_lettered_with_its_bytes_and_the_next_one_applies() -> None:
    engine = RaisingEngine(load_engine(CONFIG).catalog)
    worker, observer, part = make(engine)
    bug = created("BUG")
    worker._process(CREATED, [record(7, bug, key=b"BUG"), record(8, created("C2"), key=b"C2")])
    [letter] = dead_letters(worker)
    assert letter["reason"] == "processing_error"
    assert letter["message"].startswith("RecursionError")
    assert letter["offset"] == 7 and orjson.loads(__import__("base64").b64decode(letter["value_b64"])) == orjson.loads(bug)
    assert "C2" in part.cases and "BUG" not in part.cases
    assert observer.consumed == {"dead_letter": 1, "applied": 1}
    assert part.next_offsets[CREATED.topic] == 9


def test_not_utf8_value_is_carried_in_base64() -> None:
    worker, _, part = make()
    worker._process(CREATED, [record(0, b"\xff\xfe{\x00")])
    [letter] = dead_letters(worker)
    assert letter["reason"] == "invalid_json" and letter["value_b64"] == "//57AA=="
    assert part.next_offsets[CREATED.topic] == 1


def test_engine_rejections_count_as_dead_letters_not_applied() -> None:
    worker, observer, _ = make()
    worker._process(CREATED, [record(0, created("C1", plan="no-such-plan"))])
    assert observer.consumed == {"dead_letter": 1}
    assert observer.reasons == {"unknown_plan": 1}


def test_an_event_from_the_future_is_dead_lettered_and_does_not_move_stream_time() -> None:
    worker, observer, part = make()
    now = datetime.now(UTC)
    part.lagging = {CREATED.topic}
    worker._process(CREATED, [record(0, created("C1", now - timedelta(minutes=5))),
                              record(1, created("F1", now + timedelta(days=3650)), key=b"F1"),
                              record(2, created("C2", now + timedelta(seconds=60)), key=b"C2")])
    [letter] = dead_letters(worker)
    assert letter["reason"] == "future_timestamp" and letter["case_id"] == "F1"
    assert observer.consumed == {"applied": 2, "dead_letter": 1}
    # stream time is that of C2 (within the skew), never the +10-year record
    assert part.stream_time() is not None and part.stream_time() < int((now + timedelta(seconds=61)).timestamp() * 1e6)


def test_a_state_the_engine_cannot_describe_still_answers() -> None:
    worker, _, part = make()
    state = json.loads(orjson.dumps({"case_id": "X", "plan": "adobe-online", "priority": "P1", "region": "emea",
                                     "created_at": 253_402_300_000_000_000,
                                     "clocks": {"first_response": {"metric": "first_response", "cycle": 1,
                                                                   "started_at": 253_402_300_000_000_000}}}))
    part.cases["X"] = stored_value(orjson.dumps(state), b"", b"")
    view = worker.case("X")
    assert view is not None and view["case_id"] == "X" and "error" in view


# ---------------------------------------------------------------------- fuzz

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                     st.sampled_from(["\ud800", "Europe", "A" * 300, "9999-12-31T23:00:00Z", "Etc", "posixrules",
                                      "2026-11-25T10:00:00Z", "P1", "adobe-online", "emea", "closed", "reopened"]))
_fields = st.sampled_from(["event_id", "case_id", "occurred_at", "plan", "priority", "region", "timezone",
                           "customer_id", "status", "agent_response", "product"])
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                     max_leaves=12)
_events = st.dictionaries(_fields, _scalars | _json, max_size=11).map(lambda body: json.dumps(body).encode())
_adversarial = st.sampled_from([
    b"[" * 50_000, b"{\"a\":" * 20_000, b"1" * 6000, b'{"case_id": "' + b"\\ud800" + b'"}', b"\x00", b"",
    b'{"event_id": "e", "case_id": "C1", "occurred_at": "2026-11-25T10:00:00Z", "plan": "adobe-online", '
    b'"priority": "P2", "region": "emea", "timezone": "Europe"}',
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.one_of(st.binary(max_size=200), _events, _adversarial), min_size=1, max_size=8),
       keys=st.lists(st.one_of(st.none(), st.binary(max_size=8), st.just(b"C1")), min_size=8, max_size=8),
       topic=st.sampled_from([CREATED, UPDATED]))
def test_no_bytes_make_the_worker_raise(values: list[bytes], keys: list[bytes | None], topic: TopicPartition) -> None:
    worker, observer, part = make()
    records = [record(offset, value, keys[offset], topic.topic) for offset, value in enumerate(values)]
    worker._process(topic, records)
    assert sum(observer.consumed.values()) == len(records)          # one outcome per record
    assert part.next_offsets[topic.topic] == len(records)
    for _topic, key, value, _ in worker._outbox:                  # everything queued can be written
        orjson.loads(value)
        assert key is None or isinstance(key, bytes)
    for case_id, raw in part.cases.items():
        case_id.encode()
        decode_stored(raw)         # every stored state reads back


# ---------------------------------------------------------------------- retention


def test_closed_cases_without_reopen_window_are_forgotten_after_the_retention_with_a_tombstone() -> None:
    config = WorkerConfig(web_port=0, closed_retention_seconds=60)
    worker = Worker(config, load_engine(config), clock=WallClock(), observer=Outcomes())
    part = worker.partitions.setdefault(0, PartitionState(0))
    now = datetime.now(UTC)
    closed_at = now - timedelta(seconds=61)
    worker._process(CREATED, [record(0, created("OLD", closed_at - timedelta(hours=1)), key=b"OLD"),
                              record(1, created("NEW", now - timedelta(hours=1)), key=b"NEW")])
    close = [record(0, json.dumps({"event_id": f"{case}-x", "case_id": case, "occurred_at": iso(at), "status": "closed"}).encode(),
                    key=case.encode(), topic=UPDATED.topic) for case, at in (("OLD", closed_at), ("NEW", now - timedelta(seconds=30)))]
    worker._process(UPDATED, close)
    part.dirty.clear()
    worker._tick()
    assert "OLD" not in part.cases and part.dirty == {"OLD": None}     # forgotten 60 s after closing, tombstoned
    assert "NEW" in part.cases
    assert WorkerConfig().closed_retention_seconds == 30 * 86400         # bounded by default
