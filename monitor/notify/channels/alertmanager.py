"""Alertmanager as a delivery target: per-case alerts on /api/v2/alerts, kept firing by re-posting, resolved by met.

Like Prometheus, every post carries an explicit `endsAt` (now + 4 x repost interval), so an alert stays
firing only while this notifier keeps re-posting it and ends by itself if the notifier goes away.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import structlog

from monitor.notify import render
from monitor.notify.channels.base import NO_LINKS, CaseLinks
from monitor.notify.channels.http import post
from monitor.notify.delivery import AttemptResult
from monitor.notify.events import MET, SlaNotice
from monitor.notify.plan import Delivery
from monitor.notify.routing import ChannelSpec
from monitor.notify.secrets import Secret

log = structlog.get_logger("monitor.notify.alertmanager")
HOLD_FACTOR = 4  # endsAt = now + HOLD_FACTOR x repost_seconds, as Prometheus does with its resend delay


class AlertmanagerChannel:
    """Posts one alert per (case, metric, cycle, stage); re-posts the firing ones every `repost_seconds`."""

    def __init__(self, spec: ChannelSpec, secrets: dict[str, Secret], session: aiohttp.ClientSession,
                 links: CaseLinks = NO_LINKS) -> None:
        self.spec = spec
        base = secrets["url_env"].reveal() if "url_env" in secrets else spec.url or ""
        self._endpoint = base.rstrip("/") + "/api/v2/alerts"
        self._session = session
        self._links = links
        self.firing: dict[tuple[str, str, int], SlaNotice] = {}
        self._reposter: asyncio.Task[None] | None = None
        self._repost_now = False

    def _alerts(self, notice: SlaNotice, now: datetime) -> list[dict[str, Any]]:
        hold_until = now + timedelta(seconds=HOLD_FACTOR * self.spec.repost_seconds)
        return render.alertmanager_alerts(notice, now, hold_until, self._links.for_case(notice.case_id))

    async def _post(self, alerts: list[dict[str, Any]], now: datetime) -> AttemptResult:
        return await post(self._session, self._endpoint, json.dumps(alerts).encode(), {}, self.spec.retry.timeout_seconds, now)

    async def send(self, delivery: Delivery, now: datetime, resolves: Sequence[str] = ()) -> AttemptResult:
        """Post the event's alert (firing for near-breach/breach, resolved for met) and track what keeps firing."""
        notice = delivery.notice
        result = await self._post(self._alerts(notice, now), now)
        if result.ok:
            key = (notice.case_id, notice.metric, notice.cycle)
            if notice.type == MET:
                self.firing.pop(key, None)
            else:
                self.firing[key] = notice
            self._start_reposting()
        return result

    async def send_digest(self, deliveries: Sequence[Delivery], now: datetime, digest_id: str, window_seconds: float) -> AttemptResult:
        """Not used: routing rejects burst settings on Alertmanager channels (it groups alerts itself)."""
        return AttemptResult(ok=False, retryable=False, error="alertmanager channels do not send digests")

    async def repost(self, now: datetime) -> AttemptResult:
        """Re-post every firing alert once (extends its endsAt)."""
        if not self.firing:
            return AttemptResult(ok=True)
        alerts = [alert for notice in list(self.firing.values()) for alert in self._alerts(notice, now)]
        return await self._post(alerts, now)

    def restore_firing(self, notices: dict[tuple[str, str, int], SlaNotice]) -> int:
        """Take over alerts a previous notifier posted firing (from the delivery ledger) and re-post them now.

        An alert already tracked in memory keeps its newer notice. Returns how many were taken over.
        """
        added = {key: notice for key, notice in notices.items() if key not in self.firing}
        if added:
            self.firing.update(added)
            self._repost_now = True
            self._start_reposting()
        return len(added)

    def _start_reposting(self) -> None:
        if self._reposter is None or self._reposter.done():
            self._reposter = asyncio.create_task(self._repost_loop(), name=f"alertmanager-repost:{self.spec.name}")

    async def _repost_loop(self) -> None:
        while self.firing:
            if not self._repost_now:
                await asyncio.sleep(self.spec.repost_seconds)
            self._repost_now = False
            result = await self.repost(datetime.now(timezone.utc))
            if not result.ok:
                log.warning("alertmanager_repost_failed", channel=self.spec.name, alerts=len(self.firing), error=result.error)

    async def close(self) -> None:
        """Stop re-posting (the alerts then end by themselves after their endsAt)."""
        if self._reposter is not None:
            self._reposter.cancel()
            await asyncio.gather(self._reposter, return_exceptions=True)
