"""GET /api/cases on real workers over tansu: order, filters, paging, merge across replicas, a dead
peer, access control, and no case data in /metrics."""

from __future__ import annotations

import base64

import aiohttp
import pytest

from monitor.embedded_broker import free_port
from tests.integration.board_harness import TOKEN, board_cases, board_workers, get_json, load_cases, wait_listed
from tests.integration.kafka_helpers import create_topics, now_utc, unique_topics

pytestmark = pytest.mark.timeout(180)
ORDER = ["B-OLD", "B-NEW", "R-SOON", "R-LATE"]


async def test_two_replicas_answer_for_the_whole_group_in_due_order(broker) -> None:
    names, partitions = unique_topics(partitions=4)
    await create_topics(broker.bootstrap, names, partitions)
    await load_cases(broker.bootstrap, names, board_cases(now_utc()))
    async with board_workers(broker.bootstrap, names, 2) as (a, b):
        await wait_listed(f"{a}/api/cases", 4)   # every threshold due so far has fired
        everything = await wait_listed(f"{a}/api/cases?state=running", 6)
        # both replicas own partitions and both contributed
        assert {item["replica"] for item in everything["items"]} == {"replica-0", "replica-1"}, everything
        assert [r["status"] for r in everything["replicas"]] == ["ok", "ok"]

        for url in (a, b):
            status, body = await get_json(f"{url}/api/cases")
            assert status == 200
            assert [i["case_id"] for i in body["items"]] == ORDER, body
            assert [i["stage"] for i in body["items"]] == ["breached", "breached", "warned", "warned"]
            assert body["next_cursor"] is None and body["partial"] is False
        assert [i["case_id"] for i in everything["items"]] == ORDER + ["OK-1", "OK-2"]
        old = everything["items"][0]
        assert old["remaining_seconds"] == pytest.approx(-3000, abs=30) and old["last_threshold"] == 1.0
        assert old["customer_id"] == "acme" and old["plan"] == "gold" and old["target_seconds"] == 600

        # filters
        async def listed(query: str) -> list[str]:
            status, body = await get_json(f"{b}/api/cases?{query}")
            assert status == 200, body
            return [i["case_id"] for i in body["items"]]
        assert await listed("state=breached") == ["B-OLD", "B-NEW"]
        assert await listed("state=at_risk") == ["R-SOON", "R-LATE"]
        assert await listed("customer=acme") == ["B-OLD", "R-LATE"]
        assert await listed("state=running&priority=P2") == ["R-LATE", "OK-1", "OK-2"]
        assert await listed("region=apac") == ["R-SOON"]
        assert await listed("plan=silver") == []

        # paging across replicas: one item a page, every item once, in order
        seen, cursor = [], None
        for _ in range(10):
            query = "state=running&limit=1" + (f"&cursor={cursor}" if cursor else "")
            status, body = await get_json(f"{a}/api/cases?{query}")
            seen += [i["case_id"] for i in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == ORDER + ["OK-1", "OK-2"]

        # bad parameters
        status, body = await get_json(f"{a}/api/cases?limit=5000")
        assert status == 400 and "limit" in body["error"]

        # /metrics carries no case or customer id
        async with aiohttp.ClientSession() as session, session.get(f"{a}/metrics") as response:
            text = await response.text()
        assert response.status == 200 and "sla_" in text
        for case in board_cases(now_utc()):
            assert case["case_id"] not in text and case["customer_id"] not in text


async def test_a_dead_peer_is_named_and_the_rest_is_served(broker) -> None:
    names, partitions = unique_topics(partitions=2)
    await create_topics(broker.bootstrap, names, partitions)
    await load_cases(broker.bootstrap, names, board_cases(now_utc()))
    dead = f"http://127.0.0.1:{free_port()}"
    async with board_workers(broker.bootstrap, names, 1) as (a,):
        await wait_listed(f"{a}/api/cases?local=1", 4)
    # the same group again, now told about a peer that is not there
    async with board_workers(broker.bootstrap, names, 1, MONITOR_PEERS=dead) as (a,):
        await wait_listed(f"{a}/api/cases?local=1", 4)
        status, body = await get_json(f"{a}/api/cases")
        assert status == 200 and body["partial"] is True
        assert [i["case_id"] for i in body["items"]] == ORDER
        (missing,) = [r for r in body["replicas"] if r["status"] != "ok"]
        assert missing["replica"] == dead and missing["error"]


async def test_token_guards_everything_but_probes_and_metrics_and_peers_forward_it(broker) -> None:
    names, partitions = unique_topics(partitions=4)
    await create_topics(broker.bootstrap, names, partitions)
    await load_cases(broker.bootstrap, names, board_cases(now_utc()))
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    basic = {"Authorization": "Basic " + base64.b64encode(f"anyone:{TOKEN}".encode()).decode()}
    async with board_workers(broker.bootstrap, names, 2, MONITOR_HTTP_AUTH_TOKEN=TOKEN) as (a, b):
        await wait_listed(f"{a}/api/cases", 4, headers=bearer)
        body = await wait_listed(f"{a}/api/cases?state=running", 6, headers=bearer)
        assert {item["replica"] for item in body["items"]} == {"replica-0", "replica-1"}   # fan-out authenticated
        async with aiohttp.ClientSession() as session:
            for path in ("/api/cases", "/board", "/cases/B-OLD", "/openapi.json", "/board/static/board.js"):
                async with session.get(f"{b}{path}") as response:
                    assert response.status == 401, path
                    challenges = response.headers.getall("WWW-Authenticate")
                    assert any(c.startswith("Basic ") for c in challenges)
                    assert TOKEN not in await response.text()
                async with session.get(f"{b}{path}", headers={"Authorization": "Bearer wrong-token-0123456789"}) as response:
                    assert response.status == 401, path
            for path in ("/metrics", "/healthz"):
                async with session.get(f"{b}{path}") as response:
                    assert response.status == 200, path
            async with session.get(f"{b}/readyz") as response:
                assert response.status in (200, 503)
            for headers in (bearer, basic):
                async with session.get(f"{b}/api/cases", headers=headers) as response:
                    assert response.status == 200
                    assert [i["case_id"] for i in (await response.json())["items"]] == ORDER
                async with session.get(f"{b}/board", headers=headers) as response:
                    assert response.status == 200 and "SLA escalation board" in await response.text()
            async with session.get(f"{b}/cases/R-SOON", headers=bearer) as response:
                assert response.status == 200 and (await response.json())["case_id"] == "R-SOON"
