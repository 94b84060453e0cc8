"""The worker's flush pipeline, rebalance listener and loop against in-process fakes of aiokafka.

No broker: a fake producer whose acknowledgements the test settles by hand and a fake consumer
that records commits. These cover failure paths a real broker cannot be made to hit on cue.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError

from monitor.stream import worker as worker_module
from monitor.stream.config import WorkerConfig
from monitor.stream.partition import PartitionState
from monitor.stream.worker import Worker, WriteFailure, load_engine

CREATED = "case-created"


class FakeBatch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes | None]] = []

    def append(self, *, key: bytes | None, value: bytes | None, timestamp: Any, headers: Any) -> object:
        self.records.append((key, value))
        return object()

    def record_count(self) -> int:
        return len(self.records)


class FakeProducer:
    """send_batch hands back a future the test resolves (ack) or fails (broker error)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, FakeBatch, asyncio.Future[Any]]] = []
        self.auto_ack_topics: set[str] = set()
        #: topic -> how many more sends fail at once with a broker timeout (-1: every one)
        self.failing: dict[str, int] = {}
        #: topic -> how many more sends are refused when handed over (send_batch raises: metadata or buffer timeout)
        self.refusing: dict[str, int] = {}

    @staticmethod
    def _partitioner(key: bytes | None, all_: list[int], available: list[int]) -> int:
        return 0

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        if self.refusing.get(topic, 0):
            self.refusing[topic] -= 1
            raise KafkaTimeoutError("no room in the producer's buffer")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        left = self.failing.get(topic, 0)
        if left:
            self.failing[topic] = left - 1 if left > 0 else left
            future.set_exception(KafkaTimeoutError("expired"))
        elif topic in self.auto_ack_topics:
            future.set_result(None)
        self.sent.append((topic, partition, batch, future))
        return future

    def futures(self, topic: str) -> list[asyncio.Future[Any]]:
        return [f for t, _, _, f in self.sent if t == topic]

    async def stop(self) -> None:
        pass


class FakeConsumer:
    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.batches: list[dict[TopicPartition, list[Any]]] = []
        self.getmany_calls = 0

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, list[Any]]:
        self.getmany_calls += 1
        if self.batches:
            return self.batches.pop(0)
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    def highwater(self, tp: TopicPartition) -> int | None:
        return 0

    async def position(self, tp: TopicPartition) -> int:
        return 0

    async def stop(self) -> None:
        pass


def make_worker(**overrides: Any) -> tuple[Worker, FakeProducer, FakeConsumer]:
    config = WorkerConfig(web_port=0, **overrides)
    worker = Worker(config, load_engine(config))
    producer, consumer = FakeProducer(), FakeConsumer()
    worker._producer = producer  # type: ignore[assignment]
    worker._consumer = consumer  # type: ignore[assignment]
    worker.started.set()
    return worker, producer, consumer


def one_turn(worker: Worker, number: int, offset: int, case_id: str) -> None:
    """What a loop turn leaves behind: an output record, a changed case, a new input offset."""
    part = worker.partitions.setdefault(number, PartitionState(number))
    part.next_offsets[CREATED] = offset
    part.dirty[case_id] = b"{}"
    worker._outbox.append((worker.config.topics.breaches, case_id.encode(), b"breach of " + case_id.encode(), []))


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_write_failing_on_every_attempt_stops_the_worker_without_committing_past_it(monkeypatch) -> None:
    """Broker timeouts on turn 1's outputs, attempt after attempt: WriteFailure, no commit, no state saying fired."""
    monkeypatch.setattr(worker_module, "WRITE_RETRY_BACKOFF_S", 0)
    worker, producer, consumer = make_worker()
    producer.auto_ack_topics.update({worker.config.topics.changelog, worker.config.topics.breaches})
    producer.failing[worker.config.topics.breaches] = -1
    one_turn(worker, 0, 10, "C-1")
    await worker._flush()
    one_turn(worker, 0, 20, "C-2")
    with pytest.raises(WriteFailure, match="failed 3 times"):
        await worker._flush()
        await worker._drain()
    assert consumer.commits == []                      # C-1's breach was never acknowledged
    changelog = [key for t, _, batch, _ in producer.sent if t == worker.config.topics.changelog
                 for key, _ in batch.records]
    assert changelog == []                             # no state saying "fired" for a lost event
    with pytest.raises(WriteFailure):                  # and the shutdown flush commits nothing either
        await worker._shutdown()
    assert consumer.commits == []


async def test_a_transient_write_failure_is_retried_and_then_committed(monkeypatch) -> None:
    monkeypatch.setattr(worker_module, "WRITE_RETRY_BACKOFF_S", 0)
    worker, producer, consumer = make_worker()
    producer.auto_ack_topics.update({worker.config.topics.changelog, worker.config.topics.breaches})
    producer.failing[worker.config.topics.breaches] = 1
    one_turn(worker, 0, 10, "C-1")
    await worker._flush()
    await worker._drain()
    breaches = [value for t, _, batch, _ in producer.sent if t == worker.config.topics.breaches for _, value in batch.records]
    assert breaches == [b"breach of C-1", b"breach of C-1"]   # resent: a duplicate, never a loss
    changelog = [(key, value) for t, _, batch, _ in producer.sent if t == worker.config.topics.changelog
                 for key, value in batch.records]
    assert changelog == [(b"C-1", b"{}")]
    assert consumer.commits == [{TopicPartition(CREATED, 0): 10}]


