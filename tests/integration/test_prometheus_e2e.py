"""End to end: real broker, `monitor worker` subprocess, real Prometheus with deploy/ alert rules.

Prometheus scrapes the worker every second and evaluates deploy/prometheus/alerts.yml every
second. Cases of the fast test catalog (P1: 4 s target) are driven to breach; the test asserts
through Prometheus' HTTP API that sla_breaches_total rose and the breach alerts fire, and that
every dashboard expression is valid PromQL for this Prometheus.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from monitor.embedded_broker import free_port
from tests.integration.kafka_helpers import (
    as_record,
    create_topics,
    created,
    now_utc,
    produce,
    unique_topics,
    worker_env,
)
from tests.integration.worker_harness import REPO, spawn_worker, stop_worker

DEPLOY = REPO / "deploy"
PROMETHEUS = shutil.which("prometheus")

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        PROMETHEUS is None,
        reason="prometheus not installed: apt-get install -y --no-install-recommends prometheus",
    ),
]


def prometheus_config(worker_port: int) -> dict[str, Any]:
    """Scrape the worker each second and evaluate the deployed alert rules each second."""
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
        "rule_files": [str(DEPLOY / "prometheus" / "alerts.yml")],
        "scrape_configs": [
            {"job_name": "sla-monitor", "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}]},
        ],
    }


@pytest.fixture
def prometheus_server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """(base URL, worker port to scrape): a Prometheus on loopback, stopped after the test."""
    worker_port, port = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(worker_port)))
    log = open(tmp_path / "prometheus.log", "wb")
    assert PROMETHEUS is not None
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}", worker_port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


async def get_json(http: aiohttp.ClientSession, url: str, **params: str) -> Any:
    async with http.get(url, params=params) as response:
        return response.status, await response.json(content_type=None)


async def eventually(probe, timeout_s: float, what: str) -> Any:  # type: ignore[no-untyped-def]
    """Await `probe()` every 0.25 s until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await probe()
        except (TimeoutError, aiohttp.ClientError) as exc:
            last = exc
        else:
            if last:
                return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last: {last!r}")


async def query(http: aiohttp.ClientSession, base: str, expr: str) -> list[dict[str, Any]]:
    status, body = await get_json(http, f"{base}/api/v1/query", query=expr)
    assert status == 200 and body["status"] == "success", body
    return body["data"]["result"]


def dashboard_expressions() -> list[str]:
    board = json.loads((DEPLOY / "grafana" / "sla-monitor.json").read_text())
    found = []
    for panel in board["panels"]:
        for item in [panel, *panel.get("panels", [])]:
            found += [target["expr"] for target in item.get("targets", [])]
    return found


async def test_breaches_reach_prometheus_and_fire_the_breach_alerts(
    broker, prometheus_server: tuple[str, int], http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base, worker_port = prometheus_server
    names, partitions = unique_topics()
    await create_topics(broker.bootstrap, names, partitions)
    env = worker_env(
        broker.bootstrap, names, MONITOR_WEB_PORT=str(worker_port), MONITOR_WEB_HOST="127.0.0.1",
    )
    worker = spawn_worker(env, tmp_path / "worker.log")
    try:
        await eventually(lambda: _status_ok(http, f"{base}/-/ready"), 30, "Prometheus ready")
        breached = 'sum(sla_breaches_total{plan="fast",priority="P1",metric="first_response"})'

        async def scraped_and_ready() -> bool:
            up = await query(http, base, 'up{job="sla-monitor"}')
            ready = await query(http, base, "sla_worker_ready")
            zero = await query(http, base, breached)
            return bool(up and up[0]["value"][1] == "1" and ready and ready[0]["value"][1] == "1"
                        and zero and zero[0]["value"][1] == "0")

        await eventually(scraped_and_ready, 60, "a scrape of the ready worker with breaches at 0")

        start = now_utc()
        cases = [created(f"C-{n}", start, priority="P1") for n in range(3)]  # 4 s target
        await produce(broker.bootstrap, [as_record(names.case_created, body) for body in cases])

        async def breaches_counted() -> float:
            result = await query(http, base, breached)
            return float(result[0]["value"][1]) if result else 0.0

        assert await eventually(lambda: _at_least(breaches_counted, 3), 60, "sla_breaches_total == 3") == 3

        async def firing() -> set[str]:
            _, body = await get_json(http, f"{base}/api/v1/alerts")
            return {
                alert["labels"]["alertname"]
                for alert in body["data"]["alerts"]
                if alert["state"] == "firing" and alert["labels"].get("plan") == "fast"
                and alert["labels"].get("priority") == "P1"
            }

        fired = await eventually(
            lambda: _superset(firing, {"SlaCriticalPriorityBreach"}), 30, "breach alerts firing",
        )
        assert {"SlaCriticalPriorityBreach"} <= fired

        async def error_ratio() -> float:  # the attainment recording rule: every P1 clock breached
            result = await query(http, base, 'sla:first_response_error_ratio:rate5m{plan="fast",priority="P1"}')
            return float(result[0]["value"][1]) if result else 0.0

        assert await eventually(lambda: _at_least(error_ratio, 1.0), 30, "error ratio 1 for plan fast P1") == 1.0

        status, case = await get_json(http, f"http://127.0.0.1:{worker_port}/cases/C-0")
        assert status == 200 and "C-0" in json.dumps(case)

        for expr in dashboard_expressions():
            concrete = (expr.replace("$__rate_interval", "1m").replace("$plan", ".*")
                        .replace("$priority", ".*"))
            await query(http, base, concrete)  # asserts Prometheus accepts it
    finally:
        assert stop_worker(worker) == 0


async def _status_ok(http: aiohttp.ClientSession, url: str) -> bool:
    async with http.get(url) as response:
        return response.status == 200


async def _at_least(probe, n: float) -> float:  # type: ignore[no-untyped-def]
    value = await probe()
    return value if value >= n else 0.0


async def _superset(probe, wanted: set[str]) -> set[str]:  # type: ignore[no-untyped-def]
    found = await probe()
    return found if wanted <= found else set()
