"""Why the worker is on aiokafka and not Faust: the same JSON passthrough through both, one run.

One input topic is filled with N JSON records of about 200 bytes. Two consumers read all of it,
each in its own consumer group, and write every record (decoded, re-encoded) to its own output
topic:
- aiokafka: a consumer group, `getmany`, json.loads -> json.dumps, batched sends, offsets
  committed after the sends of each batch are acknowledged (what the worker's pipeline does);
- Faust: an agent over the input topic doing the same per record, `await topic.send(...)`, run by
  a `faust.Worker` in a child process (Faust owns its event loop); the producer is flushed at
  the end so every record was handed to the broker.
Each is timed from its first received record to its last record produced, so joining the group
does not count (Faust's join takes its `broker_session_timeout`, 60 s by default: a setting, here
set to 10 s like the worker's, not a reason).

    pip install -e '.[faust]'
    python bench/faust_baseline.py [--records N]

Prints one JSON line: {"faust_per_s", "aiokafka_per_s", "ratio", "records", "machine"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.throughput import machine  # noqa: E402
from monitor.embedded_broker import EmbeddedBroker  # noqa: E402
from monitor.runtime import kafka as kafka_clients  # noqa: E402
from monitor.runtime.settings import KafkaSettings, load_settings  # noqa: E402

PARTITIONS = 3


def record(i: int) -> bytes:
    """About 200 bytes of JSON, shaped like a case event."""
    return json.dumps({
        "event_id": str(uuid.UUID(int=i)), "case_id": f"C-{i:08d}", "occurred_at": "2026-11-26T09:00:00Z",
        "plan": "adobe-enterprise", "priority": "P1", "region": "emea", "customer_id": f"cust-{i % 997}",
    }).encode()


async def prepare(kafka: KafkaSettings, topics: list[str], records: int) -> None:
    """Create the topics and fill the first one with `records` records."""
    from aiokafka.admin import NewTopic

    admin = kafka_clients.admin(kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in topics])
    finally:
        await admin.close()
    producer = kafka_clients.producer(kafka, linger_ms=20, max_batch_size=1024 * 1024)
    await producer.start()
    try:
        pending = [await producer.send(topics[0], record(i), key=f"C-{i:08d}".encode()) for i in range(records)]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def aiokafka_passthrough(kafka: KafkaSettings, source: str, target: str, records: int) -> float:
    """Records per second of a raw aiokafka JSON in -> JSON out passthrough with commits after acks."""
    consumer = kafka_clients.consumer(kafka, source, group_id=f"bench-aiokafka-{uuid.uuid4().hex[:6]}",
                                      auto_offset_reset="earliest", session_timeout_ms=10_000, heartbeat_interval_ms=2_500)
    producer = kafka_clients.producer(kafka, linger_ms=5, max_batch_size=512 * 1024)
    await consumer.start()
    await producer.start()
    seen, began = 0, None
    try:
        while seen < records:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            if not batch:
                continue
            began = began or time.perf_counter()
            sent = []
            for messages in batch.values():
                for message in messages:
                    value = json.dumps(json.loads(message.value)).encode()
                    sent.append(await producer.send(target, value, key=message.key))
                seen += sum(1 for _ in messages)
            await asyncio.gather(*sent)
            await consumer.commit()
        assert began is not None
        return records / (time.perf_counter() - began)
    finally:
        await consumer.stop()
        await producer.stop()


def faust_child(bootstrap: str, source: str, target: str, records: int) -> None:
    """Run one Faust app until it has passed `records` records through; print its rate as JSON."""
    import faust

    app = faust.App(f"bench-faust-{uuid.uuid4().hex[:6]}", broker=f"kafka://{bootstrap}", value_serializer="raw",
                    key_serializer="raw", topic_partitions=PARTITIONS, broker_session_timeout=10.0,
                    web_enabled=False, store="memory://")
    inbox = app.topic(source, value_serializer="raw", key_serializer="raw")
    outbox = app.topic(target, value_serializer="raw", key_serializer="raw")
    state = {"seen": 0, "began": 0.0}

    @app.agent(inbox)
    async def passthrough(stream):  # type: ignore[no-untyped-def]
        async for key, value in stream.items():
            if not state["seen"]:
                state["began"] = time.perf_counter()
            await outbox.send(key=key, value=json.dumps(json.loads(value)).encode())
            state["seen"] += 1
            if state["seen"] == records:
                await app.producer.flush()
                rate = records / (time.perf_counter() - state["began"])
                print(json.dumps({"faust_per_s": rate}), flush=True)
                os._exit(0)

    worker = faust.Worker(app, loglevel="warning", quiet=True)
    worker.execute_from_commandline()


def main(argv: list[str] | None = None) -> int:
    """Fill, run both passthroughs, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--timeout", type=float, default=600.0, help="bound on the Faust run (seconds)")
    parser.add_argument("--faust-child", nargs=3, metavar=("BOOTSTRAP", "SOURCE", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.faust_child:
        faust_child(*args.faust_child, args.records)
        return 0
    try:
        import faust  # noqa: F401
    except ImportError:
        print("bench/faust_baseline.py needs faust-streaming: pip install -e '.[faust]'", file=sys.stderr)
        return 2
    tag = uuid.uuid4().hex[:8]
    source, aio_out, faust_out = f"bench.{tag}.in", f"bench.{tag}.aiokafka-out", f"bench.{tag}.faust-out"
    with EmbeddedBroker() as broker:
        kafka = load_settings(KafkaSettings, None, {"KAFKA_BROKER": broker.bootstrap})
        asyncio.run(prepare(kafka, [source, aio_out, faust_out], args.records))
        aiokafka_per_s = asyncio.run(aiokafka_passthrough(kafka, source, aio_out, args.records))
        child = subprocess.run([sys.executable, __file__, "--records", str(args.records), "--faust-child",
                                broker.bootstrap, source, faust_out], capture_output=True, text=True, timeout=args.timeout)
        # Faust's worker redirects print() into its log (stderr): look for the line in both streams
        found = re.findall(r'\{"faust_per_s": [0-9.e+-]+\}', child.stdout + child.stderr)
        if not found:
            print(f"the Faust run ended without a result (exit {child.returncode}):\n{child.stderr[-2000:]}", file=sys.stderr)
            return 1
        faust_per_s = json.loads(found[-1])["faust_per_s"]
    print(json.dumps({"faust_per_s": round(faust_per_s, 1), "aiokafka_per_s": round(aiokafka_per_s, 1),
                      "ratio": round(faust_per_s / aiokafka_per_s, 3), "records": args.records, "machine": machine()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
