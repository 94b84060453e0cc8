"""Every endpoint of a real worker answers as its OpenAPI document says (monitor/board/openapi.json)."""

from __future__ import annotations

import aiohttp
import pytest

from monitor.embedded_broker import free_port
from tests.board.openapi_check import DOCUMENT, check_answer
from tests.integration.board_harness import TOKEN, board_cases, board_workers, load_cases, wait_listed
from tests.integration.kafka_helpers import create_topics, now_utc, unique_topics

pytestmark = pytest.mark.timeout(180)


async def test_every_endpoint_answers_per_the_openapi_document(broker) -> None:
    names, partitions = unique_topics(partitions=2)
    await create_topics(broker.bootstrap, names, partitions)
    await load_cases(broker.bootstrap, names, board_cases(now_utc()))
    dead = f"http://127.0.0.1:{free_port()}"
    covered: set[tuple[str, int]] = set()
    async with board_workers(broker.bootstrap, names, 1, MONITOR_HTTP_AUTH_TOKEN=TOKEN) as (url,):
        auth = {"Authorization": f"Bearer {TOKEN}"}
        first = await wait_listed(f"{url}/api/cases", 4, headers=auth)
        requests = [
            ("/api/cases", auth), ("/api/cases?state=running&limit=2", auth),
            (f"/api/cases?state=running&limit=2&cursor={first['items'][1]['cursor']}", auth),
            ("/api/cases?customer=acme,globex&region=emea&metric=first_response", auth),
            ("/api/cases?limit=0", auth), ("/api/cases?cursor=bogus", auth), ("/api/cases", {}),
            ("/cases/B-OLD", auth), ("/cases/NOBODY", auth), ("/cases/" + "x" * 300, auth), ("/cases/B-OLD", {}),
            ("/board", auth), ("/board", {}), ("/board/static/board.js", auth), ("/board/static/board.css", auth),
            ("/board/static/secret.txt", auth), ("/openapi.json", auth), ("/metrics", {}), ("/healthz", {}), ("/readyz", {}),
        ]
        async with aiohttp.ClientSession() as session:
            for path, headers in requests:
                async with session.get(f"{url}{path}", headers=headers) as response:
                    body = await response.read()
                    template = check_answer("GET", path.split("?")[0], response.status,
                                            response.headers.get("Content-Type", ""), body)
                    covered.add((template, response.status))
            async with session.get(f"{url}/openapi.json", headers=auth) as response:
                assert await response.json() == DOCUMENT
    # a peer that does not answer: the partial page is documented too
    async with board_workers(broker.bootstrap, names, 1, MONITOR_PEERS=dead) as (url,):
        await wait_listed(f"{url}/api/cases?local=1", 4)
        async with aiohttp.ClientSession() as session, session.get(f"{url}/api/cases") as response:
            check_answer("GET", "/api/cases", response.status, response.headers["Content-Type"], await response.read())
            assert (await response.json())["partial"] is True
    documented = {path for path in DOCUMENT["paths"]}
    assert documented == {template for template, _ in covered}, documented - {t for t, _ in covered}
