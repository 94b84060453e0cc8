"""Channel senders against real loopback endpoints (no broker): error texts are safe, codes classified."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from monitor.embedded_broker import free_port
from monitor.notify.channels import build_channels
from monitor.notify.channels.http import post
from monitor.notify.plan import Delivery
from monitor.notify.routing import Recipient, parse_routing
from monitor.notify.secrets import resolve_secrets
from tests.notify.factories import notice
from tests.notify.loopback import HttpRecorder

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
