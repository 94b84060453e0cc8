"""Share of a worker's partition restore that a persistent store could not save: the re-index.

On assignment a worker (1) reads the partition's compacted changelog into its case table and
(2) re-indexes: decodes every state, once, for the deadline and board indexes (Engine.next_due,
Engine.due_at; `PartitionState.rebuild`) and the case gauges. A RocksDB store kept across
restarts with a changelog checkpoint would replace (1) by reading only the changelog tail; (2)
stays. This measures (2) for N open cases of the same shape
bench/timers.py uses (30-day P1 clocks), in-process, so that

    restore_s (bench/timers.py) - reindex_s (this) = the changelog read a checkpoint could skip.

    python bench/reindex.py [--cases 100000]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import CollectorRegistry  # noqa: E402

from bench.throughput import machine  # noqa: E402
from bench.timers import BENCH_POLICIES  # noqa: E402
from monitor.core.case import Engine  # noqa: E402
from monitor.core.events import parse_event  # noqa: E402
from monitor.core.policy import parse_catalog  # noqa: E402
from monitor.observe.metrics import WorkerMetrics  # noqa: E402
from monitor.stream.codec import encode_state  # noqa: E402
from monitor.stream.partition import PartitionState  # noqa: E402


def reindex_seconds(cases: int) -> float:
    """Seconds to rebuild the indexes and case gauges of `cases` encoded open cases."""
    catalog = parse_catalog(BENCH_POLICIES, "bench")
    engine = Engine(catalog)
    start = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
    created = json.dumps({"event_id": "O-c", "case_id": "O", "occurred_at": start.isoformat(), "plan": "bench",
                          "priority": "P1", "region": "emea", "customer_id": "bench"}).encode()
    state = engine.apply(None, parse_event("case-created", created), start).state
    part = PartitionState(0)
    value = encode_state(state)
    for i in range(cases):
        part.cases[f"O-{i:08d}"] = value
    metrics = WorkerMetrics(CollectorRegistry(), catalog)
    began = time.perf_counter()
    part.rebuild(engine, lambda states: metrics.rebuild_partition(0, states))
    return time.perf_counter() - began


def main() -> int:
    """Measure and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="open cases (default 100,000)")
    args = parser.parse_args()
    seconds = reindex_seconds(args.cases)
    print(json.dumps({"bench": "reindex", "cases": args.cases, "reindex_s": round(seconds, 2), "machine": machine()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
