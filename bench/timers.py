"""Many open cases in one worker: memory, tick cost, fire delay, restart recovery.

1. N open cases (24x7, 30-day target: never due during the run) are written to case-created and
   consumed by one `monitor worker` subprocess (metrics on, at-least-once).
2. rss_mib: resident memory of that worker process once it holds all N cases (rss_peak_mib: the
   highest it was while loading); idle_cpu_pct: its CPU use (percent of one core) over the next
   IDLE_WINDOW_S seconds, with no input and no timer due.
3. K more cases are created whose breach is due 3-13 s later; fire delay = the time a breach
   record is read from sla-breaches minus its `at` (includes produce and fetch latency). The
   reader fetches with fetch_max_wait_ms 20 (--reader-fetch-wait-ms): tansu answers a fetch with
   nothing to return only when that wait expires, not when a record arrives, so with aiokafka's
   default of 500 ms the reader alone adds up to half a second to every figure.
4. The worker is stopped (SIGTERM) and a second one started: recovery_s = from its spawn to its
   "partitions assigned" log line (process start, group join, changelog restore, index rebuild);
   restore_s = the restore and rebuild alone, as the worker logs it; rss_after_recovery_mib and
   recovery_peak_mib: its resident memory then, and the highest it was during the restore.
Tick cost (mean and worst tick, seconds) comes from the first worker's "worker stopped" log line.

    python bench/timers.py [--quick] [--cases N]

Ends with one JSON line: cases, rss_mib, idle_cpu_pct, tick_mean_s, tick_max_s, fire_delay_p99_s, recovery_s, ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from bench.throughput import machine  # noqa: E402
from monitor.core.events import format_time  # noqa: E402
from monitor.embedded_broker import EmbeddedBroker, free_port  # noqa: E402
from monitor.runtime.topics import apply_topics, load_specs, topic_env_var  # noqa: E402
from monitor.stream.config import TopicNames, config_from  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 6
#: Seconds over which the CPU use of the idle worker is measured.
IDLE_WINDOW_S = 10.0
BENCH_POLICIES = """
version = "bench.1"
warnings = [0.75]

[regions.emea]
timezone = "Europe/London"
open = "09:00"
close = "17:00"

[plans.bench]
title = "Benchmark plan: P1 never due during the run, P2 due within seconds"
priorities = ["P1", "P2"]

[plans.bench.first_response]
P1 = { calendar = "24x7", target = "30d" }
P2 = { calendar = "24x7", target = "60s" }
"""


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """Resident set size of a process in MiB (field VmHWM: the highest it has been)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_events(path: Path, name: str) -> list[dict[str, object]]:
    """JSON log lines of a worker with event == name."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == name:
            found.append(entry)
    return found


async def wait_log(path: Path, name: str, timeout_s: float, count: int = 1) -> dict[str, object]:
    """Wait for the `count`-th log line named `name`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = log_events(path, name)
        if len(found) >= count:
            return found[count - 1]
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no {name!r} in {path} within {timeout_s}s")


async def consumed(port: int) -> float:
    """sla_events_consumed_total summed over topics and outcomes, from the worker's /metrics."""
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("sla_events_consumed_total{"))


