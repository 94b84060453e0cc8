"""The seam between the worker and its metrics: what the worker reports, and a no-op default.

`monitor.observe.metrics.WorkerMetrics` implements this protocol; the worker calls only these
methods, so anything else (a test recorder, a log-only observer) can stand in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from monitor.core.case import CaseState
from monitor.core.events import SlaEvent


class WorkerObserver(Protocol):
    """What the worker tells the outside world about its work."""

    #: Whether the observer counts cases (open/breached gauges): only then does the worker compute
    #: each case's footprint before and after a step and call `move_case`, which costs time per record.
    tracks_cases: bool

    def move_case(self, partition: int, before: Any, after: Any) -> None:
        """One case's footprint (`monitor.observe.metrics.case_footprint`) changed from `before` to `after`."""

    def on_consumed(self, topic: str, outcome: str, count: int = 1) -> None:
        """`count` input records handled with one outcome: applied | duplicate | dead_letter."""

    def on_dead_letter(self, reason: str) -> None:
        """One record written to the dead-letter topic."""

    def on_emitted(self, event: SlaEvent) -> None:
        """One SLA event emitted (encoded and queued for its output topic)."""

    def on_fire_delay(self, seconds: float) -> None:
        """A timer-driven event was emitted this long after its crossing instant."""

    def set_timers_pending(self, n: int) -> None:
        """Entries in the deadline indexes of all assigned partitions."""

    def set_stream_lag(self, partition: int, seconds: float) -> None:
        """Wall clock minus the partition's stream time."""

    def set_consumer_lag(self, topic: str, partition: int, messages: int) -> None:
        """High watermark minus committed offset of one input partition."""

    def set_last_event_timestamp(self, ts: float) -> None:
        """Unix time of the newest input record consumed."""

    def rebuild_partition(self, partition: int, states: Iterable[CaseState]) -> None:
        """A partition was assigned and recovered: recount its cases."""

    def forget_partition(self, partition: int) -> None:
        """A partition was revoked."""


class NullObserver:
    """Reports nothing (the default when metrics are off)."""

    tracks_cases = False

    def move_case(self, partition: int, before: Any, after: Any) -> None:
        """Ignore."""

    def on_consumed(self, topic: str, outcome: str, count: int = 1) -> None:
        """Ignore."""

    def on_dead_letter(self, reason: str) -> None:
        """Ignore."""

    def on_emitted(self, event: SlaEvent) -> None:
        """Ignore."""

    def on_fire_delay(self, seconds: float) -> None:
        """Ignore."""

    def set_timers_pending(self, n: int) -> None:
        """Ignore."""

    def set_stream_lag(self, partition: int, seconds: float) -> None:
        """Ignore."""

    def set_consumer_lag(self, topic: str, partition: int, messages: int) -> None:
        """Ignore."""

    def set_last_event_timestamp(self, ts: float) -> None:
        """Ignore."""

    def rebuild_partition(self, partition: int, states: Iterable[CaseState]) -> None:
        """Ignore."""

    def forget_partition(self, partition: int) -> None:
        """Ignore."""
