"""Prometheus metrics of the worker: one class the stream layer calls, one registry it fills.

Names carry the `sla_` prefix and base units (seconds); counters end in `_total`. Labels are
bounded: plan, priority, region, metric and threshold come from the policy catalog, outcome is
one of `CONSUME_OUTCOMES`, reason a dead-letter reason code, partition a partition number.
Never case_id or customer. Every catalog series is created at start with value 0 so dashboards
and `rate()` work before the first event. `sla_met_total` is split by `outcome` (in_time, late) so
first-response attainment is an exact ratio: in_time / (in_time + breaches), since every clock cycle
ends either met in time or with exactly one breach. `_created` series are off (they were 16 % of
the series and nothing reads them); process and platform collectors give memory, CPU, file
descriptors and start time (restarts).

Case gauges are kept per partition: `move_case` after each engine step, `rebuild_partition`
after recovery, `forget_partition` on revoke (the new owner rebuilds from its table).
Counters never reset.

The per-record series (records consumed, SLA events emitted, the case gauges) are not touched per
record: their increments pile up in a plain dict and are applied when a batched metric is
collected (a scrape, `registry.get_sample_value`, any exposition), so every reading shows every
record counted so far. A Prometheus child's `inc` takes a lock and validates its argument (~1 µs);
the dict costs a fraction of that. The two histograms (time to first response, timer fire delay)
are `LoopHistogram`s for the same reason: an observation is a bisection and two additions, no lock.
Reading and counting happen on the event loop's thread (the worker's HTTP server is an asyncio
server on that loop).
"""

from __future__ import annotations

import math
import re
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from monitor import __version__
from monitor.contract import BREACH, MET, NEAR_BREACH, OVERDUE, REASONS
from monitor.core.case import CaseState
from monitor.core.events import TOPIC_CREATED, TOPIC_UPDATED, SlaEvent
from monitor.core.policy import Catalog
from monitor.observe.histogram import HistogramSeries, LoopHistogram
from monitor.observe.labels import LabelSpace, label_space, threshold_label

disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide: no `<name>_created` series for counters and histograms

#: Label `outcome` of sla_met_total: the clock stopped within its target, or after a breach.
MET_OUTCOMES: tuple[str, ...] = ("in_time", "late")

#: First-response histogram bounds below the catalog's shortest target (30 min), so response times
#: of the short targets are resolved, not all lumped into the first bucket.
SHORT_RESPONSE_BUCKETS: tuple[float, ...] = (60.0, 300.0, 600.0, 900.0, 1200.0)

#: What happened to a consumed input record; label `outcome` of sla_events_consumed_total.
CONSUME_OUTCOMES: tuple[str, ...] = ("applied", "duplicate", "dead_letter")

#: Dead-letter reasons pre-initialised so rate() sees the first one: the engine's rejection codes.
DEAD_LETTER_REASONS: tuple[str, ...] = REASONS

#: Emission time minus due instant, in seconds: a healthy timer fires well under a second late.
TIMER_FIRE_DELAY_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)

DEFAULT_INPUT_TOPICS: tuple[str, ...] = (TOPIC_CREATED, TOPIC_UPDATED)

_REASON_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")

#: Most label-value tuples a child cache keeps (the label space is the catalog's; this is a guard).
_CHILD_CACHE_MAX = 4096

OpenKey = tuple[str, str, str]  # (plan, priority, region)
RiskKey = tuple[str, str, str]  # (plan, priority, metric)


@dataclass(frozen=True, slots=True)
class CaseFootprint:
    """What one case adds to the case gauges: its open series and its at-risk series."""

    open_key: OpenKey | None = None
    risk_keys: tuple[RiskKey, ...] = ()


NO_FOOTPRINT = CaseFootprint()

#: (plan, priority, region, sorted at-risk metrics) -> its footprint. Label values come from the
#: catalog, so there are few; sharing one instance per key lets `move_case` compare by identity.
_FOOTPRINTS: dict[tuple[str, str, str, tuple[str, ...]], CaseFootprint] = {}
_FOOTPRINTS_MAX = 65_536


