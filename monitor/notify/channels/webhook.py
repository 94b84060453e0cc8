"""Generic webhook: the contract event as JSON, signed as Standard Webhooks specifies (id.timestamp.body, HMAC-SHA256)."""

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
    """POSTs events with `webhook-id` (= `Idempotency-Key`, stable per event and target), `webhook-timestamp`,
    `webhook-signature` (one `v1,<base64>` per configured secret, for rotation) and `X-SLA-Event-Id`."""

    def __init__(self, spec: ChannelSpec, secrets: dict[str, Secret], session: aiohttp.ClientSession) -> None:
        self.spec = spec
        self._url = secrets["url_env"].reveal() if "url_env" in secrets else spec.url or ""
        self._keys = render.webhook_secret_keys(secrets["secret_env"].reveal())
        self._session = session

    async def _post(self, body: bytes, event_id: str, key: str, now: datetime) -> AttemptResult:
        headers = render.webhook_headers(key, int(now.timestamp()), body, self._keys)
        headers.update({"X-SLA-Event-Id": event_id, "Idempotency-Key": key})
        return await post(self._session, self._url, body, headers, self.spec.retry.timeout_seconds, now)

    async def send(self, delivery: Delivery, now: datetime, resolves: Sequence[str] = ()) -> AttemptResult:
        """POST the event."""
        event_id = delivery.notice.event_id
        return await self._post(render.webhook_body(delivery.notice), event_id, idempotency_key(event_id, delivery.target), now)

    async def send_digest(self, deliveries: Sequence[Delivery], now: datetime, digest_id: str, window_seconds: float) -> AttemptResult:
        """POST one sla.digest body holding every folded event."""
        body = render.webhook_digest_body(digest_id, [d.notice for d in deliveries])
        return await self._post(body, digest_id, idempotency_key(digest_id, deliveries[0].target), now)