async def test_outputs_refused_when_handed_to_the_producer_are_retried_like_any_failed_write(monkeypatch) -> None:
    """send_batch itself raising (metadata or buffer timeout) goes through the turn's retries, not out as a traceback."""
    monkeypatch.setattr(worker_module, "WRITE_RETRY_BACKOFF_S", 0)
    worker, producer, consumer = make_worker()
    producer.auto_ack_topics.update({worker.config.topics.changelog, worker.config.topics.breaches})
    producer.refusing[worker.config.topics.breaches] = 1
    one_turn(worker, 0, 10, "C-1")
    await worker._flush()
    await worker._drain()
    breaches = [value for t, _, batch, _ in producer.sent if t == worker.config.topics.breaches for _, value in batch.records]
    assert breaches == [b"breach of C-1"]
    assert consumer.commits == [{TopicPartition(CREATED, 0): 10}]


async def test_a_failed_flush_on_revocation_drops_the_pipeline_and_the_partitions(monkeypatch) -> None:
    """After a revocation whose flush failed, nothing queued before it is ever committed."""
    monkeypatch.setattr(worker_module, "WRITE_RETRY_BACKOFF_S", 0)
    worker, producer, consumer = make_worker()
    producer.auto_ack_topics.update({worker.config.topics.changelog, worker.config.topics.breaches})
    producer.failing[worker.config.topics.breaches] = -1
    one_turn(worker, 0, 10, "C-1")
    await worker._flush()
    one_turn(worker, 0, 20, "C-2")
    await worker._flush()                              # two turns queued, none acknowledged
    await worker._on_revoked({0})
    assert worker.partitions == {}
    await settle()
    assert consumer.commits == []

    # the group assigns partition 1 afterwards: the pipeline works again for it
    producer.failing.clear()
    one_turn(worker, 1, 7, "D-1")
    await worker._flush()
    await worker._drain()
    assert consumer.commits == [{TopicPartition(CREATED, 1): 7}]


async def test_a_failed_restore_stops_the_worker_instead_of_dropping_the_partitions_records() -> None:
    """aiokafka logs and swallows listener exceptions: the loop must not then skip the partition."""
    worker, producer, consumer = make_worker(tick_seconds=0.05)

    async def broken_restore(numbers: list[int]) -> dict[int, PartitionState]:
        raise OSError("state dir not writable")

    worker._restore = broken_restore  # type: ignore[method-assign]
    with pytest.raises(OSError):
        await worker._on_assigned({0})

    class Record:
        offset, timestamp, key, value = 0, 0, b"C-1", b"{}"

    consumer.batches.append({TopicPartition(CREATED, 0): [Record()]})
    loop = asyncio.create_task(worker._loop())
    done, _ = await asyncio.wait({loop}, timeout=2)
    worker.request_stop()
    if not done:
        await loop
    assert loop in done, "the loop kept consuming a partition it never restored"
    assert isinstance(loop.exception(), RuntimeError)
    assert "restore" in str(loop.exception())


async def test_stop_is_noticed_promptly_even_with_a_long_tick() -> None:
    """SIGTERM must not wait out a 60 s tick period (the shutdown bound defaults to 20 s)."""
    worker, producer, consumer = make_worker(tick_seconds=60.0)
    loop = asyncio.create_task(worker._loop())
    await asyncio.sleep(0.2)                          # the loop is now idle in getmany
    began = time.monotonic()
    worker.request_stop()
    done, _ = await asyncio.wait({loop}, timeout=3)
    if not done:
        loop.cancel()
    assert loop in done, "stop not noticed within 3 s"
    assert time.monotonic() - began < 3


async def test_shutdown_stops_every_client_when_the_consumer_stop_raises_cancelled() -> None:
    """aiokafka's consumer.stop() re-raises the CancelledError of its own fetch tasks (broker down)."""
    worker, producer, consumer = make_worker()
    stopped: list[str] = []

    async def consumer_stop() -> None:
        stopped.append("consumer")
        task = asyncio.ensure_future(asyncio.sleep(1))
        await asyncio.sleep(0)
        task.cancel()
        await task                                     # what aiokafka's Fetcher.close() does

    async def named_stop(name: str) -> None:
        stopped.append(name)

    consumer.stop = consumer_stop  # type: ignore[method-assign]
    producer.stop = lambda: named_stop("producer")  # type: ignore[method-assign]
    restorer = FakeConsumer()
    restorer.stop = lambda: named_stop("restorer")  # type: ignore[method-assign]
    worker._restorer = restorer  # type: ignore[assignment]
    await worker._shutdown()                           # does not raise
    assert stopped == ["consumer", "restorer", "producer"]
