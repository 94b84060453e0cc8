"""The per-case state machine, through worked examples computed by hand."""

from __future__ import annotations

import json
from itertools import count
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core import events as ev
from monitor.core.case import CaseState, Engine, _held_bytes_over, _json_size, _size_bound
from monitor.core.events import CaseCreated, CaseUpdated, parse_event, parse_time
from monitor.core.policy import Catalog, bundled_catalog, parse_catalog
from monitor.simulate import simulate

_ids = count()


def created(case_id: str, at: str, plan: str, priority: str, region: str = "emea", **extra: Any) -> str:
    value = {"event_id": f"e{next(_ids)}", "case_id": case_id, "occurred_at": at, "plan": plan,
             "priority": priority, "region": region, **extra}
    return json.dumps({"topic": "case-created", "value": value})


def updated(case_id: str, at: str, event_id: str | None = None, **fields: Any) -> str:
    value = {"event_id": event_id or f"e{next(_ids)}", "case_id": case_id, "occurred_at": at, **fields}
    return json.dumps({"topic": "case-updated", "value": value})


def run(*lines: str, until: str | None = None, catalog: Catalog | None = None) -> list[dict[str, Any]]:
    until_us = parse_time(until) if until else None
    return list(simulate(catalog or bundled_catalog(), lines, until_us))


def kinds(out: list[dict[str, Any]]) -> list[tuple[str, Any, str]]:
    return [(e["type"], e.get("threshold", e.get("reason")), e.get("at", "")) for e in out]


def breach_at(out: list[dict[str, Any]]) -> str | None:
    found = [e["at"] for e in out if e["type"] == "sla.breach"]
    assert len(found) <= 1
    return found[0] if found else None


# ----------------------------------------------------------------------------- every cell

WEDNESDAY = "2026-11-25T10:00:00Z"  # 10:00 in London (GMT)
FRIDAY = "2026-11-27T16:00:00Z"  # 16:00 in London, one business hour left
CELLS = [
    # plan, priority, due from Wednesday 10:00, due from Friday 16:00 (emea, Europe/London)
    ("adobe-online", "P1", "2026-11-25T11:00:00Z", "2026-11-27T17:00:00Z"),
    ("adobe-online", "P2", "2026-11-25T14:00:00Z", "2026-11-30T12:00:00Z"),
    ("adobe-online", "P3", "2026-11-25T16:00:00Z", "2026-11-30T14:00:00Z"),
    ("adobe-online", "P4", "2026-11-30T10:00:00Z", "2026-12-02T16:00:00Z"),  # 3 x 8 h
    ("adobe-business", "P1", "2026-11-25T11:00:00Z", "2026-11-27T17:00:00Z"),
    ("adobe-business", "P2", "2026-11-25T12:00:00Z", "2026-11-30T10:00:00Z"),
    ("adobe-business", "P3", "2026-11-25T14:00:00Z", "2026-11-30T12:00:00Z"),
    ("adobe-business", "P4", "2026-11-26T10:00:00Z", "2026-11-30T16:00:00Z"),
    ("adobe-enterprise", "P1", "2026-11-25T10:30:00Z", "2026-11-27T16:30:00Z"),
    ("adobe-enterprise", "P2", "2026-11-25T11:00:00Z", "2026-11-27T17:00:00Z"),  # 24x5: Friday counts to midnight
    ("adobe-enterprise", "P3", "2026-11-25T12:00:00Z", "2026-11-30T10:00:00Z"),
    ("adobe-enterprise", "P4", "2026-11-26T10:00:00Z", "2026-11-30T16:00:00Z"),
    ("o365-small-business", "A", "2026-11-25T11:00:00Z", "2026-11-27T17:00:00Z"),
    ("o365-small-business", "B", None, None),
    ("o365-small-business", "C", None, None),
    ("o365-small-business-premium", "A", "2026-11-25T11:00:00Z", "2026-11-27T17:00:00Z"),
    ("o365-small-business-premium", "B", None, None),
    ("o365-small-business-premium", "C", None, None),
    ("o365-midsize", "A", "2026-11-25T11:00:00Z", "2026-11-27T17:00:00Z"),
    ("o365-midsize", "B", "2026-11-26T10:00:00Z", "2026-11-30T16:00:00Z"),  # next business day = 8 h
    ("o365-midsize", "C", None, None),
    *[
        row
        for plan in ("o365-enterprise-e1", "o365-enterprise-e3", "o365-enterprise-e4", "o365-enterprise-k1")
        for row in [
            (plan, "A", "2026-11-25T11:00:00Z", "2026-11-27T17:00:00Z"),
            (plan, "B", "2026-11-25T18:00:00Z", "2026-11-28T00:00:00Z"),
            (plan, "C", None, None),
        ]
    ],
    ("o365-advanced", "A", "2026-11-25T11:00:00Z", "2026-11-27T17:00:00Z"),
    ("o365-advanced", "B", "2026-11-25T12:00:00Z", "2026-11-27T18:00:00Z"),
    ("o365-advanced", "C", "2026-11-25T14:00:00Z", "2026-11-27T20:00:00Z"),
]


