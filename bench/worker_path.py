"""CPU of the worker's whole record path per input record, without Kafka, against the pure core in the same run.

The input is `bench/core_path.py`'s (the throughput benchmark's records). The worker pass hands
them to a real `Worker` (metrics on) the way the consumer does: fetches of up to 1,000 records
per input partition, the responses' partition listed first (as the consumer handed them in the
profiled runs), each fetch followed by collecting the turn's writes (`_take_turn`). It measures
the shell (record checks, state table and indexes, metrics, the turn's bookkeeping) plus the
core; the core pass of `bench/core_path.py` in the same run is the baseline, so
`shell_us_per_record` is what the shell adds. The Kafka client is not in it
(`bench/throughput.py` measures that).

    python bench/worker_path.py [--cases N] [--repeat R]

Ends with one JSON line: worker_us_per_record, core_us_per_record, shell_us_per_record, ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import TopicPartition  # noqa: E402
from aiokafka.structs import ConsumerRecord  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from bench.core_path import core_pass, records  # noqa: E402
from bench.throughput import machine  # noqa: E402
from monitor.core.events import TOPIC_CREATED  # noqa: E402
from monitor.observe.metrics import WorkerMetrics  # noqa: E402
from monitor.runtime.runner import configure_gc  # noqa: E402
from monitor.stream.config import WorkerConfig  # noqa: E402
from monitor.stream.partition import PartitionState  # noqa: E402
from monitor.stream.worker import Worker, load_engine  # noqa: E402

FETCH = 1000


class FixedClock:
    """The same instant for every call (the records are a minute old)."""

    def __init__(self, now_us: int) -> None:
        self.now = now_us

    def now_us(self) -> int:
        return self.now


def fetches(config: WorkerConfig, feed: list[tuple[str, str, bytes]], now_us: int,
            lag: bool = False) -> list[dict[TopicPartition, list[Any]]]:
    """The feed as consumer fetches: each one chunk of responses and the chunk of their creates, on partition 0.

    `lag`: each chunk of responses comes one fetch after the creates of its cases instead.
    """
    by_topic: dict[str, list[Any]] = {config.topics.case_created: [], config.topics.case_updated: []}
    for kind, case_id, value in feed:
        topic = config.topics.case_created if kind == TOPIC_CREATED else config.topics.case_updated
        by_topic[topic].append(ConsumerRecord(
            topic=topic, partition=0, offset=len(by_topic[topic]), timestamp=now_us // 1000, timestamp_type=0,
            key=case_id.encode(), value=value, checksum=None, serialized_key_size=len(case_id),
            serialized_value_size=len(value), headers=()))
    created, updated = by_topic[config.topics.case_created], by_topic[config.topics.case_updated]
    shift = FETCH if lag else 0
    return [{TopicPartition(config.topics.case_updated, 0): updated[max(0, i - shift):i - shift + FETCH],
             TopicPartition(config.topics.case_created, 0): created[i:i + FETCH]}
            for i in range(0, max(len(created), len(updated) + shift), FETCH)]


def fresh_worker(config: WorkerConfig, engine: Any, now_us: int) -> Worker:
    """A worker with metrics on and partition 0 assigned and caught up, as after a restore of nothing."""
    worker = Worker(config, engine, clock=FixedClock(now_us),
                    observer=WorkerMetrics(CollectorRegistry(), engine.catalog, input_topics=config.topics.inputs))
    worker.partitions[0] = part = PartitionState(0)
    part.lagging = set()
    return worker


def worker_pass(worker: Worker, batches: list[dict[TopicPartition, list[Any]]]) -> int:
    """Every fetch through the worker, each followed by collecting the turn's writes; returns the outputs queued."""
    outputs = 0
    for batch in batches:
        worker._process_batch(batch)
        turn = worker._take_turn()
        outputs += len(turn.outputs) if turn is not None else 0
    return outputs


def timed_worker_pass(config: WorkerConfig, engine: Any, batches: list[dict[TopicPartition, list[Any]]], now_us: int) -> float:
    """CPU seconds of one worker pass (the worker and its metrics are built before the clock starts)."""
    worker = fresh_worker(config, engine, now_us)
    began = time.process_time()
    worker_pass(worker, batches)
    return time.process_time() - began


def main() -> int:
    """Run and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=4000, help="cases (each a create and a response; default 4000)")
    parser.add_argument("--repeat", type=int, default=7, help="passes; the fastest counts (default 7)")
    parser.add_argument("--lag", action="store_true",
                        help="responses one fetch after their cases' creates (in bench/throughput.py runs most were)")
    args = parser.parse_args()
    configure_gc()   # as `monitor worker` and bench/throughput.py do
    now_us = time.time_ns() // 1000
    config = WorkerConfig(web_port=0)
    engine = load_engine(config)
    feed = records(args.cases, now_us)
    batches = fetches(config, feed, now_us, lag=args.lag)
    assert worker_pass(fresh_worker(config, engine, now_us), batches) == args.cases, "expected one sla.met per case"
    worker_s, core_s = [], []
    for _ in range(args.repeat):   # interleaved, so both see the same machine load
        worker_s.append(timed_worker_pass(config, engine, batches, now_us))
        core_s.append(timeit.timeit(lambda: core_pass(engine, feed, now_us), timer=time.process_time, number=1))
    worker_us, core_us = min(worker_s) / len(feed) * 1e6, min(core_s) / len(feed) * 1e6
    print(json.dumps({
        "bench": "worker_path", "records": len(feed), "lag": args.lag, "worker_us_per_record": round(worker_us, 2),
        "core_us_per_record": round(core_us, 2), "shell_us_per_record": round(worker_us - core_us, 2),
        "ratio": round(worker_us / core_us, 2), "machine": machine(),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
