"""Due-time computations per second: calendar arithmetic vs a naive minute-stepping baseline.

Two workloads, each against its own naive baseline in the same run:
- bundled: 100k random cases of timed cells (plan, priority, region, optional case time zone,
  start instant over two years) across every calendar of the bundled catalog;
- split shift: the same number of cases on a custom contract whose calendar has per-weekday
  hours, a lunch gap Tuesday to Friday, a Saturday half-day, German (Bavarian) public holidays
  plus company closing days, in the case's zone (several zones, DST weeks included).
Each computation is: look up the rule, get the case's calendar, compute the breach instant. The
baseline computes the same due instants by stepping minutes on a subset (it is ~1000x slower)
and its answers are checked against the fast path. Ends with one JSON line.

    python bench/due_times.py [--cases 100000] [--naive-cases 300] [--seed 7] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time

from monitor.core.calendar import US_PER_S, naive_add_minutes
from monitor.core.policy import Catalog, bundled_catalog, parse_catalog

ZONES = [None, None, None, "America/New_York", "Europe/Paris", "Australia/Sydney", "Asia/Kolkata"]

#: A contract with a split-shift calendar and holidays (the issue's support desk, in the case's zone).
SPLIT_SHIFT_POLICY = """
[calendars.support-desk]
holidays = { country = "DE", subdivision = "BY", dates = ["2026-12-24", "2026-12-31", "2027-12-24", "2027-12-31"] }
[calendars.support-desk.week]
mon = ["10:30-18:00"]
tue = ["08:00-12:00", "13:00-18:00"]
wed = ["08:00-12:00", "13:00-18:00"]
thu = ["08:00-12:00", "13:00-18:00"]
fri = ["08:00-12:00", "13:00-18:00"]
sat = ["09:00-13:00"]

[regions.emea]
timezone = "Europe/Berlin"
open = "09:00"
close = "17:00"

[plans.gold]
priorities = ["P1", "P2", "P3", "P4"]
[plans.gold.first_response]
P1 = { calendar = "support-desk", target = "1h", warnings = [0.5, "-15m"], escalations = ["+1h"] }
P2 = { calendar = "support-desk", target = "4h", warnings = [0.5, "-30m"], escalations = ["+1h", "+4h"] }
P3 = { calendar = "support-desk", target = "8h" }
P4 = { calendar = "support-desk", target = "16h" }
"""

Case = tuple[str, str, str, str | None, int]


def random_cases(count: int, seed: int, catalog: Catalog | None = None) -> list[Case]:
    """(plan, priority, region, zone, start_us) of timed cells, minute-aligned starts in 2026-2027."""
    catalog = catalog or bundled_catalog()
    rng = random.Random(seed)
    cells = [
        (p.plan_id, q) for p in catalog.plans.values() for q in p.priorities
        if not catalog.rule(p.plan_id, q, next(iter(catalog.regions)), "first_response").target.untimed  # type: ignore[union-attr]
    ]
    regions = list(catalog.regions)
    start0 = 1_767_225_600  # 2026-01-01T00:00:00Z
    return [
        (*rng.choice(cells), rng.choice(regions), rng.choice(ZONES), (start0 + rng.randrange(0, 2 * 365 * 1440) * 60) * US_PER_S)
        for _ in range(count)
    ]


def due_fast(case: Case, catalog: Catalog | None = None) -> int | None:
    """Breach instant by calendar arithmetic (window to window)."""
    catalog = catalog or bundled_catalog()
    plan, priority, region, zone, start = case
    rule = catalog.rule(plan, priority, region, "first_response")
    if rule is None or rule.target_seconds is None:
        return None
    return catalog.coverage(rule.calendar, region, zone).add_us(start, rule.target_seconds * US_PER_S)


def due_naive(case: Case, catalog: Catalog | None = None) -> int | None:
    """Breach instant by stepping one minute at a time (baseline)."""
    catalog = catalog or bundled_catalog()
    plan, priority, region, zone, start = case
    rule = catalog.rule(plan, priority, region, "first_response")
    if rule is None or rule.target_seconds is None:
        return None
    coverage = catalog.coverage(rule.calendar, region, zone)
    return naive_add_minutes(coverage.is_covered, start, rule.target_seconds * US_PER_S)


def rate(func, cases, *args) -> tuple[float, list[int | None]]:  # type: ignore[no-untyped-def]
    """Computations per second of func over cases, and its answers."""
    began = time.perf_counter()
    answers = [func(case, *args) for case in cases]
    return len(cases) / (time.perf_counter() - began), answers


def split_shift(cases: int, naive_cases: int, seed: int) -> dict[str, float | int]:
    """Fast vs naive due instants on the split-shift contract with holidays, in the same run."""
    catalog = parse_catalog(SPLIT_SHIFT_POLICY, "split-shift")
    sample = random_cases(cases, seed, catalog)
    rate(due_fast, sample[: min(len(sample), 5000)], catalog)  # warm the per-day windows
    fast_per_s, fast_answers = rate(due_fast, sample, catalog)
    subset = sample[:naive_cases]
    naive_per_s, naive_answers = rate(due_naive, subset, catalog)
    mismatches = sum(1 for a, b in zip(fast_answers, naive_answers, strict=False) if a != b)
    return {
        "split_shift_due_per_s": round(fast_per_s), "split_shift_naive_per_s": round(naive_per_s, 1),
        "split_shift_ratio": round(fast_per_s / naive_per_s, 1), "split_shift_mismatches": mismatches,
    }


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
    split = split_shift(args.cases, args.naive_cases, args.seed)
    calendars: dict[str, int] = {}
    for plan, priority, region, _, _ in cases:
        name = bundled_catalog().rule(plan, priority, region, "first_response").calendar  # type: ignore[union-attr]
        calendars[name] = calendars.get(name, 0) + 1
    print(f"python {platform.python_version()} on {platform.machine()}, {args.cases} timed cases {calendars}, "
          f"naive baseline on {len(subset)}; mismatches vs baseline: {mismatches}; split-shift contract with holidays: "
          f"{args.cases} cases, {split['split_shift_mismatches']} mismatches")
    print(json.dumps({
        "due_per_s": round(due_per_s), "windowed_due_per_s": round(windowed_per_s), "naive_per_s": round(naive_per_s, 1),
        "ratio": round(due_per_s / naive_per_s, 1), "cases": args.cases, "naive_cases": len(subset),
        "mismatches": mismatches, **split,
    }))


if __name__ == "__main__":
    main()
