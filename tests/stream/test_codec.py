"""Bytes in and out: state round trip, SLA event records, dead letters, record sources."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import jsonschema
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.case import Engine
from monitor.core.events import MAX_EVENT_BYTES, Rejection, parse_event
from monitor.core.policy import load_catalog
from monitor.runtime.topics import load_schema, load_specs
from monitor.stream.codec import b64, decode_state, encode_sla_event, encode_state, record_source
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
        key, value, headers, body = encode_sla_event(sla_event)
        assert key == b"C-1" and headers == [("event_id", body["event_id"].encode())]
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
