"""Where an open case's memory goes, in process: N cases through the worker's own record path.

N `case-created` records of the shape bench/timers.py uses (30-day P1 clocks, 24x7) go through
`Worker._process` (decode, apply, encode, both indexes; metrics on) into 6 partitions, without
Kafka. Then, per open case: resident memory (RSS growth of the process) and the size of the live
objects that hold the cases, each rounded up to CPython's 16-byte allocation classes: the case
table's values (state + index keys) and keys (case id strings), its dict, the timer index's keys,
the board index's keys, the sorted lists' own lists. bench/timers.py measures the whole
`monitor worker` process instead (Kafka client buffers and all).

    python bench/case_memory.py [--cases 200000]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import TopicPartition  # noqa: E402
from aiokafka.structs import ConsumerRecord  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from bench.throughput import machine  # noqa: E402
from bench.timers import BENCH_POLICIES, PARTITIONS, rss_mib  # noqa: E402
from monitor.core.case import Engine  # noqa: E402
from monitor.core.events import format_time  # noqa: E402
from monitor.core.policy import parse_catalog  # noqa: E402
from monitor.observe.metrics import WorkerMetrics  # noqa: E402
from monitor.stream.config import WorkerConfig  # noqa: E402
from monitor.stream.partition import PartitionState  # noqa: E402
from monitor.stream.worker import Worker  # noqa: E402


def allocated(obj: object) -> int:
    """Bytes an object takes from the allocator: its size rounded up to 16 (pymalloc's classes)."""
    return -(-sys.getsizeof(obj) // 16) * 16


def sorted_list_bytes(sorted_list: Any) -> tuple[int, int]:
    """(its keys, its own lists) of a SortedList."""
    keys = sum(allocated(key) for key in sorted_list)
    lists = sum(allocated(sub) for sub in sorted_list._lists) + allocated(sorted_list._lists) + allocated(sorted_list._maxes)
    return keys, lists


def held_bytes(parts: Iterable[PartitionState]) -> dict[str, int]:
    """Bytes of the live objects that hold the cases, by what they are."""
    held = dict.fromkeys(("table_values", "case_ids", "table_dict", "timer_keys", "board_keys", "sorted_lists"), 0)
    for part in parts:
        cases: Any = part.cases
        held["table_values"] += sum(allocated(value) for value in cases.values())
        held["case_ids"] += sum(allocated(case_id) for case_id in cases)
        held["table_dict"] += sys.getsizeof(cases)
        keys, lists = sorted_list_bytes(part.index._keys)
        held["timer_keys"] += keys
        held["sorted_lists"] += lists
        for board_list in part.board._lists.values():
            keys, lists = sorted_list_bytes(board_list)
            held["board_keys"] += keys
            held["sorted_lists"] += lists
    return held


def load(worker: Worker, cases: int, batch: int = 2000) -> None:
    """`cases` case-created records through the worker's record path, a turn per batch (writes dropped)."""
    topic = worker.config.topics.case_created
    at = format_time(time.time_ns() // 1000)
    for start in range(0, cases, batch):
        records: dict[int, list[ConsumerRecord[bytes, bytes]]] = {n: [] for n in range(PARTITIONS)}
        for i in range(start, min(cases, start + batch)):
            case_id = f"O-{i:08d}"
            body = json.dumps({"event_id": f"{case_id}-c", "case_id": case_id, "occurred_at": at, "plan": "bench",
                               "priority": "P1", "region": "emea", "customer_id": "bench"}).encode()
            records[i % PARTITIONS].append(ConsumerRecord(
                topic=topic, partition=i % PARTITIONS, offset=i, timestamp=0, timestamp_type=0, key=case_id.encode(),
                value=body, checksum=None, serialized_key_size=0, serialized_value_size=0, headers=()))
        for number, batch_records in records.items():
            worker._process(TopicPartition(topic, number), batch_records)
        worker._take_turn()   # what the flush would write; nothing is written
        worker._outbox = []


def main() -> int:
    """Load, measure and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200_000, help="open cases (default 200,000)")
    args = parser.parse_args()
    catalog = parse_catalog(BENCH_POLICIES, "bench")
    config = WorkerConfig(web_port=0)
    worker = Worker(config, Engine(catalog), observer=WorkerMetrics(CollectorRegistry(), catalog, input_topics=config.topics.inputs))
    for number in range(PARTITIONS):
        worker.partitions[number] = PartitionState(number, lagging=set())
    gc.collect()
    rss_before = rss_mib(os.getpid())
    began = time.perf_counter()
    load(worker, args.cases)
    load_s = time.perf_counter() - began
    gc.collect()
    rss = rss_mib(os.getpid())
    held = held_bytes(worker.partitions.values())
    print(json.dumps({
        "bench": "case_memory", "cases": args.cases,
        "rss_bytes_per_case": round((rss - rss_before) * 2**20 / args.cases, 1), "rss_mib": round(rss, 1),
        "rss_before_mib": round(rss_before, 1),
        "held_bytes_per_case": round(sum(held.values()) / args.cases, 1),
        **{f"{name}_per_case": round(size / args.cases, 1) for name, size in held.items()},
        "load_s": round(load_s, 1), "machine": machine(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
