"""HttpServer (with the worker's /cases route) served on a real loopback port: bodies of /healthz, /readyz, /cases, /metrics."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from monitor.core.policy import bundled_catalog
from monitor.observe.cases import CASE_ROUTE, CaseRoute
from monitor.observe.health import CheckResult, LoopLagProbe, broker_reachable, parse_bootstrap
from monitor.observe.metrics import WorkerMetrics
from monitor.runtime.http import HttpServer


class WorkerFacts:
    """What a worker would report: assigned partitions and recovery progress."""

    def __init__(self) -> None:
        self.partitions: list[int] = []
        self.recovered = False

    def partitions_assigned(self) -> CheckResult:
        if not self.partitions:
            return CheckResult(False, "no partitions assigned")
        return CheckResult(True, f"{len(self.partitions)} partitions assigned")

    async def table_recovered(self) -> CheckResult:
        return CheckResult(self.recovered, "recovered" if self.recovered else "table recovery in progress")


CASES: dict[str, dict[str, Any]] = {"C-1": {"case_id": "C-1", "metrics": {"first_response": {"due_at": "x"}}}}


async def lookup(case_id: str) -> Mapping[str, Any] | None:
    if case_id == "C-boom":
        raise RuntimeError("owner unreachable")
    return CASES.get(case_id)


@pytest.fixture
async def listening_socket() -> AsyncIterator[socket.socket]:
    """A bound, listening loopback socket: a broker that accepts TCP connections."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


@pytest.fixture
def facts() -> WorkerFacts:
    return WorkerFacts()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def base_url(
    facts: WorkerFacts, registry: CollectorRegistry, listening_socket: socket.socket
) -> AsyncIterator[str]:
    port = listening_socket.getsockname()[1]
    server = HttpServer(
        registry,
        readiness={
            "partitions_assigned": facts.partitions_assigned,
            "table_recovered": facts.table_recovered,
            "broker_reachable": broker_reachable(f"127.0.0.1:{port}", timeout_s=1.0),
        },
        on_readiness=WorkerMetrics(registry, bundled_catalog()).set_ready,
        loop_probe=LoopLagProbe(interval_s=0.05, max_lag_s=5.0),
    )
    server.add_get(CASE_ROUTE, CaseRoute(lookup).handle)
    bound = await server.start("127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        await server.stop()


async def get(url: str) -> tuple[int, Any, str]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url) as response:
            text = await response.text()
            body = await response.json() if response.content_type == "application/json" else None
            return response.status, body, text


async def test_healthz_is_ok_while_the_loop_beats(base_url: str) -> None:
    status, body, _ = await get(f"{base_url}/healthz")
    assert status == 200
    assert body["status"] == "ok"
    assert body["loop"]["ok"] is True


async def test_readyz_says_which_checks_fail_then_turns_ready(base_url: str, facts: WorkerFacts) -> None:
    status, body, _ = await get(f"{base_url}/readyz")
    assert status == 503
    assert body["ready"] is False
    assert body["checks"]["partitions_assigned"] == {"ok": False, "detail": "no partitions assigned"}
    assert body["checks"]["table_recovered"] == {"ok": False, "detail": "table recovery in progress"}
    assert body["checks"]["broker_reachable"]["ok"] is True

    facts.partitions, facts.recovered = [0, 1], True
    status, body, _ = await get(f"{base_url}/readyz")
    assert status == 200
    assert body["ready"] is True
    assert body["checks"]["partitions_assigned"]["detail"] == "2 partitions assigned"


async def test_readiness_is_exported_as_a_metric_on_scrape(base_url: str, facts: WorkerFacts) -> None:
    status, _, text = await get(f"{base_url}/metrics")
    assert status == 200
    assert "sla_worker_ready 0.0" in text
    assert 'sla_breaches_total{metric="first_response",plan="adobe-enterprise",priority="P1"} 0.0' in text
    facts.partitions, facts.recovered = [0], True
    _, _, text = await get(f"{base_url}/metrics")
    assert "sla_worker_ready 1.0" in text


async def test_cases_endpoint(base_url: str) -> None:
    status, body, _ = await get(f"{base_url}/cases/C-1")
    assert (status, body) == (200, CASES["C-1"])
    status, body, _ = await get(f"{base_url}/cases/C-404")
    assert status == 404 and body["error"] == "unknown case"
    status, body, _ = await get(f"{base_url}/cases/C-boom")
    assert status == 503 and body["error"] == "case lookup failed: RuntimeError"
    status, body, _ = await get(f"{base_url}/cases/{'x' * 300}")
    assert status == 400


async def test_unreachable_broker_is_reported() -> None:
    with socket.socket() as sock:  # bound but not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        result = await broker_reachable(f"127.0.0.1:{port}", timeout_s=1.0)()
    assert result.ok is False
    assert f"127.0.0.1:{port}" in result.detail


async def test_a_check_that_hangs_or_raises_fails_readiness_with_a_reason(registry: CollectorRegistry) -> None:
    async def hangs() -> CheckResult:
        await asyncio.sleep(60)
        return CheckResult(True, "never")

    def raises() -> CheckResult:
        raise KeyError("table")

    server = HttpServer(registry, readiness={"hangs": hangs, "raises": raises}, check_timeout_s=0.1)
    report = await server.readiness_report()
    assert report == {
        "ready": False,
        "checks": {
            "hangs": {"ok": False, "detail": "check timed out after 0.1s"},
            "raises": {"ok": False, "detail": "check raised KeyError: 'table'"},
        },
    }


async def test_blocked_loop_makes_liveness_fail() -> None:
    probe = LoopLagProbe(interval_s=0.01, max_lag_s=0.05, window_s=60.0)
    assert probe.status().ok is False  # not started
    probe.start()
    await asyncio.sleep(0.05)
    assert probe.status().ok is True
    time.sleep(0.2)  # block the event loop
    await asyncio.sleep(0.02)
    status = probe.status()
    assert status.ok is False
    assert "lag" in status.detail
    await probe.stop()
    assert probe.status().ok is False


def test_bootstrap_parsing() -> None:
    assert parse_bootstrap("kafka://a:9092, b:9093") == [("a", 9092), ("b", 9093)]
    with pytest.raises(ValueError):
        parse_bootstrap("nohost")
