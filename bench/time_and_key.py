"""CPU of parsing an input's `occurred_at` and of placing an output's key, against their references in the same run.

The input is `bench/core_path.py`'s (the throughput benchmark's timestamps and case ids). Measured,
each the least of `--repeat` passes of process time: `monitor.contract.parse_time` against
`_parse_time_datetime` (the datetime reference it falls back to), `parse_event` with each of them,
and the client factory's `partition_for_key` and `murmur2` against aiokafka's `DefaultPartitioner`
and `murmur2`, over six partitions (each pair measured alternately). Results are checked equal first.

    python bench/time_and_key.py [--cases N] [--repeat R]

Ends with one JSON line: microseconds per call of each and of its reference, and their ratio (new / reference).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka.partitioner import DefaultPartitioner  # noqa: E402
from aiokafka.partitioner import murmur2 as aiokafka_murmur2  # noqa: E402

from bench.core_path import records  # noqa: E402
from bench.throughput import machine  # noqa: E402
from monitor import contract  # noqa: E402
from monitor.core import events  # noqa: E402
from monitor.runtime.kafka import murmur2, partition_for_key  # noqa: E402
from monitor.stream.codec import encode_key  # noqa: E402


def per_call_us(new: Callable[[Any], object], old: Callable[[Any], object], inputs: list[Any],
                repeat: int) -> tuple[float, float]:
    """Least process time of `repeat` alternate passes of `new` and `old` over `inputs`, in µs per call."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for slot, function in enumerate((new, old)):
            start = time.process_time()
            for value in inputs:
                function(value)
            best[slot] = min(best[slot], time.process_time() - start)
    return best[0] / len(inputs) * 1e6, best[1] / len(inputs) * 1e6


def main() -> int:
    """Run and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=30000, help="cases (each a create and a response; default 30000)")
    parser.add_argument("--repeat", type=int, default=7, help="passes of each measurement (default 7)")
    args = parser.parse_args()
    feed = records(args.cases, time.time_ns() // 1000)
    texts = [json.loads(value)["occurred_at"] for _, _, value in feed]
    keys = [encode_key(case_id) for _, case_id, _ in feed[:args.cases]]
    partitions = list(range(6))
    default = DefaultPartitioner()
    assert [contract.parse_time(t) for t in texts] == [contract._parse_time_datetime(t) for t in texts]
    assert [partition_for_key(k, partitions, partitions) for k in keys] == [default(k, partitions, partitions)
                                                                          for k in keys]
    assert [murmur2(k) for k in keys] == [aiokafka_murmur2(k) for k in keys]
    fast = events.parse_time

    def parse_event_new(pair: tuple[str, bytes]) -> object:
        events.parse_time = fast
        return events.parse_event(*pair)

    def parse_event_old(pair: tuple[str, bytes]) -> object:
        events.parse_time = contract._parse_time_datetime
        return events.parse_event(*pair)

    inputs = [(topic, value) for topic, _, value in feed]
    figures: dict[str, tuple[float, float]] = {
        "parse_time": per_call_us(contract.parse_time, contract._parse_time_datetime, texts, args.repeat),
        "parse_event": per_call_us(parse_event_new, parse_event_old, inputs, args.repeat),
        "partition": per_call_us(lambda k: partition_for_key(k, partitions, partitions),
                                 lambda k: default(k, partitions, partitions), keys, args.repeat),
        "murmur2": per_call_us(murmur2, aiokafka_murmur2, keys, args.repeat),
    }
    events.parse_time = fast
    line: dict[str, Any] = {"bench": "time_and_key", "cases": args.cases}
    for name, (new, old) in figures.items():
        line.update({f"{name}_us": round(new, 3), f"{name}_reference_us": round(old, 3), f"{name}_ratio": round(new / old, 3)})
    line["machine"] = machine()
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
