"""Workers serving the board (the real `serve` path: HTTP server, routes, auth) on loopback ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from monitor.embedded_broker import free_port
from monitor.stream.config import TopicNames
from monitor.stream.service import serve
from monitor.stream.worker import load_engine
from tests.integration.kafka_helpers import as_record, created, produce, worker_config
from tests.integration.worker_harness import wait_for

BOARD_POLICIES = Path(__file__).with_name("board_policies.toml")
TOKEN = "board-test-token-0123456789"


def board_cases(now: datetime) -> list[dict[str, Any]]:
    """Cases whose stage at `now` is fixed by their age: 2 breached, 2 at risk, 2 in time."""
    def ago(minutes: float) -> datetime:
        return now - timedelta(minutes=minutes)
    return [
        created("B-OLD", ago(60), plan="gold", priority="P1", customer_id="acme"),           # due 50 min ago
        created("B-NEW", ago(20), plan="gold", priority="P1", customer_id="globex"),         # due 10 min ago
        created("R-LATE", ago(40), plan="gold", priority="P2", customer_id="acme"),          # 50 % passed, due in 20 min
        created("R-SOON", ago(7), plan="gold", priority="P1", customer_id="initech", region="apac"),  # due in 3 min
        created("OK-1", ago(5), plan="gold", priority="P2", customer_id="globex"),           # due in 55 min
        created("OK-2", ago(1), plan="gold", priority="P2", customer_id="acme"),             # due in 59 min
    ]


async def load_cases(bootstrap: str, names: TopicNames, cases: Sequence[dict[str, Any]]) -> None:
    """Produce the cases' case-created records."""
    await produce(bootstrap, [as_record(names.case_created, body) for body in cases])


async def get_json(url: str, **kwargs: Any) -> tuple[int, Any]:
    """(status, JSON body) of a GET."""
    async with aiohttp.ClientSession() as session, session.get(url, **kwargs) as response:
        return response.status, await response.json(content_type=None)


@asynccontextmanager
async def board_workers(bootstrap: str, names: TopicNames, count: int, **extra: str) -> AsyncIterator[list[str]]:
    """`count` workers of one group, each serving HTTP on its own port with every other as a peer; their base URLs."""
    ports = [free_port() for _ in range(count)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    stop = asyncio.Event()
    tasks = []
    for number, port in enumerate(ports):
        env = {"MONITOR_POLICIES": str(BOARD_POLICIES), "MONITOR_WEB_PORT": str(port), "MONITOR_WEB_HOST": "127.0.0.1",
               "MONITOR_PEERS": ",".join(urls), "MONITOR_REPLICA_NAME": f"replica-{number}", **extra}
        config = worker_config(bootstrap, names, **env)
        tasks.append(asyncio.create_task(serve(config, load_engine(config), install_signals=False, stop=stop)))
    try:
        yield urls
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)


async def wait_listed(url: str, count: int, timeout_s: float = 60, **kwargs: Any) -> dict[str, Any]:
    """Poll `url` (an /api/cases query) until it lists `count` items from every replica; the last answer."""
    last: dict[str, Any] = {}

    async def ask() -> None:
        nonlocal last
        try:
            status, body = await get_json(url, **kwargs)
        except aiohttp.ClientError:
            return
        if status == 200:
            last = body

    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        await ask()
        if len(last.get("items", ())) == count and not last.get("partial"):
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{url} did not list {count} items within {timeout_s}s; last answer {last}")
        await asyncio.sleep(0.2)


__all__ = ["TOKEN", "board_cases", "board_workers", "get_json", "load_cases", "wait_for", "wait_listed"]
