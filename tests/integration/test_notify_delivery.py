"""Notifier end to end on loopback: real broker (tansu), real HTTP endpoints, real SMTP server."""

from __future__ import annotations

import email
import json
import time
from email import policy
from pathlib import Path
from typing import Any

import pytest

from monitor.embedded_broker import EmbeddedBroker
from monitor.notify import render
from monitor.notify.contacts import parse_contacts
from monitor.notify.events import parse_notice
from tests.notify.factories import event_dict
from tests.notify.loopback import (
    HttpRecorder,
    eventually,
    fresh_topics,
    metric,
    produce_events,
    read_topic,
    running_notifier,
    self_signed_cert,
    smtp_server,
)

# `broker` is the session-scoped embedded broker from tests/integration/conftest.py
pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

SECRET = "webhook-shared-secret"
ENV = {"HOOK_SECRET": SECRET, "PD_KEY": "pd-routing-key", "SMTP_USER": "notifier", "SMTP_PASSWORD": "smtp-pass"}


@pytest.fixture
async def http() -> Any:
    recorder = await HttpRecorder().start()
    yield recorder
    await recorder.stop()


def fast_retry(**overrides: Any) -> dict[str, Any]:
    return {"max_attempts": 4, "base_seconds": 0.02, "max_seconds": 0.1, "timeout_seconds": 2.0, **overrides}


def slack(http: HttpRecorder, path: str, env: dict[str, str]) -> dict[str, Any]:
    env[f"SLACK_{path.upper().replace('-', '_')}"] = http.url(path)
    return {"kind": "slack", "url_env": f"SLACK_{path.upper().replace('-', '_')}", "retry": fast_retry()}


def webhook(http: HttpRecorder, path: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "webhook", "url": http.url(path), "secret_env": "HOOK_SECRET", "retry": fast_retry(), **extra}


async def test_escalation_ladder_routes_each_step_to_its_people(broker: EmbeddedBroker, http: HttpRecorder, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cert = self_signed_cert(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))  # the email channel verifies the server's certificate
    env = dict(ENV)
    with smtp_server(tls_cert=cert, credentials=("notifier", "smtp-pass")) as (smtp_port, mailbox):
        routing = {
            "channels": {
                "team-slack": slack(http, "team-slack", env),
                "team-webhook": webhook(http, "team-webhook"),
                "escalation-slack": slack(http, "escalation-slack", env),
                "duty-pd": {"kind": "pagerduty", "url": http.url("pagerduty"), "routing_key_env": "PD_KEY", "retry": fast_retry()},
                "email": {"kind": "email", "host": "127.0.0.1", "port": smtp_port, "security": "starttls",
                          "username_env": "SMTP_USER", "password_env": "SMTP_PASSWORD", "from": "sla@monitor.example",
                          "to": "escalations@support.example", "retry": fast_retry(timeout_seconds=5.0)},
            },
            "rules": [
                {"name": "enterprise", "match": {"plan": "*enterprise*"},
                 "notify": [{"channel": "email", "to": "contact:named_support_engineer"}], "continue": True},
                {"name": "breach", "match": {"type": "sla.breach"}, "notify": ["escalation-slack", "email", "duty-pd"]},
                {"name": "90", "match": {"threshold": 0.9}, "notify": ["escalation-slack", "email"]},
                {"name": "75", "match": {"threshold": 0.75}, "notify": ["team-slack", "team-webhook"]},
            ],
        }
        contacts = parse_contacts({"customers": {"acme": {"named_support_engineer": "nse@support.example"}}})
        topics = await fresh_topics(broker.bootstrap)
        e75 = event_dict(threshold=0.75)
        e90 = event_dict(threshold=0.9, at="2026-11-26T09:54:00Z")
        breach = event_dict(type="sla.breach", at="2026-11-26T10:00:00Z")
        met = event_dict(type="sla.met", breached=True, elapsed_seconds=4200.0, at="2026-11-26T10:10:00Z")
        other = event_dict(case_id="C-2", customer_id="globex", plan="adobe-online", threshold=0.75)
        await produce_events(broker.bootstrap, topics, [e75, e90, breach, other])
        async with running_notifier(broker.bootstrap, topics, routing, env, contacts) as notifier:
            await eventually(lambda: len(http.at("pagerduty")) == 1 and len(mailbox) == 5 and len(http.at("team-webhook")) == 2,
                             30, "ladder deliveries")
            await produce_events(broker.bootstrap, topics, [met])
            await eventually(lambda: len(http.at("pagerduty")) == 2, 15, "PagerDuty resolve")

            # 75%: the team (webhook signed with the shared secret; body is the contract event) and Slack
            hooks = http.at("team-webhook")
            assert sorted(h.json()["event_id"] for h in hooks) == sorted([e75["event_id"], other["event_id"]])
            for hook in hooks:
                assert render.verify_webhook(hook.body, hook.headers, [SECRET.encode()], time.time())
                assert hook.headers["X-SLA-Event-Id"] == hook.json()["event_id"]
                assert hook.headers["Idempotency-Key"]
            assert next(h for h in hooks if h.json()["event_id"] == e75["event_id"]).json() == e75
            assert len(http.at("team-slack")) == 2
            # 90% and breach: the escalation manager on Slack (readable) and by email
            texts = sorted(r.json()["text"] for r in http.at("escalation-slack"))  # topics are not ordered among themselves
            assert len(texts) == 2 and "SLA breached" in texts[0] and "SLA 90% used" in texts[1]
            for expected in ("C-1 (acme)", "adobe-enterprise", "P2", "first response within 1h (24x7)", "2026-11-26 10:00 UTC"):
                assert expected in texts[0]
            # breach: the duty manager's PagerDuty, then resolved with the same dedup key after met
            trigger, resolve = (r.json() for r in http.at("pagerduty"))
            incident = render.incident_dedup_key(parse_notice(json.dumps(breach).encode()))
            assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == incident
            assert trigger["routing_key"] == "pd-routing-key" and trigger["payload"]["severity"] == "critical"
            assert resolve == {"routing_key": "pd-routing-key", "event_action": "resolve", "dedup_key": trigger["dedup_key"]}
            # enterprise: the named support engineer for 75, 90 and breach; escalations for 90 and breach
            assert all(m.authenticated_as == "notifier" for m in mailbox)
            to_nse = [m for m in mailbox if m.recipients == ["nse@support.example"]]
            to_escalations = [m for m in mailbox if m.recipients == ["escalations@support.example"]]
            assert len(to_nse) == 3 and len(to_escalations) == 2
            subjects = sorted(email.message_from_bytes(m.data, policy=policy.default)["Subject"] for m in to_escalations)
            assert subjects == ["[SLA 90% used] case C-1 first response (adobe-enterprise P2)",
                                "[SLA breached] case C-1 first response (adobe-enterprise P2)"]
            assert metric(notifier, "sla_notifications_total", channel="email", outcome="delivered") == 5
            assert metric(notifier, "sla_notification_delivery_seconds_count", channel="duty-pd") == 2

            def lags() -> dict[tuple[str, str], float]:
                return {(s.labels["topic"], s.labels["partition"]): s.value for family in notifier.metrics.registry.collect()
                        if family.name == "sla_notify_consumer_lag_messages" for s in family.samples}
            await eventually(lambda: len(lags()) == 6 and not any(lags().values()), 15, "consumer lag 0 on every input partition")
        state = await read_topic(broker.bootstrap, topics.state)
        # one record per (event, target): 2 webhook, 2 team slack, 2 escalation slack, 5 mails, trigger, resolve
        assert len(state) == 13 and all(value["outcome"] == "delivered" for _, value in state)
        assert len({key for key, _ in state}) == 13


