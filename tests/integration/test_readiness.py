"""/readyz of a replica without partitions: ready only as an idle member of a settled group with
more members than partitions, and it says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.embedded_broker import free_port
from tests.integration.kafka_helpers import create_topics, unique_topics, worker_env
from tests.integration.test_broker_back_empty import readyz
from tests.integration.worker_harness import assigned_partitions, spawn_worker, stop_worker, wait_for

pytestmark = pytest.mark.timeout(120)


async def test_an_idle_replica_says_why_it_is_ready(broker, tmp_path: Path) -> None:
    names, partitions = unique_topics(partitions=1)
    await create_topics(broker.bootstrap, names, partitions)
    ports = [free_port(), free_port()]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    workers = [spawn_worker(worker_env(broker.bootstrap, names, MONITOR_WEB_PORT=str(port)), log)
               for port, log in zip(ports, logs, strict=True)]
    try:
        await wait_for(lambda: sorted(str(assigned_partitions(log)) for log in logs) == ["[0]", "[]"], 60,
                       "one worker with the partition, one without")
        idle = 0 if assigned_partitions(logs[0]) == [] else 1
        await wait_for(lambda: readyz(ports[idle])[0] == 200, 30, "the idle replica to be ready")
        status, body = readyz(ports[idle])
        assert "idle replica: the group has 2 members for 1 partitions" in body["checks"]["partitions"]["detail"]
        status, body = readyz(ports[1 - idle])
        assert status == 200 and "1 partitions assigned" in body["checks"]["partitions"]["detail"]
    finally:
        for worker in workers:
            stop_worker(worker)
