"""Due-time computations per second: calendar arithmetic vs a naive minute-stepping baseline.

100k random cases of timed cells (plan, priority, region, optional case time zone, start instant over two
years) across every calendar of the bundled catalog. Each computation is: look up the rule,
get the case's calendar, compute the breach instant. The baseline computes the same due
instants by stepping minutes on a random subset (it is ~1000x slower), in the same run, and
its answers are checked against the fast path. Ends with one JSON line.

    python bench/due_times.py [--cases 100000] [--naive-cases 300] [--seed 7] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time

from monitor.core.calendar import US_PER_S, naive_add_minutes
from monitor.core.policy import bundled_catalog

ZONES = [None, None, None, "America/New_York", "Europe/Paris", "Australia/Sydney", "Asia/Kolkata"]


def random_cases(count: int, seed: int) -> list[tuple[str, str, str, str | None, int]]:
    """(plan, priority, region, zone, start_us) of timed cells, minute-aligned starts in 2026-2027."""
    catalog = bundled_catalog()
    rng = random.Random(seed)
    cells = [
        (p.plan_id, q) for p in catalog.plans.values() for q in p.priorities
        if not catalog.rule(p.plan_id, q, "emea", "first_response").target.untimed  # type: ignore[union-attr]
    ]
    regions = list(catalog.regions)
    start0 = 1_767_225_600  # 2026-01-01T00:00:00Z
    return [
        (*rng.choice(cells), rng.choice(regions), rng.choice(ZONES), (start0 + rng.randrange(0, 2 * 365 * 1440) * 60) * US_PER_S)
        for _ in range(count)
    ]


def due_fast(case: tuple[str, str, str, str | None, int]) -> int | None:
    """Breach instant by calendar arithmetic (window to window)."""
    catalog = bundled_catalog()
    plan, priority, region, zone, start = case
    rule = catalog.rule(plan, priority, region, "first_response")
    if rule is None or rule.target_seconds is None:
        return None
    return catalog.coverage(rule.calendar, region, zone).add_us(start, rule.target_seconds * US_PER_S)


def due_naive(case: tuple[str, str, str, str | None, int]) -> int | None:
    """Breach instant by stepping one minute at a time (baseline)."""
    catalog = bundled_catalog()
    plan, priority, region, zone, start = case
    rule = catalog.rule(plan, priority, region, "first_response")
    if rule is None or rule.target_seconds is None:
        return None
    coverage = catalog.coverage(rule.calendar, region, zone)
    return naive_add_minutes(coverage.is_covered, start, rule.target_seconds * US_PER_S)


def rate(func, cases) -> tuple[float, list[int | None]]:  # type: ignore[no-untyped-def]
    """Computations per second of func over cases, and its answers."""
    began = time.perf_counter()
    answers = [func(case) for case in cases]
    return len(cases) / (time.perf_counter() - began), answers


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--naive-cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="10k cases, 100 naive")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.naive_cases = 10_000, 100
    cases = random_cases(args.cases, args.seed)
    # Warm the per-day window caches once, as a running worker has them warm.
    rate(due_fast, cases[: min(len(cases), 5000)])
    due_per_s, fast_answers = rate(due_fast, cases)
    windowed = [c for c in cases if bundled_catalog().rule(c[0], c[1], c[2], "first_response").calendar != "24x7"]  # type: ignore[union-attr]
    windowed_per_s, _ = rate(due_fast, windowed)
    subset = cases[: args.naive_cases]
    naive_per_s, naive_answers = rate(due_naive, subset)
    mismatches = sum(1 for a, b in zip(fast_answers, naive_answers, strict=False) if a != b)
    calendars: dict[str, int] = {}
    for plan, priority, region, _, _ in cases:
        name = bundled_catalog().rule(plan, priority, region, "first_response").calendar  # type: ignore[union-attr]
        calendars[name] = calendars.get(name, 0) + 1
    print(f"python {platform.python_version()} on {platform.machine()}, {args.cases} timed cases {calendars}, "
          f"naive baseline on {len(subset)}; mismatches vs baseline: {mismatches}")
    print(json.dumps({
        "due_per_s": round(due_per_s), "windowed_due_per_s": round(windowed_per_s), "naive_per_s": round(naive_per_s, 1),
        "ratio": round(due_per_s / naive_per_s, 1), "cases": args.cases, "naive_cases": len(subset),
        "mismatches": mismatches,
    }))


if __name__ == "__main__":
    main()
