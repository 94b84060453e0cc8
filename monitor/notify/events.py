"""The SLA event the notifier consumes (topics/schemas/sla-event.json), parsed without I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.contract import BREACH, EVENT_TYPES, MET, NEAR_BREACH, OVERDUE, TRIGGER_TYPES, parse_timestamp

__all__ = ["BREACH", "EVENT_TYPES", "MET", "NEAR_BREACH", "OVERDUE", "TRIGGER_TYPES", "NoticeError", "SlaNotice", "parse_notice",
           "parse_timestamp"]



class NoticeError(ValueError):
    """An input record that is not a usable SLA event."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SlaNotice:
    """One SLA event as emitted by the worker; `raw` is the JSON object exactly as received."""

    event_id: str
    type: str
    case_id: str
    customer_id: str | None
    metric: str
    cycle: int
    threshold: float | None
    plan: str
    priority: str
    region: str
    calendar: str | None
    target_seconds: float | None
    due_at: datetime | None
    at: datetime | None
    breached: bool | None
    elapsed_seconds: float | None
    raw: dict[str, Any]

    @property
    def is_trigger(self) -> bool:
        """True for near-breach, breach and overdue events (things that open or escalate an incident)."""
        return self.type in TRIGGER_TYPES


def _require(obj: dict[str, Any], key: str, kinds: tuple[type, ...], nullable: bool = False) -> Any:
    if key not in obj:
        if nullable:
            return None
        raise NoticeError("missing_field", f"missing field {key!r}")
    value = obj[key]
    if value is None and nullable:
        return None
    if isinstance(value, bool) and bool not in kinds:
        raise NoticeError("wrong_type", f"field {key!r} has type bool")
    if not isinstance(value, kinds):
        raise NoticeError("wrong_type", f"field {key!r} has type {type(value).__name__}")
    return value


def _timestamp(obj: dict[str, Any], key: str) -> datetime | None:
    value = _require(obj, key, (str,), nullable=True)
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise NoticeError("bad_timestamp", f"field {key!r}: {exc}") from None


def parse_notice(raw: bytes) -> SlaNotice:
    """Decode a Kafka record value into an SlaNotice or raise NoticeError with a reason."""
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NoticeError("invalid_json", f"not JSON: {exc.__class__.__name__}") from None
    if not isinstance(obj, dict):
        raise NoticeError("not_an_object", "record value is not a JSON object")
    event_type = _require(obj, "type", (str,))
    if event_type not in EVENT_TYPES:
        raise NoticeError("unknown_type", f"unknown event type {event_type!r}")
    threshold = _require(obj, "threshold", (int, float), nullable=True)
    target = _require(obj, "target_seconds", (int, float), nullable=True)
    elapsed = _require(obj, "elapsed_seconds", (int, float), nullable=True)
    return SlaNotice(
        event_id=_require(obj, "event_id", (str,)),
        type=event_type,
        case_id=_require(obj, "case_id", (str,)),
        customer_id=_require(obj, "customer_id", (str,), nullable=True),
        metric=_require(obj, "metric", (str,)),
        cycle=_require(obj, "cycle", (int,)),
        threshold=None if threshold is None else float(threshold),
        plan=_require(obj, "plan", (str,)),
        priority=_require(obj, "priority", (str,)),
        region=_require(obj, "region", (str,)),
        calendar=_require(obj, "calendar", (str,), nullable=True),
        target_seconds=None if target is None else float(target),
        due_at=_timestamp(obj, "due_at"),
        at=_timestamp(obj, "at"),
        breached=_require(obj, "breached", (bool,), nullable=True),
        elapsed_seconds=None if elapsed is None else float(elapsed),
        raw=obj,
    )
