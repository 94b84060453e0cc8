"""A worker stopped past its session timeout must not write for partitions it lost.

Real `monitor worker` processes on tansu: A owns the partition and its cases; A is frozen
(SIGSTOP) past the session timeout; B takes the partition and applies answers for every case;
A is thawed after the cases' deadlines. A must emit no breach and must not overwrite B's
answered states in the changelog (restore keeps the state of the highest input position).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from monitor.core.case import CaseState
from monitor.stream.changelog import POSITION_HEADER, encode_position, restore
from monitor.stream.codec import decode_state
from monitor.stream.store import MemoryStore
from tests.integration.kafka_helpers import (
    as_record,
    collect,
    create_topics,
    created,
    now_utc,
    produce,
    unique_topics,
    updated,
    worker_env,
)
from tests.integration.worker_harness import assigned_partitions, spawn_worker, stop_worker, wait_for

pytestmark = pytest.mark.timeout(180)

SLOW_POLICIES = """
version = "test-slow.1"
warnings = [0.5]

[regions.emea]
timezone = "Europe/London"
open = "09:00"
close = "17:00"

[plans.fast]
title = "Test plan with a 40 s target"
priorities = ["P1"]

[plans.fast.first_response]
P1 = { calendar = "24x7", target = "40s" }
"""


async def read_changelog(bootstrap: str, topic: str, partitions: int) -> dict[str, CaseState]:
    """The case table a restore would build now."""
    stores = {n: MemoryStore() for n in range(partitions)}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        await restore(consumer, topic, stores, timeout_s=30)
    finally:
        await consumer.stop()
    return {case_id: decode_state(raw) for store in stores.values() for case_id, raw in store.items()}


async def test_restore_keeps_the_state_of_the_highest_position(broker) -> None:
    names, partitions = unique_topics(partitions=1)
    await create_topics(broker.bootstrap, names, partitions)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        def state(status: str) -> bytes:
            return json.dumps(CaseState(case_id="C", plan="fast", status=status).to_dict()).encode()
        for value, position in ((state("open"), (3, 5)), (state("closed"), (3, 9)),   # newer owner
                                (state("open"), (3, 7)),                               # stale writer, late
                                (None, (2, 2))):                                       # stale tombstone
            await producer.send_and_wait(names.changelog, value, key=b"C", partition=0,
                                         headers=[(POSITION_HEADER, encode_position(position))])
        table = await read_changelog(broker.bootstrap, names.changelog, 1)
        assert table["C"].status == "closed"                   # neither stale write won
        await producer.send_and_wait(names.changelog, state("open"), key=b"C", partition=0)   # no header
    finally:
        await producer.stop()
    table = await read_changelog(broker.bootstrap, names.changelog, 1)
    assert table["C"].status == "open"                         # header-less records are taken in log order


def _log_events(path: Path) -> list[dict]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


async def test_a_worker_stalled_past_its_session_emits_no_false_breach_and_no_stale_state(broker, tmp_path) -> None:
    names, partitions = unique_topics(partitions=1)
    await create_topics(broker.bootstrap, names, partitions)
    policies = tmp_path / "slow.toml"
    policies.write_text(SLOW_POLICIES)
    env = worker_env(broker.bootstrap, names, MONITOR_POLICIES=str(policies), MONITOR_SESSION_TIMEOUT_SECONDS="6")
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    a = spawn_worker(env, log_a)
    b = None
    cases = [f"S-{i}" for i in range(40)]
    try:
        await wait_for(lambda: assigned_partitions(log_a) == [0], 60, "worker A to own the partition")
        start = now_utc()
        await produce(broker.bootstrap, [as_record(names.case_created, created(c, start)) for c in cases])
        # A has applied them once their states are in the changelog
        deadline = time.monotonic() + 30
        while not set(await read_changelog(broker.bootstrap, names.changelog, partitions)) >= set(cases):
            assert time.monotonic() < deadline, "A did not write the cases' states"
            await asyncio.sleep(0.5)
        a.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        b = spawn_worker(env, log_b)
        await wait_for(lambda: assigned_partitions(log_b) == [0], 60, "worker B to take the partition")
        answered_at = now_utc()
        assert (answered_at - start).total_seconds() < 35, "B took too long to take over: the answers would be late"
        await produce(broker.bootstrap, [as_record(names.case_updated, updated(c, answered_at, f"{c}-answer",
                                                                                agent_response=True)) for c in cases])
        await collect(broker.bootstrap, [names.status], lambda rs: {r.value["case_id"] for r in rs} >= set(cases),
                      timeout_s=30)
        # thaw A after the cases' 40 s deadlines have passed on the wall clock
        while (now_utc() - start).total_seconds() < 44:
            time.sleep(0.2)
        a.send_signal(signal.SIGCONT)
        assert time.monotonic() - stopped_at > 6
        out = await collect(broker.bootstrap, [names.breaches, names.status], lambda rs: False, timeout_s=10)
        breached = sorted({r.value["case_id"] for r in out if r.topic == names.breaches})
        assert breached == [], f"false breaches after the stall: {breached}"
        assert all(not r.value["breached"] for r in out if r.topic == names.status)
        assert any(e.get("event") == "fenced: dropping the partitions and their unwritten work; rejoining the group"
                   for e in _log_events(log_a))
        table = await read_changelog(broker.bootstrap, names.changelog, partitions)
        running = sorted(c for c in cases if table[c].clocks["first_response"].running)
        assert running == [], f"answered cases whose clock runs again in the changelog: {running}"
    finally:
        if a.poll() is None:
            a.send_signal(signal.SIGCONT)
        stop_worker(a)
        if b is not None:
            stop_worker(b)
