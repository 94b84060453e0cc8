"""`monitor policies`: print the policy catalog as a table."""

from __future__ import annotations

import argparse
import sys

from monitor.core.policy import METRICS, Catalog, PolicyError, catalog_from


def catalog_rows(catalog: Catalog) -> list[list[str]]:
    """One row per (plan, metric, priority): calendar, target and what it is in each region."""
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
                    region for region in catalog.regions
                    if (r := catalog.rule(plan.plan_id, priority, region, metric)) and r.calendar != cell.calendar
                )
                note = f"{', '.join(overridden)}: business_hours" if overridden else ""
                window = f"{plan.reopen_window_seconds // 86400}d" if plan.reopen_window_seconds else "none"
                warnings = "/".join(f"{w:g}" for w in rule.warnings) if rule.target_seconds is not None else "-"
                rows.append([plan.plan_id, metric, priority, cell.calendar, rule.target.describe(), warnings, window, note])
    return rows


def render(catalog: Catalog) -> str:
    """The catalog as an aligned text table."""
    header = ["plan", "metric", "priority", "calendar", "target", "warnings", "reopen", "region override"]
    rows = [header, *catalog_rows(catalog)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"policy_version {catalog.version}  ({catalog.source})"]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("regions: " + "; ".join(
        f"{r.name} {r.open_at:%H:%M}-{r.close_at:%H:%M} {r.timezone} (business day {r.business_day_seconds / 3600:g} h)"
        for r in catalog.regions.values()
    ))
    aliases = [f"{a} -> {p.plan_id}" for p in catalog.plans.values() for a in p.aliases]
    if aliases:
        lines.append("aliases: " + ", ".join(aliases))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`monitor policies [--policies FILE]`."""
    parser = argparse.ArgumentParser(prog="monitor policies", description="print the policy catalog")
    parser.add_argument("--policies", help="policy file (default: the bundled catalog)")
    args = parser.parse_args(argv)
    try:
        catalog = catalog_from(args.policies)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(render(catalog))
    return 0