def test_cells_cover_the_whole_catalog() -> None:
    catalog = bundled_catalog()
    assert {(p, q) for p, q, _, _ in CELLS} == {(p.plan_id, q) for p in catalog.plans.values() for q in p.priorities}


@pytest.mark.parametrize(("plan", "priority", "wednesday_due", "friday_due"), CELLS)
def test_every_cell_breaches_at_the_hand_computed_instant(plan: str, priority: str, wednesday_due: str | None,
                                                          friday_due: str | None) -> None:
    for start, due in ((WEDNESDAY, wednesday_due), (FRIDAY, friday_due)):
        out = run(created("C", start, plan, priority))
        assert breach_at(out) == due
        if due is None:
            assert out == []  # untimed: tracked, never warns or breaches
        else:
            assert [e["threshold"] for e in out] == [0.75, 0.9, 1.0]
            assert all(e["due_at"] == due and e["started_at"] == start for e in out)


def test_near_breaches_fall_on_their_fractions_across_a_weekend() -> None:
    out = run(created("C", FRIDAY, "adobe-online", "P2"))
    # 4 h target: 3 h = 1 h Friday + Monday 09:00-11:00; 3.6 h -> Monday 11:36.
    assert kinds(out) == [
        ("sla.near_breach", 0.75, "2026-11-30T11:00:00Z"),
        ("sla.near_breach", 0.9, "2026-11-30T11:36:00Z"),
        ("sla.breach", 1.0, "2026-11-30T12:00:00Z"),
    ]
    assert out[0]["emitted_at"] == out[0]["at"]  # the virtual clock fires at the exact instant
    assert out[0]["calendar"] == "business_hours" and out[0]["target_seconds"] == 4 * 3600


@pytest.mark.parametrize(
    ("plan", "priority", "region", "start", "due"),
    [
        # americas: 3 business days = 34.5 h; Wed 06:00 PST -> Fri 17:30 PST, due at the close.
        ("adobe-online", "P4", "americas", "2026-11-25T14:00:00Z", "2026-11-28T01:30:00Z"),
        # apac: Wed 15:00 SGT, 4 h: 2 h Wed, Thu 09:00 SGT (01:00Z) + 2 h.
        ("adobe-business", "P3", "apac", "2026-11-25T07:00:00Z", "2026-11-26T03:00:00Z"),
        # japan: 1 business day = 8.5 h; Mon 09:00 JST -> 17:30 JST.
        ("adobe-enterprise", "P4", "japan", "2026-11-30T00:00:00Z", "2026-11-30T08:30:00Z"),
    ],
)
def test_regions_and_business_day_lengths(plan: str, priority: str, region: str, start: str, due: str) -> None:
    assert breach_at(run(created("C", start, plan, priority, region))) == due


# ----------------------------------------------------------------------------- DST, zones, Japan


def test_dst_los_angeles_fall_back() -> None:
    # Fri 2026-10-30 17:00 PDT (Sat 00:00Z): 30 min left; Mon Nov 2 06:00 PST = 14:00Z, + 3.5 h.
    assert breach_at(run(created("C", "2026-10-31T00:00:00Z", "adobe-online", "P2", "americas"))) == "2026-11-02T17:30:00Z"


def test_dst_los_angeles_24x5_spring_forward() -> None:
    # Fri 2026-03-06 23:30 PST (Sat 07:30Z); Mon Mar 9 00:00 PDT = 07:00Z, + 30 min.
    assert breach_at(run(created("C", "2026-03-07T07:30:00Z", "adobe-enterprise", "P2", "americas"))) == "2026-03-09T07:30:00Z"


@pytest.mark.parametrize(
    ("start", "due"),
    [("2026-10-23T15:00:00Z", "2026-10-26T10:00:00Z"),  # Fri 16:00 BST -> Mon 09:00 GMT + 1 h
     ("2026-03-27T16:00:00Z", "2026-03-30T09:00:00Z")],  # Fri 16:00 GMT -> Mon 09:00 BST (08:00Z) + 1 h
)
def test_dst_london(start: str, due: str) -> None:
    assert breach_at(run(created("C", start, "adobe-business", "P2", "emea"))) == due


