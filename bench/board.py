"""The escalation board's API with many open cases in one worker: latency against /healthz, memory.

1. N open cases are written to case-created with creation instants spread over the last 10 hours
   (8 h targets, 24x7 and business hours, a warning at 75 %): about a fifth are breached, a
   fifth at risk, the rest in time, over 4 customers, 3 priorities and 2 regions. One
   `monitor worker` subprocess (metrics on, at-least-once) consumes them all.
2. rss_mib: resident memory of that worker once it holds all N cases (and its board index).
3. In the same run, interleaved, R requests each of: `/healthz` (the baseline: same server,
   no work), `/api/cases?limit=100` (the default: at-risk and breached, first page),
   `?state=running&limit=100`, the 10th page through cursors, and a customer filter.
   Latency is measured from this process (loopback HTTP included).

    python bench/board.py [--quick] [--cases N] [--requests R]

Ends with one JSON line: cases, p50_ms, p99_ms, healthz_p99_ms, rss_mib, ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402

from bench.throughput import machine  # noqa: E402
from bench.timers import consumed, percentile, rss_mib, spawn, wait_log  # noqa: E402
from monitor.core.events import format_time  # noqa: E402
from monitor.embedded_broker import EmbeddedBroker, free_port  # noqa: E402
from monitor.runtime.topics import apply_topics, load_specs, topic_env_var  # noqa: E402
from monitor.stream.config import TopicNames, config_from  # noqa: E402

PARTITIONS = 6
HOUR_US = 3600 * 1_000_000
BENCH_POLICIES = """
version = "bench-board.1"
warnings = [0.75]

[regions.emea]
timezone = "Europe/London"
open = "09:00"
close = "17:00"

[regions.americas]
timezone = "America/New_York"
open = "08:00"
close = "18:00"

[plans.bench]
title = "Board benchmark plan"
priorities = ["P1", "P2", "P3"]

