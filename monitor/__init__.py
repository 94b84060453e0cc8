"""sla-monitor: SLA breach monitoring for support cases, driven by Kafka events."""

__version__ = "0.1.0"