async def produce_cases(bootstrap: str, topic: str, cases: list[tuple[str, int, str]]) -> None:
    """(case_id, occurred_at_us, priority) -> case-created records."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1024 * 1024)
    await producer.start()
    try:
        futures = []
        for case_id, at_us, priority in cases:
            body = {"event_id": f"{case_id}-c", "case_id": case_id, "occurred_at": format_time(at_us), "plan": "bench",
                    "priority": priority, "region": "emea", "customer_id": "bench"}
            futures.append(await producer.send(topic, json.dumps(body).encode(), key=case_id.encode()))
            if len(futures) >= 20_000:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def spawn(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """A `monitor worker` subprocess logging JSON to log_path."""
    return subprocess.Popen([sys.executable, "-m", "monitor", "worker"], cwd=REPO,
                            env={**os.environ, "MONITOR_LOG_FORMAT": "json", **env},
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


async def run(bootstrap: str, cases: int, timers: int, workdir: Path, reader_wait_ms: int) -> dict[str, object]:
    tag = uuid.uuid4().hex[:8]
    names = TopicNames(**{role: f"timers-{tag}.{name}" for role, name in TopicNames().by_role().items()})
    await apply_topics(config_from(None, {"KAFKA_BROKER": bootstrap}).kafka, load_specs(names.by_role(), partitions=PARTITIONS))
    policies = workdir / "bench_policies.toml"
    policies.write_text(BENCH_POLICIES)
    port = free_port()
    env = {"KAFKA_BROKER": bootstrap, "MONITOR_POLICIES": str(policies), "MONITOR_WEB_PORT": str(port),
           "MONITOR_GROUP_ID": f"timers-{tag}", "MONITOR_LOG_LEVEL": "INFO", "MONITOR_SHUTDOWN_TIMEOUT_SECONDS": "120"}
    env.update({topic_env_var(role): name for role, name in names.by_role().items()})

    now_us = time.time_ns() // 1000
    began = time.perf_counter()
    await produce_cases(bootstrap, names.case_created, [(f"O-{i:08d}", now_us, "P1") for i in range(cases)])
    fill_s = time.perf_counter() - began

    log1, log2 = workdir / "worker1.log", workdir / "worker2.log"
    first = spawn(env, log1)
    second = None
    try:
        await wait_log(log1, "http listening", 60)
        began = time.perf_counter()
        while True:
            try:
                if await consumed(port) >= cases:
                    break
            except aiohttp.ClientError:
                pass
            if first.poll() is not None:
                raise RuntimeError(f"worker exited {first.returncode}; see {log1}")
            await asyncio.sleep(0.25)
        load_s = time.perf_counter() - began
        await asyncio.sleep(1.0)
        rss, rss_peak = rss_mib(first.pid), rss_mib(first.pid, "VmHWM")
        cpu_before, idle_began = cpu_seconds(first.pid), time.perf_counter()
        await asyncio.sleep(IDLE_WINDOW_S)
        idle_cpu_pct = 100 * (cpu_seconds(first.pid) - cpu_before) / (time.perf_counter() - idle_began)

        consumer = AIOKafkaConsumer(names.breaches, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                    fetch_max_wait_ms=reader_wait_ms)
        await consumer.start()
        rng = random.Random(1)
        now_us = time.time_ns() // 1000
        soon = [(f"T-{i:06d}", now_us - 60_000_000 + int(rng.uniform(3, 13) * 1_000_000), "P2") for i in range(timers)]
        await produce_cases(bootstrap, names.case_created, soon)
        delays: list[float] = []
        deadline = time.monotonic() + 60
        while len(delays) < timers and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            received = time.time()
            for records in batch.values():
                for record in records:
                    at = json.loads(record.value)["at"]
                    from datetime import datetime
                    delays.append(received - datetime.fromisoformat(at).timestamp())
        await consumer.stop()

        stop_began = time.perf_counter()
        first.send_signal(signal.SIGTERM)
        first_code = first.wait(timeout=150)
        stop_s = time.perf_counter() - stop_began
        stopped = await wait_log(log1, "worker stopped", 5)

        spawned = time.perf_counter()
        second = spawn(env, log2)
        assigned = await wait_log(log2, "partitions assigned", 300)
        recovery_s = time.perf_counter() - spawned
        rss_after_recovery, recovery_peak = rss_mib(second.pid), rss_mib(second.pid, "VmHWM")
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=150)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()

    return {
        "bench": "timers", "cases": cases, "timers": timers, "timers_fired": len(delays), "partitions": PARTITIONS,
        "rss_mib": round(rss, 1), "idle_cpu_pct": round(idle_cpu_pct, 2), "rss_after_recovery_mib": round(rss_after_recovery, 1),
        "rss_peak_mib": round(rss_peak, 1), "recovery_peak_mib": round(recovery_peak, 1),
        "load_s": round(load_s, 2), "load_per_s": round(cases / load_s), "fill_s": round(fill_s, 2),
        "tick_mean_s": stopped.get("tick_mean_s"), "tick_max_s": stopped.get("tick_max_s"), "ticks": stopped.get("ticks"),
        "fire_delay_p50_s": round(percentile(delays, 0.5), 3) if delays else None,
        "fire_delay_p99_s": round(percentile(delays, 0.99), 3) if delays else None,
        "fire_delay_max_s": round(max(delays), 3) if delays else None, "reader_fetch_wait_ms": reader_wait_ms,
        "stop_s": round(stop_s, 2), "stop_exit_code": first_code,
        "recovery_s": round(recovery_s, 2), "restore_s": assigned.get("seconds"), "restored_cases": assigned.get("cases"),
        "broker": "tansu (embedded, memory)" if not os.environ.get("KAFKA_BROKER") else "external", "machine": machine(),
    }


def main() -> int:
    """Run the benchmark and print one JSON line of figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 cases: a run of under a minute")
    parser.add_argument("--cases", type=int, default=None, help="open cases (default 1,000,000; quick 100,000)")
    parser.add_argument("--timers", type=int, default=None, help="cases due during the run (default 2000; quick 500)")
    parser.add_argument("--reader-fetch-wait-ms", type=int, default=20,
                        help="fetch_max_wait_ms of the breach reader (default 20; aiokafka's own default is 500)")
    args = parser.parse_args()
    cases = args.cases or (100_000 if args.quick else 1_000_000)
    timers = args.timers or (500 if args.quick else 2000)
    parser_keep = os.environ.get("BENCH_KEEP_DIR")
    with (contextlib.nullcontext(parser_keep) if parser_keep else tempfile.TemporaryDirectory(prefix="sla-timers-")) as tmp:
        bootstrap = os.environ.get("KAFKA_BROKER")
        if bootstrap:
            result = asyncio.run(run(bootstrap, cases, timers, Path(tmp), args.reader_fetch_wait_ms))
        else:
            with EmbeddedBroker() as broker:
                result = asyncio.run(run(broker.bootstrap, cases, timers, Path(tmp), args.reader_fetch_wait_ms))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
