"""Bytes in and out of Kafka: case state (table values), SLA events and record sources.

Pure functions, no I/O.

Case state (the changelog value, also what the worker keeps in memory per open case) is
versioned by its first byte:
- `0x01` + MessagePack (msgspec) of the state's fields in a fixed order, with no field names:
  about a third of the JSON size (~110 vs ~370 bytes for a fresh case), which is most of the
  memory an open case costs, and faster to encode and decode;
- `{` : the JSON of `CaseState.to_dict()` written by earlier versions. It is still read, so a
  rolling upgrade restores the changelog the previous version wrote; it is never written.
Anything else is an error (ValueError), as is a value that does not match the layout.
"""

from __future__ import annotations

from binascii import b2a_base64
from typing import Any

import msgspec
import orjson

from monitor.core.case import CaseState, Clock
from monitor.core.events import MAX_EVENT_BYTES, SlaEvent

Headers = list[tuple[str, bytes]]

#: First byte of a state in the current (MessagePack) layout.
STATE_V1 = 1
_V1_PREFIX = bytes([STATE_V1])
_LEGACY_JSON = ord("{")
_msgpack_encode = msgspec.msgpack.Encoder().encode
_msgpack_decode = msgspec.msgpack.Decoder().decode
_json_encode = msgspec.json.Encoder().encode


def encode_state(state: CaseState) -> bytes:
    """CaseState -> changelog value: version byte 0x01 + MessagePack of its fields in order."""
    clocks = []
    for name, clock in state.clocks.items():
        fields = [clock.metric, clock.cycle, clock.started_at, clock.stopped_at, clock.pauses, clock.fired]
        if name != clock.metric:   # the engine keys clocks by metric; anything else keeps its key
            fields.append(name)
        clocks.append(fields)
    return _V1_PREFIX + _msgpack_encode((
        state.case_id, state.plan, state.priority, state.region, state.timezone, state.customer_id,
        state.status, state.created_at, state.stopped_at, clocks, state.seen, state.held, state.hold_until,
    ))


def decode_state(raw: bytes, end: int | None = None) -> CaseState:
    """Changelog value (current layout or the JSON of earlier versions) -> CaseState; ValueError if neither.

    `end`: where the state ends in `raw` (a case table value, `table.decode_stored`: read in
    place, not copied); the whole of `raw` by default.
    """
    if end is None:
        end = len(raw)
    if end <= 0:
        raise ValueError("empty state value")
    marker = raw[0]
    if marker == STATE_V1:
        try:
            (case_id, plan, priority, region, timezone, customer_id, status, created_at, stopped_at,
             clocks, seen, held, hold_until) = _msgpack_decode(memoryview(raw)[1:end])
            by_name = {}
            for fields in clocks:
                if len(fields) == 6:   # kept under its metric (encode_state)
                    by_name[fields[0]] = Clock(*fields)
                else:
                    by_name[fields[6]] = Clock(*fields[:6])
        except (msgspec.DecodeError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"state value does not match layout {STATE_V1}: {exc}") from exc
        return CaseState(case_id, plan, priority, region, timezone, customer_id, status, created_at, stopped_at,
                         by_name, seen, held, hold_until)
    if marker == _LEGACY_JSON:
        return CaseState.from_dict(orjson.loads(memoryview(raw)[:end]))
    raise ValueError(f"unknown state layout (first byte 0x{marker:02x})")


def encode_state_legacy(state: CaseState) -> bytes:
    """The JSON state value written before layout 1 (kept to test that old changelogs restore)."""
    return orjson.dumps(state.to_dict())


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


#: Floats whose JSON text msgspec and orjson write alike: orjson writes an exponent from 1e16 on with a
#: plus sign (`1e+16`), msgspec without. An event's floats (a threshold fraction, covered seconds
#: between the years 1900 and 9000) stay far below; anything else takes orjson's path.
_PLAIN_FLOAT_LIMIT = 1e16


def encode_sla_event(event: SlaEvent) -> tuple[bytes, bytes, Headers]:
    """SlaEvent -> (key, value, headers); the event_id travels in the value and a header.

    The value is the JSON orjson writes for `event.to_dict()` (the wire of topics/schemas/, a
    property test holds the two together), written by msgspec: orjson.dumps allocates a large
    buffer per call, and with the values kept in the outbox until they are sent, that cost ~1.6
    minor page faults per event in bench/throughput.py (~3 µs of the ~4 µs it took, measured alone).
    """
    body = event.to_dict()
    threshold, elapsed = event.threshold, event.elapsed_seconds
    if ((threshold is None or -_PLAIN_FLOAT_LIMIT < threshold < _PLAIN_FLOAT_LIMIT)
            and (elapsed is None or -_PLAIN_FLOAT_LIMIT < elapsed < _PLAIN_FLOAT_LIMIT)):
        try:
            value = _json_encode(body)
        except UnicodeEncodeError:   # a lone surrogate: orjson's path says so as it always did
            value = orjson.dumps(body)
    else:
        value = orjson.dumps(body)
    return encode_key(event.case_id), value, [("event_id", body["event_id"].encode())]


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
