"""Bytes in and out of Kafka: case state (table values), SLA events and record sources.

Pure functions, no I/O. State is stored and shipped as compact JSON of `CaseState.to_dict()`.
"""

from __future__ import annotations

from binascii import b2a_base64
from typing import Any

import orjson

from monitor.core.case import CaseState
from monitor.core.events import MAX_EVENT_BYTES, SlaEvent

Headers = list[tuple[str, bytes]]

def encode_state(state: CaseState) -> bytes:
    """CaseState -> compact JSON bytes (the changelog value)."""
    # orjson hands back a bytes object that keeps its ~4 KiB build buffer; states live in memory
    # for as long as the case is open, so store an exact-size copy.
    return memoryview(orjson.dumps(state.to_dict())).tobytes()


def decode_state(raw: bytes) -> CaseState:
    """Changelog value -> CaseState."""
    return CaseState.from_dict(orjson.loads(raw))


def encode_key(case_id: str) -> bytes:
    """Record key of a case: its id in UTF-8."""
    return case_id.encode()


def decode_key(raw: bytes | None) -> str | None:
    """Record key -> case id (None when absent or not UTF-8)."""
    if raw is None:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def encode_sla_event(event: SlaEvent) -> tuple[bytes, bytes, Headers, dict[str, Any]]:
    """SlaEvent -> (key, value, headers, body); the event_id travels in the value and a header."""
    body = event.to_dict()
    return encode_key(event.case_id), orjson.dumps(body), [("event_id", body["event_id"].encode())], body


def b64(raw: bytes | None) -> str | None:
    """Standard base64 text of bytes (None stays None)."""
    # what base64.b64encode does, one call less
    return None if raw is None else b2a_base64(raw, newline=False).decode("ascii")


def record_source(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> dict[str, Any]:
    """Where an input record came from plus its bytes: the opaque `source` given to parse_event.

    JSON-able, because the engine keeps the source of held updates in the case state. Values
    over the engine's size limit are not copied (the dead letter then carries only their size).
    """
    if value is None:
        size, value_b64 = 0, None
    else:
        size = len(value)
        value_b64 = b2a_base64(value, newline=False).decode("ascii") if size <= MAX_EVENT_BYTES else None
    return {
        "topic": topic, "partition": partition, "offset": offset,
        "key_b64": None if key is None else b2a_base64(key, newline=False).decode("ascii"),
        "value_b64": value_b64, "value_size": size,
    }
