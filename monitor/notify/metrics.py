"""Prometheus metrics of the notifier, in their own registry (served on /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor.observe.metrics import add_runtime_collectors

#: sla_notifications_total outcomes
OUTCOME_DELIVERED = "delivered"
OUTCOME_DIGESTED = "digested"
OUTCOME_DEAD_LETTERED = "dead_lettered"
OUTCOME_DUPLICATE = "duplicate"
OUTCOME_UNRESOLVED = "unresolved_contact"

DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class NotifyMetrics:
    """The notifier's counters and histograms; one instance per process (or per test)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.notifications = Counter(
            "sla_notifications_total", "Notifications by channel and final outcome "
            "(delivered, digested, dead_lettered, duplicate, unresolved_contact).",
            ["channel", "outcome"], registry=self.registry)
        self.delivery_seconds = Histogram(
            "sla_notification_delivery_seconds", "Seconds from taking the event off Kafka to the target accepting it "
            "(includes retries and digest waiting).", ["channel"], buckets=DELIVERY_BUCKETS, registry=self.registry)
        self.retries = Counter("sla_notification_retries_total", "Delivery attempts that were retried.", ["channel"],
                               registry=self.registry)
        self.dead_letters = Counter(
            "sla_notification_dead_letters_total", "Events sent to the notify dead-letter topic, by channel "
            "(channel=\"-\" for unreadable input).", ["channel"], registry=self.registry)
        self.in_flight = Gauge("sla_notify_in_flight_messages", "Input messages taken but not yet committable.", registry=self.registry)
        self.ledger_records = Gauge("sla_notify_ledger_records", "Delivery records known (loaded + written).", registry=self.registry)
        self.consumer_lag = Gauge("sla_notify_consumer_lag_messages", "High watermark minus the notifier's position, per input partition.",
                                  ["topic", "partition"], registry=self.registry)
        self._lag_series: set[tuple[str, str]] = set()
        add_runtime_collectors(self.registry)

    def set_consumer_lag(self, lags: dict[tuple[str, int], int]) -> None:
        """Replace the per-partition lag series with `lags` ((topic, partition) -> messages); revoked ones go."""
        current = {(topic, str(partition)) for topic, partition in lags}
        for gone in self._lag_series - current:
            self.consumer_lag.remove(*gone)
        for (topic, partition), messages in lags.items():
            self.consumer_lag.labels(topic, str(partition)).set(max(0, messages))
        self._lag_series = current
