"""Generic webhook: the contract event as JSON, signed with HMAC-SHA256 over the exact body."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

import aiohttp

from monitor.notify import render
from monitor.notify.channels.http import post
from monitor.notify.delivery import AttemptResult
from monitor.notify.plan import Delivery
from monitor.notify.routing import ChannelSpec
from monitor.notify.secrets import Secret


def idempotency_key(event_id: str, target: str) -> str:
    """Stable per (event, target): receivers can drop a resend after a crash."""
    return hashlib.sha256(f"{event_id}|{target}".encode()).hexdigest()[:32]


class WebhookChannel:
    """POSTs events to a URL with `<signature_header>: sha256=<hex>`, `X-SLA-Event-Id` and `Idempotency-Key`."""

    def __init__(self, spec: ChannelSpec, secrets: dict[str, Secret], session: aiohttp.ClientSession) -> None:
        self.spec = spec
        self._url = secrets["url_env"].reveal() if "url_env" in secrets else spec.url or ""
        self._secret = secrets["secret_env"].reveal().encode()
        self._session = session

    async def _post(self, body: bytes, event_id: str, key: str, now: datetime) -> AttemptResult:
        headers = {self.spec.signature_header: render.sign(body, self._secret), "X-SLA-Event-Id": event_id, "Idempotency-Key": key}
        return await post(self._session, self._url, body, headers, self.spec.retry.timeout_seconds, now)

    async def send(self, delivery: Delivery, now: datetime, resolves: Sequence[str] = ()) -> AttemptResult:
        """POST the event."""
        event_id = delivery.notice.event_id
        return await self._post(render.webhook_body(delivery.notice), event_id, idempotency_key(event_id, delivery.target), now)

    async def send_digest(self, deliveries: Sequence[Delivery], now: datetime, digest_id: str, window_seconds: float) -> AttemptResult:
        """POST one sla.digest body holding every folded event."""
        body = render.webhook_digest_body(digest_id, [d.notice for d in deliveries])
        return await self._post(body, digest_id, idempotency_key(digest_id, deliveries[0].target), now)
