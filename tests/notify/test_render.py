import hashlib
import hmac
import json
from datetime import datetime, timezone

from monitor.notify import render
from tests.notify.factories import event_dict, notice

NOW = datetime(2026, 11, 26, 10, 12, tzinfo=timezone.utc)


def test_human_duration() -> None:
    assert [render.human_duration(s) for s in (45, 720, 3600, 5400, 187200, 86400)] == ["45s", "12m", "1h", "1h 30m", "2d 4h", "1d"]


def test_slack_message_says_case_plan_priority_promise_due_and_lateness() -> None:
    text = render.slack_payload(notice(type="sla.breach", customer_id="acme"), NOW)["text"]
    for expected in ("SLA breached", "C-1 (acme)", "adobe-enterprise", "P2", "first response within 1h (24x7)",
                     "2026-11-26 10:00 UTC", "overdue by 12m"):
        assert expected in text, expected


def test_near_breach_says_how_much_is_used_and_time_left() -> None:
    text = render.slack_payload(notice(threshold=0.9), datetime(2026, 11, 26, 9, 54, tzinfo=timezone.utc))["text"]
    assert "SLA 90% used" in text and "due in 6m" in text


def test_a_breach_is_never_due_in_the_future() -> None:
    early = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
    assert render.timing(notice(type="sla.breach"), early) == "due now"
    assert render.timing(notice(threshold=0.9), datetime(2026, 11, 26, 10, 30, tzinfo=timezone.utc)) == "overdue by 30m"


def test_met_says_late_or_spare() -> None:
    assert render.timing(notice(type="sla.met", breached=True, elapsed_seconds=4200.0), NOW) == "met 10m late"
    assert render.timing(notice(type="sla.met", elapsed_seconds=3000.0), NOW) == "met with 10m to spare"
    assert render.headline(notice(type="sla.met", breached=True)) == "SLA met late"


def test_untimed_targets_do_not_pretend_a_due_time() -> None:
    n = notice(target_seconds=None, due_at=None)
    assert render.promise(n) == "first response: no timed target"
    assert render.timing(n, NOW) == "no due time"


def test_webhook_body_is_the_contract_event_and_the_signature_is_hmac_sha256() -> None:
    event = event_dict()
    body = render.webhook_body(notice())
    assert json.loads(body) == event
    secret = b"s3cret"
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    assert render.sign(body, secret) == expected
    assert render.verify(body, secret, expected) and not render.verify(body + b" ", secret, expected)


def test_digest_bodies_carry_every_event() -> None:
    notices = [notice(case_id=f"C-{i}") for i in range(30)]
    body = json.loads(render.webhook_digest_body("d1", notices))
    assert body["type"] == "sla.digest" and body["count"] == 30 and len(body["events"]) == 30
    text = render.slack_digest_payload(notices, NOW, 60)["text"]
    assert "30 events in the last 1m" in text and "C-0" in text and "and 5 more" in text


def test_pagerduty_trigger_and_resolve_share_the_dedup_key() -> None:
    n = notice(type="sla.breach")
    trigger = render.pagerduty_trigger(n, "RK", NOW)
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == n.event_id
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "sla-monitor"
    assert "C-1" in trigger["payload"]["summary"] and trigger["routing_key"] == "RK"
    assert render.pagerduty_trigger(notice(threshold=0.9), "RK", NOW)["payload"]["severity"] == "warning"
    assert render.pagerduty_resolve(n.event_id, "RK") == {"routing_key": "RK", "event_action": "resolve", "dedup_key": n.event_id}


def test_email_has_subject_recipients_and_deterministic_message_id() -> None:
    mid = render.message_id("e1", "email>contact:named_support_engineer")
    assert mid == render.message_id("e1", "email>contact:named_support_engineer") != render.message_id("e2", "email")
    msg = render.email_message(notice(type="sla.breach"), NOW, "sla@x.example", ["a@x.example", "b@x.example"], mid)
    assert msg["Subject"] == "[SLA breached] case C-1 first response (adobe-enterprise P2)"
    assert msg["To"] == "a@x.example, b@x.example" and msg["Message-ID"] == mid
    assert "overdue by 12m" in msg.get_content()
