"""The bounded label space of the worker's metrics, read once from the policy catalog.

Metrics only ever carry label values from this space (plus code-defined outcomes and
dead-letter reasons), so every series can be created at start with value 0 and the number of
series is known before the first event arrives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from monitor.core.policy import Catalog

CellKey = tuple[str, str, str]  # (plan, priority, metric)
TargetKey = tuple[str, str, str, str]  # (plan, priority, region, metric)


@dataclass(frozen=True)
class LabelSpace:
    """Plans with their priorities and metrics, regions, warning fractions, timed targets."""

    priorities_by_plan: dict[str, tuple[str, ...]]
    metrics_by_plan: dict[str, tuple[str, ...]]
    regions: tuple[str, ...]
    policy_version: str
    #: (plan, priority, metric) -> warning fractions of its timed rules (union over regions).
    warnings: dict[CellKey, tuple[float, ...]]
    #: (plan, priority, region, metric) -> target in covered seconds; untimed targets absent.
    targets: dict[TargetKey, int]
    #: (plan, priority, metric) -> escalation levels in covered seconds after due (union over regions).
    escalations: dict[CellKey, tuple[int, ...]] = field(default_factory=dict)

    def plan_priorities(self) -> Iterator[tuple[str, str]]:
        """Every (plan, priority) pair in catalog order."""
        for plan, priorities in self.priorities_by_plan.items():
            for priority in priorities:
                yield plan, priority

    def cells(self) -> Iterator[CellKey]:
        """Every (plan, priority, metric) the catalog defines, in catalog order."""
        for plan, priority in self.plan_priorities():
            for metric in self.metrics_by_plan[plan]:
                yield plan, priority, metric

    def first_response_buckets(self) -> tuple[float, ...]:
        """Distinct first-response targets, ascending: the TTFR histogram's bucket bounds."""
        return tuple(
            sorted({float(t) for (_, _, _, metric), t in self.targets.items() if metric == "first_response"})
        )


def threshold_label(threshold: float) -> str:
    """The `threshold` label value of a warning fraction: 0.75 -> "0.75", 0.9 -> "0.9"."""
    return format(float(threshold), "g")


def label_space(catalog: Catalog) -> LabelSpace:
    """Read the label space from a policy catalog."""
    regions = tuple(catalog.regions)
    warnings: dict[CellKey, set[float]] = {}
    escalations: dict[CellKey, set[int]] = {}
    targets: dict[TargetKey, int] = {}
    for plan_id, plan in catalog.plans.items():
        for priority in plan.priorities:
            for metric in catalog.metrics(plan_id):
                for region in regions:
                    rule = catalog.rule(plan_id, priority, region, metric)
                    if rule is None or rule.target_seconds is None:
                        continue
                    targets[(plan_id, priority, region, metric)] = rule.target_seconds
                    warnings.setdefault((plan_id, priority, metric), set()).update(rule.warnings)
                    levels = {level.offset_seconds for level in rule.escalations if level.offset_seconds is not None}
                    if levels:
                        escalations.setdefault((plan_id, priority, metric), set()).update(levels)
    return LabelSpace(
        priorities_by_plan={p: plan.priorities for p, plan in catalog.plans.items()},
        metrics_by_plan={p: catalog.metrics(p) for p in catalog.plans},
        regions=regions,
        policy_version=catalog.version,
        warnings={key: tuple(sorted(fractions)) for key, fractions in warnings.items()},
        targets=targets,
        escalations={key: tuple(sorted(levels)) for key, levels in escalations.items()},
    )
