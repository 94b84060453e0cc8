"""One wire contract: what the worker emits (engine output, encoded as the worker sends it) is what
the notifier parses, for every SLA event type; the time codecs agree with the schemas' format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from monitor import contract
from monitor.core.calendar import to_us
from monitor.core.case import Engine
from monitor.core.events import CaseCreated, CaseUpdated, SlaEvent
from monitor.core.policy import parse_catalog
from monitor.notify.events import SlaNotice, parse_notice
from monitor.stream.codec import encode_sla_event

POLICY = """
[regions.emea]
timezone = "Europe/London"
open = "09:00"
close = "17:00"

[plans.gold]
priorities = ["P1"]
[plans.gold.first_response]
P1 = { calendar = "24x7", target = "1h", warnings = ["-15m"], escalations = ["+30m"] }
[plans.gold.resolution]
P1 = { calendar = "24x7", target = "8h", warnings = ["-1h"] }
"""
T0 = datetime(2026, 11, 26, 9, 0, 0, 250_000, tzinfo=UTC)


def emitted_by_the_engine() -> list[SlaEvent]:
    """A case that nears, breaches and overshoots its first-response target, then is resolved."""
    engine = Engine(parse_catalog(POLICY, "contract.toml"))
    created = CaseCreated("e-1", "C-42", to_us(T0), "gold", "P1", "emea", customer_id="ACME-7")
    step = engine.apply(None, created, to_us(T0))
    events: list[SlaEvent] = list(step.emitted)
    state = step.state
    assert state is not None
    late = to_us(T0 + timedelta(hours=2))
    ticked = engine.tick(state, late, emitted_at=late)
    events += ticked.emitted
    assert ticked.state is not None
    resolved = CaseUpdated("e-2", "C-42", late + 1_000, status="resolved")
    events += engine.apply(ticked.state, resolved, late + 1_000).emitted
    return events


def test_every_event_type_the_worker_emits_is_read_by_the_notifier() -> None:
    events = emitted_by_the_engine()
    assert {e.type for e in events} == set(contract.EVENT_TYPES)
    for event in events:
        key, value, headers = encode_sla_event(event)   # the bytes the worker produces
        body = event.to_dict()
        notice = parse_notice(value)
        assert isinstance(notice, SlaNotice)
        assert key == notice.case_id.encode() and dict(headers)["event_id"] == notice.event_id.encode()
        assert (notice.event_id, notice.type, notice.case_id, notice.metric, notice.cycle) == (
            event.event_id, event.type, event.case_id, event.metric, event.cycle)
        assert notice.customer_id == "ACME-7" and notice.plan == "gold" and notice.region == "emea"
        assert notice.at is not None and to_us(notice.at) == event.at
        if event.due_at is not None:
            assert notice.due_at is not None and to_us(notice.due_at) == event.due_at
        assert notice.is_trigger == (event.type in contract.TRIGGER_TYPES)
        if event.type == contract.MET:
            assert notice.threshold is None and notice.breached is body["breached"] and notice.elapsed_seconds == body["elapsed_seconds"]
        else:
            assert notice.threshold == event.threshold
        assert notice.event_id == contract.event_id_for(event.case_id, event.metric, event.cycle,
                                                        None if event.type == contract.MET else event.threshold)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(8999, 12, 31), timezones=st.just(UTC)))
def test_time_codecs_round_trip(when: datetime) -> None:
    text = contract.format_timestamp(when)
    assert text.endswith("Z") and contract.parse_timestamp(text) == when
    assert contract.parse_time(text) == to_us(when)
    fixed = contract.format_timestamp_ms(when)
    assert len(fixed) == len("2026-11-26T09:00:00.000Z")
    assert contract.parse_timestamp(fixed) == when.replace(microsecond=when.microsecond // 1000 * 1000)


def _parsed(parse: Any, value: Any) -> object:
    """parse(value), or the type and text of the error it raised."""
    try:
        return parse(value)
    except ValueError as exc:
        return (type(exc).__name__, str(exc))


def _same_as_reference(value: Any) -> None:
    """parse_time (cached whole seconds, before and after caching) agrees with the datetime reference."""
    expected = _parsed(contract._parse_time_datetime, value)
    assert _parsed(contract.parse_time, value) == expected
    assert _parsed(contract.parse_time, value) == expected


TAIL_CHARS = st.sampled_from("0123456789.,:+-Zz Tt\u0660\u00b2\ud800") | st.characters()


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(8999, 12, 31)),
       st.text(TAIL_CHARS, max_size=16))
def test_parse_time_after_a_cached_second_is_the_reference(when: datetime, tail: str) -> None:
    head = when.strftime("%Y-%m-%dT%H:%M:%S")
    for seen in (head + "Z", head + ".5Z"):   # the whole second is cached ("...SSZ" and "...SS.")
        _same_as_reference(seen)
    assert contract._HEAD_SECONDS.get(head + ".") == contract.parse_time(head + "Z")
    _same_as_reference(head + tail)
    _same_as_reference(head + "." + tail)
    _same_as_reference(head + "Z" + tail)


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.sampled_from(["Z", "z", "+00:00", "-00:00", "+00:00:00.5", None]),
       st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)),
       st.integers(0, 9), st.sampled_from("T t"))
def test_parse_time_of_built_timestamps_is_the_reference(when: datetime, suffix: str | None, offset: timedelta,
                                                          digits: int, separator: str) -> None:
    fraction = f"{when.microsecond:06d}{when.microsecond % 997:03d}"[:digits]
    if suffix is None:
        sign, size = ("-", -offset) if offset < timedelta(0) else ("+", offset)
        minutes = int(size.total_seconds()) // 60
        suffix = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    text = f"{when:%Y-%m-%d}{separator}{when:%H:%M:%S}{'.' + fraction if digits else ''}{suffix}"
    _same_as_reference(text)
    for seen in ("Z", ".5Z"):   # the whole second is cached
        _same_as_reference(f"{when:%Y-%m-%dT%H:%M:%S}{seen}")
    _same_as_reference(text)


@given(st.one_of(st.text(), st.none(), st.integers(), st.floats(), st.binary(), st.datetimes()))
def test_parse_time_of_anything_is_the_reference(value: Any) -> None:
    _same_as_reference(value)
