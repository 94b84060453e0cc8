"""Alert rules and Prometheus config: promtool check/test, and every rule names exported metrics."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, require_binary
from tests.deploy.promql_names import PROMETHEUS_METRICS, metric_names, worker_metric_names

RULES = DEPLOY / "prometheus" / "alerts.yml"
pytestmark = pytest.mark.prometheus

#: The issue's list of situations that must page or warn: breach rate by plan/priority, cases
#: at risk, dead letters appearing, worker not ready, stream lag high, timers late, no events.
REQUIRED_ALERTS = {
    "SlaBreach", "SlaBreachRateHigh", "SlaCasesAtRisk", "SlaDeadLettersAppearing",
    "SlaWorkerNotReady", "SlaStreamLagHigh", "SlaTimersFiringLate", "SlaNoEventsReceived",
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=RULES.parent)


def alert_rules() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_check_rules() -> None:
    result = run(require_binary("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_promtool_unit_tests_of_every_alert() -> None:
    result = run(require_binary("promtool"), "test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        case["alertname"]
        for test in yaml.safe_load((RULES.parent / "alerts_test.yml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert tested == {rule["alert"] for rule in alert_rules()}, "every alert needs a firing test"


def test_promtool_check_config() -> None:
    result = run(require_binary("promtool"), "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_required_alerts_exist_with_severity_and_summary() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert REQUIRED_ALERTS <= set(rules)
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_rules_name_only_metrics_the_worker_exports() -> None:
    exported = worker_metric_names() | PROMETHEUS_METRICS
    for rule in alert_rules():
        names = metric_names(str(rule["expr"]))
        assert names, rule["alert"]
        assert names <= exported, f"{rule['alert']}: {sorted(names - exported)} not exported"


def test_alertmanager_config() -> None:
    result = subprocess.run(
        [require_binary("amtool"), "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
