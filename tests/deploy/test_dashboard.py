"""The Grafana dashboard loads, covers the issue's panels, and queries only exported metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.deploy.conftest import DEPLOY
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
    exported = worker_metric_names() | PROMETHEUS_METRICS
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
