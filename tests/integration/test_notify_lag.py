"""The notifier's consumer-lag report never waits on a broker that does not answer.

`consumer.position()` asks the broker when the position is not known (after a seek to the end,
for example). With the broker paused, an unbounded call waits for the request timeout and holds
up delivery meanwhile; the report must instead leave that partition out after its short bound.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from monitor.embedded_broker import EmbeddedBroker
from monitor.notify.notifier import consumer_lags
from tests.integration.kafka_helpers import create_topics, produce, unique_topics

pytestmark = pytest.mark.timeout(120)


async def test_lag_report_skips_a_partition_whose_position_the_paused_broker_cannot_give(tmp_path: Path) -> None:
    names, partitions = unique_topics(partitions=1)
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        assert broker.process is not None
        await create_topics(broker.bootstrap, names, partitions)
        await produce(broker.bootstrap, [(names.breaches, b"k", b"{}") for _ in range(3)])
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, request_timeout_ms=30_000,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(names.breaches, 0)
            consumer.assign([tp])
            deadline = time.monotonic() + 30
            while consumer.highwater(tp) is None and time.monotonic() < deadline:
                await consumer.getmany(tp, timeout_ms=500)
            assert consumer.highwater(tp) == 3
            assert await consumer_lags(consumer) == {(names.breaches, 0): 3 - await consumer.position(tp)}

            os.kill(broker.process.pid, signal.SIGSTOP)
            try:
                # the position is unknown until the broker answers the reset (which it cannot now)
                seek = asyncio.ensure_future(consumer.seek_to_end(tp))
                await asyncio.sleep(0.1)
                assert not seek.done()
                started = time.monotonic()
                lags = await asyncio.wait_for(consumer_lags(consumer, timeout_s=1.0), 10)
                took = time.monotonic() - started
            finally:
                os.kill(broker.process.pid, signal.SIGCONT)
            await asyncio.wait_for(seek, 30)
            assert lags == {}, "a partition without a known position must be left out"
            assert took < 5, f"the lag report waited {took:.1f} s on a paused broker"
        finally:
            await consumer.stop()
