"""The engine's threshold instants: found in one calendar walk per clock and kept between calls,
yet exactly the instants of one `add_us` per threshold, whatever the sequence of events.

Two engines replay the same random feed: one keeps its crossings between calls (as the worker's
does), the other forgets them before every call. Their steps must be identical, and every running
clock's due instant and next due instant must be the reference formula's: `add_us(start, level +
closed pauses)` per threshold, the first unfired one for `next_due`.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.case import CaseState, Engine, Step
from monitor.core.events import STATUSES, CaseCreated, CaseUpdated
from monitor.core.policy import Catalog, bundled_catalog, parse_catalog
from tests.core.test_policy_docs import example

#: The bundled catalog and the docs' full contract (named calendars, holidays, offsets, escalations,
#: resolution and update clocks that pause, a reopen window).
CATALOGS = (bundled_catalog(), parse_catalog(example(), "policy.md"))
START = 1_764_064_800_000_000   # 2026-11-25T10:00:00Z, a Wednesday
MINUTE = 60_000_000


@st.composite
def feeds(draw: st.DrawFn) -> tuple[Catalog, list[tuple[str, Any, int]]]:
    """A catalog, a case-created then up to 12 updates and ticks of one case, minutes to days apart."""
    catalog = draw(st.sampled_from(CATALOGS))
    plans = sorted(catalog.plans)
    plan = draw(st.sampled_from(plans))
    at = START + draw(st.integers(0, 7 * 1440)) * MINUTE
    items: list[tuple[str, Any, int]] = [("apply", CaseCreated(
        "c", "C", at, plan, draw(st.sampled_from(catalog.plans[plan].priorities)), draw(st.sampled_from(sorted(catalog.regions))),
        draw(st.sampled_from([None, None, "Europe/Paris", "America/Los_Angeles", "Asia/Kolkata"])),
    ), at)]
    for n in range(draw(st.integers(0, 12))):
        at += draw(st.sampled_from([0, 1, 15, 60, 240, 1440, 4000])) * MINUTE
        if draw(st.booleans()):
            items.append(("tick", None, at))
            continue
        new_plan = draw(st.none() | st.sampled_from(plans))
        priority = draw(st.none() | st.sampled_from(catalog.plans[new_plan or plan].priorities))
        items.append(("apply", CaseUpdated(
            f"u{n}", "C", at, draw(st.none() | st.sampled_from(STATUSES)), priority, new_plan,
            draw(st.booleans()),
        ), at))
    return catalog, items


def _copy(state: CaseState | None) -> CaseState | None:
    return CaseState.from_dict(state.to_dict()) if state is not None else None


def _same(a: Step, b: Step) -> None:
    assert (a.emitted, a.rejections, a.next_due_us) == (b.emitted, b.rejections, b.next_due_us)
    assert (a.state.to_dict() if a.state else None) == (b.state.to_dict() if b.state else None)


def _reference_next_due(engine: Engine, state: CaseState) -> int | None:
    """next_due as it was computed before the crossings were walked together: one add_us per clock."""
    due: int | None = None
    for clock in state.clocks.values():
        if not clock.running or clock.paused:
            continue
        rule = engine.rule(state, clock.metric)
        if rule is None:
            continue
        coverage = engine.coverage(state, rule)
        paused = sum(coverage.covered_us(begin, stop) for begin, stop in clock.pauses if stop is not None)  # type: ignore[arg-type]
        for level in rule.levels:
            if level.threshold not in clock.fired:
                crossing = coverage.add_us(clock.started_at, level.amount_us + paused)
                due = crossing if due is None else min(due, crossing)
                break
    purge_at = engine._purge_at(state)
    if purge_at is not None and (due is None or purge_at < due):
        due = purge_at
    return due


@settings(max_examples=300, deadline=None)
@given(feeds())
def test_kept_crossings_change_no_step_and_match_the_reference(drawn: tuple[Catalog, list[tuple[str, Any, int]]]) -> None:
    catalog, feed = drawn
    keeping, forgetting = Engine(catalog), Engine(catalog)
    state_k: CaseState | None = None
    state_f: CaseState | None = None
    for action, event, at in feed:
        forgetting._crossings_memo.clear()
        if action == "tick":
            if state_k is None:
                continue
            step_k, step_f = keeping.tick(state_k, at), forgetting.tick(_copy(state_f), at)  # type: ignore[arg-type]
        else:
            step_k, step_f = keeping.apply(state_k, event, at), forgetting.apply(_copy(state_f), event, at)
        _same(step_k, step_f)
        state_k, state_f = step_k.state, step_f.state
        if state_k is None or state_k.plan is None:
            continue
        assert step_k.next_due_us == _reference_next_due(keeping, state_k)
        for clock in state_k.clocks.values():
            rule = keeping.rule(state_k, clock.metric)
            if rule is None or rule.target_seconds is None or clock.paused:
                assert keeping.due_at(state_k, clock.metric) is None
                continue
            coverage = keeping.coverage(state_k, rule)
            paused = sum(coverage.covered_us(b, s) for b, s in clock.pauses if s is not None)  # type: ignore[arg-type]
            assert keeping.due_at(state_k, clock.metric) == coverage.add_us(clock.started_at, rule.target_seconds * 1_000_000 + paused)
