"""Channel senders: one module per kind; each turns a Delivery into one AttemptResult."""

from __future__ import annotations

import os

import aiohttp

from monitor.notify.channels.alertmanager import AlertmanagerChannel
from monitor.notify.channels.base import CaseLinks, Channel
from monitor.notify.channels.email import EmailChannel
from monitor.notify.channels.pagerduty import PagerDutyChannel
from monitor.notify.channels.slack import SlackChannel
from monitor.notify.channels.webhook import WebhookChannel
from monitor.notify.routing import Routing
from monitor.notify.secrets import ChannelSecrets

__all__ = ["CaseLinks", "Channel", "build_channels"]


BOARD_URL_ENV = "MONITOR_BOARD_URL"


def build_channels(routing: Routing, secrets: ChannelSecrets, session: aiohttp.ClientSession,
                   board_url: str | None = None) -> dict[str, Channel]:
    """One sender per channel in the routing file; messages link to `<board_url>/cases/<id>` ($MONITOR_BOARD_URL)."""
    links = CaseLinks(board_url if board_url is not None else os.environ.get(BOARD_URL_ENV))
    built: dict[str, Channel] = {}
    for name, spec in routing.channels.items():
        own = secrets.get(name, {})
        if spec.kind == "webhook":
            built[name] = WebhookChannel(spec, own, session)
        elif spec.kind == "slack":
            built[name] = SlackChannel(spec, own, session, links)
        elif spec.kind == "pagerduty":
            built[name] = PagerDutyChannel(spec, own, session, links)
        elif spec.kind == "alertmanager":
            built[name] = AlertmanagerChannel(spec, own, session, links)
        else:
            built[name] = EmailChannel(spec, own, links=links)
    return built
