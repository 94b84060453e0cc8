"""Crash and scale-out: kill -9 mid-stream then restart; two workers in one group, one stops."""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict
from pathlib import Path

import pytest

from monitor.embedded_broker import free_port
from tests.integration.kafka_helpers import (
    Received,
    as_record,
    collect,
    create_topics,
    created,
    now_utc,
    produce,
    shift,
    unique_topics,
    updated,
    validate_output,
    worker_env,
)
from tests.integration.worker_harness import assigned_partitions, spawn_worker, stop_worker, wait_for

pytestmark = pytest.mark.timeout(150)


def check_duplicates_share_ids(records: list[Received]) -> dict[tuple, str]:
    """Every (case, metric, cycle, threshold-or-met) has exactly one event_id and one `at`."""
    ids: dict[tuple, set[str]] = defaultdict(set)
    ats: dict[str, set[str]] = defaultdict(set)
    for record in records:
        e = record.value
        ids[(e["case_id"], e["metric"], e["cycle"], e["type"], e["threshold"])].add(e["event_id"])
        ats[e["event_id"]].add(e["at"])
    assert all(len(v) == 1 for v in ids.values()), {k: v for k, v in ids.items() if len(v) != 1}
    assert all(len(v) == 1 for v in ats.values())
    return {k: next(iter(v)) for k, v in ids.items()}


async def test_kill_9_mid_stream_then_restart_loses_no_breach(broker, tmp_path: Path) -> None:
    names, partitions = unique_topics(partitions=3)
    await create_topics(broker.bootstrap, names, partitions)
    env = worker_env(broker.bootstrap, names)
    log1, log2 = tmp_path / "w1.log", tmp_path / "w2.log"
    first = spawn_worker(env, log1)
    late: list[str] = []
    answered: list[str] = []
    try:
        await wait_for(lambda: assigned_partitions(log1) is not None, 40, "first worker assignment")

        async def feed(start_index: int, count: int) -> None:
            for i in range(start_index, start_index + count):
                at = now_utc()
                if i % 3 == 0:   # answered in time (P2: 8 s target, warning at 4 s)
                    case = f"A-{i}"
                    answered.append(case)
                    await produce(broker.bootstrap, [
                        as_record(names.case_created, created(case, at, priority="P2")),
                        as_record(names.case_updated, updated(case, shift(at, 1), f"{case}-r", agent_response=True)),
                    ])
                else:            # never answered (P1: 4 s target)
                    case = f"L-{i}"
                    late.append(case)
                    await produce(broker.bootstrap, [as_record(names.case_created, created(case, at))])
                await asyncio.sleep(0.1)

        await feed(0, 30)                      # ~3 s of traffic: the worker is mid-stream
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        await feed(30, 15)                     # traffic continues while no worker runs
        second = spawn_worker(env, log2)
        try:
            outputs = [names.near_breaches, names.breaches, names.status]

            def complete(rs: list[Received]) -> bool:
                breached = {r.value["case_id"] for r in rs if r.value["type"] == "sla.breach"}
                met = {r.value["case_id"] for r in rs if r.value["type"] == "sla.met"}
                return set(late) <= breached and set(answered) <= met

            records = await collect(broker.bootstrap, outputs, complete, timeout_s=60)
            # give a stray breach of an answered case the time to show up (P2 target is 8 s)
            records = await collect(broker.bootstrap, outputs, lambda rs: False, timeout_s=4)
            assert stop_worker(second) == 0
        finally:
            if second.poll() is None:
                second.kill()
    finally:
        if first.poll() is None:
            first.kill()

    for record in records:
        validate_output(names, record)
    ids = check_duplicates_share_ids(records)
    breached = {r.value["case_id"] for r in records if r.value["type"] == "sla.breach"}
    assert breached == set(late), "every due breach is emitted, and only those"
    near = {r.value["case_id"] for r in records if r.value["type"] == "sla.near_breach"}
    assert near == set(late)
    met = {(r.value["case_id"], r.value["breached"]) for r in records if r.value["type"] == "sla.met"}
    assert met == {(case, False) for case in answered}
    assert len(ids) == 2 * len(late) + len(answered)


async def get_json(url: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    """GET a JSON body from a worker's HTTP server."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def test_two_workers_split_partitions_and_one_takes_over(broker, tmp_path: Path) -> None:
    names, partitions = unique_topics(partitions=4)
    await create_topics(broker.bootstrap, names, partitions)
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    env = worker_env(broker.bootstrap, names, MONITOR_PEERS=",".join(urls))
    log1, log2 = tmp_path / "w1.log", tmp_path / "w2.log"
    first = spawn_worker({**env, "MONITOR_WEB_PORT": str(ports[0])}, log1)
    second = None
    try:
        await wait_for(lambda: assigned_partitions(log1) == [0, 1, 2, 3], 40, "first worker owning all partitions")
        second = spawn_worker({**env, "MONITOR_WEB_PORT": str(ports[1])}, log2)
        await wait_for(lambda: assigned_partitions(log2) and assigned_partitions(log1)
                       and len(assigned_partitions(log1)) == 2, 60, "partitions split over two workers")
        owned1, owned2 = assigned_partitions(log1), assigned_partitions(log2)
        assert sorted(owned1 + owned2) == [0, 1, 2, 3]

        start = now_utc()
        cases = [f"S-{i}" for i in range(24)]   # P2: warning at 4 s, breach at 8 s
        await produce(broker.bootstrap, [as_record(names.case_created, created(c, start, priority="P2")) for c in cases])
        await asyncio.sleep(2.0)                # both workers consumed, stored and committed their cases
        # /cases/{id} on either replica answers for every case, whichever replica owns it.
        views = [await get_json(f"{urls[0]}/cases/{case}") for case in cases]
        assert all(status == 200 and view["case_id"] == case for case, (status, view) in zip(cases, views, strict=True))
        assert {view.get("served_by") for _, view in views} == {None, urls[1]}
        _, view = views[0]
        assert view["metrics"][0]["metric"] == "first_response" and view["metrics"][0]["clock"] == "running"
        assert stop_worker(second, signal.SIGTERM) == 0
        await wait_for(lambda: assigned_partitions(log1) == [0, 1, 2, 3], 40, "survivor taking every partition")

        records = await collect(
            broker.bootstrap, [names.near_breaches, names.breaches],
            lambda rs: {r.value["case_id"] for r in rs if r.value["type"] == "sla.breach"} >= set(cases), timeout_s=40)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()

    for record in records:
        validate_output(names, record)
    check_duplicates_share_ids(records)
    breached = {r.value["case_id"] for r in records if r.value["type"] == "sla.breach"}
    assert breached == set(cases)
    from aiokafka.partitioner import DefaultPartitioner

    from monitor.stream.codec import encode_key  # the cases of the stopped worker were among them

    moved = [c for c in cases if DefaultPartitioner()(encode_key(c), list(range(4)), list(range(4))) in owned2]
    assert moved, "some cases lived on the stopped worker's partitions"
    assert {r.value["case_id"] for r in records if r.value["type"] == "sla.breach"} >= set(moved)
    restored = [line for line in log1.read_text().splitlines() if '"partitions assigned"' in line]
    assert any('"cases": 0' not in line for line in restored[-1:]), "survivor restored the moved cases from the changelog"