def test_case_timezone_replaces_the_region_zone_but_keeps_its_hours() -> None:
    # emea hours (09:00-17:00) in New York: Wed 16:00 EST (21:00Z) -> 1 h Wed, Thu 09:00 EST (14:00Z) + 3 h.
    out = run(created("C", "2026-11-25T21:00:00Z", "adobe-online", "P2", "emea", timezone="America/New_York"))
    assert breach_at(out) == "2026-11-26T17:00:00Z"


def test_japan_rule_puts_enterprise_p2_on_business_hours() -> None:
    # Fri 17:00 JST (08:00Z): 30 min Friday, Monday 09:00 JST (00:00Z) + 30 min; in emea it is 24x5.
    out = run(created("C", "2026-11-27T08:00:00Z", "adobe-enterprise", "P2", "japan"))
    assert breach_at(out) == "2026-11-30T00:30:00Z"
    assert out[0]["calendar"] == "business_hours"
    assert breach_at(run(created("C", "2026-11-27T08:00:00Z", "adobe-enterprise", "P2", "emea"))) == "2026-11-27T09:00:00Z"


def test_japan_rule_leaves_p1_on_24x7() -> None:
    assert breach_at(run(created("C", "2026-11-28T12:00:00Z", "adobe-enterprise", "P1", "japan"))) == "2026-11-28T12:30:00Z"


# ----------------------------------------------------------------------------- responses


def test_response_before_due_is_met_in_time() -> None:
    out = run(created("C", WEDNESDAY, "adobe-online", "P2"), updated("C", "2026-11-25T13:30:00Z", agent_response=True))
    assert kinds(out) == [("sla.near_breach", 0.75, "2026-11-25T13:00:00Z"), ("sla.met", None, "2026-11-25T13:30:00Z")]
    met = out[-1]
    assert met["breached"] is False and met["elapsed_seconds"] == 3.5 * 3600 and met["due_at"] == "2026-11-25T14:00:00Z"


def test_response_exactly_at_due_is_in_time() -> None:
    out = run(created("C", WEDNESDAY, "adobe-online", "P1"), updated("C", "2026-11-25T11:00:00Z", agent_response=True))
    assert [e["type"] for e in out] == ["sla.near_breach", "sla.near_breach", "sla.met"]
    assert out[-1]["breached"] is False


def test_late_response_after_breach() -> None:
    out = run(created("C", WEDNESDAY, "adobe-online", "P1"), updated("C", "2026-11-25T12:00:00Z", agent_response=True))
    assert [e["type"] for e in out] == ["sla.near_breach", "sla.near_breach", "sla.breach", "sla.met"]
    assert out[-1]["breached"] is True and out[-1]["elapsed_seconds"] == 7200


def test_response_in_closed_time_after_a_due_at_the_close_is_late() -> None:
    """Due exactly at Friday's 17:00 close, answered on Saturday: the breach fired, so the met says breached.

    The covered elapsed time equals the target (no covered time passes after the close), but the
    promise was broken at 17:00 and `sla.breach` went out then; `sla.met` must agree with it.
    """
    # adobe-online P2: 4 business hours (emea, 09:00-17:00 London); Friday 13:00 + 4 h = Friday 17:00.
    out = run(created("C", "2026-11-27T13:00:00Z", "adobe-online", "P2"), updated("C", "2026-11-28T10:00:00Z", agent_response=True))
    assert breach_at(out) == "2026-11-27T17:00:00Z"
    met = out[-1]
    assert met["type"] == "sla.met" and met["elapsed_seconds"] == 4 * 3600
    assert met["breached"] is True


def test_first_response_is_not_paused_by_pending_customer() -> None:
    out = run(created("C", WEDNESDAY, "adobe-online", "P1"), updated("C", "2026-11-25T10:10:00Z", status="pending_customer"))
    assert breach_at(out) == "2026-11-25T11:00:00Z"


def test_untimed_cell_is_tracked_and_met() -> None:
    out = run(created("C", WEDNESDAY, "o365-midsize", "C"), updated("C", "2026-11-30T10:00:00Z", agent_response=True))
    assert kinds(out) == [("sla.met", None, "2026-11-30T10:00:00Z")]
    assert out[0]["breached"] is False and out[0]["target_seconds"] is None and out[0]["due_at"] is None


def test_resolved_stops_every_metric() -> None:
    out = run(created("C", WEDNESDAY, "adobe-online", "P1"), updated("C", "2026-11-25T10:05:00Z", status="resolved"))
    assert kinds(out) == [("sla.met", None, "2026-11-25T10:05:00Z")]


