"""The broker paused past the producer's request timeout while breaches are being written.

The worker must never commit past writes that failed: it retries the turn, then either stops
with exit 1 and a clear log line, or (when its membership check fails first) drops the turn
and rejoins. Either way, once the broker is back (and the worker restarted, as an orchestrator
would), every breach arrives.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from monitor.embedded_broker import EmbeddedBroker
from tests.integration.kafka_helpers import as_record, collect, create_topics, created, now_utc, produce, unique_topics, worker_env
from tests.integration.worker_harness import assigned_partitions, spawn_worker, stop_worker, wait_for

pytestmark = pytest.mark.timeout(240)


def events(path: Path) -> list[str]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line).get("event", ""))
        except ValueError:
            pass
    return out


async def test_broker_paused_past_the_request_timeout_loses_nothing(tmp_path: Path) -> None:
    names, partitions = unique_topics(partitions=1)
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        assert broker.process is not None
        await create_topics(broker.bootstrap, names, partitions)
        env = worker_env(broker.bootstrap, names, MONITOR_REQUEST_TIMEOUT_SECONDS="3")
        log_path = tmp_path / "worker.log"
        worker = spawn_worker(env, log_path)
        try:
            await wait_for(lambda: assigned_partitions(log_path) == [0], 60, "assignment")
            cases = [f"W-{i}" for i in range(30)]
            await produce(broker.bootstrap, [as_record(names.case_created, created(c, now_utc())) for c in cases])
            await collect(broker.bootstrap, [names.near_breaches], lambda rs: len(rs) >= 1, timeout_s=20)
            os.kill(broker.process.pid, signal.SIGSTOP)   # the 4 s breaches fall due while the broker is paused
            try:
                deadline = time.monotonic() + 40
                while time.monotonic() < deadline and worker.poll() is None and \
                        "writes failed; stopping so that a restart replays from the last commit" not in events(log_path):
                    await asyncio.sleep(0.5)
            finally:
                os.kill(broker.process.pid, signal.SIGCONT)
            seen = events(log_path)
            stopped = "writes failed; stopping so that a restart replays from the last commit" in seen
            fenced = any(e.startswith("fenced:") for e in seen)
            assert stopped or fenced, "the failed writes went unnoticed"
            if stopped:
                assert worker.wait(timeout=30) == 1
                worker = spawn_worker(env, log_path)      # what the orchestrator does
            out = await collect(broker.bootstrap, [names.breaches],
                                lambda rs: {r.value["case_id"] for r in rs} >= set(cases), timeout_s=60)
            assert {r.value["case_id"] for r in out} >= set(cases), "breaches lost after the broker pause"
            print("WRITE-FAILURE outcome:", "exit 1" if stopped else "fenced and rejoined")
        finally:
            if worker.poll() is None:
                stop_worker(worker)


async def test_output_topic_deleted_under_the_worker_turns_it_not_ready(broker, tmp_path: Path) -> None:
    # Before: the topic watch looked at the inputs and the changelog only; a deleted output topic
    # left /readyz true and the log silent while the breaches had nowhere to go.
    names, partitions = unique_topics(partitions=1)
    await create_topics(broker.bootstrap, names, partitions)
    log_path = tmp_path / "worker.log"
    worker = spawn_worker(worker_env(broker.bootstrap, names), log_path)
    try:
        await wait_for(lambda: assigned_partitions(log_path) == [0], 60, "assignment")
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([names.breaches])
        finally:
            await admin.close()

        def reported() -> bool:
            return any('"topics not usable; not ready"' in line and f"topics missing: {names.breaches};" in line
                       for line in log_path.read_text(errors="replace").splitlines())

        await wait_for(reported, 60, "the worker to report the missing output topic", interval_s=0.5)
        assert worker.poll() is None
    finally:
        if worker.poll() is None:
            stop_worker(worker)

