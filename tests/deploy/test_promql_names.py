"""The PromQL name extractor the dashboard and rule checks rely on."""

from tests.deploy.promql_names import metric_names, worker_metric_names


def test_extracts_selected_series_only() -> None:
    expr = (
        'histogram_quantile(0.9, sum by (plan, le) (rate(sla_x_bucket{plan=~"$plan",metric="a b"}[5m])))'
        ' / on (plan) group_left max by (plan) (sla_target_seconds offset 1h) > bool 3'
        ' or time() - max(sla_last{a="rate(fake_metric[1m])"}) unless up'
    )
    assert metric_names(expr) == {"sla_x_bucket", "sla_target_seconds", "sla_last", "up"}


def test_worker_names_include_histogram_and_counter_series() -> None:
    names = worker_metric_names()
    assert {"sla_breaches_total", "sla_time_to_first_response_seconds_bucket", "sla_build_info"} <= names
    assert "sla_breaches" not in names  # a counter is selected by its _total name
    assert "sla_made_up_total" not in names
