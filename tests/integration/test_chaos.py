"""Chaos: three `monitor worker` processes on their own tansu, a load with known answers, and
random kill -9, SIGSTOP past the session timeout and a broker pause while deadlines fall due.

Invariant at the end: every unanswered case breached, no answered case breached, duplicates only
under the same event_id, and the changelog's final state per case equals a fault-free run (the
engine fed the same events in order). Bounded to about three minutes; prints its figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from monitor.core.case import CaseState, Engine
from monitor.core.events import parse_event
from monitor.core.policy import load_catalog
from monitor.embedded_broker import EmbeddedBroker
from monitor.stream.changelog import restore
from monitor.stream.codec import decode_state
from monitor.stream.store import MemoryStore
from tests.integration.kafka_helpers import (
    as_record,
    collect,
    create_topics,
    created,
    iso,
    now_utc,
    produce,
    seconds_between,
    shift,
    unique_topics,
    updated,
    worker_env,
)
from tests.integration.worker_harness import spawn_worker, stop_worker

pytestmark = pytest.mark.timeout(400)

TARGET_S = 60
POLICIES = f"""
version = "test-chaos.1"
warnings = [0.5]

[regions.emea]
timezone = "Europe/London"
open = "09:00"
close = "17:00"

[plans.fast]
title = "Chaos test plan"
priorities = ["P1"]

[plans.fast.first_response]
P1 = {{ calendar = "24x7", target = "{TARGET_S}s" }}
"""
CASES = 600
WORKERS = 3
PARTITIONS = 3


def load(start) -> list[tuple[str, dict]]:
    """Cases created over the 50 s before `start`, so deadlines fall 5..55 s after it; every other
    case answered 20 s before its deadline (most of those answers are produced live, during the faults)."""
    items: list[tuple[str, dict]] = []
    for i in range(CASES):
        at = shift(start, -55 + 50 * i / CASES)
        case = f"K-{i}"
        items.append(("case_created", created(case, at)))
        if i % 2 == 0:
            items.append(("case_updated", updated(case, shift(at, TARGET_S - 20), f"{case}-answer", agent_response=True)))
    return items


async def produce_live(bootstrap: str, records: list[tuple[float, tuple[str, bytes, bytes]]], began: float) -> None:
    """Send each record at its monotonic second (after `began`), without waiting for the previous acks."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=60000)
    await producer.start()
    try:
        pending = []
        for when, (topic, key, value) in records:
            await asyncio.sleep(max(0.0, when - (time.monotonic() - began)))
            pending.append(await producer.send(topic, value=value, key=key))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def fault_free(items: list[tuple[str, dict]], policies: Path, end_us: int) -> dict[str, CaseState]:
    """The final states of a run without faults: the engine fed the events in time order, then ticked."""
    engine = Engine(load_catalog(policies))
    topic = {"case_created": "case-created", "case_updated": "case-updated"}
    states: dict[str, CaseState] = {}
    for role, body in sorted(items, key=lambda item: item[1]["occurred_at"]):
        event = parse_event(topic[role], json.dumps(body).encode())
        assert not hasattr(event, "reason")
        states[event.case_id] = engine.apply(states.get(event.case_id), event, event.occurred_at).state  # type: ignore[union-attr,arg-type,assignment]
    return {case_id: engine.tick(state, end_us).state for case_id, state in states.items()}  # type: ignore[misc]


def summary(state: CaseState) -> tuple:
    clock = state.clocks["first_response"]
    return clock.cycle, sorted(clock.fired), clock.stopped_at, clock.running


async def changelog_table(bootstrap: str, topic: str) -> dict[str, CaseState]:
    stores = {n: MemoryStore() for n in range(PARTITIONS)}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        await restore(consumer, topic, stores, timeout_s=60)
    finally:
        await consumer.stop()
    return {case_id: decode_state(raw) for store in stores.values() for case_id, raw in store.items()}