# ----------------------------------------------------------------------------- reopen


def _resolved_o365(reopen_at: str) -> list[dict[str, Any]]:
    return run(
        created("C", WEDNESDAY, "o365-enterprise-e3", "A"),
        updated("C", "2026-11-25T10:10:00Z", agent_response=True),
        updated("C", "2026-11-26T10:00:00Z", status="resolved"),
        updated("C", reopen_at, status="reopened"),
    )


def test_reopen_inside_the_window_starts_cycle_two() -> None:
    out = _resolved_o365("2026-12-10T10:00:00Z")  # exactly 14 days after resolution
    assert kinds(out)[:1] == [("sla.met", None, "2026-11-25T10:10:00Z")]
    second = [e for e in out if e["cycle"] == 2]
    assert [e["type"] for e in second] == ["sla.near_breach", "sla.near_breach", "sla.breach"]
    assert second[-1]["at"] == "2026-12-10T11:00:00Z" and second[-1]["started_at"] == "2026-12-10T10:00:00Z"
    assert len({e["event_id"] for e in out}) == len(out)


def test_reopen_outside_the_window_is_rejected() -> None:
    out = _resolved_o365("2026-12-10T10:00:01Z")
    assert out[-1]["type"] == "rejected" and out[-1]["reason"] == ev.REOPEN_WINDOW_EXPIRED
    assert all(e.get("cycle", 1) == 1 for e in out)


def test_adobe_states_no_reopen_limit() -> None:
    out = run(created("C", WEDNESDAY, "adobe-online", "P1"), updated("C", "2026-11-25T10:10:00Z", status="closed"),
              updated("C", "2027-11-25T10:00:00Z", status="reopened"))
    assert breach_at(out) == "2027-11-25T11:00:00Z"


def test_reopen_of_an_open_case_is_an_invalid_transition() -> None:
    out = run(created("C", WEDNESDAY, "adobe-online", "P3"), updated("C", "2026-11-25T10:10:00Z", status="reopened"))
    assert out[0]["type"] == "rejected" and out[0]["reason"] == ev.INVALID_TRANSITION


# ----------------------------------------------------------------------------- re-targeting


def test_priority_change_retargets_from_the_start_and_emits_past_crossings_at_the_change() -> None:
    # P3 (6 h) at Wed 10:00; at 14:00 raised to P2 (4 h): 3 h (13:00), 3.6 h (13:36) and 4 h (14:00)
    # are all at or before the change, so all three are emitted at 14:00 with their own `at`.
    out = run(created("C", WEDNESDAY, "adobe-online", "P3"), updated("C", "2026-11-25T14:00:00Z", priority="P2"))
    assert kinds(out) == [
        ("sla.near_breach", 0.75, "2026-11-25T13:00:00Z"),
        ("sla.near_breach", 0.9, "2026-11-25T13:36:00Z"),
        ("sla.breach", 1.0, "2026-11-25T14:00:00Z"),
    ]
    assert all(e["emitted_at"] == "2026-11-25T14:00:00Z" and e["priority"] == "P2" for e in out)


def test_lowering_priority_keeps_emitted_events_and_moves_the_breach() -> None:
    # P2 (4 h): 0.75 fired at 13:00; at 13:10 lowered to P3 (6 h): 0.9 -> 15:24, breach -> 16:00.
    out = run(created("C", WEDNESDAY, "adobe-online", "P2"), updated("C", "2026-11-25T13:10:00Z", priority="P3"))
    assert kinds(out) == [
        ("sla.near_breach", 0.75, "2026-11-25T13:00:00Z"),
        ("sla.near_breach", 0.9, "2026-11-25T15:24:00Z"),
        ("sla.breach", 1.0, "2026-11-25T16:00:00Z"),
    ]


def test_plan_change_with_priority() -> None:
    out = run(created("C", WEDNESDAY, "adobe-online", "P2"),
              updated("C", "2026-11-25T10:20:00Z", plan="o365-advanced", priority="A"))
    assert breach_at(out) == "2026-11-25T11:00:00Z" and out[-1]["plan"] == "o365-advanced"


def test_plan_change_to_a_plan_without_that_priority_is_rejected() -> None:
    out = run(created("C", WEDNESDAY, "adobe-online", "P2"), updated("C", "2026-11-25T10:20:00Z", plan="o365-advanced"))
    assert out[0]["type"] == "rejected" and out[0]["reason"] == ev.UNKNOWN_PRIORITY
    assert breach_at(out) == "2026-11-25T14:00:00Z"  # the case is unchanged


