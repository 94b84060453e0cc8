"""A restarted notifier keeps re-posting the Alertmanager alerts the previous run left firing.

Against Debian's real `prometheus-alertmanager` and the embedded broker: the first run delivers a
breach and a near-breach (then a met for the near-breach's case) and stops; its alerts would end
at their last endsAt (4 x repost_seconds). The second run receives no new event, yet takes the
still-firing alert over from the delivery ledger and keeps it active well past that endsAt, while
the case whose met was delivered stays resolved.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import aiohttp
import pytest

from monitor.embedded_broker import EmbeddedBroker
from tests.notify.factories import event_dict
from tests.notify.loopback import HttpRecorder, eventually, fresh_topics, produce_events, running_notifier
from tests.notify.test_alertmanager import ALERTMANAGER, AMTOOL, active_alerts, alertmanager, hook  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.prometheus,
    pytest.mark.timeout(120),
    pytest.mark.skipif(ALERTMANAGER is None or AMTOOL is None,
                       reason="alertmanager not installed: apt-get install -y --no-install-recommends prometheus-alertmanager"),
]

REPOST_SECONDS = 1
ROUTING = {"version": 1,
           "channels": {"am": {"kind": "alertmanager", "url_env": "AM_URL", "repost_seconds": REPOST_SECONDS}},
           "rules": [{"name": "all", "notify": ["am"]}]}


async def test_restarted_notifier_keeps_the_previous_runs_alerts_firing(broker: EmbeddedBroker, alertmanager: str,  # noqa: F811
                                                                         hook: HttpRecorder) -> None:  # noqa: F811
    topics = await fresh_topics(broker.bootstrap)
    at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    breach = event_dict(case_id="R-1", type="sla.breach", at=at)
    near = event_dict(case_id="R-2", type="sla.near_breach", at=at)
    met = event_dict(case_id="R-2", type="sla.met", at=at)
    env = {"AM_URL": alertmanager}

    async with aiohttp.ClientSession() as session:
        async def active_cases() -> set[str]:
            return {a["labels"]["case_id"] for a in await active_alerts(session, alertmanager)
                    if a["status"]["state"] == "active"}

        async with running_notifier(broker.bootstrap, topics, ROUTING, env) as first:
            await produce_events(broker.bootstrap, topics, [breach, near])
            await eventually(lambda: len(first.ledger.done) == 2, 30, "breach and near-breach delivered")
            await produce_events(broker.bootstrap, topics, [met])
            await eventually(lambda: len(first.ledger.done) == 3, 30, "met delivered")
            assert await active_cases() == {"R-1"}
        stopped = asyncio.get_running_loop().time()

        async with running_notifier(broker.bootstrap, topics, ROUTING, env) as second:
            assert len(second.ledger.done) == 3, "the second run read the first run's ledger"
            # Past the first run's last endsAt (stop + 4 x repost_seconds), with no new event in between.
            await asyncio.sleep(max(0.0, stopped + 4 * REPOST_SECONDS + 3 - asyncio.get_running_loop().time()))
            assert await active_cases() == {"R-1"}, "the breach ended with the first run: not taken over"
            assert len(second.ledger.done) == 3, "nothing was delivered again"