async def test_chaos_no_false_no_missed_breach(tmp_path: Path) -> None:
    rng = random.Random(8)
    policies = tmp_path / "chaos.toml"
    policies.write_text(POLICIES)
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        assert broker.process is not None
        names, _ = unique_topics(PARTITIONS)
        await create_topics(broker.bootstrap, names, PARTITIONS)
        env = worker_env(broker.bootstrap, names, MONITOR_POLICIES=str(policies), MONITOR_SESSION_TIMEOUT_SECONDS="6",
                         MONITOR_SHUTDOWN_TIMEOUT_SECONDS="20")
        procs: list[subprocess.Popen[bytes]] = [spawn_worker(env, tmp_path / f"w{i}.log") for i in range(WORKERS)]
        faults = {"kill -9": 0, "SIGSTOP past the session": 0, "broker pause": 0}
        began = time.monotonic()
        try:
            start = now_utc()
            items = load(start)
            due_now = [item for item in items if item[1]["occurred_at"] <= iso(start)]
            later = sorted((item for item in items if item[1]["occurred_at"] > iso(start)), key=lambda item: item[1]["occurred_at"])
            await produce(broker.bootstrap, [as_record(getattr(names, role), body) for role, body in due_now])
            live = asyncio.create_task(produce_live(broker.bootstrap, [
                (seconds_between(iso(start), body["occurred_at"]) + (time.monotonic() - began),
                 as_record(getattr(names, role), body)) for role, body in later], began))
            answered = {body["case_id"] for role, body in items if role == "case_updated"}
            unanswered = {body["case_id"] for role, body in items if role == "case_created"} - answered

            async def at(seconds: float) -> None:
                await asyncio.sleep(max(0.0, seconds - (time.monotonic() - began)))

            async def kill_one(when: float) -> None:
                await at(when)
                i = rng.randrange(WORKERS)
                procs[i].kill()
                procs[i].wait(timeout=10)
                faults["kill -9"] += 1
                procs[i] = spawn_worker(env, tmp_path / f"w{i}.log")

            async def stall_one(when: float, seconds: float) -> None:
                await at(when)
                i = rng.randrange(WORKERS)
                procs[i].send_signal(signal.SIGSTOP)
                await asyncio.sleep(seconds)
                procs[i].send_signal(signal.SIGCONT)
                faults["SIGSTOP past the session"] += 1

            async def pause_broker(when: float, seconds: float) -> None:
                await at(when)
                os.kill(broker.process.pid, signal.SIGSTOP)   # type: ignore[union-attr]
                await asyncio.sleep(seconds)
                os.kill(broker.process.pid, signal.SIGCONT)   # type: ignore[union-attr]
                faults["broker pause"] += 1

            schedule = [kill_one(8 + rng.random() * 4), stall_one(16 + rng.random() * 4, 10),
                        pause_broker(32, 8), kill_one(44 + rng.random() * 4), stall_one(52 + rng.random() * 4, 10),
                        kill_one(66 + rng.random() * 4)]
            await asyncio.gather(*schedule, live)

            def done(rs) -> bool:
                return {r.value["case_id"] for r in rs if r.topic == names.breaches} >= unanswered

            out = await collect(broker.bootstrap, [names.breaches, names.status], done, timeout_s=90)
            await asyncio.sleep(5)   # room for a late false or duplicated breach to show up
            out = await collect(broker.bootstrap, [names.breaches, names.status], lambda rs: False, timeout_s=5)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGCONT)
            codes = [stop_worker(proc) for proc in procs]
            os.kill(broker.process.pid, signal.SIGCONT)   # type: ignore[union-attr]
        table = await changelog_table(broker.bootstrap, names.changelog)

    breaches = [r.value for r in out if r.topic == names.breaches]
    by_case: dict[str, set[str]] = {}
    for breach in breaches:
        by_case.setdefault(breach["case_id"], set()).add(breach["event_id"])
    seen = set(by_case)
    false = seen & answered
    missed = unanswered - seen
    duplicated = len(breaches) - sum(len(ids) for ids in by_case.values())
    expected = fault_free(items, policies, int((start + timedelta(seconds=TARGET_S + 10)).timestamp() * 1_000_000))
    differing = sorted(c for c in expected if c not in table or summary(table[c]) != summary(expected[c]))
    figures = {
        "faults": faults, "cases": CASES, "breaches_expected": len(unanswered), "breaches_seen": len(seen),
        "false": len(false), "missed": len(missed), "duplicated_records": duplicated,
        "distinct_ids_per_breach": max((len(ids) for ids in by_case.values()), default=0),
        "changelog_states_differing_from_fault_free": len(differing), "worker_exit_codes": codes,
        "seconds": round(time.monotonic() - began, 1),
    }
    print("CHAOS " + json.dumps(figures))
    assert not false, f"false breaches: {sorted(false)[:10]}"
    assert not missed, f"missed breaches: {sorted(missed)[:10]}"
    assert figures["distinct_ids_per_breach"] == 1          # duplicates only under the same event_id
    assert not differing, f"changelog states differ from a fault-free run: {differing[:10]}"
    assert sum(faults.values()) == 6