def test_plan_aliases_are_normalised() -> None:
    out = run(created("C", WEDNESDAY, "o365-government-g3", "B"))
    assert out[0]["plan"] == "o365-enterprise-e3" and breach_at(out) == "2026-11-25T18:00:00Z"


# ----------------------------------------------------------------------------- duplicates, rejections


def test_duplicate_event_changes_nothing() -> None:
    response = updated("C", "2026-11-25T10:30:00Z", event_id="dup", agent_response=True)
    reopen = updated("C", "2026-11-25T10:40:00Z", event_id="dup", status="closed")
    once = run(created("C", WEDNESDAY, "adobe-online", "P1"), response)
    twice = run(created("C", WEDNESDAY, "adobe-online", "P1"), response, response, reopen)
    assert twice == once


def test_second_create_with_a_new_id_is_a_duplicate_case() -> None:
    out = run(created("C", WEDNESDAY, "adobe-online", "P1"), created("C", "2026-11-25T10:01:00Z", "adobe-online", "P1"))
    assert out[0]["type"] == "rejected" and out[0]["reason"] == ev.DUPLICATE_CASE


@pytest.mark.parametrize(
    ("plan", "priority", "region", "reason"),
    [("gold", "P1", "emea", ev.UNKNOWN_PLAN), ("adobe-online", "A", "emea", ev.UNKNOWN_PRIORITY),
     ("o365-advanced", "P4", "emea", ev.UNKNOWN_PRIORITY), ("adobe-online", "P1", "mars", ev.UNKNOWN_REGION)],
)
def test_catalog_rejections(plan: str, priority: str, region: str, reason: str) -> None:
    out = run(created("C", WEDNESDAY, plan, priority, region))
    assert [(e["type"], e["reason"], e["case_id"]) for e in out] == [("rejected", reason, "C")]


def test_bad_lines_are_rejected_and_the_rest_goes_on() -> None:
    out = run("not json", json.dumps({"topic": "case-created", "value": {"case_id": "X"}}),
              created("C", WEDNESDAY, "adobe-online", "P1"))
    assert [e.get("reason") for e in out[:2]] == [ev.INVALID_JSON, ev.MISSING_FIELD]
    assert breach_at(out) == "2026-11-25T11:00:00Z"


# ----------------------------------------------------------------------------- held updates


def _event(topic: str, line: str) -> Any:
    return parse_event(topic, json.dumps(json.loads(line)["value"]).encode(), source={"offset": 1})


def test_update_before_create_is_held_then_applied_in_order() -> None:
    engine = Engine(bundled_catalog(), hold_seconds=600)
    response = _event("case-updated", updated("C", "2026-11-25T10:20:00Z", agent_response=True))
    create = _event("case-created", created("C", WEDNESDAY, "adobe-online", "P1"))
    now = parse_time("2026-11-25T10:21:00Z")
    held = engine.apply(None, response, now)
    assert held.state is not None and held.state.plan is None and held.emitted == [] and held.rejections == []
    assert held.next_due_us == now + 600_000_000
    step = engine.apply(held.state, create, now)
    assert [(e.type, e.breached) for e in step.emitted] == [("sla.met", False)]
    assert step.next_due_us is None


def test_held_update_expires_to_unknown_case_with_its_source() -> None:
    engine = Engine(bundled_catalog(), hold_seconds=600)
    response = _event("case-updated", updated("C", "2026-11-25T10:20:00Z", agent_response=True))
    held = engine.apply(None, response, parse_time("2026-11-25T10:21:00Z"))
    assert held.state is not None and held.next_due_us is not None
    early = engine.tick(held.state, held.next_due_us - 1)
    assert early.state is not None and early.rejections == []
    expired = engine.tick(held.state, held.next_due_us)
    assert expired.state is None
    assert [(r.reason, r.source) for r in expired.rejections] == [(ev.UNKNOWN_CASE, {"offset": 1})]


def test_without_hold_an_unknown_case_is_rejected_at_once() -> None:
    engine = Engine(bundled_catalog(), hold_seconds=0)
    step = engine.apply(None, _event("case-updated", updated("C", WEDNESDAY, status="open")), 0)
    assert step.state is None and [r.reason for r in step.rejections] == [ev.UNKNOWN_CASE]


def test_hold_is_bounded() -> None:
    engine = Engine(bundled_catalog(), hold_seconds=600, max_held=2)
    state = None
    reasons = []
    for minute in range(3):
        step = engine.apply(state, _event("case-updated", updated("C", f"2026-11-25T10:0{minute}:00Z", status="open")), 0)
        state = step.state
        reasons += [r.reason for r in step.rejections]
    assert reasons == [ev.HOLD_OVERFLOW]


# ----------------------------------------------------------------------------- pausable metrics

