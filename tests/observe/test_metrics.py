"""WorkerMetrics: names, bounded labels, pre-initialised series, buckets, partition handling."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.core.case import CaseState, Clock, Engine
from monitor.core.events import REASONS, SlaEvent, parse_event
from monitor.core.policy import bundled_catalog
from monitor.observe.labels import label_space
from monitor.observe.metrics import (
    CONSUME_OUTCOMES,
    NO_FOOTPRINT,
    WorkerMetrics,
    case_footprint,
    exported_names,
)

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)  # a Thursday


def samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every exposed sample, parsed back from the text exposition."""
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return samples(registry).get((name, frozenset(labels.items())))


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> WorkerMetrics:
    return WorkerMetrics(registry, bundled_catalog())


def created(case_id: str, plan: str = "adobe-enterprise", priority: str = "P1", region: str = "emea") -> bytes:
    return json.dumps({
        "event_id": f"{case_id}-c", "case_id": case_id, "occurred_at": T0.isoformat(),
        "plan": plan, "priority": priority, "region": region, "customer_id": "acme",
    }).encode()


def test_metric_names_follow_the_conventions(registry: CollectorRegistry, metrics: WorkerMetrics) -> None:
    names = exported_names(registry)
    expected = {
        "sla_cases_open", "sla_cases_at_risk", "sla_near_breaches_total", "sla_breaches_total",
        "sla_met_total", "sla_time_to_first_response_seconds_bucket", "sla_events_consumed_total",
        "sla_dead_letters_total", "sla_timers_pending", "sla_timer_fire_delay_seconds_bucket",
        "sla_stream_time_lag_seconds", "sla_last_event_timestamp_seconds", "sla_build_info",
        "sla_worker_ready", "sla_target_seconds", "sla_consumer_lag_messages",
    }
    assert expected <= names
    assert all(name.startswith(("sla_", "process_", "python_")) for name in names)
    assert {"process_resident_memory_bytes", "process_start_time_seconds", "python_info"} <= names  # memory and restarts
    assert not any(name.endswith("_created") for name in names) and "_created" not in generate_latest(registry).decode()


def test_no_label_identifies_a_case_or_customer(registry: CollectorRegistry, metrics: WorkerMetrics) -> None:
    label_names = {name for (metric, labels) in samples(registry) if metric.startswith("sla_") for name, _ in labels}
    assert label_names <= {
        "plan", "priority", "region", "metric", "threshold", "topic", "outcome", "reason",
        "partition", "le", "version", "policy_version",
    }


def test_catalog_series_start_at_zero(registry: CollectorRegistry, metrics: WorkerMetrics) -> None:
    catalog = bundled_catalog()
    exposed = samples(registry)

    def zero(name: str, **labels: str) -> bool:
        return exposed.get((name, frozenset(labels.items()))) == 0

    pairs = list(label_space(catalog).plan_priorities())
    assert ("adobe-enterprise", "P4") in pairs and ("o365-midsize", "C") in pairs
    for plan, priority in pairs:
        for region in catalog.regions:
            assert zero("sla_cases_open", plan=plan, priority=priority, region=region)
        cell = {"plan": plan, "priority": priority, "metric": "first_response"}
        assert zero("sla_breaches_total", **cell)
        assert zero("sla_met_total", outcome="in_time", **cell) and zero("sla_met_total", outcome="late", **cell)
        assert zero("sla_cases_at_risk", **cell)
        assert zero("sla_time_to_first_response_seconds_count", plan=plan, priority=priority)
    assert zero(
        "sla_near_breaches_total", plan="adobe-online", priority="P2", metric="first_response", threshold="0.75"
    )
    for reason in REASONS:
        assert zero("sla_dead_letters_total", reason=reason)
    for topic in ("case-created", "case-updated"):
        for outcome in CONSUME_OUTCOMES:
            assert zero("sla_events_consumed_total", topic=topic, outcome=outcome)


def test_ttfr_buckets_are_the_catalog_first_response_targets(registry: CollectorRegistry, metrics: WorkerMetrics) -> None:
    bounds = sorted(
        float(dict(labels)["le"])
        for (name, labels), _ in samples(registry).items()
        if name == "sla_time_to_first_response_seconds_bucket"
        and dict(labels)["plan"] == "adobe-enterprise" and dict(labels)["priority"] == "P1"
    )
    targets = [float(t) for t in bundled_catalog().distinct_targets("first_response")]
    assert bounds == [60.0, 300.0, 600.0, 900.0, 1200.0, *targets, float("inf")]
    assert 1800.0 in bounds and 3600.0 in bounds  # enterprise P1 30m, online P1 1h
    assert sum(b < 1800 for b in bounds) == 5  # responses faster than the shortest target are resolved


