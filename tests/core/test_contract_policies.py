"""Custom contracts through the engine: named calendars, holiday dates, offset warnings, escalations.

Every expected instant is computed by hand in the comment next to it. The support desk is the
issue's: Berlin, Monday 10:30-18:00, Tuesday-Friday 08:00-12:00 and 13:00-18:00, Saturday
09:00-13:00. November 2026 in Berlin is CET (UTC+1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from monitor.core import events as ev
from monitor.core.events import parse_time
from monitor.core.policy import Catalog, parse_catalog
from monitor.simulate import simulate

SCHEMA = json.loads((Path(__file__).parents[2] / "topics" / "schemas" / "sla-event.json").read_text())

CONTRACT = """
version = "contract-test-1"

[calendars.support-desk]
timezone = "Europe/Berlin"
holidays = { dates = ["2026-12-24", "2026-12-31"] }
[calendars.support-desk.week]
mon = ["10:30-18:00"]
tue = ["08:00-12:00", "13:00-18:00"]
wed = ["08:00-12:00", "13:00-18:00"]
thu = ["08:00-12:00", "13:00-18:00"]
fri = ["08:00-12:00", "13:00-18:00"]
sat = ["09:00-13:00"]

[calendars.office]
week = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }
holidays = { dates = [2026-12-02] }

[calendars.always-but-christmas]
timezone = "Europe/Berlin"
holidays = { dates = ["2026-12-25"] }
[calendars.always-but-christmas.week]
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["00:00-24:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]

[regions.emea]
timezone = "Europe/London"
week = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }
holidays = { dates = ["2026-12-24"] }

[plans.gold]
priorities = ["P1", "P2", "P3", "P4", "P5"]

