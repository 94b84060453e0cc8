"""Bytes in and out: state round trip, SLA event records, dead letters, record sources."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.case import CaseState, Clock, Engine
from monitor.core.events import EVENT_NAMESPACE, EVENT_TYPES, MAX_EVENT_BYTES, MET, Rejection, SlaEvent, parse_event
from monitor.core.policy import load_catalog
from monitor.runtime.topics import load_schema, load_specs
from monitor.stream.codec import (
    STATE_V1,
    b64,
    decode_state,
    encode_sla_event,
    encode_state,
    encode_state_legacy,
    record_source,
)
from monitor.stream.config import TopicNames
from monitor.stream.dead_letter import dead_letter_record
from tests.integration.kafka_helpers import FAST_POLICIES

CREATED = {"event_id": "e1", "case_id": "C-1", "occurred_at": "2026-11-26T09:00:00Z", "plan": "fast",
           "priority": "P1", "region": "emea", "customer_id": "acme"}


def _schema(role: str) -> dict:
    spec = next(s for s in load_specs(TopicNames().by_role()) if s.role == role)
    schema = load_schema(spec)
    assert schema is not None
    return schema


def test_state_round_trips_through_bytes() -> None:
    engine = Engine(load_catalog(FAST_POLICIES))
    event = parse_event("case-created", json.dumps(CREATED).encode())
    step = engine.apply(None, event, event.occurred_at)
    raw = encode_state(step.state)
    assert decode_state(raw).to_dict() == step.state.to_dict()
    assert encode_state(decode_state(raw)) == raw


def test_sla_event_record_is_keyed_by_case_with_event_id_header_and_valid() -> None:
    engine = Engine(load_catalog(FAST_POLICIES))
    event = parse_event("case-created", json.dumps(CREATED).encode())
    state = engine.apply(None, event, event.occurred_at).state
    fired = engine.tick(state, event.occurred_at + 10_000_000).emitted
    assert [e.type for e in fired] == ["sla.near_breach", "sla.breach"]
    for sla_event in fired:
        key, value, headers = encode_sla_event(sla_event)
        assert key == b"C-1" and headers == [("event_id", sla_event.event_id.encode())]
        assert value == orjson.dumps(sla_event.to_dict())
        jsonschema.Draft202012Validator(_schema("breaches")).validate(json.loads(value))


def test_dead_letter_keeps_original_bytes_and_validates() -> None:
    source = record_source("case-created", 2, 41, b"C-9", b"{oops")
    rejection = parse_event("case-created", b"{oops", source)
    assert isinstance(rejection, Rejection)
    key, value = dead_letter_record(rejection, 1_795_683_600_250_000)
    body = json.loads(value)
    jsonschema.Draft202012Validator(_schema("dead_letter")).validate(body)
    assert key == b"C-9"
    assert base64.b64decode(body["value_b64"]) == b"{oops"
    assert (body["reason"], body["source_topic"], body["partition"], body["offset"]) == ("invalid_json", "case-created", 2, 41)
    assert datetime.fromisoformat(body["rejected_at"]) == datetime(2026, 11, 26, 9, 0, 0, 250_000, tzinfo=UTC)


def test_oversized_values_are_not_copied_into_the_source() -> None:
    big = b"x" * (MAX_EVENT_BYTES + 1)
    source = record_source("case-created", 0, 0, None, big)
    assert source["value_b64"] is None and source["value_size"] == len(big)
    json.dumps(source)   # JSON-able: the engine may keep it in a held update


def test_every_topic_spec_has_a_schema_file_that_is_valid() -> None:
    for spec in load_specs():
        schema = load_schema(spec)
        if spec.direction == "internal":
            assert schema is None
            continue
        assert schema is not None
        jsonschema.Draft202012Validator.check_schema(schema)


def test_input_schemas_accept_contract_examples_and_reject_wrong_types() -> None:
    created, updated = _schema("case_created"), _schema("case_updated")
    jsonschema.Draft202012Validator(created).validate(CREATED)
    jsonschema.Draft202012Validator(updated).validate(
        {"event_id": "e2", "case_id": "C-1", "occurred_at": "2026-11-26T09:05:00+01:00", "status": "pending_customer"})
    assert not jsonschema.Draft202012Validator(created).is_valid(dict(CREATED, priority=2))
    assert not jsonschema.Draft202012Validator(updated).is_valid(
        {"event_id": "e2", "case_id": "C-1", "occurred_at": "2026-11-26T09:05:00Z"})   # changes nothing
    assert not jsonschema.Draft202012Validator(updated).is_valid(
        {"event_id": "e2", "case_id": "C-1", "occurred_at": "2026-11-26T09:05:00Z", "agent_response": "yes"})


@given(key=st.none() | st.binary(max_size=40), value=st.none() | st.binary(max_size=300),
       offset=st.integers(min_value=0, max_value=2**63))
def test_record_source_is_base64_of_the_bytes(key: bytes | None, value: bytes | None, offset: int) -> None:
    def reference(raw: bytes | None) -> str | None:
        return None if raw is None else base64.b64encode(raw).decode("ascii")

    assert b64(key) == reference(key)
    assert record_source("case-created", 2, offset, key, value) == {
        "topic": "case-created", "partition": 2, "offset": offset, "key_b64": reference(key),
        "value_b64": reference(value), "value_size": len(value) if value is not None else 0,
    }


_times = st.integers(min_value=0, max_value=2**62)
_text = st.text(max_size=20)
_clocks = st.builds(
    Clock, metric=st.sampled_from(["first_response", "update", "resolution"]), cycle=st.integers(1, 50),
    started_at=_times, stopped_at=st.none() | _times,
    pauses=st.lists(st.tuples(_times, st.none() | _times).map(list), max_size=3),
    fired=st.lists(st.sampled_from([0.5, 0.75, 0.9, 1.0, 1.5, 2.0]), max_size=4),
)
_states = st.builds(
    CaseState, case_id=_text, plan=st.none() | _text, priority=_text, region=_text, timezone=st.none() | _text,
    customer_id=st.none() | _text, status=st.sampled_from(["open", "pending_customer", "resolved", "closed"]),
    created_at=_times, stopped_at=st.none() | _times,
    clocks=st.lists(_clocks, max_size=3).map(lambda cs: {c.metric: c for c in cs}),
    seen=st.lists(_text, max_size=5),
    held=st.lists(st.dictionaries(_text, st.none() | _text | st.integers(-2**63, 2**63 - 1), max_size=3), max_size=2),
    hold_until=st.none() | _times,
)


@given(_states)
def test_state_layout_round_trips_and_agrees_with_the_previous_json_format(state: CaseState) -> None:
    raw = encode_state(state)
    assert raw[0] == STATE_V1
    assert decode_state(raw).to_dict() == state.to_dict()
    # a value written by the previous version (JSON) decodes to the same state
    legacy = encode_state_legacy(state)
    assert legacy == orjson.dumps(state.to_dict()) and legacy[:1] == b"{"
    assert decode_state(legacy).to_dict() == state.to_dict()
    assert encode_state(decode_state(legacy)) == raw


def test_state_written_by_the_previous_version_decodes() -> None:
    # bytes exactly as the JSON codec of version 0.x wrote them to the changelog
    legacy = (b'{"case_id":"C-1","plan":"fast","priority":"P1","region":"emea","timezone":null,'
              b'"customer_id":"acme","status":"open","created_at":1795683600000000,"stopped_at":null,'
              b'"clocks":{"first_response":{"metric":"first_response","cycle":1,"started_at":1795683600000000,'
              b'"stopped_at":null,"pauses":[],"fired":[0.5]}},"seen":["e1"],"held":[],"hold_until":null}')
    state = decode_state(legacy)
    assert state.clocks["first_response"].fired == [0.5] and state.seen == ["e1"]
    assert state.to_dict() == json.loads(legacy)
    assert len(encode_state(state)) < len(legacy) / 3


def test_clock_kept_under_another_key_than_its_metric_survives() -> None:
    state = CaseState("C-1", clocks={"other": Clock("update", 2, 10)})
    assert decode_state(encode_state(state)).to_dict() == state.to_dict()


def test_unknown_or_broken_state_layout_is_a_value_error() -> None:
    no_clock_fields = msgspec.msgpack.encode(("C-1", None, "", "", None, None, "open", 0, None, [[]], [], [], None))
    for raw in (b"", b"\x02abc", bytes([STATE_V1]) + b"\xc1", bytes([STATE_V1]) + b"\x91\x01",
                bytes([STATE_V1]) + no_clock_fields):
        with pytest.raises(ValueError):
            decode_state(raw)


def _reference_sla_value(event: SlaEvent) -> bytes:
    """The value as encode_sla_event wrote it before it was made faster: orjson over the contract's dict,
    the id from uuid.uuid5 and the times from datetime.isoformat."""
    def when(us: int) -> str:
        spec = "seconds" if us % 1_000_000 == 0 else "milliseconds" if us % 1000 == 0 else "microseconds"
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)).isoformat(timespec=spec).replace("+00:00", "Z")

    key = "met" if event.threshold is None else repr(float(event.threshold))
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid5(EVENT_NAMESPACE, f"{event.case_id}/{event.metric}/{event.cycle}/{key}")),
        "type": event.type, "case_id": event.case_id, "customer_id": event.customer_id, "metric": event.metric,
        "cycle": event.cycle, "threshold": event.threshold, "plan": event.plan, "priority": event.priority,
        "region": event.region, "calendar": event.calendar, "target_seconds": event.target_seconds,
        "started_at": when(event.started_at), "due_at": None if event.due_at is None else when(event.due_at),
        "at": when(event.at), "emitted_at": when(event.emitted_at), "policy_version": event.policy_version,
    }
    if event.type == MET:
        body["breached"] = bool(event.breached)
        body["elapsed_seconds"] = event.elapsed_seconds
    if event.offset is not None:
        body["offset"] = event.offset
    if event.overdue_seconds is not None:
        body["overdue_seconds"] = event.overdue_seconds
    return orjson.dumps(body)


_instants = st.integers(min_value=-62_135_596_800_000_000, max_value=253_402_300_799_999_999)   # datetime's range
_ints = st.integers(min_value=-2**63, max_value=2**63 - 1)
_floats = st.floats() | st.sampled_from([0.5, 0.75, 0.9, 1e16, -1e16, 1.5e300, 9_999_999_999_999_998.0])
_sla_events = st.builds(
    SlaEvent, type=st.sampled_from(EVENT_TYPES) | _text, case_id=st.text(), customer_id=st.none() | st.text(),
    metric=_text, cycle=_ints, threshold=st.none() | _floats, plan=_text, priority=_text, region=_text,
    calendar=_text, target_seconds=st.none() | _ints, started_at=_instants, due_at=st.none() | _instants,
    at=_instants, emitted_at=_instants, policy_version=_text, breached=st.none() | st.booleans(),
    elapsed_seconds=st.none() | _floats, offset=st.none() | _text, overdue_seconds=st.none() | _ints,
)


@settings(max_examples=500)
@given(_sla_events)
def test_sla_event_value_is_the_bytes_the_previous_encoder_wrote(event: SlaEvent) -> None:
    key, value, headers = encode_sla_event(event)
    assert value == _reference_sla_value(event)
    assert key == event.case_id.encode() and headers == [("event_id", event.event_id.encode())]
    assert orjson.loads(value)["event_id"] == event.event_id


def test_sla_event_with_a_lone_surrogate_fails_as_before() -> None:
    event = SlaEvent("sla.met", "C-1", "\ud800", "first_response", 1, None, "p", "P1", "emea", "24x7", 60, 0, 60, 1, 2, "v")
    with pytest.raises(TypeError, match="surrogates not allowed"):   # orjson's error, which the worker dead-letters
        orjson.dumps(event.to_dict())
    with pytest.raises(TypeError, match="surrogates not allowed"):
        encode_sla_event(event)
