"""Alertmanager as a channel, end to end against Debian's real `prometheus-alertmanager` on loopback.

The alert appears (API and `amtool alert query`), a silence suppresses its delivery to a webhook
receiver, re-posting keeps it firing past its own endsAt, and `sla.met` resolves it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from monitor.embedded_broker import free_port
from monitor.notify.channels import build_channels
from monitor.notify.channels.alertmanager import AlertmanagerChannel
from monitor.notify.plan import Delivery
from monitor.notify.routing import Recipient, parse_routing
from monitor.notify.secrets import resolve_secrets
from tests.notify.factories import notice
from tests.notify.loopback import HttpRecorder, eventually

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.timeout(120),
    pytest.mark.skipif(ALERTMANAGER is None or AMTOOL is None,
                       reason="alertmanager not installed: apt-get install -y --no-install-recommends prometheus-alertmanager"),
]


def am_config(receiver_url: str) -> dict[str, Any]:
    """One route per case, short waits, resolved notifications on."""
    return {
        "route": {"receiver": "hook", "group_by": ["alertname", "case_id"], "group_wait": "200ms",
                  "group_interval": "500ms", "repeat_interval": "1h"},
        "receivers": [{"name": "hook", "webhook_configs": [{"url": receiver_url, "send_resolved": True}]}],
    }


@pytest.fixture
async def hook() -> AsyncIterator[HttpRecorder]:
    recorder = await HttpRecorder().start()
    yield recorder
    await recorder.stop()


@pytest.fixture
async def alertmanager(tmp_path: Path, hook: HttpRecorder) -> AsyncIterator[str]:
    assert ALERTMANAGER is not None
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(am_config(hook.url("am"))))
    port = free_port()
    process = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            async def ready() -> bool:
                try:
                    async with session.get(f"{url}/-/ready") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False
            for _ in range(200):
                if process.poll() is not None:
                    raise AssertionError(f"alertmanager exited: {process.stderr.read().decode() if process.stderr else ''}")
                if await ready():
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("alertmanager did not become ready")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


async def active_alerts(session: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    async with session.get(f"{url}/api/v2/alerts") as response:
        alerts: list[dict[str, Any]] = await response.json()
        return alerts


def notified(hook: HttpRecorder, case_id: str, status: str) -> list[dict[str, Any]]:
    """Alerts of `case_id` in webhook notifications with that status."""
    return [a for r in hook.at("am") for a in r.json()["alerts"] if a["labels"]["case_id"] == case_id and a["status"] == status]


def amtool(url: str, *args: str) -> str:
    assert AMTOOL is not None
    done = subprocess.run([AMTOOL, f"--alertmanager.url={url}", *args], capture_output=True, text=True, timeout=30, check=True)
    return done.stdout


async def test_alerts_appear_are_silenced_kept_firing_and_resolved_by_met(alertmanager: str, hook: HttpRecorder) -> None:
    routing = parse_routing({"channels": {"am": {"kind": "alertmanager", "url_env": "AM_URL", "repost_seconds": 1}},
                             "rules": [{"notify": ["am"]}]})
    spec = routing.channels["am"]

    def delivery(**fields: Any) -> Delivery:
        return Delivery(notice=notice(**fields), recipient=Recipient("am"), spec=spec)

    async with aiohttp.ClientSession() as session:
        channel = build_channels(routing, resolve_secrets(routing, {"AM_URL": alertmanager}), session,
                                 board_url="https://board.example")["am"]
        assert isinstance(channel, AlertmanagerChannel)
        try:
            # A silence an operator created for case C-2 (amtool, as they would).
            amtool(alertmanager, "silence", "add", "case_id=C-2", "--comment=known customer outage", "--author=test",
                   "--duration=1h")
            now = datetime.now(timezone.utc)
            at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
            for fields in ({"case_id": "C-1", "threshold": 0.9, "at": at}, {"case_id": "C-2", "type": "sla.breach", "at": at},
                           {"case_id": "C-3", "type": "sla.breach", "at": at}):
                assert (await channel.send(delivery(**fields), now)).ok

            # The alerts appear, with the labels routing trees use.
            queried = json.loads(amtool(alertmanager, "alert", "query", "-o", "json", "case_id=C-1"))
            assert [a["labels"]["stage"] for a in queried] == ["near_breach"]
            assert queried[0]["labels"]["severity"] == "warning" and queried[0]["generatorURL"] == "https://board.example/cases/C-1"
            assert queried[0]["annotations"]["promise"] == "first response within 1h (24x7)"

            # C-1 and C-3 reach the receiver; C-2 is silenced: suppressed in the API, never delivered.
            await eventually(lambda: bool(notified(hook, "C-1", "firing")) and bool(notified(hook, "C-3", "firing")), 20,
                             "C-1 and C-3 notifications")
            by_case = {a["labels"]["case_id"]: a for a in await active_alerts(session, alertmanager)}
            assert by_case["C-2"]["status"]["state"] == "suppressed" and by_case["C-2"]["status"]["silencedBy"]
            assert by_case["C-3"]["status"]["state"] == "active" and by_case["C-3"]["labels"]["severity"] == "critical"
            await asyncio.sleep(1.0)  # more than group_wait + group_interval after C-3
            assert notified(hook, "C-2", "firing") == []

            # Re-posting keeps C-3 firing well past the endsAt of its first post (now + 4 x 1 s).
            await asyncio.sleep(6.0)
            assert "C-3" in {a["labels"]["case_id"] for a in await active_alerts(session, alertmanager)}

            # sla.met resolves C-1: gone from the active alerts, and the receiver hears `resolved`.
            met_at = datetime.now(timezone.utc)
            met = delivery(case_id="C-1", type="sla.met", at=met_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
            assert (await channel.send(met, met_at)).ok
            await eventually(lambda: bool(notified(hook, "C-1", "resolved")), 20, "C-1 resolved notification")
            remaining = {a["labels"]["case_id"] for a in await active_alerts(session, alertmanager)}
            assert "C-1" not in remaining and "C-3" in remaining
            assert ("C-1", "first_response", 1) not in channel.firing
        finally:
            await channel.close()


async def test_unreachable_alertmanager_is_a_retryable_failure() -> None:
    routing = parse_routing({"channels": {"am": {"kind": "alertmanager", "url": f"http://127.0.0.1:{free_port()}"}},
                             "rules": [{"notify": ["am"]}]})
    async with aiohttp.ClientSession() as session:
        channel = build_channels(routing, {}, session)["am"]
        result = await channel.send(Delivery(notice=notice(), recipient=Recipient("am"), spec=routing.channels["am"]),
                                    datetime.now(timezone.utc))
    assert not result.ok and result.retryable and isinstance(channel, AlertmanagerChannel) and not channel.firing