PAUSE_POLICY = """
version = "pause-test"
[regions.emea]
timezone = "Europe/London"
open = "09:00"
close = "17:00"

[plans.gold]
priorities = ["P1", "P2"]
[plans.gold.first_response]
P1 = { calendar = "24x7", target = "1h" }
P2 = { calendar = "24x7", target = "2h" }
[plans.gold.resolution]
P1 = { calendar = "24x7", target = "4h", warnings = [0.5] }
P2 = { calendar = "24x7", target = "8h", warnings = [0.5] }
[plans.gold.update]
P1 = { calendar = "24x7", target = "3h", warnings = [0.5] }
P2 = { calendar = "24x7", target = "3h", warnings = [0.5] }
"""


def _metric(out: list[dict[str, Any]], metric: str) -> list[tuple[str, Any, str, int]]:
    return [(e["type"], e["threshold"], e["at"], e["cycle"]) for e in out if e.get("metric") == metric]


def test_pending_customer_pauses_resolution_and_update() -> None:
    catalog = parse_catalog(PAUSE_POLICY, "pause.toml")
    out = run(
        created("C", "2026-11-25T00:00:00Z", "gold", "P1"),
        updated("C", "2026-11-25T00:30:00Z", agent_response=True),
        updated("C", "2026-11-25T01:00:00Z", status="pending_customer"),
        updated("C", "2026-11-25T03:00:00Z", status="open"),
        catalog=catalog, until="2026-11-26T00:00:00Z",
    )
    # resolution: 4 h target, 2 h paused -> breach at 06:00; half at 02:00 + 2 h pause = 04:00.
    assert _metric(out, "resolution") == [
        ("sla.near_breach", 0.5, "2026-11-25T04:00:00Z", 1), ("sla.breach", 1.0, "2026-11-25T06:00:00Z", 1),
    ]
    # update: cycle 1 met at 00:30; cycle 2 from 00:30, 3 h target, 2 h paused -> breach at 05:30.
    assert _metric(out, "update") == [
        ("sla.met", None, "2026-11-25T00:30:00Z", 1),
        ("sla.near_breach", 0.5, "2026-11-25T04:00:00Z", 2), ("sla.breach", 1.0, "2026-11-25T05:30:00Z", 2),
    ]
    assert _metric(out, "first_response") == [("sla.met", None, "2026-11-25T00:30:00Z", 1)]


def test_paused_time_is_kept_across_priority_change_and_reopen() -> None:
    catalog = parse_catalog(PAUSE_POLICY, "pause.toml")
    out = run(
        created("C", "2026-11-25T00:00:00Z", "gold", "P2"),
        updated("C", "2026-11-25T00:10:00Z", agent_response=True),
        updated("C", "2026-11-25T01:00:00Z", status="pending_customer"),
        updated("C", "2026-11-25T02:00:00Z", status="open", priority="P1"),
        updated("C", "2026-11-25T02:30:00Z", status="resolved"),
        updated("C", "2026-11-25T05:30:00Z", status="reopened"),
        catalog=catalog, until="2026-11-26T00:00:00Z",
    )
    res = _metric(out, "resolution")
    # Raised to P1 (4 h) at 02:00 with 1 h elapsed (00:00-01:00; 01:00-02:00 paused); resolved at
    # 02:30 with 1.5 h elapsed: met, in time. Reopened at 05:30: cycle 2 keeps the start and both
    # gaps as pauses (4 h in all), so 2 h elapse at 06:00 and 4 h at 08:00.
    assert res == [
        ("sla.met", None, "2026-11-25T02:30:00Z", 1),
        ("sla.near_breach", 0.5, "2026-11-25T06:00:00Z", 2), ("sla.breach", 1.0, "2026-11-25T08:00:00Z", 2),
    ]
    met = next(e for e in out if e["metric"] == "resolution" and e["type"] == "sla.met")
    assert met["elapsed_seconds"] == 1.5 * 3600 and met["breached"] is False


# ----------------------------------------------------------------------------- determinism


def test_state_round_trips_through_json_without_changing_the_future() -> None:
    engine = Engine(bundled_catalog())
    create = _event("case-created", created("C", WEDNESDAY, "adobe-online", "P2"))
    step = engine.apply(None, create, create.occurred_at)
    assert step.state is not None
    copy = CaseState.from_dict(json.loads(json.dumps(step.state.to_dict())))
    due = engine.next_due(step.state)
    assert due is not None and engine.next_due(copy) == due
    a = engine.tick(step.state, due + 10**12)
    b = engine.tick(copy, due + 10**12)
    assert [e.to_dict() for e in a.emitted] == [e.to_dict() for e in b.emitted]