[plans.bench.first_response]
P1 = { calendar = "24x7", target = "8h" }
P2 = { calendar = "24x7", target = "8h" }
P3 = { calendar = "business_hours", target = "8h" }
"""
CUSTOMERS = ("acme", "globex", "initech", "umbrella")


async def produce_cases(bootstrap: str, topic: str, count: int, now_us: int, seed: int = 1) -> None:
    """`count` case-created records, created uniformly over the last 10 hours."""
    rng = random.Random(seed)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1024 * 1024)
    await producer.start()
    try:
        futures = []
        for i in range(count):
            case_id = f"B-{i:08d}"
            body = {"event_id": f"{case_id}-c", "case_id": case_id,
                    "occurred_at": format_time(now_us - int(rng.random() * 10 * HOUR_US)), "plan": "bench",
                    "priority": rng.choice(("P1", "P2", "P3")), "region": rng.choice(("emea", "americas")),
                    "customer_id": CUSTOMERS[i % len(CUSTOMERS)]}
            futures.append(await producer.send(topic, json.dumps(body).encode(), key=case_id.encode()))
            if len(futures) >= 20_000:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def timed_get(session: aiohttp.ClientSession, url: str) -> tuple[float, dict[str, object]]:
    """Milliseconds for one GET (body read and decoded), and the body."""
    began = time.perf_counter()
    async with session.get(url) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}: {body}")
    return (time.perf_counter() - began) * 1000, body


async def tenth_page_url(session: aiohttp.ClientSession, base: str) -> str:
    """The URL of the 10th page of the default query (nine cursors followed)."""
    url = f"{base}/api/cases?limit=100"
    for _ in range(9):
        _, body = await timed_get(session, url)
        if body["next_cursor"] is None:   # fewer than ten pages: the last one
            break
        url = f"{base}/api/cases?limit=100&cursor={body['next_cursor']}"
    return url


def summary(values: list[float]) -> dict[str, float]:
    """p50, p99 and max of a list of milliseconds."""
    return {"p50": round(percentile(values, 0.5), 2), "p99": round(percentile(values, 0.99), 2), "max": round(max(values), 2)}


async def run(bootstrap: str, cases: int, requests: int, workdir: Path) -> dict[str, object]:
    tag = uuid.uuid4().hex[:8]
    names = TopicNames(**{role: f"board-{tag}.{name}" for role, name in TopicNames().by_role().items()})
    await apply_topics(config_from(None, {"KAFKA_BROKER": bootstrap}).kafka, load_specs(names.by_role(), partitions=PARTITIONS))
    policies = workdir / "bench_policies.toml"
    policies.write_text(BENCH_POLICIES)
    port = free_port()
    env = {"KAFKA_BROKER": bootstrap, "MONITOR_POLICIES": str(policies), "MONITOR_WEB_PORT": str(port),
           "MONITOR_WEB_HOST": "127.0.0.1", "MONITOR_GROUP_ID": f"board-{tag}", "MONITOR_LOG_LEVEL": "INFO",
           "MONITOR_SHUTDOWN_TIMEOUT_SECONDS": "120"}
    env.update({topic_env_var(role): name for role, name in names.by_role().items()})

    began = time.perf_counter()
    await produce_cases(bootstrap, names.case_created, cases, time.time_ns() // 1000)
    fill_s = time.perf_counter() - began
    log_path = workdir / "worker.log"
    worker = spawn(env, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_log(log_path, "http listening", 60)
        began = time.perf_counter()
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                if await consumed(port) >= cases:
                    break
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited {worker.returncode}; see {log_path}")
            await asyncio.sleep(0.25)
        load_s = time.perf_counter() - began
        await asyncio.sleep(2.0)   # let the timers of the oldest cases fire
        rss = rss_mib(worker.pid)

        timings: dict[str, list[float]] = {"healthz": [], "default": [], "running": [], "page10": [], "customer": []}
        async with aiohttp.ClientSession() as session:
            _, everything = await timed_get(session, f"{base}/api/cases?state=running&limit=1")
            _, breached = await timed_get(session, f"{base}/api/cases?state=breached&limit=1")
            urls = {"healthz": f"{base}/healthz", "default": f"{base}/api/cases?limit=100",
                    "running": f"{base}/api/cases?state=running&limit=100", "page10": await tenth_page_url(session, base),
                    "customer": f"{base}/api/cases?limit=100&customer=globex&priority=P2"}
            for name in ("default", "healthz"):   # warm up
                await timed_get(session, urls[name])
            for _ in range(requests):
                for name, url in urls.items():
                    ms, body = await timed_get(session, url)
                    timings[name].append(ms)
                    if name == "default" and cases >= 1000:
                        items = body["items"]
                        assert isinstance(items, list) and len(items) == 100, "the default page is not full"
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=150)
    finally:
        if worker.poll() is None:
            worker.kill()

    stats = {name: summary(values) for name, values in timings.items()}
    return {
        "bench": "board", "cases": cases, "requests": requests, "partitions": PARTITIONS,
        "p50_ms": stats["default"]["p50"], "p99_ms": stats["default"]["p99"],
        "healthz_p50_ms": stats["healthz"]["p50"], "healthz_p99_ms": stats["healthz"]["p99"],
        "p99_over_healthz_p99": round(stats["default"]["p99"] / stats["healthz"]["p99"], 2),
        "running_p50_ms": stats["running"]["p50"], "running_p99_ms": stats["running"]["p99"],
        "page10_p50_ms": stats["page10"]["p50"], "page10_p99_ms": stats["page10"]["p99"],
        "customer_filter_p50_ms": stats["customer"]["p50"], "customer_filter_p99_ms": stats["customer"]["p99"],
        "rss_mib": round(rss, 1), "rss_bytes_per_case": round(rss * 1024 * 1024 / cases),
        "first_breached": bool(breached["items"]), "first_running": bool(everything["items"]),
        "load_s": round(load_s, 2), "fill_s": round(fill_s, 2),
        "broker": "tansu (embedded, memory)" if not os.environ.get("KAFKA_BROKER") else "external", "machine": machine(),
    }


def main() -> int:
    """Run the benchmark and print one JSON line of figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 cases, 100 requests: about a minute")
    parser.add_argument("--cases", type=int, default=None, help="open cases (default 1,000,000; quick 100,000)")
    parser.add_argument("--requests", type=int, default=None, help="requests per endpoint (default 300; quick 100)")
    args = parser.parse_args()
    cases = args.cases or (100_000 if args.quick else 1_000_000)
    requests = args.requests or (100 if args.quick else 300)
    with tempfile.TemporaryDirectory(prefix="sla-board-") as tmp:
        bootstrap = os.environ.get("KAFKA_BROKER")
        if bootstrap:
            result = asyncio.run(run(bootstrap, cases, requests, Path(tmp)))
        else:
            with EmbeddedBroker() as broker:
                result = asyncio.run(run(broker.bootstrap, cases, requests, Path(tmp)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
