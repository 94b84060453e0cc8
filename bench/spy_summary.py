"""Where the worker's time goes in a real `bench/throughput.py` run: a py-spy sampling profile, summarised.

cProfile slows the worker several times over and inflates small functions; py-spy samples the
running process from outside (no code in it changes), so the shares are those of a normal run.
Record the benchmark, then summarise the samples taken inside the worker (stacks through a
`Worker.` frame; the load generator and the passthrough are left out):

    pip install py-spy
    py-spy record -r 200 -f raw -o spy.txt -- python bench/throughput.py --events 200000
    python bench/spy_summary.py spy.txt [--top K]

Prints the share of the worker's samples each function takes, inclusive (it or what it calls)
and by itself.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LOCATION = re.compile(r" \(.*\)$")


def summarise(lines: list[str]) -> tuple[int, Counter[str], Counter[str]]:
    """(worker samples, inclusive samples by function, own samples by function) of py-spy raw lines."""
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        names = [_LOCATION.sub("", frame) for frame in stack.split(";")]
        first = next((i for i, name in enumerate(names) if name.startswith("Worker.")), None)
        if first is None:
            continue
        names = names[first:]   # the event loop's frames above the worker are in every stack
        samples = int(count)
        total += samples
        own[names[-1]] += samples
        for name in set(names):
            inclusive[name] += samples
    return total, inclusive, own


def main() -> int:
    """Print the summary of one py-spy raw file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="py-spy record -f raw output")
    parser.add_argument("--top", type=int, default=30, help="functions listed (default 30)")
    args = parser.parse_args()
    total, inclusive, own = summarise(args.raw.read_text().splitlines())
    if not total:
        print("no samples inside the worker (no stack through a `Worker.` frame)")
        return 1
    print(f"worker samples: {total}")
    print("inclusive (the function and what it calls):")
    for name, samples in inclusive.most_common(args.top):
        print(f"  {samples / total * 100:5.1f} %  {name}")
    print("own time:")
    for name, samples in own.most_common(args.top):
        print(f"  {samples / total * 100:5.1f} %  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
