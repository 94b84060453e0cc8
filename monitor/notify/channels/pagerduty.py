"""PagerDuty Events API v2: trigger with dedup_key = event_id; a met event resolves those keys."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import aiohttp

from monitor.notify import render
from monitor.notify.channels.http import post
from monitor.notify.delivery import AttemptResult
from monitor.notify.events import MET
from monitor.notify.plan import Delivery
from monitor.notify.routing import ChannelSpec
from monitor.notify.secrets import Secret


class PagerDutyChannel:
    """Triggers for near-breach/breach; resolves (same dedup_key) for met."""

    def __init__(self, spec: ChannelSpec, secrets: dict[str, Secret], session: aiohttp.ClientSession) -> None:
        self.spec = spec
        self._url = secrets["url_env"].reveal() if "url_env" in secrets else spec.url or ""
        self._routing_key = secrets["routing_key_env"].reveal()
        self._session = session

    async def _post(self, payload: dict[str, object], now: datetime) -> AttemptResult:
        return await post(self._session, self._url, json.dumps(payload).encode(), {}, self.spec.retry.timeout_seconds, now)

    async def send(self, delivery: Delivery, now: datetime, resolves: Sequence[str] = ()) -> AttemptResult:
        """Trigger, or resolve every dedup key in `resolves` (resolving twice is harmless for PagerDuty)."""
        if delivery.notice.type != MET:
            return await self._post(render.pagerduty_trigger(delivery.notice, self._routing_key, now), now)
        for dedup_key in resolves:
            result = await self._post(render.pagerduty_resolve(dedup_key, self._routing_key), now)
            if not result.ok:
                return result
        return AttemptResult(ok=True)

    async def send_digest(self, deliveries: Sequence[Delivery], now: datetime, digest_id: str, window_seconds: float) -> AttemptResult:
        """Not used: routing rejects burst settings on PagerDuty channels."""
        return AttemptResult(ok=False, retryable=False, error="pagerduty channels do not send digests")
