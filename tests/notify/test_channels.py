"""Channel senders against real loopback endpoints (no broker): error texts are safe, codes classified."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import time
from datetime import datetime, timezone
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook

from monitor.embedded_broker import free_port
from monitor.notify import render
from monitor.notify.channels import build_channels
from monitor.notify.channels.email import EmailChannel
from monitor.notify.channels.http import post
from monitor.notify.plan import Delivery
from monitor.notify.routing import Recipient, parse_routing
from monitor.notify.secrets import resolve_secrets
from tests.notify.factories import notice
from tests.notify.loopback import HttpRecorder, smtp_server

pytestmark = pytest.mark.timeout(30)
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


def delivery_for(routing: Any, channel: str, addresses: tuple[str, ...] = ()) -> Delivery:
    return Delivery(notice=notice(), recipient=Recipient(channel), spec=routing.channels[channel], addresses=addresses)


async def test_connection_refused_is_retryable_and_hides_the_url() -> None:
    async with aiohttp.ClientSession() as session:
        result = await post(session, f"http://127.0.0.1:{free_port()}/services/T0/B0/secret-token", b"{}", {}, 2.0, NOW)
    assert not result.ok and result.retryable
    assert result.error is not None and result.error.startswith("connection failed") and "secret-token" not in result.error


async def test_slack_timeout_is_retryable_and_hides_the_url() -> None:
    http = await HttpRecorder().start()
    http.default["secret-token"] = "hold"
    routing = parse_routing({"channels": {"s": {"kind": "slack", "url_env": "SLACK", "retry": {"timeout_seconds": 0.2}}},
                             "rules": [{"notify": ["s"]}]})
    try:
        async with aiohttp.ClientSession() as session:
            channel = build_channels(routing, resolve_secrets(routing, {"SLACK": http.url("secret-token")}), session)["s"]
            result = await channel.send(delivery_for(routing, "s"), NOW)
    finally:
        await http.stop()
    assert (result.ok, result.retryable, result.error) == (False, True, "timeout after 0.2s")


class _Rejecting:
    def __init__(self, code: str) -> None:
        self.code = code

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return self.code


@pytest.mark.parametrize(("reply", "retryable"), [("550 5.1.1 no such user", False), ("451 4.3.0 try again later", True)])
async def test_smtp_rejections_are_classified_by_code(reply: str, retryable: bool) -> None:
    controller = Controller(_Rejecting(reply), hostname="127.0.0.1", port=free_port(), ready_timeout=10)
    controller.start()
    try:
        routing = parse_routing({"channels": {"e": {"kind": "email", "host": "127.0.0.1", "port": controller.port, "security": "none",
                                                    "from": "sla@x.example", "to": "a@x.example"}},
                                 "rules": [{"notify": ["e"]}]})
        async with aiohttp.ClientSession() as session:
            channel = build_channels(routing, {}, session)["e"]
            result = await channel.send(delivery_for(routing, "e", ("a@x.example",)), NOW)
    finally:
        await asyncio.to_thread(controller.stop)
    assert not result.ok and result.retryable is retryable
    assert result.error is not None and reply[:3] in result.error


async def test_webhook_channel_sends_standard_webhooks_headers_a_receiver_verifies() -> None:
    http = await HttpRecorder().start()
    secret = "whsec_" + base64.b64encode(b"receiver-shared-key").decode()
    routing = parse_routing({"channels": {"h": {"kind": "webhook", "url": http.url("hook"), "secret_env": "HOOK"}},
                             "rules": [{"notify": ["h"]}]})
    now = datetime.now(timezone.utc)
    try:
        async with aiohttp.ClientSession() as session:
            channel = build_channels(routing, resolve_secrets(routing, {"HOOK": f"old-key {secret}"}), session)["h"]
            result = await channel.send(delivery_for(routing, "h"), now)
    finally:
        await http.stop()
    (request,) = http.at("hook")
    assert result.ok and request.headers["webhook-id"] == request.headers["Idempotency-Key"]
    assert request.headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert Webhook(secret).verify(request.body, request.headers) == json.loads(request.body)  # the reference verifier
    assert render.verify_webhook(request.body, request.headers, [b"old-key"], time.time())
    assert not render.verify_webhook(request.body, request.headers, [b"old-key"], time.time() + 600)  # a replay later


async def test_pagerduty_channel_one_incident_warning_critical_resolve_with_case_link() -> None:
    http = await HttpRecorder().start()
    routing = parse_routing({"channels": {"p": {"kind": "pagerduty", "url": http.url("pd"), "routing_key_env": "PD"}},
                             "rules": [{"notify": ["p"]}]})
    spec = routing.channels["p"]
    try:
        async with aiohttp.ClientSession() as session:
            channel = build_channels(routing, resolve_secrets(routing, {"PD": "rk"}), session, board_url="https://board.example")["p"]
            for event, resolves in ((notice(threshold=0.9), ()), (notice(type="sla.breach"), ()), (notice(type="sla.met"), ("x",))):
                assert (await channel.send(Delivery(notice=event, recipient=Recipient("p"), spec=spec), NOW, resolves)).ok
            assert (await channel.send(Delivery(notice=notice(type="sla.met"), recipient=Recipient("p"), spec=spec), NOW, ())).ok
    finally:
        await http.stop()
    sent = [r.json() for r in http.at("pd")]
    assert [(s["event_action"], s.get("payload", {}).get("severity")) for s in sent] == [
        ("trigger", "warning"), ("trigger", "critical"), ("resolve", None)]  # nothing to resolve: no request
    assert len({s["dedup_key"] for s in sent}) == 1
    assert sent[0]["links"] == [{"href": "https://board.example/cases/C-1", "text": "Case C-1"}]


async def test_slack_channel_escapes_and_links_the_case() -> None:
    http = await HttpRecorder().start()
    routing = parse_routing({"channels": {"s": {"kind": "slack", "url_env": "SLACK"}}, "rules": [{"notify": ["s"]}]})
    spec = routing.channels["s"]
    try:
        async with aiohttp.ClientSession() as session:
            channel = build_channels(routing, resolve_secrets(routing, {"SLACK": http.url("slack")}), session,
                                     board_url="https://board.example")["s"]
            hostile = notice(case_id="C-9 <!channel>", customer_id="<@U123>")
            assert (await channel.send(Delivery(notice=hostile, recipient=Recipient("s"), spec=spec), NOW)).ok
    finally:
        await http.stop()
    text = http.at("slack")[0].json()["text"]
    assert "<!channel>" not in text and "<@U123>" not in text and "&lt;!channel&gt;" in text
    assert "<https://board.example/cases/C-9%20%3C%21channel%3E|Open case C-9 &lt;!channel&gt;>" in text


async def test_email_is_auto_submitted_with_message_id_at_the_configured_domain() -> None:
    with smtp_server() as (port, box):
        routing = parse_routing({"channels": {"e": {"kind": "email", "host": "127.0.0.1", "port": port, "security": "none",
                                                    "from": "sla@corp.example", "to": "a@x.example",
                                                    "message_id_domain": "mail.corp.example"}},
                                 "rules": [{"notify": ["e"]}]})
        async with aiohttp.ClientSession() as session:
            channel = build_channels(routing, {}, session, board_url="https://board.example")["e"]
            assert (await channel.send(delivery_for(routing, "e", ("a@x.example",)), NOW)).ok
    message = email.message_from_bytes(box[0].data, policy=email.policy.default)
    assert message["Auto-Submitted"] == "auto-generated"
    assert str(message["Message-ID"]).endswith("@mail.corp.example>")
    assert "Link: https://board.example/cases/C-1" in message.get_content()
    routing = parse_routing({"channels": {"e": {"kind": "email", "host": "h", "from": "sla@corp.example", "to": "a@x.example"}},
                             "rules": [{"notify": ["e"]}]})
    async with aiohttp.ClientSession() as session:
        default_domain = build_channels(routing, {}, session)["e"]
    assert isinstance(default_domain, EmailChannel) and default_domain._domain == "corp.example"