def test_build_info_and_targets(registry: CollectorRegistry, metrics: WorkerMetrics) -> None:
    version = bundled_catalog().version
    assert value(registry, "sla_build_info", version="0.1.0", policy_version=version) == 1
    assert value(
        registry, "sla_target_seconds",
        plan="adobe-enterprise", priority="P1", region="emea", metric="first_response",
    ) == 1800


def test_emitted_events_count_by_kind_and_met_first_response_feeds_ttfr(
    registry: CollectorRegistry, metrics: WorkerMetrics
) -> None:
    engine = Engine(bundled_catalog())
    event = parse_event("case-created", created("C-1"))
    step = engine.apply(None, event, T0)
    state = step.state
    emitted = []
    for minutes in (23, 28, 31):  # 0.75, 0.9 and 1.0 of 30 minutes
        emitted += engine.tick(state, T0 + timedelta(minutes=minutes)).emitted
    answer = parse_event("case-updated", json.dumps({
        "event_id": "C-1-r", "case_id": "C-1", "occurred_at": (T0 + timedelta(minutes=40)).isoformat(),
        "agent_response": True,
    }).encode())
    emitted += engine.apply(state, answer, T0 + timedelta(minutes=40)).emitted
    assert [e.type for e in emitted] == ["sla.near_breach", "sla.near_breach", "sla.breach", "sla.met"]
    for sla_event in emitted:
        metrics.on_emitted(sla_event)
    labels = {"plan": "adobe-enterprise", "priority": "P1", "metric": "first_response"}
    assert value(registry, "sla_near_breaches_total", threshold="0.75", **labels) == 1
    assert value(registry, "sla_near_breaches_total", threshold="0.9", **labels) == 1
    assert value(registry, "sla_breaches_total", **labels) == 1
    assert value(registry, "sla_met_total", outcome="late", **labels) == 1  # met after the breach
    assert value(registry, "sla_met_total", outcome="in_time", **labels) == 0
    ttfr = {"plan": "adobe-enterprise", "priority": "P1"}
    assert value(registry, "sla_time_to_first_response_seconds_count", **ttfr) == 1
    assert value(registry, "sla_time_to_first_response_seconds_sum", **ttfr) == 2400
    assert value(registry, "sla_time_to_first_response_seconds_bucket", le="1800.0", **ttfr) == 0
    assert value(registry, "sla_time_to_first_response_seconds_bucket", le="3600.0", **ttfr) == 1


def test_unknown_outcome_is_refused_and_odd_reasons_fold_into_other(
    registry: CollectorRegistry, metrics: WorkerMetrics
) -> None:
    metrics.on_consumed("case-created", "applied")
    assert value(registry, "sla_events_consumed_total", topic="case-created", outcome="applied") == 1
    with pytest.raises(ValueError):
        metrics.on_consumed("case-created", "C-123")
    metrics.on_dead_letter("invalid_json")
    metrics.on_dead_letter("Bad Reason: C-123 {json}")
    assert value(registry, "sla_dead_letters_total", reason="invalid_json") == 1
    assert value(registry, "sla_dead_letters_total", reason="other") == 1


def test_timer_and_stream_gauges(registry: CollectorRegistry, metrics: WorkerMetrics) -> None:
    metrics.on_fire_delay(0.2)
    metrics.on_fire_delay(-1.0)  # fired early counts as on time
    assert value(registry, "sla_timer_fire_delay_seconds_count") == 2
    assert value(registry, "sla_timer_fire_delay_seconds_bucket", le="0.01") == 1
    assert value(registry, "sla_timer_fire_delay_seconds_bucket", le="0.25") == 2
    metrics.set_timers_pending(7)
    assert value(registry, "sla_timers_pending") == 7
    metrics.set_last_event_timestamp(2000.0)
    metrics.set_last_event_timestamp(1000.0)  # an older record never moves it back
    assert value(registry, "sla_last_event_timestamp_seconds") == 2000.0


