import base64
import hashlib
import hmac
import json
import re
import time
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
from standardwebhooks.webhooks import Webhook

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


def test_webhook_body_is_the_contract_event_and_the_signature_is_standard_webhooks() -> None:
    event = event_dict()
    body = render.webhook_body(notice())
    assert json.loads(body) == event
    headers = render.webhook_headers("msg_1", 1_700_000_000, body, [b"s3cret"])
    mac = hmac.new(b"s3cret", b"msg_1.1700000000." + body, hashlib.sha256).digest()
    assert headers == {"webhook-id": "msg_1", "webhook-timestamp": "1700000000",
                       "webhook-signature": "v1," + base64.b64encode(mac).decode()}


def test_standard_webhooks_library_verifies_our_signature() -> None:
    """Interoperability: the reference Python implementation (standardwebhooks) accepts what we send."""
    secret = "whsec_" + base64.b64encode(b"a 24-byte rotation key!!").decode()
    body = render.webhook_body(notice())
    headers = render.webhook_headers("msg_2", int(time.time()), body, render.webhook_secret_keys(secret))
    assert Webhook(secret).verify(body, headers) == json.loads(body)


def test_rotation_signs_with_every_secret_and_verifies_with_any() -> None:
    old, new = render.webhook_secret_keys("old-secret whsec_" + base64.b64encode(b"new-secret").decode())
    assert new == b"new-secret"
    body = b'{"a":1}'
    headers = render.webhook_headers("m", 1000, body, [old, new])
    assert len(headers["webhook-signature"].split()) == 2
    assert render.verify_webhook(body, headers, [new], now=1000) and render.verify_webhook(body, headers, [old], now=1000)
    assert not render.verify_webhook(body, headers, [b"other"], now=1000)


def test_verify_rejects_replays_tampering_and_malformed_headers_without_raising() -> None:
    keys = [b"k"]
    body = b'{"a":1}'
    good = render.webhook_headers("m", 1000, body, keys)
    assert render.verify_webhook(body, good, keys, now=1000 + 299)
    assert not render.verify_webhook(body, good, keys, now=1000 + 301)  # replayed after the tolerance
    assert not render.verify_webhook(body, good, keys, now=1000 - 301)  # from the future
    assert not render.verify_webhook(body + b" ", good, keys, now=1000)
    assert not render.verify_webhook(body, {**good, "webhook-id": "m2"}, keys, now=1000)
    assert not render.verify_webhook(body, {**good, "webhook-timestamp": "1001"}, keys, now=1000)
    for signature in ("v1,ünïcode", "v2," + good["webhook-signature"][3:], "garbage", "", "v1,", "sha256=abc"):
        assert not render.verify_webhook(body, {**good, "webhook-signature": signature}, keys, now=1000), signature
    for stamp in ("１０００", "abc", "-1000", "1e3", "99999999999999999999"):
        assert not render.verify_webhook(body, {**good, "webhook-timestamp": stamp}, keys, now=1000), stamp
    assert not render.verify_webhook(body, {}, keys, now=1000)
    assert render.verify_webhook(body, {k.upper(): v for k, v in good.items()}, keys, now=1000)  # header names are case-insensitive


def test_bad_whsec_secret_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not valid base64"):
        render.webhook_secret_keys("whsec_@@@")
    with pytest.raises(ValueError, match="empty"):
        render.webhook_secret_keys("   ")


@pytest.mark.parametrize("hostile", ["C-1 <!channel>", "<!here> now", "<@U123>", "<https://evil.example|click me>", "a & b"])
def test_slack_escapes_every_interpolated_field(hostile: str) -> None:
    n = notice(type="sla.breach", case_id=hostile, customer_id=hostile, plan=hostile, region=hostile, priority=hostile)
    text = render.slack_payload(n, NOW, render.case_url("https://board.example", hostile))["text"]
    digest = render.slack_digest_payload([n], NOW, 60)["text"]
    for rendered in (text, digest):
        assert hostile not in rendered or ("<" not in hostile and "&" not in hostile)
        for token in ("<!channel>", "<!here>", "<@U123>", "<https://evil.example"):
            assert token not in rendered
    links = re.findall(r"<([^>]*)>", text)  # the only Slack control sequence left is our case link
    assert links == [f"https://board.example/cases/{quote(hostile, safe='')}|Open case {render.slack_escape(hostile).replace('|', '-')}"]


def test_messages_link_to_the_case() -> None:
    url = render.case_url("https://board.example/", "C 1/2")
    assert url == "https://board.example/cases/C%201%2F2"
    assert render.case_url(None, "C-1") is None
    assert "<https://board.example/cases/C-1|Open case C-1>" in render.slack_payload(notice(), NOW, "https://board.example/cases/C-1")["text"]
    msg = render.email_message(notice(), NOW, "sla@x.example", ["a@x.example"], "<m@x>", "https://board.example/cases/C-1")
    assert "Link: https://board.example/cases/C-1" in msg.get_content()


