"""Build SLA events (topics/schemas/sla-event.json shape) for notifier tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

from monitor.notify.events import SlaNotice, parse_notice

_NAMESPACE = uuid.UUID("6f1c1c3e-8a3d-4a59-9a53-0d2f1c1b5e01")


def event_dict(**overrides: Any) -> dict[str, Any]:
    """A valid sla.near_breach event at 75%; override any field; event_id follows the contract's recipe."""
    event: dict[str, Any] = {
        "type": "sla.near_breach",
        "case_id": "C-1",
        "customer_id": "acme",
        "metric": "first_response",
        "cycle": 1,
        "threshold": 0.75,
        "plan": "adobe-enterprise",
        "priority": "P2",
        "region": "emea",
        "calendar": "24x7",
        "target_seconds": 3600,
        "started_at": "2026-11-26T09:00:00Z",
        "due_at": "2026-11-26T10:00:00Z",
        "at": "2026-11-26T09:45:00Z",
        "emitted_at": "2026-11-26T09:45:00.250Z",
        "policy_version": "2026-11-26.1",
    }
    event.update(overrides)
    if event["type"] == "sla.breach" and "threshold" not in overrides:
        event["threshold"] = 1.0
    if event["type"] == "sla.met":
        event.setdefault("breached", False)
        event.setdefault("elapsed_seconds", 1800.0)
        if "threshold" not in overrides:
            event["threshold"] = None
    if "event_id" not in overrides:
        tail = "met" if event["type"] == "sla.met" else str(event["threshold"])
        name = f"{event['case_id']}/{event['metric']}/{event['cycle']}/{tail}"
        event["event_id"] = str(uuid.uuid5(_NAMESPACE, name))
    return event


def notice(**overrides: Any) -> SlaNotice:
    """A parsed SlaNotice built from event_dict(**overrides)."""
    return parse_notice(json.dumps(event_dict(**overrides)).encode())
