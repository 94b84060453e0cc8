"""The Grafana dashboard loads, covers the issue's panels, and queries only exported metrics."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.notify.metrics import NotifyMetrics
from monitor.observe.metrics import exported_names
from tests.deploy.conftest import DEPLOY, require_binary
from tests.deploy.promql_names import PROMETHEUS_METRICS, metric_names, worker_metric_names

DASHBOARD = DEPLOY / "grafana" / "sla-monitor.json"


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from panels(item.get("panels", []))


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def expressions() -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in panels(dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def test_dashboard_loads_with_unique_ids_and_a_uid() -> None:
    board = dashboard()
    assert board["uid"] == "sla-monitor"
    ids = [panel["id"] for panel in panels(board["panels"])]
    assert len(ids) == len(set(ids))
    for panel in panels(board["panels"]):
        if panel["type"] != "row":
            assert panel.get("targets"), panel["title"]


def test_every_expression_names_only_exported_metrics() -> None:
    exported = worker_metric_names() | exported_names(NotifyMetrics().registry) | PROMETHEUS_METRICS
    for title, expr in expressions():
        names = metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        assert names <= exported, f"{title}: {sorted(names - exported)} are not exported"


def test_template_variables_query_exported_metrics() -> None:
    exported = worker_metric_names()
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            inner = query.removeprefix("label_values(").rsplit(",", 1)[0]
            assert metric_names(inner) <= exported, variable["name"]


def test_dashboard_covers_the_required_views() -> None:
    used = set().union(*(metric_names(expr) for _, expr in expressions()))
    assert {
        "sla_breaches_total", "sla_near_breaches_total", "sla_cases_open", "sla_cases_at_risk",
        "sla_time_to_first_response_seconds_bucket", "sla_target_seconds",
        "sla_stream_time_lag_seconds", "sla_consumer_lag_messages", "sla_dead_letters_total",
        "sla_timer_fire_delay_seconds_bucket",
    } <= used
    by_plan_and_priority = [
        expr for _, expr in expressions()
        if "sla_breaches_total" in expr and "by (plan, priority" in expr
    ]
    assert by_plan_and_priority


def test_dashboard_watches_the_notifier() -> None:
    used = set().union(*(metric_names(expr) for _, expr in expressions()))
    assert {"sla_notifications_total", "sla_notification_delivery_seconds_bucket", "sla_notification_retries_total",
            "sla_notification_dead_letters_total", "sla_notify_consumer_lag_messages", "process_resident_memory_bytes"} <= used
    assert any('up{job="sla-notify"}' in expr for _, expr in expressions())


def panel_expr(title: str) -> str:
    (expr,) = [e for t, e in expressions() if t == title]
    return expr.replace("$plan", ".*").replace("$priority", ".*")


@pytest.mark.prometheus
def test_attainment_is_a_true_ratio_and_newest_event_age_waits_for_the_first_event(tmp_path: Path) -> None:
    """Evaluated by promtool: late responses and still-open breaches keep attainment in [0, 1]."""
    cell = 'job="sla-monitor",instance="w0",plan="adobe-online",priority="P1",metric="first_response"'
    tests = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            # in 24 h: 9 met in time, 5 met late (each breached first), 6 breaches in all (1 still open)
            {"series": f'sla_met_total{{{cell},outcome="in_time"}}', "values": "0 9x30"},
            {"series": f'sla_met_total{{{cell},outcome="late"}}', "values": "0 5x30"},
            {"series": f"sla_breaches_total{{{cell}}}", "values": "0 6x30"},
            # a second cell where nothing was met in time and breaches outnumber the met (old formula < 0)
            {"series": 'sla_met_total{job="sla-monitor",instance="w0",plan="adobe-online",priority="P2",metric="first_response",'
                       'outcome="in_time"}', "values": "0x30"},
            {"series": 'sla_met_total{job="sla-monitor",instance="w0",plan="adobe-online",priority="P2",metric="first_response",'
                       'outcome="late"}', "values": "0 1x30"},
            {"series": 'sla_breaches_total{job="sla-monitor",instance="w0",plan="adobe-online",priority="P2",metric="first_response"}',
             "values": "0 4x30"},
            {"series": 'sla_last_event_timestamp_seconds{job="sla-monitor",instance="w0"}', "values": "0x30"},
        ],
        "promql_expr_test": [
            {"expr": f"round({panel_expr('First-response attainment (24 h)')}, 0.0001)", "eval_time": "30m", "exp_samples": [
                {"labels": '{plan="adobe-online",priority="P1"}', "value": 0.6},
                {"labels": '{plan="adobe-online",priority="P2"}', "value": 0},
            ]},
            {"expr": panel_expr("Newest input event age"), "eval_time": "30m", "exp_samples": []},
        ],
    }]}
    path = tmp_path / "dashboard_test.yml"
    path.write_text(yaml.safe_dump(tests))
    result = subprocess.run([require_binary("promtool"), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
