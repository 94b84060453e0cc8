"""The wire contract, defined once: SLA event types, rejection reasons, time codecs, event ids.

Every producer and consumer of the topics in topics/ uses these definitions: the engine (core),
the worker (stream), the notifier (notify), the metrics (observe) and the local run. Pure: no
I/O, no wall clock. The JSON Schemas in topics/schemas/ describe the same contract for other
services; tests hold the two together.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import date, datetime, timezone
from typing import Any

from monitor.core.calendar import from_us, to_us

# Rejection reason codes (the dead-letter contract).
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
BAD_TIMESTAMP = "bad_timestamp"
BAD_VALUE = "bad_value"
OVERSIZED = "oversized"
UNKNOWN_TOPIC = "unknown_topic"
UNKNOWN_PLAN = "unknown_plan"
UNKNOWN_PRIORITY = "unknown_priority"
UNKNOWN_REGION = "unknown_region"
UNKNOWN_TIMEZONE = "unknown_timezone"
UNKNOWN_CASE = "unknown_case"
DUPLICATE_CASE = "duplicate_case"
INVALID_TRANSITION = "invalid_transition"
REOPEN_WINDOW_EXPIRED = "reopen_window_expired"
HOLD_OVERFLOW = "hold_overflow"
# Raised by the Kafka shell, not the engine: the record key is not the case_id; the engine
# raised on a record (a bug: the record is dead-lettered and the worker goes on).
KEY_MISMATCH = "key_mismatch"
PROCESSING_ERROR = "processing_error"
# An event dated further ahead of the wall clock than MONITOR_MAX_CLOCK_SKEW_SECONDS.
FUTURE_TIMESTAMP = "future_timestamp"
REASONS = (
    INVALID_JSON, NOT_AN_OBJECT, MISSING_FIELD, WRONG_TYPE, BAD_TIMESTAMP, BAD_VALUE, OVERSIZED,
    UNKNOWN_TOPIC, UNKNOWN_PLAN, UNKNOWN_PRIORITY, UNKNOWN_REGION, UNKNOWN_TIMEZONE, UNKNOWN_CASE,
    DUPLICATE_CASE, INVALID_TRANSITION, REOPEN_WINDOW_EXPIRED, HOLD_OVERFLOW, KEY_MISMATCH, PROCESSING_ERROR,
    FUTURE_TIMESTAMP,
)

# SLA event types (the `type` field of topics/schemas/sla-event.json).
NEAR_BREACH = "sla.near_breach"
BREACH = "sla.breach"
MET = "sla.met"
#: An escalation level (`escalations = ["+1h"]`) reached by a clock still running after its breach.
OVERDUE = "sla.overdue"
EVENT_TYPES: tuple[str, ...] = (NEAR_BREACH, BREACH, OVERDUE, MET)
#: Event types that open (or escalate) an incident; MET closes them.
TRIGGER_TYPES: frozenset[str] = frozenset({NEAR_BREACH, BREACH, OVERDUE})

#: Namespace of the deterministic SLA event ids (uuid5), so replays re-emit the same ids.
EVENT_NAMESPACE = uuid.UUID("6f1d1c1e-5b1a-4c39-9a53-2d8f5b0e7a11")


#: SHA-1 state after the namespace bytes: uuid5 hashes namespace + name, so each id copies this.
EVENT_NAMESPACE_SHA1 = hashlib.sha1(EVENT_NAMESPACE.bytes, usedforsecurity=False)
#: First hex digit of the clock_seq_hi field -> the same digit with the RFC 4122 variant bits set.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 0x3] for digit in "0123456789abcdef"}


def event_id_for(case_id: str, metric: str, cycle: int, threshold: float | None) -> str:
    """uuid5 over 'case/metric/cycle/threshold' ('met' for the stop event).

    Same text as `str(uuid.uuid5(EVENT_NAMESPACE, name))` (a property test holds it to that),
    without building a UUID: SHA-1 of namespace + UTF-8 name, first 16 bytes, version nibble 5,
    variant bits 10.
    """
    key = "met" if threshold is None else repr(float(threshold))
    sha = EVENT_NAMESPACE_SHA1.copy()
    sha.update(f"{case_id}/{metric}/{cycle}/{key}".encode())
    h = sha.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"


#: Range of epoch microseconds a datetime can hold (0001-01-01 .. 9999-12-31T23:59:59.999999).
_MIN_TIME_US = -62_135_596_800_000_000
_MAX_TIME_US = 253_402_300_799_999_999
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
#: Range of an event's occurred_at: deadlines months of business days ahead must stay datetimes.
_EARLIEST_EVENT_US = -2_208_988_800_000_000   # 1900-01-01T00:00:00Z
_LATEST_EVENT_US = 221_845_392_000_000_000    # 9000-01-01T00:00:00Z
#: Whole epoch second -> "YYYY-MM-DDTHH:MM:SS"; timestamps of a stream cluster around now.
_SECOND_TEXT: dict[int, str] = {}
_SECOND_TEXT_MAX = 4096
#: Instant -> its text: an event's instants recur (every event of a turn has the same emitted_at,
#: the events of one clock share started_at and due_at).
_TIME_TEXT: dict[int, str] = {}
_TIME_TEXT_MAX = 4096


def format_time(us: int) -> str:
    """Epoch microseconds -> RFC 3339 UTC with 'Z'; fraction only when non-zero (ms or µs digits).

    Same text as `_format_time_datetime` (a property test holds it to that), from integer
    arithmetic and small caches of recent instants and of the whole-second part.
    """
    if type(us) is not int:
        return _format_time_int(us)
    text = _TIME_TEXT.get(us)
    if text is None:
        text = _format_time_int(us)
        if len(_TIME_TEXT) >= _TIME_TEXT_MAX:
            _TIME_TEXT.clear()
        _TIME_TEXT[us] = text
    return text


def _format_time_int(us: int) -> str:
    """format_time without the cache of recent instants."""
    if type(us) is not int or not _MIN_TIME_US <= us <= _MAX_TIME_US:
        return _format_time_datetime(us)
    seconds, fraction = divmod(us, 1_000_000)
    head = _SECOND_TEXT.get(seconds)
    if head is None:
        days, second = divmod(seconds, 86_400)
        hour, second = divmod(second, 3600)
        minute, second = divmod(second, 60)
        head = f"{date.fromordinal(days + _EPOCH_ORDINAL).isoformat()}T{hour:02d}:{minute:02d}:{second:02d}"
        if len(_SECOND_TEXT) >= _SECOND_TEXT_MAX:
            _SECOND_TEXT.clear()
        _SECOND_TEXT[seconds] = head
    if not fraction:
        return head + "Z"
    if fraction % 1000:
        return f"{head}.{fraction:06d}Z"
    return f"{head}.{fraction // 1000:03d}Z"


def _format_time_datetime(us: int) -> str:
    """format_time through datetime.isoformat: the reference, and the path for odd inputs."""
    if us % 1_000_000 == 0:
        spec = "seconds"
    elif us % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return from_us(us).isoformat(timespec=spec).replace("+00:00", "Z")


def format_timestamp(when: datetime) -> str:
    """An aware datetime -> the same RFC 3339 UTC text as `format_time`."""
    return format_time(to_us(when))


def format_timestamp_ms(when: datetime) -> str:
    """An aware datetime -> RFC 3339 UTC with exactly three fraction digits (fixed width, so texts sort as times)."""
    us = to_us(when)
    head = format_time(us - us % 1_000_000).removesuffix("Z")
    return f"{head}.{us % 1_000_000 // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    """RFC 3339 text with an explicit offset (or Z) -> aware datetime; ValueError otherwise."""
    return from_us(parse_time(value))


#: "YYYY-MM-DDTHH:MM:SSZ" or "YYYY-MM-DDTHH:MM:SS." of a UTC timestamp parse_time accepted ->
#: its epoch second (stream timestamps cluster around now); only texts of exactly that shape count.
_HEAD_SECONDS: dict[str, int] = {}
_HEAD_SECONDS_MAX = 4096
_HEAD_SHAPE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|\.\d{1,6}Z)", re.ASCII)
_fromisoformat = datetime.fromisoformat


def parse_time(value: Any) -> int:
    """RFC 3339 text with an explicit offset -> epoch microseconds; ValueError otherwise.

    Same result and same errors as `_parse_time_datetime` (a property test holds it to that). A
    text whose first 20 characters are those of a UTC timestamp parsed recently ("...T10:00:00."
    or "...T10:00:00Z") is the cached whole second plus its fraction, when `fromisoformat` takes it
    and finds a zero offset (its date and time fields are then the cached ones); the whole-second
    part is what costs (aware datetime arithmetic). Everything else goes through the reference.
    """
    if type(value) is str:
        seconds = _HEAD_SECONDS.get(value[:20])
        if seconds is not None:
            try:
                parsed = _fromisoformat(value)
            except ValueError:
                pass
            else:
                if parsed.tzinfo is timezone.utc:
                    return seconds + parsed.microsecond
    us = _parse_time_datetime(value)
    if type(value) is str and _HEAD_SHAPE.fullmatch(value):
        if len(_HEAD_SECONDS) >= _HEAD_SECONDS_MAX:
            _HEAD_SECONDS.clear()
        _HEAD_SECONDS[value[:20]] = us - us % 1_000_000
    return us


def _parse_time_datetime(value: Any) -> int:
    """parse_time through datetime.fromisoformat: the reference, and the path for other shapes."""
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an RFC 3339 timestamp") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    us = to_us(parsed)
    if not _EARLIEST_EVENT_US <= us < _LATEST_EVENT_US:
        raise ValueError(f"{value!r} is outside the years 1900 to 8999 that SLA clocks can run in")
    return us