def case_footprint(state: CaseState | None) -> CaseFootprint:
    """The case's gauge contribution now; take it before `Engine.apply` (which mutates state).

    Runs up to twice a record.
    """
    if state is None:
        return NO_FOOTPRINT
    plan = state.plan
    if plan is None or not state.is_open:
        return NO_FOOTPRINT
    at_risk = state.at_risk()
    key = (plan, state.priority, state.region, tuple(sorted(at_risk)) if at_risk else ())
    footprint = _FOOTPRINTS.get(key)
    if footprint is None:
        footprint = CaseFootprint((plan, key[1], key[2]), tuple((plan, key[1], metric) for metric in key[3]))
        if len(_FOOTPRINTS) >= _FOOTPRINTS_MAX:
            _FOOTPRINTS.clear()
        _FOOTPRINTS[key] = footprint
    return footprint


class _FlushFirst:
    """A metric whose collection first applies its owner's pending increments (see the module docstring)."""

    before_collect: Callable[[], None] | None = None

    def collect(self) -> Any:
        """Apply the pending increments, then collect as usual."""
        if self.before_collect is not None:
            self.before_collect()
        return super().collect()  # type: ignore[misc]


class BatchedCounter(_FlushFirst, Counter):
    """A Counter whose owner may hold increments until the next collection."""


class BatchedGauge(_FlushFirst, Gauge):
    """A Gauge whose owner may hold increments (and decrements) until the next collection."""


