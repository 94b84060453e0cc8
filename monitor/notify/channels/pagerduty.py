"""PagerDuty Events API v2: one incident per (case, metric, cycle); warning, then critical, then resolved by met."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import aiohttp

from monitor.notify import render
from monitor.notify.channels.base import NO_LINKS, CaseLinks
from monitor.notify.channels.http import post
from monitor.notify.delivery import AttemptResult
from monitor.notify.events import MET
from monitor.notify.plan import Delivery
from monitor.notify.routing import ChannelSpec
from monitor.notify.secrets import Secret


class PagerDutyChannel:
    """Triggers near-breach (warning) and breach (critical) on the incident's dedup key; met resolves it."""

    def __init__(self, spec: ChannelSpec, secrets: dict[str, Secret], session: aiohttp.ClientSession,
                 links: CaseLinks = NO_LINKS) -> None:
        self.spec = spec
        self._url = secrets["url_env"].reveal() if "url_env" in secrets else spec.url or ""
        self._routing_key = secrets["routing_key_env"].reveal()
        self._session = session
        self._links = links

    async def _post(self, payload: dict[str, object], now: datetime) -> AttemptResult:
        return await post(self._session, self._url, json.dumps(payload).encode(), {}, self.spec.retry.timeout_seconds, now)

    async def send(self, delivery: Delivery, now: datetime, resolves: Sequence[str] = ()) -> AttemptResult:
        """Trigger, or (met, with delivered triggers listed in `resolves`) resolve the incident of this case/metric/cycle."""
        notice = delivery.notice
        if notice.type != MET:
            link = self._links.for_case(notice.case_id)
            return await self._post(render.pagerduty_trigger(notice, self._routing_key, now, link), now)
        if not resolves:
            return AttemptResult(ok=True)
        return await self._post(render.pagerduty_resolve(render.incident_dedup_key(notice), self._routing_key), now)

    async def send_digest(self, deliveries: Sequence[Delivery], now: datetime, digest_id: str, window_seconds: float) -> AttemptResult:
        """Not used: routing rejects burst settings on PagerDuty channels."""
        return AttemptResult(ok=False, retryable=False, error="pagerduty channels do not send digests")
