"""CPU of the pure core per input record, without Kafka: what `bench/throughput.py`'s worker does
in monitor/core and the codec for each record, measured in one process.

The input is the throughput benchmark's (half `case-created` on the adobe-enterprise plan over
its four priorities and regions, half agent responses that stop the clock and emit `sla.met`).
Each record goes through the steps the worker takes: parse_event, decode_state, Engine.apply,
encode_state, the board's clock_entries, and encode_sla_event for every SLA event. All creates
come first, then all responses (`--cases` of each); with `--responses-first` the other way round,
so every response is held for its case until the create applies it. The baseline in the same run
is a JSON passthrough of the same values (orjson loads + dumps), the least any JSON worker does
per record.

    python bench/core_path.py [--cases N] [--repeat R] [--responses-first]

Ends with one JSON line: core_us_per_record, passthrough_us_per_record, ratio (core / passthrough).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import timeit
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.throughput import machine  # noqa: E402
from monitor.core.case import Engine  # noqa: E402
from monitor.core.events import TOPIC_CREATED, TOPIC_UPDATED, format_time, parse_event  # noqa: E402
from monitor.core.policy import bundled_catalog  # noqa: E402
from monitor.runtime.runner import configure_gc  # noqa: E402
from monitor.stream.codec import decode_state, encode_sla_event, encode_state  # noqa: E402
from monitor.stream.due_index import clock_entries  # noqa: E402


def records(cases: int, now_us: int) -> list[tuple[str, str, bytes]]:
    """(topic, case id, value) of the throughput benchmark's input: creates, then responses."""
    created, answers = [], []
    for i in range(cases):
        case_id = f"B-{i:08d}"
        at = format_time(now_us - 60_000_000 + i)
        created.append((TOPIC_CREATED, case_id, json.dumps({
            "event_id": f"{case_id}-c", "case_id": case_id, "occurred_at": at, "plan": "adobe-enterprise",
            "priority": ("P1", "P2", "P3", "P4")[i % 4], "region": ("americas", "emea", "apac", "japan")[i % 4],
            "customer_id": f"cust-{i % 500}", "product": "analytics"}).encode()))
        answers.append((TOPIC_UPDATED, case_id, json.dumps({
            "event_id": f"{case_id}-r", "case_id": case_id, "occurred_at": at, "agent_response": True}).encode()))
    return created + answers


def core_pass(engine: Engine, feed: list[tuple[str, str, bytes]], now_us: int) -> int:
    """Every record through the core steps, with a fresh table; returns the SLA events built."""
    table: dict[str, bytes] = {}
    emitted = 0
    for topic, case_id, value in feed:
        event = parse_event(topic, value)
        raw = table.get(case_id)
        step = engine.apply(decode_state(raw) if raw is not None else None, event, now_us)  # type: ignore[arg-type]
        for sla_event in step.emitted:
            encode_sla_event(sla_event)
            emitted += 1
        if step.state is not None:
            table[case_id] = encode_state(step.state)
            clock_entries(engine, step.state)
    return emitted


def passthrough_pass(feed: list[tuple[str, str, bytes]]) -> None:
    """The baseline: each value decoded and encoded again."""
    for _, _, value in feed:
        orjson.dumps(orjson.loads(value))


def main() -> int:
    """Run and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=4000, help="cases (each a create and a response; default 4000)")
    parser.add_argument("--repeat", type=int, default=7, help="passes; the fastest counts (default 7)")
    parser.add_argument("--responses-first", action="store_true", help="every response before its create (held)")
    args = parser.parse_args()
    configure_gc()   # as `monitor worker` and bench/throughput.py do
    now_us = time.time_ns() // 1000
    feed = records(args.cases, now_us)
    if args.responses_first:
        feed = feed[args.cases:] + feed[:args.cases]
    engine = Engine(bundled_catalog())
    emitted = core_pass(engine, feed, now_us)
    assert emitted == args.cases, f"expected one sla.met per case, got {emitted}"
    core_s, base_s = [], []
    for _ in range(args.repeat):   # interleaved, so both see the same machine load
        core_s.append(timeit.timeit(lambda: core_pass(engine, feed, now_us), timer=time.process_time, number=1))
        base_s.append(timeit.timeit(lambda: passthrough_pass(feed), timer=time.process_time, number=1))
    core_us, base_us = min(core_s) / len(feed) * 1e6, min(base_s) / len(feed) * 1e6
    print(json.dumps({
        "bench": "core_path", "records": len(feed), "responses_first": args.responses_first, "core_us_per_record": round(core_us, 2),
        "passthrough_us_per_record": round(base_us, 2), "ratio": round(core_us / base_us, 2), "machine": machine(),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