def test_digest_bodies_carry_every_event() -> None:
    notices = [notice(case_id=f"C-{i}") for i in range(30)]
    body = json.loads(render.webhook_digest_body("d1", notices))
    assert body["type"] == "sla.digest" and body["count"] == 30 and len(body["events"]) == 30
    text = render.slack_digest_payload(notices, NOW, 60)["text"]
    assert "30 events in the last 1m" in text and "C-0" in text and "and 5 more" in text


def test_pagerduty_one_incident_per_case_metric_cycle() -> None:
    warning75, warning90, breach = notice(), notice(threshold=0.9), notice(type="sla.breach")
    keys = {render.pagerduty_trigger(n, "RK", NOW)["dedup_key"] for n in (warning75, warning90, breach)}
    assert keys == {render.incident_dedup_key(breach)}
    assert render.incident_dedup_key(notice(cycle=2)) not in keys and render.incident_dedup_key(notice(metric="resolution")) not in keys
    trigger = render.pagerduty_trigger(breach, "RK", NOW, "https://board.example/cases/C-1")
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "sla-monitor"
    assert "C-1" in trigger["payload"]["summary"] and trigger["routing_key"] == "RK"
    assert trigger["links"] == [{"href": "https://board.example/cases/C-1", "text": "Case C-1"}]
    assert trigger["client_url"] == "https://board.example/cases/C-1"
    assert render.pagerduty_trigger(warning90, "RK", NOW)["payload"]["severity"] == "warning"
    assert "links" not in render.pagerduty_trigger(warning90, "RK", NOW)
    key = render.incident_dedup_key(breach)
    assert render.pagerduty_resolve(key, "RK") == {"routing_key": "RK", "event_action": "resolve", "dedup_key": key}


def test_alertmanager_alerts_fire_escalate_and_resolve() -> None:
    hold = datetime(2026, 11, 26, 10, 16, tzinfo=timezone.utc)
    (warn,) = render.alertmanager_alerts(notice(threshold=0.9), NOW, hold, "https://board.example/cases/C-1")
    assert warn["labels"] == {"alertname": "SlaCaseAtRisk", "case_id": "C-1", "plan": "adobe-enterprise", "priority": "P2",
                              "region": "emea", "metric": "first_response", "cycle": "1", "stage": "near_breach", "severity": "warning"}
    assert warn["startsAt"] == "2026-11-26T09:45:00.000Z" and warn["endsAt"] == "2026-11-26T10:16:00.000Z"
    assert warn["annotations"]["promise"] == "first response within 1h (24x7)" and warn["annotations"]["due_at"] == "2026-11-26 10:00 UTC"
    assert warn["generatorURL"] == "https://board.example/cases/C-1"
    crit, ended = render.alertmanager_alerts(notice(type="sla.breach", at="2026-11-26T10:00:00Z"), NOW, hold)
    assert crit["labels"]["stage"] == "breach" and crit["labels"]["severity"] == "critical" and crit["endsAt"] > crit["startsAt"]
    assert ended["labels"]["stage"] == "near_breach" and ended["endsAt"] == ended["startsAt"] == "2026-11-26T10:00:00.000Z"
    met = render.alertmanager_alerts(notice(type="sla.met", at="2026-11-26T10:05:00Z"), NOW, hold)
    assert {a["labels"]["stage"] for a in met} == {"near_breach", "breach"}
    assert all(a["endsAt"] == "2026-11-26T10:05:00.000Z" for a in met)


def test_email_is_marked_auto_generated_and_message_id_uses_the_domain() -> None:
    mid = render.message_id("e1", "email", "mail.example")
    assert mid.endswith("@mail.example>")
    msg = render.email_message(notice(), NOW, "sla@x.example", ["a@x.example"], mid)
    assert msg["Auto-Submitted"] == "auto-generated" and msg["X-Auto-Response-Suppress"] == "All"
    digest = render.email_digest([notice()], NOW, "sla@x.example", ["a@x.example"], mid, 60)
    assert digest["Auto-Submitted"] == "auto-generated"


def test_email_has_subject_recipients_and_deterministic_message_id() -> None:
    mid = render.message_id("e1", "email>contact:named_support_engineer")
    assert mid == render.message_id("e1", "email>contact:named_support_engineer") != render.message_id("e2", "email")
    msg = render.email_message(notice(type="sla.breach"), NOW, "sla@x.example", ["a@x.example", "b@x.example"], mid)
    assert msg["Subject"] == "[SLA breached] case C-1 first response (adobe-enterprise P2)"
    assert msg["To"] == "a@x.example, b@x.example" and msg["Message-ID"] == mid
    assert "overdue by 12m" in msg.get_content()
