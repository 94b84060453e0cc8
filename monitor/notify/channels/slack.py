"""Slack-compatible incoming webhook: a readable message per event, or one digest."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import aiohttp

from monitor.notify import render
from monitor.notify.channels.base import NO_LINKS, CaseLinks
from monitor.notify.channels.http import post
from monitor.notify.delivery import AttemptResult
from monitor.notify.plan import Delivery
from monitor.notify.routing import ChannelSpec
from monitor.notify.secrets import Secret


class SlackChannel:
    """POSTs {"text": ...} to the webhook URL taken from the environment."""

    def __init__(self, spec: ChannelSpec, secrets: dict[str, Secret], session: aiohttp.ClientSession,
                 links: CaseLinks = NO_LINKS) -> None:
        self.spec = spec
        self._url = secrets["url_env"].reveal()
        self._session = session
        self._links = links

    async def send(self, delivery: Delivery, now: datetime, resolves: Sequence[str] = ()) -> AttemptResult:
        """Post the event as a message."""
        body = json.dumps(render.slack_payload(delivery.notice, now, self._links.for_case(delivery.notice.case_id))).encode()
        return await post(self._session, self._url, body, {}, self.spec.retry.timeout_seconds, now)

    async def send_digest(self, deliveries: Sequence[Delivery], now: datetime, digest_id: str, window_seconds: float) -> AttemptResult:
        """Post one message summarising the burst."""
        body = json.dumps(render.slack_digest_payload([d.notice for d in deliveries], now, window_seconds)).encode()
        return await post(self._session, self._url, body, {}, self.spec.retry.timeout_seconds, now)
