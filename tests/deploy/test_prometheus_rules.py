"""Alert rules and Prometheus config: promtool check (lint) and tests, runbooks, and every rule names exported metrics."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from monitor.notify.metrics import NotifyMetrics
from monitor.observe.metrics import exported_names
from tests.deploy.conftest import DEPLOY, require_binary
from tests.deploy.promql_names import PROMETHEUS_METRICS, metric_names, worker_metric_names

RULES = DEPLOY / "prometheus" / "alerts.yml"
RUNBOOK = DEPLOY.parent / "docs" / "runbook.md"
pytestmark = pytest.mark.prometheus

#: Situations that must page or warn: error-budget burn (fast pages, slow warns), P1/A breaches,
#: a queue of cases at risk, dead letters, one replica down/not ready (warn) or none ready (page),
#: restarts, lag, late timers, no events; for the notifier: down, none up, dead letters,
#: failing deliveries, lag.
REQUIRED_ALERTS = {
    "SlaFirstResponseBudgetBurnFast", "SlaFirstResponseBudgetBurnSlow", "SlaCriticalPriorityBreach", "SlaOverdue",
    "SlaCasesAtRisk", "SlaDeadLettersAppearing", "SlaWorkerDown", "SlaWorkerNotReady", "SlaNoWorkerReady",
    "SlaWorkerRestarting", "SlaStreamLagHigh", "SlaConsumerLagHigh", "SlaTimersFiringLate", "SlaNoEventsReceived",
    "SlaNotifierDown", "SlaNoNotifierUp", "SlaNotificationsDeadLettered", "SlaNotificationDeliveryFailing",
    "SlaNotifierLagHigh",
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=RULES.parent)


def all_rules() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alert_rules() -> list[dict[str, object]]:
    return [rule for rule in all_rules() if "alert" in rule]


def test_promtool_check_rules_with_every_lint() -> None:
    result = run(require_binary("promtool"), "check", "rules", "--lint=all", "--lint-fatal", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(all_rules())} rules found" in result.stdout


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


def test_required_alerts_exist_with_severity_summary_description_and_runbook() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert REQUIRED_ALERTS <= set(rules)
    headings = {line[3:].strip() for line in RUNBOOK.read_text().splitlines() if line.startswith("## ")}
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        url = rule["annotations"]["runbook_url"]
        assert url.endswith(f"docs/runbook.md#{name.lower()}"), url
        assert name in headings, f"docs/runbook.md has no '## {name}' section"


def test_runbook_sections_say_what_it_means_how_to_check_and_what_to_do() -> None:
    sections = re.split(r"^## ", RUNBOOK.read_text(), flags=re.M)[1:]
    alerts = {rule["alert"] for rule in alert_rules()}
    for section in sections:
        name = section.splitlines()[0].strip()
        if name in alerts:
            for part in ("**Means**", "**Check**", "**Do**"):
                assert part in section, f"{name}: missing {part}"


def test_only_fleet_wide_problems_page() -> None:
    critical = {rule["alert"] for rule in alert_rules() if rule["labels"]["severity"] == "critical"}
    assert critical == {"SlaFirstResponseBudgetBurnFast", "SlaNoWorkerReady", "SlaNoNotifierUp"}


def test_rules_name_only_metrics_the_worker_and_notifier_export_or_record() -> None:
    recorded = {str(rule["record"]) for rule in all_rules() if "record" in rule}
    exported = worker_metric_names() | exported_names(NotifyMetrics().registry) | PROMETHEUS_METRICS | recorded
    for rule in all_rules():
        name = rule.get("alert") or rule.get("record")
        names = metric_names(str(rule["expr"]))
        assert names, name
        assert names <= exported, f"{name}: {sorted(names - exported)} not exported"


def test_alertmanager_config() -> None:
    result = subprocess.run(
        [require_binary("amtool"), "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