class WorkerMetrics:
    """The worker's metrics in `registry`, pre-initialised from the policy catalog."""

    #: It counts cases, so the worker reports each case's footprint changes (move_case).
    tracks_cases = True

    def __init__(
        self,
        registry: CollectorRegistry,
        catalog: Catalog | LabelSpace,
        *,
        input_topics: Iterable[str] = DEFAULT_INPUT_TOPICS,
        version: str = __version__,
    ) -> None:
        labels = catalog if isinstance(catalog, LabelSpace) else label_space(catalog)
        self.registry = registry
        self.labels = labels
        self._open_by_partition: dict[int, Tally[OpenKey]] = {}
        self._risk_by_partition: dict[int, Tally[RiskKey]] = {}
        self._lag_partitions: set[int] = set()
        self._consumer_lag_series: set[tuple[str, int]] = set()
        self._newest_event_ts = 0.0
        # Label values -> child of the hot metrics: `.labels()` validates and joins its
        # arguments on every call. None of these series is ever removed, so a child stays valid.
        self._consumed_children: dict[tuple[str, str], Any] = {}
        self._dead_letter_children: dict[str, Any] = {}
        self._emitted_children: dict[tuple[str, str, str, str, Any], tuple[Any, HistogramSeries | None]] = {}
        self._open_children: dict[OpenKey, Any] = {}
        self._risk_children: dict[RiskKey, Any] = {}
        #: child of a batched metric -> increments not yet applied to it (gauges: net change).
        self._pending: dict[Any, int] = {}

        self.cases_open = BatchedGauge(
            "sla_cases_open", "Open cases owned by this worker.",
            ["plan", "priority", "region"], registry=registry,
        )
        self.cases_at_risk = BatchedGauge(
            "sla_cases_at_risk",
            "Running SLA clocks past their first warning threshold and not yet breached.",
            ["plan", "priority", "metric"], registry=registry,
        )
        self.near_breaches = BatchedCounter(
            "sla_near_breaches", "sla.near_breach events emitted.",
            ["plan", "priority", "metric", "threshold"], registry=registry,
        )
        self.breaches = BatchedCounter(
            "sla_breaches", "sla.breach events emitted.",
            ["plan", "priority", "metric"], registry=registry,
        )
        self.overdue = BatchedCounter(
            "sla_overdue", "sla.overdue events emitted: escalation levels reached by clocks still running after their breach.",
            ["plan", "priority", "metric", "overdue_seconds"], registry=registry,
        )
        self.met = BatchedCounter(
            "sla_met", "sla.met events emitted (clock stopped), by outcome: in_time or late (after a breach).",
            ["plan", "priority", "metric", "outcome"], registry=registry,
        )
        # observed once per met first response: a histogram without locks (monitor.observe.histogram)
        self.time_to_first_response = LoopHistogram(
            "sla_time_to_first_response_seconds",
            "Covered seconds from case start to first response; buckets below 30 min and at the catalog targets.",
            ["plan", "priority"], response_buckets(labels.first_response_buckets()), registry,
        )
        self.target = Gauge(
            "sla_target_seconds", "Policy target in covered seconds (timed rules only).",
            ["plan", "priority", "region", "metric"], registry=registry,
        )
        self.events_consumed = BatchedCounter(
            "sla_events_consumed", "Input records consumed, by topic and outcome.",
            ["topic", "outcome"], registry=registry,
        )
        self.dead_letters = Counter(
            "sla_dead_letters", "Records written to the dead-letter topic, by reason.",
            ["reason"], registry=registry,
        )
        self.timers_pending = Gauge(
            "sla_timers_pending", "Entries in the deadline index of the assigned partitions.",
            registry=registry,
        )
        self.timer_fire_delay = LoopHistogram(   # observed once per timer-driven event
            "sla_timer_fire_delay_seconds",
            "Emission time minus the due instant of timer-driven SLA events.",
            (), TIMER_FIRE_DELAY_BUCKETS, registry,
        )
        self._fire_delay = self.timer_fire_delay.labels()
        self.stream_time_lag = Gauge(
            "sla_stream_time_lag_seconds",
            "Wall clock minus the timestamp of the last record processed, per partition.",
            ["partition"], registry=registry,
        )
        self.consumer_lag = Gauge(
            "sla_consumer_lag_messages", "High watermark minus committed offset, per partition.",
            ["topic", "partition"], registry=registry,
        )
        self.last_event_timestamp = Gauge(
            "sla_last_event_timestamp_seconds",
            "Unix time of the newest input record consumed (0 before the first).",
            registry=registry,
        )
        self.ready = Gauge(
            "sla_worker_ready", "1 when /readyz answers ready, else 0.", registry=registry,
        )
        self.build = Info(
            "sla_build", "Worker version and policy catalog version.", registry=registry,
        )
        self.build.info({"version": version, "policy_version": labels.policy_version})
        add_runtime_collectors(registry)
        for batched in (self.cases_open, self.cases_at_risk, self.near_breaches, self.breaches, self.overdue,
                        self.met, self.events_consumed):
            batched.before_collect = self.apply_pending
        self._preinitialise(tuple(input_topics))

    def apply_pending(self) -> None:
        """Apply the increments held since the last collection to their series."""
        pending, self._pending = self._pending, {}
        for child, amount in pending.items():
            if amount:
                child.inc(amount)

    def _preinitialise(self, input_topics: tuple[str, ...]) -> None:
        space = self.labels
        for plan, priority in space.plan_priorities():
            for region in space.regions:
                self.cases_open.labels(plan, priority, region)
            if "first_response" in space.metrics_by_plan[plan]:
                self.time_to_first_response.labels(plan, priority)
        for plan, priority, metric in space.cells():
            self.cases_at_risk.labels(plan, priority, metric)
            self.breaches.labels(plan, priority, metric)
            for outcome in MET_OUTCOMES:
                self.met.labels(plan, priority, metric, outcome)
            for fraction in space.warnings.get((plan, priority, metric), ()):
                self.near_breaches.labels(plan, priority, metric, threshold_label(fraction))
            for seconds in space.escalations.get((plan, priority, metric), ()):
                self.overdue.labels(plan, priority, metric, str(seconds))
        for (plan, priority, region, metric), seconds in space.targets.items():
            self.target.labels(plan, priority, region, metric).set(seconds)
        for topic in input_topics:
            for outcome in CONSUME_OUTCOMES:
                self.events_consumed.labels(topic, outcome)
        for reason in DEAD_LETTER_REASONS:
            self.dead_letters.labels(reason)

    # -- input ---------------------------------------------------------------------------

    def on_consumed(self, topic: str, outcome: str, count: int = 1) -> None:
        """Count `count` input records of one outcome (one of CONSUME_OUTCOMES)."""
        if count < 0:
            raise ValueError("a record count cannot be negative")
        child = self._consumed_children.get((topic, outcome))
        if child is None:
            if outcome not in CONSUME_OUTCOMES:
                raise ValueError(f"outcome {outcome!r} is not one of {CONSUME_OUTCOMES}")
            child = self._consumed_children[(topic, outcome)] = self.events_consumed.labels(topic, outcome)
        pending = self._pending
        pending[child] = pending.get(child, 0) + count

    def on_dead_letter(self, reason: str) -> None:
        """Count one record sent to the dead-letter topic (non-code reasons count as `other`)."""
        child = self._dead_letter_children.get(reason)
        if child is None:
            child = self.dead_letters.labels(reason if _REASON_CODE.fullmatch(reason) else "other")
            if len(self._dead_letter_children) < _CHILD_CACHE_MAX:   # reasons outside the code set are unbounded
                self._dead_letter_children[reason] = child
        child.inc()

    def set_last_event_timestamp(self, ts: float) -> None:
        """Record the Unix time of a consumed record; the gauge keeps the newest seen."""
        if ts > self._newest_event_ts:
            self._newest_event_ts = ts
            self.last_event_timestamp.set(ts)

    # -- output --------------------------------------------------------------------------

    def on_emitted(self, event: SlaEvent) -> None:
        """Count one emitted SLA event; a met first_response feeds TTFR."""
        kind = event.type
        threshold: Any
        if kind == NEAR_BREACH:
            threshold = event.threshold
        elif kind == MET:
            threshold = MET_OUTCOMES[1] if event.breached else MET_OUTCOMES[0]
        elif kind == BREACH:
            threshold = None
        elif kind == OVERDUE:
            threshold = event.overdue_seconds
        else:
            raise ValueError(f"not an SLA event type: {kind!r}")
        key = (kind, event.plan, event.priority, event.metric, threshold)
        children = self._emitted_children.get(key)
        if children is None:
            children = self._emitted_children_for(*key)
            if len(self._emitted_children) < _CHILD_CACHE_MAX:
                self._emitted_children[key] = children
        counter, ttfr = children
        pending = self._pending
        pending[counter] = pending.get(counter, 0) + 1
        if ttfr is not None:
            elapsed = event.elapsed_seconds
            if elapsed is not None:
                ttfr.observe(float(elapsed))

    def _emitted_children_for(self, kind: str, plan: str, priority: str, metric: str,
                              threshold: Any) -> tuple[Any, HistogramSeries | None]:
        """(counter child, TTFR histogram child or None) that count an emitted event."""
        if kind == NEAR_BREACH:
            return self.near_breaches.labels(plan, priority, metric, threshold_label(threshold)), None
        if kind == BREACH:
            return self.breaches.labels(plan, priority, metric), None
        if kind == OVERDUE:
            return self.overdue.labels(plan, priority, metric, str(threshold)), None
        ttfr = self.time_to_first_response.labels(plan, priority) if metric == "first_response" else None
        return self.met.labels(plan, priority, metric, threshold), ttfr

    def on_fire_delay(self, seconds: float) -> None:
        """Observe how late a timer fired (emission minus due instant; early counts as 0)."""
        self._fire_delay.observe(max(0.0, seconds))

    # -- timers and partitions -----------------------------------------------------------

    def set_timers_pending(self, n: int) -> None:
        """Set the number of deadline-index entries across assigned partitions."""
        self.timers_pending.set(n)

    def set_stream_lag(self, partition: int, seconds: float) -> None:
        """Set wall clock minus the last processed record's timestamp for a partition."""
        self._lag_partitions.add(partition)
        self.stream_time_lag.labels(str(partition)).set(max(0.0, seconds))

    def set_consumer_lag(self, topic: str, partition: int, messages: int) -> None:
        """Set high watermark minus committed offset for one topic partition."""
        self._consumer_lag_series.add((topic, partition))
        self.consumer_lag.labels(topic, str(partition)).set(max(0, messages))

    def set_ready(self, ready: bool) -> None:
        """Mirror the readiness verdict into sla_worker_ready."""
        self.ready.set(1 if ready else 0)

    # -- case gauges ---------------------------------------------------------------------

    def move_case(self, partition: int, before: CaseFootprint, after: CaseFootprint) -> None:
        """Move one case's contribution to the case gauges (footprints from `case_footprint`)."""
        if before is after or (before.open_key == after.open_key and before.risk_keys == after.risk_keys):
            return   # (the fields compared directly: a dataclass __eq__ builds two tuples per call)
        open_tally = self._open_by_partition.get(partition)
        if open_tally is None:
            open_tally = self._open_by_partition[partition] = Tally()
        risk_tally = self._risk_by_partition.get(partition)
        if risk_tally is None:
            risk_tally = self._risk_by_partition[partition] = Tally()
        pending = self._pending
        if before.open_key is not None and open_tally[before.open_key] > 0:
            open_tally[before.open_key] -= 1
            child = self._open_child(before.open_key)
            pending[child] = pending.get(child, 0) - 1
        if after.open_key is not None:
            open_tally[after.open_key] += 1
            child = self._open_child(after.open_key)
            pending[child] = pending.get(child, 0) + 1
        for key in before.risk_keys:
            if risk_tally[key] > 0:
                risk_tally[key] -= 1
                child = self._risk_child(key)
                pending[child] = pending.get(child, 0) - 1
        for key in after.risk_keys:
            risk_tally[key] += 1
            child = self._risk_child(key)
            pending[child] = pending.get(child, 0) + 1

    def _open_child(self, key: OpenKey) -> Any:
        child = self._open_children.get(key)
        if child is None:
            child = self._open_children[key] = self.cases_open.labels(*key)
        return child

    def _risk_child(self, key: RiskKey) -> Any:
        child = self._risk_children.get(key)
        if child is None:
            child = self._risk_children[key] = self.cases_at_risk.labels(*key)
        return child

    def rebuild_partition(self, partition: int, states: Iterable[CaseState]) -> None:
        """Recount a partition's case gauges from its table (after assignment and recovery)."""
        open_counts: Tally[OpenKey] = Tally()
        risk_counts: Tally[RiskKey] = Tally()
        for state in states:
            footprint = case_footprint(state)
            if footprint.open_key is not None:
                open_counts[footprint.open_key] += 1
            risk_counts.update(footprint.risk_keys)
        self._replace(self._open_by_partition, self.cases_open, partition, open_counts)
        self._replace(self._risk_by_partition, self.cases_at_risk, partition, risk_counts)

    def forget_partition(self, partition: int) -> None:
        """Drop a revoked partition: its cases leave the gauges, its lag series go."""
        self._replace(self._open_by_partition, self.cases_open, partition, {})
        self._replace(self._risk_by_partition, self.cases_at_risk, partition, {})
        self._open_by_partition.pop(partition, None)
        self._risk_by_partition.pop(partition, None)
        if partition in self._lag_partitions:
            self._lag_partitions.discard(partition)
            self.stream_time_lag.remove(str(partition))
        for topic, p in [s for s in self._consumer_lag_series if s[1] == partition]:
            self._consumer_lag_series.discard((topic, p))
            self.consumer_lag.remove(topic, str(p))

    @staticmethod
    def _replace(
        by_partition: dict[int, Tally[tuple[str, str, str]]],
        gauge: Gauge,
        partition: int,
        counts: Mapping[tuple[str, str, str], int],
    ) -> None:
        old = by_partition.get(partition, Tally())
        new = Tally({key: n for key, n in counts.items() if n > 0})
        for key in old.keys() | new.keys():
            delta = new[key] - old[key]
            if delta:
                gauge.labels(*key).inc(delta)
        by_partition[partition] = new


def response_buckets(targets: Iterable[float]) -> tuple[float, ...]:
    """Histogram bounds: the short fixed bounds plus every catalog target, ascending."""
    return tuple(sorted(set(SHORT_RESPONSE_BUCKETS) | {float(t) for t in targets})) or (math.inf,)


def add_runtime_collectors(registry: CollectorRegistry) -> None:
    """process_* (memory, CPU, fds, start time) and python_info; the default registry has them already."""
    if registry is not REGISTRY:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)


_SUFFIXES_BY_TYPE: dict[str, tuple[str, ...]] = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count"),
    "info": ("_info",),
    "gauge": ("",),
}


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name `registry` can expose, including series not yet created."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES_BY_TYPE.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names
