"""Start-up checks against the real broker: topics apply, co-partitioning, exactly_once on tansu."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.kafka_helpers import create_topics, unique_topics, worker_env
from tests.integration.worker_harness import REPO

pytestmark = pytest.mark.timeout(90)


def monitor(args: list[str], env: dict[str, str], timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `python -m monitor ...` and capture its output."""
    return subprocess.run([sys.executable, "-m", "monitor", *args], env={**os.environ, **env}, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout_s)


def test_topics_apply_creates_then_reports_drift(broker) -> None:
    names, _ = unique_topics()
    tag = names.case_created.split(".")[0]
    notify = {"MONITOR_TOPIC_NOTIFY_STATE": f"{tag}.notify-state", "MONITOR_TOPIC_NOTIFY_DEAD_LETTER": f"{tag}.notify-dl"}
    env = worker_env(broker.bootstrap, names, **notify)
    first = monitor(["topics", "apply", "--partitions", "2"], env)
    assert first.returncode == 0, first.stderr
    assert sorted(line.split()[1] for line in first.stdout.splitlines() if line.startswith("created")) == sorted(
        [*names.by_role().values(), *notify.values()])   # one admin creates the topics of every app
    again = monitor(["topics", "apply", "--partitions", "2"], env)
    assert again.returncode == 0
    assert [line.split()[0] for line in again.stdout.splitlines()] == ["ok"] * 9
    drift = monitor(["topics", "apply", "--partitions", "3", "--strict"], env)
    assert drift.returncode == 3
    assert f"DRIFT     {names.case_created}: partitions 2, spec 3" in drift.stdout


async def test_worker_refuses_inputs_that_are_not_copartitioned(broker) -> None:
    names, _ = unique_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 4 if name == names.case_updated else 3, 1)
                                   for name in names.by_role().values()])
    finally:
        await admin.close()
    result = monitor(["worker"], worker_env(broker.bootstrap, names), timeout_s=60)
    assert result.returncode == 2
    assert "not co-partitioned" in result.stderr
    assert f"{names.case_updated} has 4" in result.stderr


async def test_exactly_once_fails_clearly_on_a_broker_without_transactions(broker) -> None:
    names, partitions = unique_topics()
    await create_topics(broker.bootstrap, names, partitions)
    env = worker_env(broker.bootstrap, names, MONITOR_PROCESSING_GUARANTEE="exactly_once")
    result = monitor(["worker"], env, timeout_s=60)
    assert result.returncode == 2
    assert "exactly_once needs a broker with idempotent producers and transactions" in result.stderr


def test_bad_configuration_exits_2_with_every_problem(broker) -> None:
    result = monitor(["worker"], {"KAFKA_BROKER": broker.bootstrap, "MONITOR_TICK_SECONDS": "-1",
                                  "MONITOR_TABLE_STORE": "floppy"})
    assert result.returncode == 2
    assert "MONITOR_TICK_SECONDS" in result.stderr and "floppy" in result.stderr


async def test_worker_refuses_to_start_without_its_output_topics(broker) -> None:
    # Before: the worker started, said ready, and died with a traceback (UnknownTopicOrPartitionError)
    # at its first breach; the operator learnt of the missing topic from a crash loop.
    names, _ = unique_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 3, 1) for role, name in names.by_role().items() if role != "breaches"])
    finally:
        await admin.close()
    result = monitor(["worker"], worker_env(broker.bootstrap, names), timeout_s=60)
    assert result.returncode == 2, result.stderr
    assert f"topics missing: {names.breaches}; run `monitor topics apply` first" in result.stderr
    assert "Traceback" not in result.stderr
