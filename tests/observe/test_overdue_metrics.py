"""sla_overdue_total: pre-initialised from the policy's escalation levels, counted per level."""

from __future__ import annotations

from datetime import datetime, timezone

from prometheus_client import CollectorRegistry

from monitor.core.case import Engine
from monitor.core.events import CaseCreated
from monitor.core.policy import bundled_catalog, parse_catalog
from monitor.observe.metrics import WorkerMetrics, exported_names
from tests.observe.test_metrics import value

POLICY = """
[regions.emea]
timezone = "Europe/London"
open = "09:00"
close = "17:00"

[plans.gold]
priorities = ["P1", "P2"]
[plans.gold.first_response]
P1 = { calendar = "24x7", target = "1h", warnings = ["-15m"], escalations = ["+30m", "+2h"] }
P2 = { calendar = "24x7", target = "4h" }
"""
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
LABELS = {"plan": "gold", "priority": "P1", "metric": "first_response"}


def test_overdue_series_start_at_zero_and_count_each_level() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry, parse_catalog(POLICY, "p.toml"))
    assert value(registry, "sla_overdue_total", overdue_seconds="1800", **LABELS) == 0
    assert value(registry, "sla_overdue_total", overdue_seconds="7200", **LABELS) == 0
    assert value(registry, "sla_near_breaches_total", threshold="0.75", **LABELS) == 0  # -15m of 1h
    assert value(registry, "sla_overdue_total", overdue_seconds="1800", plan="gold", priority="P2", metric="first_response") is None
    engine = Engine(parse_catalog(POLICY, "p.toml"))
    step = engine.apply(None, CaseCreated("e", "C", 0, "gold", "P1", "emea"), T0)
    assert step.state is not None
    for sla_event in engine.tick(step.state, 3 * 3600 * 10**6).emitted:
        metrics.on_emitted(sla_event)
    assert value(registry, "sla_breaches_total", **LABELS) == 1
    assert value(registry, "sla_overdue_total", overdue_seconds="1800", **LABELS) == 1
    assert value(registry, "sla_overdue_total", overdue_seconds="7200", **LABELS) == 1


def test_overdue_counter_exists_without_escalations() -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry, bundled_catalog())
    assert "sla_overdue_total" in exported_names(registry)