async def test_retry_then_success_honours_retry_after(broker: EmbeddedBroker, http: HttpRecorder) -> None:
    http.script["hook"] = [(503, {"Retry-After": "1"}), 429]
    routing = {"channels": {"hook": webhook(http, "hook")}, "rules": [{"notify": ["hook"]}]}
    topics = await fresh_topics(broker.bootstrap)
    event = event_dict()
    await produce_events(broker.bootstrap, topics, [event])
    async with running_notifier(broker.bootstrap, topics, routing, dict(ENV)) as notifier:
        await eventually(lambda: len(http.at("hook")) == 1, 20, "delivery after retries")
        attempts = http.at("hook", answered=None)
        assert [a.status for a in attempts] == [503, 429, 200]
        assert {a.body for a in attempts} == {attempts[0].body}  # same signed body each time
        assert attempts[1].at - attempts[0].at >= 0.95  # Retry-After: 1 honoured over a 20 ms backoff
        assert metric(notifier, "sla_notification_retries_total", channel="hook") == 2
        assert metric(notifier, "sla_notifications_total", channel="hook", outcome="delivered") == 1
    assert await read_topic(broker.bootstrap, topics.dead_letter, timeout=1) == []


async def test_exhausted_channel_goes_to_dead_letter_while_other_channels_deliver(broker: EmbeddedBroker, http: HttpRecorder) -> None:
    http.default["down"] = "hold"  # never answers: every attempt times out
    env = dict(ENV)
    routing = {
        "channels": {
            "down": webhook(http, "down", retry=fast_retry(max_attempts=3, timeout_seconds=0.4)),
            "up": slack(http, "up", env),
            "rejecting": webhook(http, "rejecting"),
        },
        "rules": [{"notify": ["down", "up", "rejecting"]}],
    }
    http.default["rejecting"] = 404
    topics = await fresh_topics(broker.bootstrap)
    events = [event_dict(case_id=f"C-{i}") for i in range(3)]
    await produce_events(broker.bootstrap, topics, events)
    async with running_notifier(broker.bootstrap, topics, routing, env) as notifier:
        await eventually(lambda: len(http.at("up")) == 3, 15, "the healthy channel")
        first_up_done = max(r.at for r in http.at("up"))
        await eventually(lambda: metric(notifier, "sla_notification_dead_letters_total", channel="down") == 3, 30,
                         "the down channel to give up on all three")
        # the healthy channel finished before the down channel gave up on even its first event
        first_down = min(r.at for r in http.at("down", answered=None))
        assert first_up_done < first_down + 3 * 0.4
        assert len(http.at("down", answered=None)) == 9
        assert len(http.at("rejecting", answered=None)) == 3  # 404 is permanent: no retry
        assert metric(notifier, "sla_notifications_total", channel="up", outcome="delivered") == 3
    dead = [value for _, value in await read_topic(broker.bootstrap, topics.dead_letter)]
    down = sorted((d for d in dead if d["channel"] == "down"), key=lambda d: d["case_id"])
    assert [d["case_id"] for d in down] == ["C-0", "C-1", "C-2"]
    assert all(d["reason"] == "delivery_failed" and d["attempts"] == 3 and d["last_error"] == "timeout after 0.4s" for d in down)
    assert down[0]["event"] == events[0]
    rejected = [d for d in dead if d["channel"] == "rejecting"]
    assert len(rejected) == 3 and all(d["reason"] == "delivery_rejected" and d["last_error"] == "HTTP 404" for d in rejected)
    assert "http://" not in json.dumps(dead) and SECRET not in json.dumps(dead)  # no endpoint URLs, no secrets


