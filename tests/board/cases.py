"""Building partitions of real engine states for board tests (no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from monitor.core.calendar import to_us
from monitor.core.case import Engine
from monitor.core.events import CaseCreated, format_time, parse_event
from monitor.core.policy import bundled_catalog
from monitor.stream.codec import encode_state
from monitor.stream.due_index import clock_entries
from monitor.stream.partition import PartitionState

MINUTE = 60_000_000
#: Monday 23 November 2026, 12:00 UTC (12:00 in London: EMEA business hours are open).
NOON = to_us(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))


def engine() -> Engine:
    """The engine of the bundled catalog."""
    return Engine(bundled_catalog())


def add_case(engine: Engine, part: PartitionState, case_id: str, created_us: int, now_us: int, *,
             plan: str = "adobe-online", priority: str = "P1", region: str = "emea", customer: str = "acme") -> None:
    """Create a case at created_us and fire what is due by now_us, as the worker would; file it in the partition."""
    body = {"event_id": f"{case_id}-c", "case_id": case_id, "occurred_at": format_time(created_us), "plan": plan,
            "priority": priority, "region": region, "customer_id": customer}
    event = parse_event("case-created", json.dumps(body).encode())
    assert isinstance(event, CaseCreated)
    step = engine.apply(None, event, created_us)
    assert step.state is not None
    step = engine.tick(step.state, now_us)
    assert step.state is not None
    part.store(case_id, part.cases.get(case_id), encode_state(step.state), engine.next_due(step.state),
               clock_entries(engine, step.state))
