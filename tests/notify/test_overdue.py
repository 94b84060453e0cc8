"""sla.overdue (policy escalation levels) through the notifier: parsing, routing `match.type`, rendering."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from monitor.notify import render
from monitor.notify.routing import RoutingError, parse_routing, route
from tests.notify.factories import notice

OVERDUE = {"type": "sla.overdue", "threshold": 1.25, "offset": "+1h", "overdue_seconds": 3600, "target_seconds": 14400,
           "due_at": "2026-11-26T10:00:00Z", "at": "2026-11-26T11:00:00Z"}


def routing(rules: list[dict[str, Any]]) -> Any:
    channels = {name: {"kind": "webhook", "url": f"http://127.0.0.1/{name}", "secret_env": "S"} for name in "ab"}
    return parse_routing({"channels": channels, "rules": rules}, "test.toml")


def test_overdue_is_a_trigger_and_routes_by_type() -> None:
    event = notice(**OVERDUE)
    assert event.is_trigger and event.type == "sla.overdue"
    rules = routing([{"match": {"type": "sla.overdue"}, "notify": ["a"]}, {"match": {"type": "sla.breach"}, "notify": ["b"]}])
    assert [r.key for r in route(rules, event)] == ["a"]
    assert [r.key for r in route(rules, notice(type="sla.breach"))] == ["b"]


def test_a_rule_without_type_matches_overdue_like_every_trigger() -> None:
    assert [r.key for r in route(routing([{"notify": ["a"]}]), notice(**OVERDUE))] == ["a"]


def test_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(RoutingError, match="sla.overdue"):
        routing([{"match": {"type": "sla.overdued"}, "notify": ["a"]}])


def test_overdue_renders_as_a_still_breached_case() -> None:
    now = datetime(2026, 11, 26, 11, 0, tzinfo=timezone.utc)
    text = render.slack_payload(notice(**OVERDUE), now)["text"]
    assert "SLA breached, still open 1h past due" in text and "overdue by 1h" in text
    early = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
    assert render.timing(notice(**OVERDUE), early) == "due now"


def test_overdue_keeps_the_alertmanager_breach_stage_firing() -> None:
    now = datetime(2026, 11, 26, 11, 0, tzinfo=timezone.utc)
    alerts = render.alertmanager_alerts(notice(**OVERDUE), now, datetime(2026, 11, 26, 11, 4, tzinfo=timezone.utc))
    firing = [a for a in alerts if a["endsAt"] > a["startsAt"]]
    assert [(a["labels"]["stage"], a["labels"]["severity"]) for a in firing] == [("breach", "critical")]


def test_overdue_pages_pagerduty_as_critical_on_the_case_incident() -> None:
    now = datetime(2026, 11, 26, 11, 0, tzinfo=timezone.utc)
    body = render.pagerduty_trigger(notice(**OVERDUE), "key", now)
    assert body["payload"]["severity"] == "critical"
    assert body["dedup_key"] == render.incident_dedup_key(notice(type="sla.breach"))
