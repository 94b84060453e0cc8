"""Input and output events of the engine, and parsing with machine-readable rejection reasons.

`parse_event(topic, raw)` never raises: it returns a `CaseCreated`, a `CaseUpdated` or a
`Rejection`. Checks that need the catalog (unknown plan, priority, region) happen in the
engine, which also answers with a `Rejection`.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from zoneinfo import available_timezones

import msgspec
import orjson

from monitor.contract import (  # the wire contract lives there; re-exported for the engine's users
    BAD_TIMESTAMP,
    BAD_VALUE,
    BREACH,
    DUPLICATE_CASE,
    EVENT_NAMESPACE,
    EVENT_TYPES,
    FUTURE_TIMESTAMP,
    HOLD_OVERFLOW,
    INVALID_JSON,
    INVALID_TRANSITION,
    KEY_MISMATCH,
    MET,
    MISSING_FIELD,
    NEAR_BREACH,
    NOT_AN_OBJECT,
    OVERDUE,
    OVERSIZED,
    PROCESSING_ERROR,
    REASONS,
    REOPEN_WINDOW_EXPIRED,
    TRIGGER_TYPES,
    UNKNOWN_CASE,
    UNKNOWN_PLAN,
    UNKNOWN_PRIORITY,
    UNKNOWN_REGION,
    UNKNOWN_TIMEZONE,
    UNKNOWN_TOPIC,
    WRONG_TYPE,
    event_id_for,
    format_time,
    format_timestamp,
    parse_time,
    parse_timestamp,
)

#: Names of the wire contract (monitor.contract) that the engine's users import from here.
__all__ = [
    "BAD_TIMESTAMP",
    "BAD_VALUE",
    "BREACH",
    "DUPLICATE_CASE",
    "EVENT_NAMESPACE",
    "EVENT_TYPES",
    "FUTURE_TIMESTAMP",
    "HOLD_OVERFLOW",
    "INVALID_JSON",
    "INVALID_TRANSITION",
    "KEY_MISMATCH",
    "MET",
    "MISSING_FIELD",
    "NEAR_BREACH",
    "NOT_AN_OBJECT",
    "OVERDUE",
    "OVERSIZED",
    "PROCESSING_ERROR",
    "REASONS",
    "REOPEN_WINDOW_EXPIRED",
    "TRIGGER_TYPES",
    "UNKNOWN_CASE",
    "UNKNOWN_PLAN",
    "UNKNOWN_PRIORITY",
    "UNKNOWN_REGION",
    "UNKNOWN_TIMEZONE",
    "UNKNOWN_TOPIC",
    "WRONG_TYPE",
    "event_id_for",
    "format_time",
    "format_timestamp",
    "parse_time",
    "parse_timestamp",
]

MAX_EVENT_BYTES = 1024 * 1024
#: Deepest JSON nesting read. An event is a flat object; the json module recurses per level
#: (RecursionError near Python's limit of 1000), orjson stops at 1024.
MAX_JSON_DEPTH = 512
#: Longest integer literal read. An event carries no numbers; the json module refuses more than
#: 4300 digits with a ValueError, and orjson anything beyond a double (~309 digits).
MAX_INT_DIGITS = 400
TOPIC_CREATED = "case-created"
TOPIC_UPDATED = "case-updated"
STATUSES = ("open", "pending_customer", "resolved", "closed", "reopened")


class _Input(msgspec.Struct, frozen=True, eq=False):
    """Immutable record of the engine's inputs and rejections; `source` (an opaque copy of the
    record, for dead-lettering) is not part of equality. A msgspec struct: built in C, several
    times faster than a frozen dataclass, which matters once per input record."""

    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__struct_fields__ if name != "source")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Input)
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())


class CaseCreated(_Input, frozen=True, eq=False):
    """A new case: opens its SLA clocks at `occurred_at` (epoch microseconds)."""

    event_id: str
    case_id: str
    occurred_at: int
    plan: str
    priority: str
    region: str
    timezone: str | None = None
    customer_id: str | None = None
    product: str | None = None
    source: Any = None


class CaseUpdated(_Input, frozen=True, eq=False):
    """A change to an existing case; every field but the ids and time is optional."""

    event_id: str
    case_id: str
    occurred_at: int
    status: str | None = None
    priority: str | None = None
    plan: str | None = None
    agent_response: bool = False
    source: Any = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (used to hold updates that arrive before their case)."""
        return {
            "event_id": self.event_id, "case_id": self.case_id, "occurred_at": self.occurred_at,
            "status": self.status, "priority": self.priority, "plan": self.plan,
            "agent_response": self.agent_response, "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseUpdated:
        """Inverse of to_dict."""
        return cls(**data)


InputEvent = CaseCreated | CaseUpdated


class Rejection(_Input, frozen=True, eq=False):
    """Why an input was refused; `source` is passed through untouched for dead-lettering."""

    reason: str
    message: str
    event_id: str | None = None
    case_id: str | None = None
    source: Any = None


#: SLA event type -> the output topic it goes to (`SlaEvent.topic_kind`).
_TOPIC_KINDS = {NEAR_BREACH: "near_breach", BREACH: "breach", OVERDUE: "breach"}


class SlaEvent(msgspec.Struct, frozen=True):
    """An emitted SLA event: near-breach, breach, overdue or met (a msgspec struct: cheap to build)."""

    type: str
    case_id: str
    customer_id: str | None
    metric: str
    cycle: int
    threshold: float | None
    plan: str
    priority: str
    region: str
    calendar: str
    target_seconds: int | None
    started_at: int
    due_at: int | None
    at: int
    emitted_at: int
    policy_version: str
    breached: bool | None = None
    elapsed_seconds: float | None = None
    #: The warning or escalation offset as written in the policy ('-30m', '+1h'), if any.
    offset: str | None = None
    #: sla.overdue only: the level's covered seconds after the due instant.
    overdue_seconds: int | None = None

    @property
    def event_id(self) -> str:
        """Deterministic id from (case, metric, cycle, threshold or 'met')."""
        return event_id_for(self.case_id, self.metric, self.cycle, self.threshold)

    @property
    def topic_kind(self) -> str:
        """Which output topic: 'near_breach', 'breach' (sla.breach and sla.overdue) or 'status'."""
        return _TOPIC_KINDS.get(self.type, "status")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the output contract (topics/schemas/sla-event.json)."""
        body: dict[str, Any] = {
            "event_id": event_id_for(self.case_id, self.metric, self.cycle, self.threshold),
            "type": self.type,
            "case_id": self.case_id,
            "customer_id": self.customer_id,
            "metric": self.metric,
            "cycle": self.cycle,
            "threshold": self.threshold,
            "plan": self.plan,
            "priority": self.priority,
            "region": self.region,
            "calendar": self.calendar,
            "target_seconds": self.target_seconds,
            "started_at": format_time(self.started_at),
            "due_at": format_time(self.due_at) if self.due_at is not None else None,
            "at": format_time(self.at),
            "emitted_at": format_time(self.emitted_at),
            "policy_version": self.policy_version,
        }
        if self.type == MET:
            body["breached"] = bool(self.breached)
            body["elapsed_seconds"] = self.elapsed_seconds
        if self.offset is not None:
            body["offset"] = self.offset
        if self.overdue_seconds is not None:
            body["overdue_seconds"] = self.overdue_seconds
        return body


@functools.cache
def _known_zones() -> frozenset[str]:
    """Every IANA zone name of the tz database (system zoneinfo and the tzdata package)."""
    return frozenset(available_timezones())


def zone_exists(name: str) -> bool:
    """Whether `name` is a known IANA time zone: looked up in the tz database's list, never opened
    as a file (a directory name or an overlong name would raise there)."""
    return name in _known_zones()


def utf8_text(value: str) -> bool:
    """Whether `value` can be written as UTF-8 (no lone surrogates, which JSON escapes allow)."""
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


class _Invalid(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _text(body: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _Invalid(MISSING_FIELD, f"field {name!r} is required")
        return None
    if not isinstance(value, str):
        raise _Invalid(WRONG_TYPE, f"field {name!r} must be a string, got {type(value).__name__}")
    if not utf8_text(value):
        raise _Invalid(BAD_VALUE, f"field {name!r} contains a lone surrogate (not valid Unicode)")
    if required and not value.strip():
        raise _Invalid(BAD_VALUE, f"field {name!r} must not be empty")
    return value


def _occurred_at(body: dict[str, Any]) -> int:
    if body.get("occurred_at") is None:
        raise _Invalid(MISSING_FIELD, "field 'occurred_at' is required")
    try:
        return parse_time(body["occurred_at"])
    except ValueError as exc:
        raise _Invalid(BAD_TIMESTAMP, f"field 'occurred_at': {exc}") from exc


def _created(body: dict[str, Any], source: Any) -> CaseCreated:
    event_id = _text(body, "event_id")
    case_id = _text(body, "case_id")
    occurred_at = _occurred_at(body)
    plan, priority, region = _text(body, "plan"), _text(body, "priority"), _text(body, "region")
    zone = _text(body, "timezone", required=False)
    if zone is not None and not zone_exists(zone):
        raise _Invalid(UNKNOWN_TIMEZONE, f"timezone {zone!r} is not an IANA time zone")
    return CaseCreated(
        event_id=event_id or "", case_id=case_id or "", occurred_at=occurred_at,
        plan=plan or "", priority=priority or "", region=region or "", timezone=zone,
        customer_id=_text(body, "customer_id", required=False),
        product=_text(body, "product", required=False), source=source,
    )


def _updated(body: dict[str, Any], source: Any) -> CaseUpdated:
    event_id = _text(body, "event_id")
    case_id = _text(body, "case_id")
    occurred_at = _occurred_at(body)
    status = _text(body, "status", required=False)
    if status is not None and status not in STATUSES:
        raise _Invalid(BAD_VALUE, f"status {status!r} is not one of {', '.join(STATUSES)}")
    agent_response = body.get("agent_response", False)
    if agent_response is None:
        agent_response = False
    if not isinstance(agent_response, bool):
        raise _Invalid(WRONG_TYPE, "field 'agent_response' must be true or false")
    if status is None and body.get("priority") is None and body.get("plan") is None and body.get("agent_response") is None:
        raise _Invalid(MISSING_FIELD, "an update needs at least one of status, priority, plan, agent_response")
    return CaseUpdated(
        event_id=event_id or "", case_id=case_id or "", occurred_at=occurred_at, status=status,
        priority=_text(body, "priority", required=False), plan=_text(body, "plan", required=False),
        agent_response=agent_response, source=source,
    )


def _wire_struct(event_type: type[CaseCreated] | type[CaseUpdated]) -> type[msgspec.Struct]:
    """A msgspec struct of an input event's fields as a valid value carries them: `occurred_at` as
    text, every optional field also as null (read as absent), no `source`."""
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for spec in msgspec.structs.fields(event_type):
        if spec.name == "source":
            continue
        kind = str if spec.name == "occurred_at" else spec.type
        fields.append((spec.name, kind) if spec.required else (spec.name, kind | None, None))
    return msgspec.defstruct(f"{event_type.__name__}Wire", fields)


_decode_created = msgspec.json.Decoder(_wire_struct(CaseCreated)).decode
_decode_updated = msgspec.json.Decoder(_wire_struct(CaseUpdated)).decode
#: A run of digits longer than any integer literal read (msgspec skips unknown fields without that bound).
_LONG_DIGITS = re.compile(rb"[0-9]{%d}" % (MAX_INT_DIGITS + 1))


def parse_event(topic: str, raw: bytes, source: Any = None) -> InputEvent | Rejection:
    """Decode one record value of `case-created` or `case-updated`; never raises.

    The answer is the one of `_parse_event_json` (the json module's reading; property tests
    hold it to that). Two fast paths read valid events, and only them:
    - ASCII values (the common case): msgspec decodes the fields straight into typed structs
      (`_wire_struct`), so a wrong type, a missing or null required field or a
      lone surrogate is a decode error, and only the checks on values remain. Unknown fields
      are skipped, but never read more leniently than the json module does: non-ASCII bytes
      (msgspec does not check the UTF-8 of a skipped string) and digit runs longer than
      MAX_INT_DIGITS go the other ways;
    - other values: orjson, which accepts a subset of what the json module accepts and gives
      the same strings and booleans, the only values an event takes, then a check per field.
    Everything else — a value a fast path refuses (NaN, huge numbers, a BOM, UTF-16, lone
    surrogates...) or any rejection, whose message may quote a type read differently — goes
    through the json module again.
    """
    size = len(raw)
    if size > MAX_EVENT_BYTES:
        return Rejection(OVERSIZED, f"event is {size} bytes, the limit is {MAX_EVENT_BYTES}", source=source)
    # maybe too deep (more opening brackets than MAX_JSON_DEPTH need a longer value): the reference decides
    if size > MAX_JSON_DEPTH and raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH:
        return _parse_event_json(topic, raw, source)
    if raw.isascii() and (size <= MAX_INT_DIGITS or _LONG_DIGITS.search(raw) is None):
        try:
            if topic == TOPIC_CREATED:
                event: InputEvent | None = _created_wire(_decode_created(raw), source)
            elif topic == TOPIC_UPDATED:
                event = _updated_wire(_decode_updated(raw), source)
            else:
                event = None
        except ValueError:   # msgspec's DecodeError and ValidationError, or parse_time's
            event = None
        return event if event is not None else _parse_event_json(topic, raw, source)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _parse_event_json(topic, raw, source)
    if type(body) is dict:
        try:
            if topic == TOPIC_CREATED:
                return _created(body, source)
            if topic == TOPIC_UPDATED:
                return _updated(body, source)
        except _Invalid:
            pass
    return _parse_event_json(topic, raw, source)


def _created_wire(wire: Any, source: Any) -> CaseCreated | None:
    """A decoded `case-created` as an event, or None when a value is invalid (the reference says why)."""
    # msgspec refuses lone surrogates, so every string here is valid UTF-8 already
    if not (wire.event_id.strip() and wire.case_id.strip() and wire.plan.strip() and wire.priority.strip()
            and wire.region.strip()):
        return None
    zone = wire.timezone
    if zone is not None and not zone_exists(zone):
        return None
    return CaseCreated(wire.event_id, wire.case_id, parse_time(wire.occurred_at), wire.plan, wire.priority,
                       wire.region, zone, wire.customer_id, wire.product, source)


def _updated_wire(wire: Any, source: Any) -> CaseUpdated | None:
    """A decoded `case-updated` as an event, or None when a value is invalid (the reference says why)."""
    status, agent_response = wire.status, wire.agent_response
    if not (wire.event_id.strip() and wire.case_id.strip()) or (status is not None and status not in STATUSES):
        return None
    if status is None and wire.priority is None and wire.plan is None and agent_response is None:
        return None
    return CaseUpdated(wire.event_id, wire.case_id, parse_time(wire.occurred_at), status, wire.priority,
                       wire.plan, bool(agent_response), source)


def _parse_event_json(topic: str, raw: bytes, source: Any = None) -> InputEvent | Rejection:
    """parse_event with the json module: the reference behaviour and the path for rejections."""
    if len(raw) > MAX_EVENT_BYTES:
        return Rejection(OVERSIZED, f"event is {len(raw)} bytes, the limit is {MAX_EVENT_BYTES}", source=source)
    if _nested_deeper_than(raw, MAX_JSON_DEPTH):
        return Rejection(INVALID_JSON, f"JSON nested deeper than {MAX_JSON_DEPTH} levels", source=source)
    try:
        body = json.loads(raw, parse_int=_bounded_int)
    except _Invalid as exc:
        return Rejection(exc.reason, exc.message, source=source)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Rejection(INVALID_JSON, f"not valid JSON: {exc}", source=source)
    except (RecursionError, ValueError) as exc:   # belt and braces: the bounds above should prevent them
        return Rejection(INVALID_JSON, f"not readable JSON: {type(exc).__name__}", source=source)
    if not isinstance(body, dict):
        return Rejection(NOT_AN_OBJECT, f"expected a JSON object, got {type(body).__name__}", source=source)
    event_id = _readable_id(body.get("event_id"))
    case_id = _readable_id(body.get("case_id"))
    try:
        if topic == TOPIC_CREATED:
            return _created(body, source)
        if topic == TOPIC_UPDATED:
            return _updated(body, source)
        raise _Invalid(UNKNOWN_TOPIC, f"no event type for topic {topic!r}")
    except _Invalid as exc:
        return Rejection(exc.reason, exc.message, event_id, case_id, source)


def _readable_id(value: Any) -> str | None:
    """An id field quoted in a rejection: only a string that can be written out again."""
    return value if isinstance(value, str) and utf8_text(value) else None


def _bounded_int(literal: str) -> int:
    """json parse_int hook: integer literals of at most MAX_INT_DIGITS digits."""
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise _Invalid(INVALID_JSON, f"a number of {len(literal)} characters exceeds the limit of {MAX_INT_DIGITS} digits")
    return int(literal)


#: A JSON string (skipped whole) or a bracket, for counting nesting without parsing.
_STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _nested_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether the JSON text nests arrays/objects more than `limit` levels (strings skipped)."""
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return False
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(raw):
        token = match.group()
        if token in (b"{", b"["):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"}", b"]"):
            depth -= 1
    return False
