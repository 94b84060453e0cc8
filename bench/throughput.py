"""End-to-end throughput of one worker vs a raw aiokafka consume->produce passthrough.

Both read the same pre-filled input topics (half case-created, half case-updated answering the
case, so every second record emits an sla.met event) from the same broker in the same run:
- passthrough: a consumer group over both inputs, every value produced to one output topic,
  offsets committed after each batch's sends are acknowledged;
- worker: `monitor.stream.worker.Worker` (engine, state changelog, outputs, commits, metrics).
Each is timed from its first fetched record to the commit of the last one, in wall time and in
CPU time of this process (the broker runs in another process). On a machine shared with other
work the wall-time `ratio` swings with whatever else runs; `cpu_ratio` (passthrough CPU per
event / worker CPU per event) is the steadier figure for comparing two versions.

    python bench/throughput.py [--quick] [--events N]

Ends with one JSON line: events_per_s, passthrough_per_s, ratio, cpu_us_per_event, cpu_ratio, ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from aiokafka.coordinator.assignors.range import RangePartitionAssignor  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from monitor.core.events import format_time  # noqa: E402
from monitor.embedded_broker import EmbeddedBroker  # noqa: E402
from monitor.observe.metrics import WorkerMetrics  # noqa: E402
from monitor.runtime.runner import configure_gc  # noqa: E402
from monitor.runtime.topics import apply_topics, load_specs, topic_env_var  # noqa: E402
from monitor.stream.config import TopicNames, config_from  # noqa: E402
from monitor.stream.worker import Worker, load_engine  # noqa: E402

PARTITIONS = 6


def machine() -> str:
    """CPU model and count, for the record."""
    model = platform.processor() or "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} x{os.cpu_count()}, Python {platform.python_version()}"


async def fill(bootstrap: str, names: TopicNames, events: int) -> None:
    """events/2 case-created and events/2 case-updated (agent responses) records."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1024 * 1024)
    await producer.start()
    now = time.time()
    cases = events // 2
    try:
        futures = []
        for i in range(cases):
            case_id = f"B-{i:08d}"
            at = format_time(int((now - 60) * 1_000_000) + i)
            created = {"event_id": f"{case_id}-c", "case_id": case_id, "occurred_at": at, "plan": "adobe-enterprise",
                       "priority": ("P1", "P2", "P3", "P4")[i % 4], "region": ("americas", "emea", "apac", "japan")[i % 4],
                       "customer_id": f"cust-{i % 500}", "product": "analytics"}
            futures.append(await producer.send(names.case_created, json.dumps(created).encode(), key=case_id.encode()))
            answer = {"event_id": f"{case_id}-r", "case_id": case_id, "occurred_at": at, "agent_response": True}
            futures.append(await producer.send(names.case_updated, json.dumps(answer).encode(), key=case_id.encode()))
            if len(futures) >= 20_000:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def passthrough(bootstrap: str, names: TopicNames, events: int) -> tuple[float, float]:
    """Raw consume -> produce -> commit over both inputs; returns events/s and CPU seconds."""
    consumer = AIOKafkaConsumer(names.case_created, names.case_updated, bootstrap_servers=bootstrap,
                                group_id=f"passthrough-{uuid.uuid4().hex[:8]}", enable_auto_commit=False,
                                auto_offset_reset="earliest", partition_assignment_strategy=(RangePartitionAssignor,))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=512 * 1024, acks="all")
    await producer.start()
    await consumer.start()
    seen, started, cpu_started = 0, None, 0.0
    try:
        while seen < events:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            if batch and started is None:
                started, cpu_started = time.perf_counter(), time.process_time()
            futures = []
            for records in batch.values():
                for record in records:
                    futures.append(await producer.send(names.status, record.value, key=record.key))
                seen += len(records)
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
        assert started is not None
        return events / (time.perf_counter() - started), time.process_time() - cpu_started
    finally:
        await consumer.stop()
        await producer.stop()


async def worker_run(bootstrap: str, names: TopicNames, events: int) -> tuple[float, dict[str, float]]:
    """The worker over the same inputs (own group); returns events/s and where time went."""
    env = {"KAFKA_BROKER": bootstrap, "MONITOR_GROUP_ID": f"bench-{uuid.uuid4().hex[:8]}", "MONITOR_WEB_PORT": "0"}
    env.update({topic_env_var(role): name for role, name in names.by_role().items()})
    config = config_from(None, env)
    engine = load_engine(config)
    metrics = WorkerMetrics(CollectorRegistry(), engine.catalog, input_topics=config.topics.inputs)
    worker = Worker(config, engine, observer=metrics)
    task = asyncio.create_task(worker.run())
    started, cpu_started = None, 0.0
    try:
        while True:
            committed = sum(sum(p.committed.values()) for p in worker.partitions.values())
            if started is None and worker.records_handled:
                started, cpu_started = time.perf_counter(), time.process_time()
            if committed >= events:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.002)
        assert started is not None
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 60)
    return events / elapsed, {"worker_seconds": round(elapsed, 3), "worker_cpu_s": round(cpu, 3)}


async def main_async(events: int, bootstrap: str) -> dict[str, object]:
    tag = uuid.uuid4().hex[:8]
    names = TopicNames(**{role: f"bench-{tag}.{name}" for role, name in TopicNames().by_role().items()})
    config = config_from(None, {"KAFKA_BROKER": bootstrap})
    await apply_topics(config.kafka, load_specs(names.by_role(), partitions=PARTITIONS))
    began = time.perf_counter()
    await fill(bootstrap, names, events)
    fill_s = time.perf_counter() - began
    raw, raw_cpu = await passthrough(bootstrap, names, events)
    worker, extra = await worker_run(bootstrap, names, events)
    return {
        "bench": "throughput", "events": events, "partitions": PARTITIONS,
        "events_per_s": round(worker), "passthrough_per_s": round(raw), "ratio": round(worker / raw, 3),
        "cpu_us_per_event": round(extra["worker_cpu_s"] / events * 1e6, 2),
        "passthrough_cpu_us_per_event": round(raw_cpu / events * 1e6, 2),
        "cpu_ratio": round(raw_cpu / extra["worker_cpu_s"], 3),
        "fill_per_s": round(events / fill_s), **extra,
        "broker": "external" if os.environ.get("KAFKA_BROKER") else "tansu (embedded, memory)",
        "machine": machine(),
    }


def main() -> int:
    """Run the benchmark and print one JSON line of figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a run of well under a minute")
    parser.add_argument("--events", type=int, default=None, help="input records (default 400000; quick 60000)")
    args = parser.parse_args()
    events = args.events or (60_000 if args.quick else 400_000)
    events -= events % 2
    bootstrap = os.environ.get("KAFKA_BROKER")
    configure_gc()   # as `monitor worker` does; for the passthrough and the worker alike
    if bootstrap:
        result = asyncio.run(main_async(events, bootstrap))
    else:
        with EmbeddedBroker() as broker:
            result = asyncio.run(main_async(events, broker.bootstrap))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
