"""Parsing input events: every rejection reason, and the output contract."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor import contract
from monitor.core import events as ev
from monitor.core.calendar import to_us
from monitor.core.events import CaseCreated, CaseUpdated, Rejection, SlaEvent, format_time, parse_event

CREATED = {
    "event_id": "e1", "case_id": "C1", "occurred_at": "2026-11-25T10:00:00Z",
    "plan": "adobe-online", "priority": "P2", "region": "emea",
}
UPDATE = {"event_id": "e", "case_id": "C", "occurred_at": "2026-11-25T10:00:00Z"}


def raw(body: object) -> bytes:
    return json.dumps(body).encode()


def test_parses_a_created_event() -> None:
    event = parse_event("case-created", raw({**CREATED, "timezone": "Asia/Tokyo", "customer_id": "acme"}), source="s")
    assert isinstance(event, CaseCreated)
    assert (event.case_id, event.plan, event.timezone, event.customer_id, event.source) == ("C1", "adobe-online", "Asia/Tokyo", "acme", "s")
    assert format_time(event.occurred_at) == "2026-11-25T10:00:00Z"


def test_offsets_are_normalised_to_utc_and_fractions_kept() -> None:
    event = parse_event("case-created", raw({**CREATED, "occurred_at": "2026-11-25T11:00:00.250+01:00"}))
    assert isinstance(event, CaseCreated)
    assert format_time(event.occurred_at) == "2026-11-25T10:00:00.250Z"


def test_parses_an_update() -> None:
    event = parse_event("case-updated", raw({"event_id": "e2", "case_id": "C1", "occurred_at": "2026-11-25T10:00:00Z",
                                             "status": "pending_customer", "agent_response": True}))
    assert isinstance(event, CaseUpdated)
    assert event.status == "pending_customer" and event.agent_response
    assert CaseUpdated.from_dict(event.to_dict()) == event


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("case-created", b"{not json", ev.INVALID_JSON),
        ("case-created", b"\xff\xfe", ev.INVALID_JSON),
        ("case-created", b"[1, 2]", ev.NOT_AN_OBJECT),
        ("case-created", raw({k: v for k, v in CREATED.items() if k != "plan"}), ev.MISSING_FIELD),
        ("case-created", raw({k: v for k, v in CREATED.items() if k != "occurred_at"}), ev.MISSING_FIELD),
        ("case-created", raw({**CREATED, "priority": 2}), ev.WRONG_TYPE),
        ("case-created", raw({**CREATED, "case_id": ""}), ev.BAD_VALUE),
        ("case-created", raw({**CREATED, "occurred_at": "yesterday"}), ev.BAD_TIMESTAMP),
        ("case-created", raw({**CREATED, "occurred_at": "2026-11-25T10:00:00"}), ev.BAD_TIMESTAMP),
        ("case-created", raw({**CREATED, "occurred_at": 1764064800}), ev.BAD_TIMESTAMP),
        ("case-created", raw({**CREATED, "timezone": "Mars/Olympus"}), ev.UNKNOWN_TIMEZONE),
        ("case-updated", raw({**UPDATE, "status": "lost"}), ev.BAD_VALUE),
        ("case-updated", raw({**UPDATE, "agent_response": "yes"}), ev.WRONG_TYPE),
        ("case-deleted", raw(CREATED), ev.UNKNOWN_TOPIC),
        ("case-created", b" " * (ev.MAX_EVENT_BYTES + 1), ev.OVERSIZED),
    ],
)
def test_rejections_carry_a_reason_and_never_raise(topic: str, payload: bytes, reason: str) -> None:
    result = parse_event(topic, payload, source={"offset": 7})
    assert isinstance(result, Rejection)
    assert result.reason == reason
    assert result.message
    assert result.source == {"offset": 7}


def test_rejection_keeps_ids_when_readable() -> None:
    result = parse_event("case-created", raw({**CREATED, "region": None}))
    assert isinstance(result, Rejection)
    assert (result.event_id, result.case_id) == ("e1", "C1")


def test_output_event_shape_and_deterministic_id() -> None:
    from datetime import datetime, timezone
    t = to_us(datetime(2026, 11, 25, 10, tzinfo=timezone.utc))
    event = SlaEvent("sla.met", "C1", None, "first_response", 1, None, "adobe-online", "P2", "emea",
                     "business_hours", 14400, t, t + 14400_000_000, t + 60_000_000, t + 60_000_000, "v1",
                     breached=False, elapsed_seconds=60.0)
    body = event.to_dict()
    assert body["event_id"] == ev.event_id_for("C1", "first_response", 1, None)
    assert uuid.UUID(body["event_id"]).version == 5
    assert body["due_at"] == "2026-11-25T14:00:00Z" and body["breached"] is False
    assert event.topic_kind == "status"
    assert ev.event_id_for("C1", "first_response", 1, 0.75) != ev.event_id_for("C1", "first_response", 2, 0.75)


def test_time_format_keeps_only_needed_fraction_digits() -> None:
    whole = ev.parse_time("2026-11-25T10:00:00Z")
    assert format_time(whole) == "2026-11-25T10:00:00Z"
    assert format_time(whole + 250_000) == "2026-11-25T10:00:00.250Z"
    assert format_time(whole + 123) == "2026-11-25T10:00:00.000123Z"
    assert ev.parse_time(format_time(whole + 123)) == whole + 123


# -- the fast paths give exactly the reference answers --------------------------------------

_NAMESPACE = uuid.UUID("6f1d1c1e-5b1a-4c39-9a53-2d8f5b0e7a11")


def test_event_ids_are_pinned() -> None:
    # Ids already written to Kafka: they must never change.
    assert ev.event_id_for("C1", "first_response", 1, None) == "da0f3b3d-3f82-51db-82a8-78e04ff5cf91"
    assert ev.event_id_for("C1", "resolution", 2, 0.75) == "f3fbc57f-ae27-574b-b79d-8634e6025afc"


@settings(max_examples=500, deadline=None)
@given(
    case_id=st.text(), metric=st.text(), cycle=st.integers(min_value=-(2**70), max_value=2**70),
    threshold=st.none() | st.floats(allow_nan=True) | st.integers(min_value=-(10**6), max_value=10**6),
)
def test_event_id_is_uuid5_text(case_id: str, metric: str, cycle: int, threshold: float | None) -> None:
    key = "met" if threshold is None else repr(float(threshold))
    expected = str(uuid.uuid5(_NAMESPACE, f"{case_id}/{metric}/{cycle}/{key}"))
    assert ev.event_id_for(case_id, metric, cycle, threshold) == expected


_MIN_US, _MAX_US = -62_135_596_800_000_000, 253_402_300_799_999_999
_instants = st.one_of(
    st.integers(min_value=_MIN_US, max_value=_MAX_US),
    st.integers(min_value=_MIN_US // 1_000_000, max_value=_MAX_US // 1_000_000).map(lambda s: s * 1_000_000),
    st.integers(min_value=_MIN_US // 1000, max_value=_MAX_US // 1000).map(lambda ms: ms * 1000),
    st.integers(min_value=-(10**13), max_value=10**13).map(lambda us: 1_764_064_800_000_000 + us),
)


@settings(max_examples=2000, deadline=None)
@given(_instants)
@example(0)
@example(-1)
@example(_MIN_US)
@example(_MAX_US)
@example(951_782_400_000_000)  # 2000-02-29
def test_format_time_matches_isoformat(us: int) -> None:
    assert format_time(us) == contract._format_time_datetime(us)
    assert format_time(us) == format_time(us)  # cached second text gives the same answer
    contract._TIME_TEXT.clear()
    assert format_time(us) == contract._format_time_datetime(us)   # and so does a fresh one
    assert format_time(us) == contract._format_time_datetime(us)   # and a cached instant


@pytest.mark.parametrize("us", [_MIN_US - 1, _MAX_US + 1, 10**30])
def test_format_time_out_of_range_raises_like_datetime(us: int) -> None:
    with pytest.raises(OverflowError):
        contract._format_time_datetime(us)
    with pytest.raises(OverflowError):
        format_time(us)


_FIELDS = ("event_id", "case_id", "occurred_at", "plan", "priority", "region", "timezone",
           "customer_id", "product", "status", "agent_response")
_json_scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=8),
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True, allow_infinity=True),
)
_values = st.one_of(
    _json_scalars,
    st.sampled_from(["e1", "C1", "", " ", "2026-11-25T10:00:00Z", "2026-11-25T11:00:00.250+01:00",
                     "2026-11-25T10:00:00", "Asia/Tokyo", "Mars/Olympus", "adobe-online", "P2", "emea",
                     "open", "resolved", "lost", "\ud800", "caf\u00e9", "\U0001f600"]),
    st.lists(_json_scalars, max_size=2),
    st.dictionaries(st.text(max_size=3), _json_scalars, max_size=2),
)
_bodies = st.one_of(
    st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=4), _values, max_size=12),
    # mostly valid events with a few fields changed, so that both outcomes are common
    st.tuples(st.sampled_from([CREATED, UPDATE, {**UPDATE, "agent_response": True, "status": "resolved"}]),
              st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=4), _values, max_size=2))
    .map(lambda base_changes: {**base_changes[0], **base_changes[1]}),
)


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b and getattr(a, "source", None) is getattr(b, "source", None)


@settings(max_examples=1500, deadline=None)
@given(
    topic=st.sampled_from(["case-created", "case-updated", "case-deleted"]),
    body=_bodies | _values,
    ensure_ascii=st.booleans(),
    encoding=st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16"]),
)
def test_parse_event_matches_the_json_module_reading(topic: str, body: object, ensure_ascii: bool, encoding: str) -> None:
    text = json.dumps(body, ensure_ascii=ensure_ascii)
    try:
        payload = text.encode(encoding)
    except UnicodeEncodeError:   # lone surrogates cannot be UTF-8: take the escaped form
        payload = json.dumps(body).encode(encoding)
    source = object()
    assert _same(parse_event(topic, payload, source), ev._parse_event_json(topic, payload, source))


@settings(max_examples=1500, deadline=None)
@given(topic=st.sampled_from(["case-created", "case-updated"]), payload=st.binary(max_size=64),
       prefix=st.sampled_from([b"", b'{"event_id": "e", "case_id": "C", "occurred_at": "2026-11-25T10:00:00Z"']))
def test_parse_event_matches_on_arbitrary_bytes(topic: str, payload: bytes, prefix: bytes) -> None:
    source = object()
    raw_bytes = prefix + payload
    assert _same(parse_event(topic, raw_bytes, source), ev._parse_event_json(topic, raw_bytes, source))


@pytest.mark.parametrize("payload", [
    b'{"event_id": 18446744073709551616, "case_id": "C", "occurred_at": "2026-11-25T10:00:00Z"}',
    b'{"event_id": 1e400, "case_id": "C", "occurred_at": "2026-11-25T10:00:00Z"}',
    b'{"event_id": NaN, "case_id": "C", "occurred_at": "2026-11-25T10:00:00Z"}',
    b'{"event_id": "e", "case_id": "\\ud800", "occurred_at": "2026-11-25T10:00:00Z"}',
    b'\xef\xbb\xbf{"event_id": "e", "case_id": "C", "occurred_at": "2026-11-25T10:00:00Z"}',
    b'{"event_id": "e", "event_id": "e2", "case_id": "C", "occurred_at": "2026-11-25T10:00:00Z"}',
    b"-99999999999999999999999",
])
def test_parse_event_where_orjson_and_json_differ(payload: bytes) -> None:
    source = object()
    assert _same(parse_event("case-updated", payload, source), ev._parse_event_json("case-updated", payload, source))


# -- the msgspec path (ASCII values) answers only what the reference answers ---------------

_ascii_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=6)
_field_values = st.one_of(
    st.none(), st.booleans(), _ascii_text, st.integers(min_value=-(10**500), max_value=10**500),
    st.floats(allow_nan=False), st.sampled_from(["", " ", "\t", "2026-11-25T10:00:00Z", "2026-11-25T10:00:00+14:00",
                                                 "2026-11-25T10:00:00", "1899-12-31T23:00:00Z", "Asia/Tokyo", "Europe",
                                                 "\ud800", "\udfff\ud800", "\U0001f600", "open", "reopened", "lost"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.none(), max_size=2),
)


@settings(max_examples=1500, deadline=None)
@given(
    topic=st.sampled_from(["case-created", "case-updated"]),
    base=st.sampled_from([CREATED, UPDATE, {**CREATED, "timezone": "Asia/Tokyo", "customer_id": "c", "product": "p"},
                          {**UPDATE, "agent_response": False, "status": "open", "priority": "P1", "plan": "x"}]),
    changes=st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=3), _field_values, max_size=3),
    drop=st.sets(st.sampled_from(_FIELDS), max_size=2),
)
def test_msgspec_path_gives_the_reference_answer(topic: str, base: dict[str, object], changes: dict[str, object],
                                                 drop: set[str]) -> None:
    body = {key: value for key, value in {**base, **changes}.items() if key not in drop}
    payload = json.dumps(body).encode()   # ensure_ascii: the msgspec path's input
    assert payload.isascii()
    source = object()
    assert _same(parse_event(topic, payload, source), ev._parse_event_json(topic, payload, source))
    # and where the fast path itself answers (long digit runs never reach it), it is the reference's event
    if ev._LONG_DIGITS.search(payload) is not None:
        return
    try:
        fast = (ev._created_wire(ev._decode_created(payload), source) if topic == "case-created"
                else ev._updated_wire(ev._decode_updated(payload), source))
    except ValueError:   # msgspec.DecodeError and a bad occurred_at are ValueErrors: the reference decides
        fast = None
    if fast is not None:
        assert _same(fast, ev._parse_event_json(topic, payload, source))


def test_msgspec_path_is_taken_for_valid_ascii_events() -> None:
    created = ev._created_wire(ev._decode_created(raw(CREATED)), None)
    updated = ev._updated_wire(ev._decode_updated(raw({**UPDATE, "agent_response": True})), None)
    assert created == ev._parse_event_json("case-created", raw(CREATED))
    assert updated == ev._parse_event_json("case-updated", raw({**UPDATE, "agent_response": True}))


@pytest.mark.parametrize("extra", [
    b'"\xff"',                       # not UTF-8 in a skipped field: msgspec skips it, the json module refuses
    b"9" * 401,                      # an integer over MAX_INT_DIGITS: msgspec skips it, the reference refuses
    b"-" + b"1" * 401,
    b"1." + b"0" * 600,              # a long float is fine for both
    b'"\\ud800"',                    # a lone surrogate in a skipped field: msgspec refuses, json accepts
    b"NaN",
    b"[" * 600 + b"]" * 600,
])
def test_msgspec_path_never_reads_more_leniently(extra: bytes) -> None:
    for topic, body in (("case-created", CREATED), ("case-updated", {**UPDATE, "agent_response": True})):
        payload = raw(body)[:-1] + b', "x": ' + extra + b"}"
        source = object()
        assert _same(parse_event(topic, payload, source), ev._parse_event_json(topic, payload, source)), extra[:20]


def test_input_events_compare_without_their_source_and_are_immutable() -> None:
    # as the frozen dataclasses they replaced: equal (and same hash) whatever record they came from
    first = CaseUpdated("e", "C", 1, status="open", source={"offset": 1})
    again = CaseUpdated("e", "C", 1, status="open", source={"offset": 2})
    assert first == again and hash(first) == hash(again)
    assert first != CaseUpdated("e", "C", 2, status="open")
    assert CaseCreated("e", "C", 1, "p", "P1", "emea") != CaseUpdated("e", "C", 1)
    assert Rejection("r", "m", source=1) == Rejection("r", "m", source=2)
    with pytest.raises(AttributeError):
        first.status = "closed"  # type: ignore[misc]
    event = SlaEvent("sla.met", "C1", None, "first_response", 1, None, "p", "P1", "emea", "24x7", 60, 0, 60, 1, 1, "v")
    assert event == SlaEvent(*[getattr(event, name) for name in event.__struct_fields__]) and hash(event)
    with pytest.raises(AttributeError):
        event.at = 2  # type: ignore[misc]