async def test_burst_is_folded_into_one_digest(broker: EmbeddedBroker, http: HttpRecorder) -> None:
    env = dict(ENV)
    routing = {
        "channels": {
            "hook": webhook(http, "hook", burst={"max_events": 3, "per_seconds": 2.0}),
            "chat": {**slack(http, "chat", env), "burst": {"max_events": 3, "per_seconds": 2.0}},
        },
        "rules": [{"notify": ["hook", "chat"]}],
    }
    topics = await fresh_topics(broker.bootstrap)
    events = [event_dict(case_id=f"C-{i:02d}") for i in range(40)]
    await produce_events(broker.bootstrap, topics, events)
    async with running_notifier(broker.bootstrap, topics, routing, env) as notifier:
        await eventually(lambda: len(http.at("hook")) == 4 and len(http.at("chat")) == 4, 20, "3 messages and a digest per channel")
        hooks = http.at("hook")
        singles, digest = hooks[:3], hooks[3].json()
        assert all(h.json()["type"] == "sla.near_breach" for h in singles)
        assert digest["type"] == "sla.digest" and digest["count"] == 37
        assert render.verify_webhook(hooks[3].body, hooks[3].headers, [SECRET.encode()], time.time())
        delivered = {h.json()["event_id"] for h in singles} | {e["event_id"] for e in digest["events"]}
        assert delivered == {e["event_id"] for e in events}
        assert hooks[3].at - hooks[0].at >= 1.9  # the digest waits for the window
        chat_digest = http.at("chat")[3].json()["text"]
        assert "37 events" in chat_digest and "and 12 more" in chat_digest
        assert metric(notifier, "sla_notifications_total", channel="hook", outcome="digested") == 37
        await eventually(lambda: notifier.tracker.in_flight() == 0, 5, "all offsets committable")
    records = [value for _, value in await read_topic(broker.bootstrap, topics.state)]
    assert sum(1 for r in records if r["outcome"] == "digested") == 74
    assert len({r["digest_id"] for r in records if r["digest_id"]}) == 2


async def test_redelivered_and_invalid_input(broker: EmbeddedBroker, http: HttpRecorder) -> None:
    routing = {"channels": {"hook": webhook(http, "hook")}, "rules": [{"notify": ["hook"]}]}
    topics = await fresh_topics(broker.bootstrap, partitions=1)
    event = event_dict()
    await produce_events(broker.bootstrap, topics, [event, event])  # the worker emitted it twice
    from aiokafka import AIOKafkaProducer
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    await producer.send_and_wait(topics.near, b"{broken", key=b"C-9")
    await producer.stop()
    async with running_notifier(broker.bootstrap, topics, routing, dict(ENV)) as notifier:
        await eventually(lambda: metric(notifier, "sla_notification_dead_letters_total", channel="-") == 1, 15, "invalid input")
        await eventually(lambda: notifier.tracker.in_flight() == 0, 5, "all offsets committable")
        await produce_events(broker.bootstrap, topics, [event])  # and once more, after it was recorded
        await eventually(lambda: metric(notifier, "sla_notifications_total", channel="hook", outcome="duplicate") >= 1, 10,
                         "the late duplicate to be skipped")
    assert len(http.at("hook", answered=None)) == 1
    dead = [value for _, value in await read_topic(broker.bootstrap, topics.dead_letter)]
    assert len(dead) == 1 and dead[0]["reason"] == "invalid_event" and dead[0]["detail"] == "invalid_json"
    assert dead[0]["offset"] == 2 and dead[0]["source_topic"] == topics.near