[plans.gold.first_response]
P1 = { calendar = "24x7", target = "1d" }
P2 = { calendar = "support-desk", target = "4h", warnings = [0.5, "-30m"], escalations = ["+1h", "+4h"] }
P3 = { calendar = "office", target = "2 business_days" }
P4 = { calendar = "always-but-christmas", target = "8h" }
P5 = { calendar = "business_hours", target = "1 business_day" }
"""


def contract() -> Catalog:
    return parse_catalog(CONTRACT, "contract.toml")


def created(case_id: str, at: str, priority: str, **extra: Any) -> str:
    value = {"event_id": f"{case_id}-c", "case_id": case_id, "occurred_at": at, "plan": "gold",
             "priority": priority, "region": "emea", **extra}
    return json.dumps({"topic": "case-created", "value": value})


def responded(case_id: str, at: str) -> str:
    value = {"event_id": f"{case_id}-r", "case_id": case_id, "occurred_at": at, "agent_response": True}
    return json.dumps({"topic": "case-updated", "value": value})


def run(*lines: str, until: str | None = None) -> list[dict[str, Any]]:
    out = list(simulate(contract(), lines, parse_time(until) if until else None))
    for event in out:
        jsonschema.validate(event, SCHEMA)
    return out


def summary(out: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["type"], e["threshold"], e["at"], e.get("offset"), e.get("overdue_seconds")) for e in out]


def due_of(out: list[dict[str, Any]]) -> str:
    return next(e["due_at"] for e in out if e["type"] == "sla.breach")


# ----------------------------------------------------------------------------- offsets and escalations

# Tue 2026-11-24 08:00 CET (07:00Z), 4 h on the support desk: 08:00-12:00 -> due 12:00 CET (11:00Z).
# 0.5 -> 2 h covered -> 10:00 CET (09:00Z); -30m -> 3.5 h -> 11:30 CET (10:30Z), threshold 0.875;
# +1h -> 5 h covered: lunch 12-13 is closed, 13:00-14:00 -> 14:00 CET (13:00Z), threshold 1.25;
# +4h -> 8 h covered: 13:00 + 4 h -> 17:00 CET (16:00Z), threshold 2.0.
START = "2026-11-24T07:00:00Z"
LEVELS = [
    ("sla.near_breach", 0.5, "2026-11-24T09:00:00Z", None, None),
    ("sla.near_breach", 0.875, "2026-11-24T10:30:00Z", "-30m", None),
    ("sla.breach", 1.0, "2026-11-24T11:00:00Z", None, None),
    ("sla.overdue", 1.25, "2026-11-24T13:00:00Z", "+1h", 3600),
    ("sla.overdue", 2.0, "2026-11-24T16:00:00Z", "+4h", 14400),
]


def test_offset_warning_and_escalations_fire_at_their_covered_instants() -> None:
    out = run(created("A", START, "P2"))
    assert summary(out) == LEVELS
    assert {e["due_at"] for e in out} == {"2026-11-24T11:00:00Z"}
    overdue = [e for e in out if e["type"] == "sla.overdue"]
    assert [e["event_id"] for e in overdue] == [ev.event_id_for("A", "first_response", 1, t) for t in (1.25, 2.0)]


def test_overdue_events_go_to_the_breach_topic() -> None:
    event = ev.SlaEvent(type=ev.OVERDUE, case_id="A", customer_id=None, metric="first_response", cycle=1, threshold=1.25,
                        plan="gold", priority="P2", region="emea", calendar="support-desk", target_seconds=14400,
                        started_at=0, due_at=1, at=2, emitted_at=2, policy_version="v", offset="+1h", overdue_seconds=3600)
    assert event.topic_kind == "breach"


def test_a_response_between_two_escalations_stops_the_later_one() -> None:
    # Response at 16:00 CET (15:00Z): after +1h (13:00Z), before +4h (16:00Z).
    out = run(created("A", START, "P2"), responded("A", "2026-11-24T15:00:00Z"))
    assert summary(out) == [*LEVELS[:4], ("sla.met", None, "2026-11-24T15:00:00Z", None, None)]
    met = out[-1]
    assert met["breached"] is True and met["elapsed_seconds"] == 7 * 3600  # 08-12 and 13-16 local


def test_a_response_at_exactly_a_level_instant_is_in_time_for_it() -> None:
    out = run(created("A", START, "P2"), responded("A", "2026-11-24T13:00:00Z"))
    assert [e["type"] for e in out] == ["sla.near_breach", "sla.near_breach", "sla.breach", "sla.met"]


def test_an_offset_warning_landing_on_a_close_fires_at_that_close() -> None:
    # Tue 08:30 CET (07:30Z): 08:30-12:00 holds 3.5 h, so -30m is reached at the 12:00 close (11:00Z),
    # not at the 13:00 reopening; 0.5 -> 10:30 CET (09:30Z); due 13:30 CET (12:30Z).
    out = run(created("B", "2026-11-24T07:30:00Z", "P2"), until="2026-11-24T12:30:00Z")
    assert summary(out) == [
        ("sla.near_breach", 0.5, "2026-11-24T09:30:00Z", None, None),
        ("sla.near_breach", 0.875, "2026-11-24T11:00:00Z", "-30m", None),
        ("sla.breach", 1.0, "2026-11-24T12:30:00Z", None, None),
    ]


def test_named_calendar_with_a_zone_ignores_the_case_zone() -> None:
    out = run(created("A", START, "P2", timezone="America/New_York"), until="2026-11-24T11:00:00Z")
    assert due_of(out) == "2026-11-24T11:00:00Z"


def test_describe_lists_levels_with_their_offsets() -> None:
    from monitor.core.case import Engine
    from monitor.core.events import CaseCreated

    engine = Engine(contract())
    step = engine.apply(None, CaseCreated("e", "A", parse_time(START), "gold", "P2", "emea"), parse_time(START))
    assert step.state is not None
    view = engine.describe(step.state, parse_time(START))
    levels = [(t["threshold"], t["at"], t.get("offset")) for t in view["metrics"][0]["thresholds"]]
    assert levels == [(t, at, offset) for _, t, at, offset, _ in LEVELS]
    assert view["metrics"][0]["calendar"] == "support-desk"


# ----------------------------------------------------------------------------- holidays and business days


def test_holiday_date_in_the_middle_of_a_business_days_target() -> None:
    # office (no zone: the region's, London, GMT), 2 business days = 16 h, Wed 2 Dec closed.
    # Tue 1 Dec 13:00: Tue 13-17 (4 h), Wed closed, Thu 9-17 (8 h), Fri 9-13 (4 h) -> Fri 4 Dec 13:00Z.
    assert contract().rule("gold", "P3", "emea", "first_response").target_seconds == 16 * 3600  # type: ignore[union-attr]
    assert due_of(run(created("C", "2026-12-01T13:00:00Z", "P3"))) == "2026-12-04T13:00:00Z"


def test_calendar_without_zone_follows_the_case_zone() -> None:
    # Same office hours in New York (EST, UTC-5): Tue 1 Dec 08:00 EST (13:00Z) -> Tue 9-17 (8 h),
    # Wed 2 Dec closed, Thu 9-17 (8 h) -> Thu 3 Dec 17:00 EST (22:00Z).
    assert due_of(run(created("C", "2026-12-01T13:00:00Z", "P3", timezone="America/New_York"))) == "2026-12-03T22:00:00Z"


def test_whole_day_calendar_honours_its_holiday() -> None:
    # Thu 24 Dec 20:00 CET (19:00Z) + 8 h: 4 h to midnight, Fri 25 closed, Sat 26 04:00 CET (03:00Z).
    assert due_of(run(created("D", "2026-12-24T19:00:00Z", "P4"))) == "2026-12-26T03:00:00Z"


def test_builtin_24x7_stays_holiday_free() -> None:
    # The region closes 24 Dec, but the built-in 24x7 has no holidays: 1 d from 24 Dec 00:00Z.
    assert due_of(run(created("E", "2026-12-24T00:00:00Z", "P1"))) == "2026-12-25T00:00:00Z"


def test_region_week_is_business_hours_with_its_holidays() -> None:
    # emea week Mon-Fri 09-17 London, 24 Dec closed; 1 business day = 8 h. Wed 23 Dec 13:00Z:
    # Wed 13-17 (4 h), Thu 24 closed, Fri 25 09-13 (4 h) -> Fri 25 Dec 13:00Z (no country holidays).
    assert due_of(run(created("F", "2026-12-23T13:00:00Z", "P5"))) == "2026-12-25T13:00:00Z"


@pytest.mark.parametrize("priority", ["P2", "P3", "P4"])
def test_named_calendar_appears_in_the_event(priority: str) -> None:
    out = run(created("G", "2026-11-24T07:00:00Z", priority), until="2026-12-31T00:00:00Z")
    assert {e["calendar"] for e in out} == {contract().rule("gold", priority, "emea", "first_response").calendar}  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- property: levels vs the calendar

from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

H_US = 3600 * 10**6


@settings(max_examples=150, deadline=None)
@given(st.integers(parse_time("2026-01-01T00:00:00Z"), parse_time("2027-12-31T00:00:00Z")),
       st.integers(0, 4 * 24 * H_US), st.booleans())
# Thu 2026-01-01 01:00 Berlin: due at the 12:00 close (11:00Z), answered 1 µs later in the lunch gap.
@example(start=1_767_225_600_000_000, wait=11 * H_US + 1, answer=True)
def test_levels_fire_exactly_where_the_calendar_says_and_stop_at_the_response(start: int, wait: int, answer: bool) -> None:
    from monitor.core.case import Engine
    from monitor.core.events import CaseCreated, CaseUpdated

    catalog = contract()
    engine = Engine(catalog)
    rule = catalog.rule("gold", "P2", "emea", "first_response")
    assert rule is not None
    coverage = catalog.coverage("support-desk", "emea")
    crossings = [(level.threshold, coverage.add_us(start, level.amount_us)) for level in rule.levels]
    step = engine.apply(None, CaseCreated("c", "A", start, "gold", "P2", "emea"), start)
    assert step.state is not None
    emitted = list(step.emitted)
    response = start + wait
    if answer:
        emitted += engine.apply(step.state, CaseUpdated("r", "A", response, agent_response=True), response).emitted
    else:
        emitted += engine.tick(step.state, response).emitted
    fired = [(e.threshold, e.at) for e in emitted if e.type != ev.MET]
    # Every level strictly before the response fires at its own crossing (at or before it when ticking).
    assert fired == [(t, at) for t, at in crossings if at < response or (at == response and not answer)]
    kinds = {e.threshold: e.type for e in emitted}
    assert all(kinds[t] == (ev.NEAR_BREACH if t < 1 else ev.BREACH if t == 1 else ev.OVERDUE) for t, _ in fired)
    if answer:
        met = emitted[-1]
        # Late exactly when the response comes after the due instant, i.e. when the breach went out
        # (a response in the closed time after a due instant at a window's close is late too).
        due = dict(crossings)[1.0]
        assert met.type == ev.MET and met.breached == (response > due) == (1.0 in dict(fired))
        assert met.breached >= (coverage.covered_us(start, response) > 4 * H_US)


# ----------------------------------------------------------------------------- escalations on paused and reopened clocks

RESOLUTION = """
[regions.emea]
timezone = "UTC"
open = "09:00"
close = "17:00"
[plans.gold]
priorities = ["P1"]
reopen_window = "7d"
[plans.gold.resolution]
P1 = { calendar = "24x7", target = "4h", warnings = [], escalations = ["+1h", "+4h"] }
"""


def updated(case_id: str, n: int, at: str, status: str) -> str:
    value = {"event_id": f"{case_id}-u{n}", "case_id": case_id, "occurred_at": at, "status": status}
    return json.dumps({"topic": "case-updated", "value": value})


def resolution_run(*lines: str, until: str) -> list[tuple[Any, ...]]:
    out = list(simulate(parse_catalog(RESOLUTION, "resolution.toml"), lines, parse_time(until)))
    for event in out:
        jsonschema.validate(event, SCHEMA)
    return [(e["type"], e["cycle"], e["threshold"], e["at"], e.get("overdue_seconds")) for e in out]


def test_escalations_wait_while_the_clock_is_paused() -> None:
    # Created 00:00Z, 4 h on 24x7: breach 04:00. Paused (pending_customer) 04:30-06:00: +1h needs
    # 5 h covered = 04:30 + 0.5 h after the resume -> 06:30; +4h (8 h) -> 09:30.
    start = created("R", "2026-11-24T00:00:00Z", "P1")
    out = resolution_run(start, updated("R", 1, "2026-11-24T04:30:00Z", "pending_customer"),
                         updated("R", 2, "2026-11-24T06:00:00Z", "open"), until="2026-11-25T00:00:00Z")
    assert out == [
        ("sla.breach", 1, 1.0, "2026-11-24T04:00:00Z", None),
        ("sla.overdue", 1, 1.25, "2026-11-24T06:30:00Z", 3600),
        ("sla.overdue", 1, 2.0, "2026-11-24T09:30:00Z", 14400),
    ]
    # Never resumed: no escalation ever fires.
    still = resolution_run(start, updated("R", 1, "2026-11-24T04:30:00Z", "pending_customer"), until="2026-12-24T00:00:00Z")
    assert still == [("sla.breach", 1, 1.0, "2026-11-24T04:00:00Z", None)]


def test_a_reopened_case_escalates_in_its_new_cycle_without_repeating_the_breach() -> None:
    # Resolved 04:30 (late: met breached), reopened 06:00: resolution continues with the resolved
    # time paused, so +1h (5 h covered) -> 06:30 and +4h -> 09:30, in cycle 2; no second breach.
    out = resolution_run(created("R", "2026-11-24T00:00:00Z", "P1"), updated("R", 1, "2026-11-24T04:30:00Z", "resolved"),
                         updated("R", 2, "2026-11-24T06:00:00Z", "reopened"), until="2026-11-25T00:00:00Z")
    assert out == [
        ("sla.breach", 1, 1.0, "2026-11-24T04:00:00Z", None),
        ("sla.met", 1, None, "2026-11-24T04:30:00Z", None),
        ("sla.overdue", 2, 1.25, "2026-11-24T06:30:00Z", 3600),
        ("sla.overdue", 2, 2.0, "2026-11-24T09:30:00Z", 14400),
    ]


def test_a_clock_paused_at_its_due_instant_is_in_time_when_stopped_later() -> None:
    # Business hours 09-17 UTC, 7 h: Mon 2026-11-23 09:00 -> due 16:00. pending_customer at exactly
    # 16:00 (in time, like a response at the due instant), resolved 18:00 after the close: covered
    # elapsed is 7 h = the target and no breach was ever sent, so the met is not breached.
    text = RESOLUTION.replace('"24x7", target = "4h", warnings = [], escalations = ["+1h", "+4h"]', '"business_hours", target = "7h"')
    out = list(simulate(parse_catalog(text, "paused.toml"), [
        created("S", "2026-11-23T09:00:00Z", "P1"), updated("S", 1, "2026-11-23T16:00:00Z", "pending_customer"),
        updated("S", 2, "2026-11-23T18:00:00Z", "resolved"),
    ], parse_time("2026-11-30T00:00:00Z")))
    assert [(e["type"], e["at"]) for e in out][-1] == ("sla.met", "2026-11-23T18:00:00Z")
    assert "sla.breach" not in {e["type"] for e in out}
    assert out[-1]["breached"] is False and out[-1]["elapsed_seconds"] == 7 * 3600
