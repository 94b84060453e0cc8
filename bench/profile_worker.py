"""cProfile of the worker alone over the throughput benchmark's input (the "where does a record go" view).

Fills the same input topics as bench/throughput.py, then runs `Worker` over them with cProfile
on (the load generator and the passthrough are not profiled) and prints, per record, the time of
the worker's main steps plus the top functions by own time.

    python bench/profile_worker.py [--events N] [--top K]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.throughput import PARTITIONS, fill, worker_run  # noqa: E402
from monitor.embedded_broker import EmbeddedBroker  # noqa: E402
from monitor.runtime.topics import apply_topics, load_specs  # noqa: E402
from monitor.stream.config import TopicNames, config_from  # noqa: E402

#: (label, function name as pstats names it) of the steps a record goes through, cumulative time.
STEPS = [
    ("worker turn total (_process)", "_process"),
    ("parse_event", "parse_event"),
    ("engine apply", "apply"),
    ("decode_state", "decode_state"),
    ("encode_state", "encode_state"),
    ("encode_sla_event", "encode_sla_event"),
    ("record_source", "record_source"),
    ("metrics on_consumed", "on_consumed"),
    ("metrics on_emitted", "on_emitted"),
    ("metrics move_case", "move_case"),
    ("timers (_tick)", "_tick"),
    ("flush (_flush)", "_flush"),
    ("changelog+commit (_run_flusher)", "_run_flusher"),
]


def per_record(stats: pstats.Stats, events: int) -> list[tuple[str, float]]:
    """Cumulative µs per input record of each step in STEPS (summed over same-named functions)."""
    totals: dict[str, float] = {}
    for (_, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        totals[name] = totals.get(name, 0.0) + cumulative
    return [(label, totals.get(name, 0.0) / events * 1e6) for label, name in STEPS]


async def profile(bootstrap: str, events: int, top: int) -> str:
    tag = uuid.uuid4().hex[:8]
    names = TopicNames(**{role: f"prof-{tag}.{name}" for role, name in TopicNames().by_role().items()})
    await apply_topics(config_from(None, {"KAFKA_BROKER": bootstrap}).kafka,
                       load_specs(names.by_role(), partitions=PARTITIONS))
    await fill(bootstrap, names, events)
    profiler = cProfile.Profile()
    profiler.enable()
    rate, extra = await worker_run(bootstrap, names, events)
    profiler.disable()
    stats = pstats.Stats(profiler)
    out = io.StringIO()
    out.write(f"events={events} events_per_s(under cProfile)={rate:.0f} {extra}\n")
    out.write("step (cumulative, µs per input record):\n")
    for label, us in per_record(stats, events):
        out.write(f"  {label:36s} {us:8.2f}\n")
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> int:
    """Run and print the profile summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BROKER")
    if bootstrap:
        print(asyncio.run(profile(bootstrap, args.events, args.top)))
    else:
        with EmbeddedBroker() as broker:
            print(asyncio.run(profile(broker.bootstrap, args.events, args.top)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