def test_replay_is_deterministic() -> None:
    lines = [created(f"C{i}", WEDNESDAY, "adobe-online", p) for i, p in enumerate(["P1", "P2", "P3", "P4"])]
    assert run(*lines) == run(*lines)
    out = run(*lines)
    assert [e["at"] for e in out] == sorted(e["at"] for e in out)


def test_at_risk_and_is_open() -> None:
    engine = Engine(bundled_catalog())
    create = _event("case-created", created("C", WEDNESDAY, "adobe-online", "P1"))
    state = engine.apply(None, create, create.occurred_at).state
    assert state is not None and state.is_open and state.at_risk() == []
    state = engine.tick(state, parse_time("2026-11-25T10:50:00Z")).state
    assert state is not None and state.at_risk() == ["first_response"]
    state = engine.tick(state, parse_time("2026-11-25T11:00:00Z")).state
    assert state is not None and state.at_risk() == []
    closed = engine.apply(state, CaseUpdated("x", "C", parse_time("2026-11-25T12:00:00Z"), status="closed"), 0).state
    assert closed is not None and not closed.is_open


def test_old_closed_office365_cases_are_forgotten_after_the_reopen_window() -> None:
    engine = Engine(bundled_catalog())
    create = _event("case-created", created("C", WEDNESDAY, "o365-advanced", "C"))
    state = engine.apply(None, create, 0).state
    closed = engine.apply(state, CaseUpdated("x", "C", parse_time("2026-11-26T10:00:00Z"), status="closed"), 0)
    assert closed.state is not None and closed.next_due_us is not None
    assert closed.next_due_us > parse_time("2026-12-10T10:00:00Z")
    assert engine.tick(closed.state, closed.next_due_us).state is None


def test_created_event_type_is_checked() -> None:
    assert isinstance(_event("case-created", created("C", WEDNESDAY, "adobe-online", "P1")), CaseCreated)


def test_emitted_at_is_the_stamp_given_not_the_stream_time() -> None:
    # A replay: the shell ticks at stream time but stamps outputs with the wall clock.
    engine = Engine(bundled_catalog())
    create = _event("case-created", created("C", WEDNESDAY, "adobe-online", "P1"))
    wall = parse_time("2026-11-26T08:00:00Z")
    state = engine.apply(None, create, create.occurred_at, emitted_at=wall).state
    assert state is not None
    step = engine.tick(state, parse_time("2026-11-25T10:50:00Z"), emitted_at=wall)
    assert [(e.at, e.emitted_at) for e in step.emitted] == [(parse_time("2026-11-25T10:45:00Z"), wall)]


def test_describe_reports_clock_due_remaining_and_emitted_thresholds() -> None:
    engine = Engine(bundled_catalog())
    create = _event("case-created", created("C", WEDNESDAY, "adobe-online", "P2"))
    state = engine.apply(None, create, create.occurred_at).state
    assert state is not None
    state = engine.tick(state, parse_time("2026-11-25T13:10:00Z")).state
    assert state is not None
    view = engine.describe(state, parse_time("2026-11-25T13:10:00Z"))
    assert (view["status"], view["next_due"]) == ("open", "2026-11-25T13:36:00Z")
    (metric,) = view["metrics"]
    assert metric["clock"] == "running" and metric["due_at"] == "2026-11-25T14:00:00Z"
    assert metric["elapsed_seconds"] == 3 * 3600 + 600 and metric["remaining_seconds"] == 3000
    assert [(t["threshold"], t["at"], t["emitted"]) for t in metric["thresholds"]] == [
        (0.75, "2026-11-25T13:00:00Z", True), (0.9, "2026-11-25T13:36:00Z", False), (1.0, "2026-11-25T14:00:00Z", False),
    ]
    json.dumps(view)  # JSON-able


def test_describe_a_placeholder() -> None:
    engine = Engine(bundled_catalog(), hold_seconds=60)
    held = engine.apply(None, _event("case-updated", updated("C", WEDNESDAY, status="open")), parse_time(WEDNESDAY)).state
    assert held is not None
    assert engine.describe(held, 0) == {"case_id": "C", "known": False, "held_updates": 1, "hold_until": "2026-11-25T10:01:00Z"}