def test_case_gauges_follow_engine_steps_and_rebalances(
    registry: CollectorRegistry, metrics: WorkerMetrics
) -> None:
    engine = Engine(bundled_catalog())
    open_labels = {"plan": "adobe-enterprise", "priority": "P1", "region": "emea"}
    risk_labels = {"plan": "adobe-enterprise", "priority": "P1", "metric": "first_response"}

    before = case_footprint(None)
    step = engine.apply(None, parse_event("case-created", created("C-1")), T0)
    state = step.state
    metrics.move_case(0, before, case_footprint(state))
    assert value(registry, "sla_cases_open", **open_labels) == 1
    assert value(registry, "sla_cases_at_risk", **risk_labels) == 0

    before = case_footprint(state)
    engine.tick(state, T0 + timedelta(minutes=23))  # past 0.75: at risk
    metrics.move_case(0, before, case_footprint(state))
    assert value(registry, "sla_cases_at_risk", **risk_labels) == 1

    before = case_footprint(state)
    engine.tick(state, T0 + timedelta(minutes=31))  # breached: no longer "at risk"
    metrics.move_case(0, before, case_footprint(state))
    assert value(registry, "sla_cases_at_risk", **risk_labels) == 0
    assert value(registry, "sla_cases_open", **open_labels) == 1

    other = engine.apply(None, parse_event("case-created", created("C-2")), T0).state
    metrics.rebuild_partition(1, [other])
    assert value(registry, "sla_cases_open", **open_labels) == 2
    metrics.set_stream_lag(1, 3.5)
    metrics.set_consumer_lag("case-created", 1, 12)
    assert value(registry, "sla_stream_time_lag_seconds", partition="1") == 3.5

    metrics.forget_partition(1)  # revoked: its case and its lag series leave
    assert value(registry, "sla_cases_open", **open_labels) == 1
    assert value(registry, "sla_stream_time_lag_seconds", partition="1") is None
    assert value(registry, "sla_consumer_lag_messages", topic="case-created", partition="1") is None

    metrics.rebuild_partition(1, [other])  # assigned back: recounted, not doubled
    metrics.rebuild_partition(1, [other])
    assert value(registry, "sla_cases_open", **open_labels) == 2


def test_counters_survive_forgetting_a_partition(registry: CollectorRegistry, metrics: WorkerMetrics) -> None:
    metrics.on_consumed("case-updated", "applied")
    metrics.forget_partition(0)
    assert value(registry, "sla_events_consumed_total", topic="case-updated", outcome="applied") == 1


def test_closed_case_leaves_the_open_gauge(registry: CollectorRegistry, metrics: WorkerMetrics) -> None:
    engine = Engine(bundled_catalog())
    state = engine.apply(None, parse_event("case-created", created("C-9", "adobe-online", "P1", "apac")), T0).state
    metrics.move_case(3, NO_FOOTPRINT, case_footprint(state))
    before = case_footprint(state)
    closed = parse_event("case-updated", json.dumps({
        "event_id": "C-9-x", "case_id": "C-9", "occurred_at": (T0 + timedelta(minutes=5)).isoformat(),
        "status": "closed",
    }).encode())
    step = engine.apply(state, closed, T0 + timedelta(minutes=5))
    metrics.move_case(3, before, case_footprint(step.state))
    assert value(registry, "sla_cases_open", plan="adobe-online", priority="P1", region="apac") == 0


def test_cached_children_keep_counting_and_validating(registry: CollectorRegistry, metrics: WorkerMetrics) -> None:
    # The second call of each goes through the label-children cache.
    for _ in range(2):
        metrics.on_consumed("case-created", "duplicate")
        metrics.on_dead_letter("Bad Reason: C-123 {json}")
        metrics.on_dead_letter("unknown_case")
        with pytest.raises(ValueError):
            metrics.on_consumed("case-created", "C-123")
        with pytest.raises(ValueError):
            metrics.on_emitted(sla_event("sla.other", metric="x"))
    assert value(registry, "sla_events_consumed_total", topic="case-created", outcome="duplicate") == 2
    assert value(registry, "sla_dead_letters_total", reason="other") == 2
    assert value(registry, "sla_dead_letters_total", reason="unknown_case") == 2
    base = {"plan": "adobe-enterprise", "priority": "P1", "metric": "first_response"}
    for threshold in (0.75, 0.75, 0.9):
        metrics.on_emitted(sla_event("sla.near_breach", threshold=threshold))
    for elapsed, breached in ((60.0, False), (None, False), (120.0, True)):
        metrics.on_emitted(sla_event("sla.met", elapsed_seconds=elapsed, breached=breached))
    metrics.on_emitted(sla_event("sla.met", elapsed_seconds=5.0, metric="resolution"))
    assert value(registry, "sla_near_breaches_total", threshold="0.75", **base) == 2
    assert value(registry, "sla_near_breaches_total", threshold="0.9", **base) == 1
    assert value(registry, "sla_met_total", outcome="in_time", **base) == 2
    assert value(registry, "sla_met_total", outcome="late", **base) == 1
    ttfr = {"plan": "adobe-enterprise", "priority": "P1"}
    assert value(registry, "sla_time_to_first_response_seconds_count", **ttfr) == 2
    assert value(registry, "sla_time_to_first_response_seconds_sum", **ttfr) == 180


