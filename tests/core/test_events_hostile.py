"""Inputs that used to raise inside parse_event: each is now a Rejection with a reason."""

from __future__ import annotations

import json

import pytest

from monitor.core import events as ev
from monitor.core.events import CaseUpdated, Rejection, parse_event

AT = "2026-11-25T10:00:00Z"


def _created(**fields: object) -> dict[str, object]:
    return {"event_id": "e1", "case_id": "C1", "occurred_at": AT, "plan": "adobe-online", "priority": "P2",
            "region": "emea", **fields}


def _raw(body: object) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize(("name", "payload", "reason"), [
    ("100,000-deep nested JSON", b"[" * 100_000 + b"]" * 100_000, ev.INVALID_JSON),
    ("deep nesting inside a valid event",
     _raw(_created())[:-1] + b', "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}", ev.INVALID_JSON),
    ("5,000-digit integer", b'{"event_id": ' + b"7" * 5000 + b"}", ev.INVALID_JSON),
    ("5,000-digit integer in an unknown field", _raw(_created())[:-1] + b', "n": ' + b"9" * 5000 + b"}", ev.INVALID_JSON),
    ("lone surrogate in case_id", _raw(_created(case_id="C\ud800")), ev.BAD_VALUE),
    ("lone surrogate in event_id", _raw(_created(event_id="\udfff")), ev.BAD_VALUE),
    ("lone surrogate in customer_id", _raw(_created(customer_id="acme\ud83d")), ev.BAD_VALUE),
    ("a directory of the tz database", _raw(_created(timezone="Europe")), ev.UNKNOWN_TIMEZONE),
    ("a 300-character time zone", _raw(_created(timezone="A" * 300)), ev.UNKNOWN_TIMEZONE),
    ("a path as time zone", _raw(_created(timezone="../../../etc/passwd")), ev.UNKNOWN_TIMEZONE),
    ("year 9999", _raw(_created(occurred_at="9999-12-31T23:00:00Z")), ev.BAD_TIMESTAMP),
])
def test_hostile_input_is_a_rejection_never_an_exception(name: str, payload: bytes, reason: str) -> None:
    outcome = parse_event(ev.TOPIC_CREATED, payload, source={"offset": 1})
    assert isinstance(outcome, Rejection), name
    assert outcome.reason == reason, (name, outcome.message)
    assert outcome.source == {"offset": 1}
    # the rejection can be written out: ids and message are valid UTF-8
    for text in (outcome.message, outcome.event_id, outcome.case_id):
        assert text is None or text.encode()


def test_real_zones_still_accepted() -> None:
    for zone in ("Europe/Paris", "Asia/Shanghai", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5"):
        outcome = parse_event(ev.TOPIC_CREATED, _raw(_created(timezone=zone)))
        assert not isinstance(outcome, Rejection), zone


def test_an_update_that_changes_nothing_is_rejected_as_its_schema_says() -> None:
    empty = {"event_id": "u1", "case_id": "C1", "occurred_at": AT}
    outcome = parse_event(ev.TOPIC_UPDATED, _raw(empty))
    assert isinstance(outcome, Rejection) and outcome.reason == ev.MISSING_FIELD
    assert "at least one of" in outcome.message
    nulls = parse_event(ev.TOPIC_UPDATED, _raw({**empty, "status": None, "agent_response": None}))
    assert isinstance(nulls, Rejection) and nulls.reason == ev.MISSING_FIELD
    for change in ({"status": "open"}, {"priority": "P1"}, {"plan": "x"}, {"agent_response": False}):
        assert isinstance(parse_event(ev.TOPIC_UPDATED, _raw({**empty, **change})), CaseUpdated), change


def test_moderate_nesting_and_numbers_still_read() -> None:
    body = _raw(_created())[:-1] + b', "extra": ' + b"[" * 100 + b"]" * 100 + b', "n": ' + b"9" * 300 + b"}"
    assert not isinstance(parse_event(ev.TOPIC_CREATED, body), Rejection)