def test_held_updates_are_bounded_in_bytes() -> None:
    engine = Engine(bundled_catalog(), hold_seconds=600, max_held_bytes=4096)
    big = {"value_b64": "x" * 3000}
    first = parse_event("case-updated", json.dumps(json.loads(updated("C", WEDNESDAY, status="open"))["value"]).encode(),
                        source=big)
    second = parse_event("case-updated", json.dumps(json.loads(updated("C", WEDNESDAY, status="open"))["value"]).encode(),
                         source=big)
    assert isinstance(first, CaseUpdated) and isinstance(second, CaseUpdated)
    held = engine.apply(None, first, 0)
    assert held.rejections == [] and held.state is not None
    step = engine.apply(held.state, second, 0)
    assert [r.reason for r in step.rejections] == [ev.HOLD_OVERFLOW]
    assert step.rejections[0].source == big  # dead-lettered with its original record
    assert step.state is not None and len(step.state.held) == 1


def test_a_first_update_too_big_to_hold_leaves_no_placeholder() -> None:
    """Bug: it left an empty placeholder state with no expiry timer, kept until a case-created came."""
    engine = Engine(bundled_catalog(), hold_seconds=600, max_held_bytes=1024)
    body = json.dumps(json.loads(updated("C", WEDNESDAY, status="open"))["value"]).encode()
    event = parse_event("case-updated", body, source={"value_b64": "x" * 3000})
    assert isinstance(event, CaseUpdated)
    step = engine.apply(None, event, 0)
    assert [r.reason for r in step.rejections] == [ev.HOLD_OVERFLOW]
    assert step.state is None and step.next_due_us is None
    no_room = Engine(bundled_catalog(), hold_seconds=600, max_held=0).apply(None, event, 0)
    assert [r.reason for r in no_room.rejections] == [ev.HOLD_OVERFLOW] and no_room.state is None


def test_engine_updates_the_state_it_is_given_in_place_as_documented() -> None:
    """The docs say apply/tick update the given CaseState in place: a caller keeping the old one sees the change."""
    from monitor.core.policy import bundled_catalog as _catalog

    engine = Engine(_catalog())
    plan = next(iter(engine.catalog.plans))
    priority = next(iter(engine.catalog.plans[plan].priorities))
    region = next(iter(engine.catalog.regions))
    first = engine.apply(None, CaseCreated("e-1", "C-doc", 0, plan, priority, region), 0)
    assert first.state is not None
    kept = first.state
    second = engine.apply(kept, CaseUpdated("e-2", "C-doc", 1_000_000, status="pending_customer"), 1_000_000)
    assert second.state is kept and kept.status == "pending_customer" and "e-2" in kept.seen


def test_a_reopen_window_shorter_than_a_day_is_named_as_written() -> None:
    text = """
[regions.emea]
timezone = "UTC"
open = "09:00"
close = "17:00"
[plans.day]
priorities = ["P1"]
reopen_window = "36h"
[plans.day.first_response]
P1 = { calendar = "24x7", target = "1h" }
"""
    out = run(created("W", WEDNESDAY, "day", "P1"), updated("W", "2026-11-25T10:10:00Z", status="resolved"),
              updated("W", "2026-11-27T10:10:00Z", status="reopened"), catalog=parse_catalog(text, "w.toml"))
    assert out[-1]["reason"] == ev.REOPEN_WINDOW_EXPIRED
    assert out[-1]["message"].endswith("plan 'day' allows a reopen within 1d12h")


_json_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.dates()


@settings(max_examples=500, deadline=None)
@given(st.recursive(_json_leaves, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20))
def test_held_update_size_is_the_compact_json_length(value: Any) -> None:
    # the hold bound measures what json.dumps wrote before the shared encoder: same number, always
    assert _json_size(value) == len(json.dumps(value, separators=(",", ":"), default=str))


_held_leaves = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text()
                | st.sampled_from(["\x7f" * 5, "\ud800", "\U0001f600" * 3, "caf\u00e9", "\x00\n\t\""]))
_held_entries = st.dictionaries(
    st.sampled_from(["event_id", "case_id", "occurred_at", "status", "agent_response", "source"]) | st.text(max_size=3),
    _held_leaves | st.dictionaries(st.text(max_size=4) | st.integers(), _held_leaves | st.floats(), max_size=4)
    | st.floats() | st.lists(_held_leaves, max_size=2),
    max_size=7,
)


@settings(max_examples=1000, deadline=None)
@given(held=st.lists(_held_entries, max_size=3), entry=_held_entries, limit=st.integers(0, 600))
def test_held_size_check_answers_as_the_exact_size(held: list[dict[str, Any]], entry: dict[str, Any], limit: int) -> None:
    # the cheap bound decides only when it fits; over it the exact size decides and is quoted
    exact = sum(_json_size(item) for item in held) + _json_size(entry)
    assert _held_bytes_over(held, entry, limit) == (exact if exact > limit else None)
    assert _size_bound(entry) >= _json_size(entry)
