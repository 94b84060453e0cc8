"""Parsing input events: every rejection reason, and the output contract."""

from __future__ import annotations

import json
import uuid

import pytest

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
