"""Channel senders: one module per kind; each turns a Delivery into one AttemptResult."""

from __future__ import annotations

import aiohttp

from monitor.notify.channels.base import Channel
from monitor.notify.channels.email import EmailChannel
from monitor.notify.channels.pagerduty import PagerDutyChannel
from monitor.notify.channels.slack import SlackChannel
from monitor.notify.channels.webhook import WebhookChannel
from monitor.notify.routing import Routing
from monitor.notify.secrets import ChannelSecrets

__all__ = ["Channel", "build_channels"]


def build_channels(routing: Routing, secrets: ChannelSecrets, session: aiohttp.ClientSession) -> dict[str, Channel]:
    """One sender per channel in the routing file."""
    built: dict[str, Channel] = {}
    for name, spec in routing.channels.items():
        own = secrets.get(name, {})
        if spec.kind == "webhook":
            built[name] = WebhookChannel(spec, own, session)
        elif spec.kind == "slack":
            built[name] = SlackChannel(spec, own, session)
        elif spec.kind == "pagerduty":
            built[name] = PagerDutyChannel(spec, own, session)
        else:
            built[name] = EmailChannel(spec, own)
    return built
