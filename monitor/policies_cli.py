"""`monitor policies`: print the policy catalog (cells, regions, named calendars); `--check FILE` validates one."""

from __future__ import annotations

import argparse
import sys

from monitor.core.calendar import DAY_NAMES, DAY_SECONDS, Span
from monitor.core.policy import METRICS, Catalog, HolidaySpec, PolicyError, Rule, catalog_from, describe_duration, load_catalog


def _clock(seconds: int) -> str:
    if seconds >= DAY_SECONDS:
        return "24:00"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def describe_week(week: dict[int, tuple[Span, ...]]) -> str:
    """'mon-fri 09:00-17:00; sat 09:00-13:00': runs of weekdays with the same openings, closed days left out."""
    parts: list[str] = []
    day = 0
    while day < 7:
        spans = week.get(day, ())
        last = day
        while last + 1 < 7 and week.get(last + 1, ()) == spans:
            last += 1
        if spans:
            days = DAY_NAMES[day] if last == day else f"{DAY_NAMES[day]}-{DAY_NAMES[last]}"
            parts.append(f"{days} {', '.join(f'{_clock(a)}-{_clock(b)}' for a, b in spans)}")
        day = last + 1
    return "; ".join(parts)


def _holidays(spec: HolidaySpec | None) -> str:
    return f"holidays: {spec.describe()}" if spec is not None else "no holidays"


def _day_length(seconds: int | None) -> str:
    return f"business day {seconds / 3600:g} h" if seconds is not None else "days differ in length"


def _levels(rule: Rule, escalations: bool) -> str:
    if rule.target_seconds is None:
        return "-"
    chosen = [lv for lv in rule.levels if (lv.threshold > 1.0) == escalations and lv.threshold != 1.0]
    return "/".join(lv.offset or f"{lv.threshold:g}" for lv in chosen) or "-"


def catalog_rows(catalog: Catalog) -> list[list[str]]:
    """One row per (plan, metric, priority): calendar, target, warnings, escalations and region overrides."""
    rows = []
    for plan in catalog.plans.values():
        for metric in METRICS:
            for priority in plan.priorities:
                cell = plan.cells.get(metric, {}).get(priority)
                if cell is None:
                    continue
                rule = catalog.rule(plan.plan_id, priority, next(iter(catalog.regions)), metric)
                assert rule is not None
                overridden = sorted(
                    f"{region}: {r.calendar}" for region in catalog.regions
                    if (r := catalog.rule(plan.plan_id, priority, region, metric)) and r.calendar != cell.calendar
                )
                window = describe_duration(plan.reopen_window_seconds) if plan.reopen_window_seconds else "none"
                rows.append([
                    plan.plan_id, metric, priority, cell.calendar, rule.target.describe(), _levels(rule, False),
                    _levels(rule, True), window, ", ".join(overridden),
                ])
    return rows


def render(catalog: Catalog) -> str:
    """The catalog as an aligned text table, then its regions, named calendars and aliases."""
    header = ["plan", "metric", "priority", "calendar", "target", "warnings", "escalations", "reopen", "region override"]
    rows = [header, *catalog_rows(catalog)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"policy_version {catalog.version}  ({catalog.source})"]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += ["", "regions (business_hours; 24x5 and business_hours drop the region's holidays):"]
    for region in catalog.regions.values():
        lines.append(f"  {region.name}  {region.timezone}  {describe_week(region.week)}  "
                     f"({_day_length(region.business_day_seconds)}; {_holidays(region.holidays)})")
    if catalog.calendars:
        lines += ["calendars:"]
        for calendar in catalog.calendars.values():
            zone = calendar.timezone or "the case's zone, else its region's"
            lines.append(f"  {calendar.name}  {zone}  {describe_week(calendar.week)}  "
                         f"({_day_length(calendar.business_day_seconds)}; {_holidays(calendar.holidays)})")
    aliases = [f"{a} -> {p.plan_id}" for p in catalog.plans.values() for a in p.aliases]
    if aliases:
        lines.append("aliases: " + ", ".join(aliases))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`monitor policies [--policies FILE]` prints the catalog; `monitor policies --check FILE` validates a file (exit 0 or 2)."""
    parser = argparse.ArgumentParser(prog="monitor policies", description="print the policy catalog, or check a policy file")
    parser.add_argument("--policies", help="policy file to print (default: the bundled catalog)")
    parser.add_argument("--check", metavar="FILE", help="validate FILE and exit 0 (valid) or 2 (the errors, on stderr)")
    args = parser.parse_args(argv)
    try:
        catalog = load_catalog(args.check) if args.check else catalog_from(args.policies)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        print(f"{catalog.source}: valid policy file, policy_version {catalog.version}: {len(catalog.plans)} plans, "
              f"{len(catalog.regions)} regions, {len(catalog.calendars)} named calendars")
        return 0
    print(render(catalog))
    return 0
