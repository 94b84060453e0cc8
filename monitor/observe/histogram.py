"""A labelled Prometheus histogram observed without a lock, for a value counted once per SLA event.

prometheus_client's `Histogram.observe` takes a lock for the sum and another for the bucket and
walks the bounds in Python (~1.8 µs). The worker observes and is scraped on the event loop's
thread only (see monitor.observe.metrics), so a series here is two plain lists and a float:
`observe` is a bisection and two additions. Collection exposes exactly what a `Histogram` with
the same name, labels and bounds exposes after the same observations (a property test holds the
two together): cumulative `_bucket` samples per `le`, then `_count` and `_sum`.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString  # how Histogram writes `le`: the same text, or the series differ


class HistogramSeries:
    """One label set of a `LoopHistogram`: observation counts per bucket (not cumulative) and their sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        """Count `amount` in the first bucket whose bound is at least it (NaN: in none, as Histogram does)."""
        self.sum += amount
        i = bisect_left(self.bounds, amount)
        if i < len(self.bounds) and amount <= self.bounds[i]:
            self.counts[i] += 1


class LoopHistogram(Collector):
    """A histogram with labels whose series are observed and collected on one thread (the event loop's)."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float],
                 registry: CollectorRegistry) -> None:
        bounds = [float(bound) for bound in buckets]
        if bounds != sorted(bounds):
            raise ValueError("histogram bounds must be in ascending order")
        if bounds and bounds[0] < 0:   # Histogram then leaves out _sum only, the family both _sum and _count
            raise ValueError("histogram bounds must not be negative")
        if not bounds or bounds[-1] != math.inf:
            bounds.append(math.inf)
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(bounds)
        self._le: tuple[str, ...] = tuple(floatToGoString(bound) for bound in bounds)  # type: ignore[no-untyped-call]
        self._series: dict[tuple[str, ...], HistogramSeries] = {}
        registry.register(self)

    def labels(self, *values: str) -> HistogramSeries:
        """The series of these label values (created, at zero, on first use)."""
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes {len(self.labelnames)} label values, got {len(values)}")
        key = tuple(str(value) for value in values)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = HistogramSeries(self.bounds)
        return series

    def describe(self) -> Iterator[Metric]:
        """The family without samples: lets the registry know the names it exposes."""
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        """Every series: cumulative bucket counts, count and sum, as prometheus_client's Histogram has them."""
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, series in self._series.items():
            total = 0.0
            buckets = []
            for le, count in zip(self._le, series.counts, strict=True):
                total += count
                buckets.append((le, total))
            family.add_metric(values, buckets, series.sum)
        yield family
