"""Broker reachability: backoff bounds, the one-line cause, the connect-timeout setting, retries."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest

from monitor.embedded_broker import free_port
from monitor.runtime.connect import (
    Backoff,
    BrokerUnreachable,
    ConnectSettings,
    diagnose,
    require_kafka,
    unreachable_line,
    wait_for_kafka,
)
from monitor.runtime.settings import ConfigError, load_settings


def test_backoff_grows_is_capped_and_jittered() -> None:
    backoff, rng = Backoff(first_s=0.5, cap_s=30.0), random.Random(1)
    for attempt in range(1, 40):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        delays = {backoff.delay(attempt, rng) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1   # jittered: replicas do not retry in lockstep


def test_connect_timeout_setting() -> None:
    def timeout(env: dict[str, str]) -> float | None:
        return load_settings(ConnectSettings, None, env).connect_timeout_seconds

    assert timeout({}) is None
    assert timeout({"MONITOR_CONNECT_TIMEOUT_SECONDS": ""}) is None
    assert timeout({"MONITOR_CONNECT_TIMEOUT_SECONDS": "45"}) == 45.0
    for bad in ("soon", "0", "-3", "inf"):
        with pytest.raises(ConfigError, match="MONITOR_CONNECT_TIMEOUT_SECONDS"):
            timeout({"MONITOR_CONNECT_TIMEOUT_SECONDS": bad})


def test_diagnose_names_the_cause() -> None:
    assert diagnose(f"127.0.0.1:{free_port()}") == "connection refused"
    assert diagnose("no-such-host.invalid:9092") == "host name not found"
    with socket.socket() as listener:   # a port that answers TCP but is no Kafka listener
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert diagnose(f"127.0.0.1:{port}").startswith("the port answers but Kafka does not")
    refused = f"127.0.0.1:{free_port()}"
    both = diagnose(f"{refused},no-such-host.invalid:9092")
    assert both == f"{refused} connection refused; no-such-host.invalid:9092 host name not found"
    assert unreachable_line("h:1", "connection refused") == "cannot reach Kafka at h:1: connection refused"


async def test_require_kafka_raises_the_one_line() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    with pytest.raises(BrokerUnreachable) as raised:
        await require_kafka({"bootstrap_servers": bootstrap})
    assert str(raised.value) == f"cannot reach Kafka at {bootstrap}: connection refused"


async def test_wait_for_kafka_gives_up_after_the_bound() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    with pytest.raises(BrokerUnreachable, match=r"connection refused \(gave up after 1\.5s"):
        await wait_for_kafka({"bootstrap_servers": bootstrap}, timeout_s=1.5, backoff=Backoff(0.1, 0.4))


async def test_wait_for_kafka_returns_false_when_stopped() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.5, stop.set)
    bootstrap = f"127.0.0.1:{free_port()}"
    assert await wait_for_kafka({"bootstrap_servers": bootstrap}, timeout_s=None, stop=stop) is False
