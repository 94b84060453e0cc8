"""The broker restarts empty on the same port: no topic is recreated by a client, /readyz says
why the worker is not ready, SIGTERM ends it within the shutdown bound, and after
`topics apply` a new worker tracks new cases."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from monitor.embedded_broker import EmbeddedBroker, free_port
from tests.integration.kafka_helpers import (
    as_record,
    collect,
    create_topics,
    created,
    now_utc,
    produce,
    unique_topics,
    worker_env,
)
from tests.integration.worker_harness import assigned_partitions, spawn_worker, stop_worker, wait_for

pytestmark = pytest.mark.timeout(240)


def readyz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


async def topic_names(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


async def test_broker_back_empty(tmp_path: Path) -> None:
    names, partitions = unique_topics(partitions=2)
    first = EmbeddedBroker(log_path=tmp_path / "tansu-1.log").start()
    port = first.port
    web = free_port()
    env = worker_env(first.bootstrap, names, MONITOR_WEB_PORT=str(web), MONITOR_SHUTDOWN_TIMEOUT_SECONDS="10")
    second = None
    worker = None
    try:
        await create_topics(first.bootstrap, names, partitions)
        worker = spawn_worker(env, tmp_path / "worker.log")
        await wait_for(lambda: assigned_partitions(tmp_path / "worker.log") == [0, 1], 60, "assignment")
        await wait_for(lambda: readyz(web)[0] == 200, 30, "ready")
        start = now_utc()
        await produce(first.bootstrap, [as_record(names.case_created, created("B-1", start))])
        await collect(first.bootstrap, [names.breaches], lambda rs: len(rs) >= 1, timeout_s=30)

        first.stop()
        second = EmbeddedBroker(port=port, log_path=tmp_path / "tansu-2.log").start()
        deadline = time.monotonic() + 60
        status, body = readyz(web)
        while not (status == 503 and "topics not usable" in json.dumps(body)) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            status, body = readyz(web)
        assert status == 503, body
        assert "topics missing" in body["checks"]["partitions"]["detail"], body
        ours = [name for name in await topic_names(second.bootstrap) if name.startswith(names.case_created.split(".")[0])]
        assert ours == [], f"a client recreated topics: {ours}"

        began = time.monotonic()
        stop_worker(worker, signal.SIGTERM, timeout_s=10 + 5)
        assert time.monotonic() - began <= 15
        worker = None

        # after `topics apply` a fresh worker tracks new cases
        await create_topics(second.bootstrap, names, partitions)
        worker = spawn_worker({**env, "KAFKA_BROKER": second.bootstrap}, tmp_path / "worker-2.log")
        await wait_for(lambda: assigned_partitions(tmp_path / "worker-2.log") == [0, 1], 60, "assignment on the new broker")
        fresh = now_utc()
        cases = [f"N-{i}" for i in range(10)]
        await produce(second.bootstrap, [as_record(names.case_created, created(c, fresh)) for c in cases])
        out = await collect(second.bootstrap, [names.breaches], lambda rs: {r.value["case_id"] for r in rs} >= set(cases),
                            timeout_s=40)
        assert {r.value["case_id"] for r in out} >= set(cases)
    finally:
        if worker is not None:
            stop_worker(worker)
        for broker in (first, second):
            if broker is not None:
                broker.stop()
