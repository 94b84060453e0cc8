"""Dead-letter records: a rejected input's original bytes with the reason it was refused."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from monitor.core.events import Rejection, format_time


def dead_letter_record(rejection: Rejection, rejected_at_us: int) -> tuple[bytes | None, bytes]:
    """(key, value) of the sla-dead-letter record for a rejection whose source is a record_source dict."""
    source: dict[str, Any] = rejection.source or {}
    body = {
        "reason": rejection.reason,
        "message": rejection.message,
        "source_topic": source.get("topic", "unknown"),
        "partition": source.get("partition", 0),
        "offset": source.get("offset", 0),
        "key_b64": source.get("key_b64"),
        "value_b64": source.get("value_b64"),
        "value_size": source.get("value_size", 0),
        "event_id": rejection.event_id,
        "case_id": rejection.case_id,
        "rejected_at": format_time(rejected_at_us),
    }
    key_b64 = source.get("key_b64")
    key = base64.b64decode(key_b64) if key_b64 is not None else None
    try:
        return key, orjson.dumps(body)
    except TypeError:   # a lone surrogate in a text field: write it escaped, never fail
        return key, orjson.dumps({name: _writable(value) for name, value in body.items()})


def _writable(value: Any) -> Any:
    """Text that UTF-8 can carry: lone surrogates become their backslash escape."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value