def sla_event(kind: str, **fields: Any) -> SlaEvent:
    """An SLA event of adobe-enterprise P1 first_response with `fields` changed."""
    base: dict[str, Any] = dict(
        type=kind, case_id="C-1", customer_id=None, metric="first_response", cycle=1, threshold=None,
        plan="adobe-enterprise", priority="P1", region="emea", calendar="24x7", target_seconds=1800,
        started_at=0, due_at=1_800_000_000, at=0, emitted_at=0, policy_version="v")
    return SlaEvent(**{**base, **fields})


def test_footprints_are_shared_and_equal_to_a_fresh_one() -> None:
    from monitor.observe.metrics import CaseFootprint

    engine = Engine(bundled_catalog())
    one = engine.apply(None, parse_event("case-created", created("C-1")), T0).state
    two = engine.apply(None, parse_event("case-created", created("C-2")), T0).state
    assert case_footprint(one) is case_footprint(two)
    assert case_footprint(one) == CaseFootprint(("adobe-enterprise", "P1", "emea"), ())
    engine.tick(one, T0 + timedelta(minutes=23))  # past 0.75 of first response: at risk
    assert case_footprint(one) == CaseFootprint(
        ("adobe-enterprise", "P1", "emea"), (("adobe-enterprise", "P1", "first_response"),))
    assert case_footprint(one) != case_footprint(two)


def test_held_increments_show_at_every_collection_including_a_restricted_one(
    registry: CollectorRegistry, metrics: WorkerMetrics
) -> None:
    # Per-record series are applied when collected, never lost between two readings.
    consumed = {"topic": "case-created", "outcome": "applied"}
    metrics.on_consumed("case-created", "applied", 3)
    assert registry.get_sample_value("sla_events_consumed_total", consumed) == 3
    metrics.on_consumed("case-created", "applied")
    restricted = registry.restricted_registry(["sla_events_consumed_total"])
    assert [s.value for m in restricted.collect() for s in m.samples if s.labels == consumed] == [4]
    assert value(registry, "sla_events_consumed_total", **consumed) == 4   # applied once, not twice
    for _ in range(2):   # refused also once the series' child is cached
        with pytest.raises(ValueError):
            metrics.on_consumed("case-updated", "applied", -1)
        metrics.on_consumed("case-updated", "applied", 0)
    assert value(registry, "sla_events_consumed_total", topic="case-updated", outcome="applied") == 0

    engine = Engine(bundled_catalog())
    state = engine.apply(None, parse_event("case-created", created("C-5")), T0).state
    open_labels = {"plan": "adobe-enterprise", "priority": "P1", "region": "emea"}
    metrics.move_case(0, NO_FOOTPRINT, case_footprint(state))
    metrics.move_case(0, case_footprint(state), NO_FOOTPRINT)   # net change 0 before any reading
    metrics.move_case(0, NO_FOOTPRINT, case_footprint(state))
    assert registry.get_sample_value("sla_cases_open", open_labels) == 1
    metrics.move_case(1, NO_FOOTPRINT, case_footprint(state))
    metrics.forget_partition(1)   # revoked with its increment still held: the two cancel out
    metrics.forget_partition(0)
    assert registry.get_sample_value("sla_cases_open", open_labels) == 0


_clocks = st.lists(st.builds(
    Clock, metric=st.sampled_from(["first_response", "next_response", "resolution", "update"]), cycle=st.just(1),
    started_at=st.just(0), stopped_at=st.sampled_from([None, None, 5]),
    pauses=st.sampled_from([[], [[1, None]], [[1, 2]]]),
    fired=st.lists(st.sampled_from([0.5, 0.75, 0.9, 1.0, 1.5]), max_size=3, unique=True)), max_size=4)


@settings(max_examples=300, deadline=None)
@given(plan=st.sampled_from([None, "adobe-online", "adobe-enterprise"]), priority=st.sampled_from(["P1", "P2"]),
       status=st.sampled_from(["open", "pending_customer", "resolved", "closed", "reopened"]), clocks=_clocks)
def test_a_case_footprint_is_its_open_series_and_its_at_risk_metrics(
        plan: str | None, priority: str, status: str, clocks: list[Clock]) -> None:
    """The inlined footprint against its definition: open -> (plan, priority, region); at risk per `CaseState.at_risk`."""
    state = CaseState("C-1", plan, priority, "emea", status=status, clocks={clock.metric: clock for clock in clocks})
    footprint = case_footprint(state)
    if not state.is_open:
        assert footprint is NO_FOOTPRINT
        return
    assert footprint.open_key == (plan, priority, "emea")
    assert footprint.risk_keys == tuple((plan, priority, metric) for metric in sorted(state.at_risk()))
    assert case_footprint(replace(state)) is footprint   # one shared instance per key: move_case compares by identity
