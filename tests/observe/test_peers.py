"""/cases/{id} answered by whichever replica owns the case: two real servers on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from monitor.observe.cases import CASE_ROUTE, CaseLookup, CaseRoute
from monitor.observe.peers import PeerCaseLookup, resolve_peers
from monitor.runtime.http import HttpServer


def replica(case_lookup: CaseLookup, peer_lookup: CaseLookup) -> HttpServer:
    server = HttpServer(CollectorRegistry(), readiness={})
    server.add_get(CASE_ROUTE, CaseRoute(case_lookup, peer_lookup).handle)
    return server


def owner_of(cases: dict[str, dict[str, Any]]):  # type: ignore[no-untyped-def]
    async def lookup(case_id: str) -> Mapping[str, Any] | None:
        return cases.get(case_id)
    return lookup


@pytest.fixture
async def replicas() -> AsyncIterator[list[str]]:
    """Two replicas, A owning C-A and B owning C-B, each knowing both base URLs."""
    peers_a, peers_b = PeerCaseLookup([], timeout_s=2), PeerCaseLookup([], timeout_s=2)
    a = replica(owner_of({"C-A": {"case_id": "C-A"}}), peers_a)
    b = replica(owner_of({"C-B": {"case_id": "C-B"}}), peers_b)
    urls = [f"http://127.0.0.1:{await a.start('127.0.0.1', 0)}", f"http://127.0.0.1:{await b.start('127.0.0.1', 0)}"]
    peers_a.peers = peers_b.peers = urls
    try:
        yield urls
    finally:
        await a.stop()
        await b.stop()


async def get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def test_any_replica_answers_for_any_case(replicas: list[str]) -> None:
    a, b = replicas
    assert await get(f"{a}/cases/C-A") == (200, {"case_id": "C-A"})
    assert await get(f"{a}/cases/C-B") == (200, {"case_id": "C-B", "served_by": b})
    assert await get(f"{b}/cases/C-A") == (200, {"case_id": "C-A", "served_by": a})


async def test_local_only_and_unknown(replicas: list[str]) -> None:
    a, _ = replicas
    status, _body = await get(f"{a}/cases/C-B?local=1")
    assert status == 404
    status, body = await get(f"{a}/cases/C-nobody")
    assert status == 404 and body["case_id"] == "C-nobody"


async def test_unreachable_peer_is_skipped() -> None:
    lookup = PeerCaseLookup(["http://127.0.0.1:9"], timeout_s=1)
    assert await lookup("C-1") is None


async def test_peers_from_a_dns_name_follow_its_addresses(replicas: list[str]) -> None:
    """`dns+http://name:port` asks every address the name has (a headless Service: one per pod)."""
    _, b = replicas
    port = b.rsplit(":", 1)[1]
    lookup = PeerCaseLookup([f"dns+http://localhost:{port}"], timeout_s=2)
    found = await lookup("C-B")
    assert found is not None and found["case_id"] == "C-B" and found["served_by"] == f"http://127.0.0.1:{port}"
    assert await PeerCaseLookup(["dns+http://no-such-host.invalid:6066"], timeout_s=1)("C-B") is None
    assert await resolve_peers(["http://x:1", "dns+http://127.0.0.1:6066/", "dns+https://[::1]:8443"]) == [
        "http://x:1", "http://127.0.0.1:6066", "https://[::1]:8443"]
