"""Created -> near-breach and breach at the right instants; a response in time -> only met."""

from __future__ import annotations

import pytest

from tests.integration.kafka_helpers import (
    as_record,
    collect,
    create_topics,
    created,
    now_utc,
    produce,
    seconds_between,
    shift,
    unique_topics,
    updated,
    validate_output,
    worker_config,
)
from tests.integration.worker_harness import running_worker

pytestmark = pytest.mark.timeout(90)


async def test_created_case_near_breaches_then_breaches_on_time(broker) -> None:
    names, partitions = unique_topics()
    await create_topics(broker.bootstrap, names, partitions)
    config = worker_config(broker.bootstrap, names)
    async with running_worker(config):
        start = now_utc()
        late = created("C-late", start, priority="P1")                      # 4 s target, warning at 50 %
        answered = created("C-answered", start, priority="P2")             # 8 s target
        response = updated("C-answered", shift(start, 1), "C-answered-r1", agent_response=True)
        await produce(broker.bootstrap, [as_record(names.case_created, late),
                                         as_record(names.case_created, answered),
                                         as_record(names.case_updated, response)])
        outputs = [names.near_breaches, names.breaches, names.status]
        records = await collect(broker.bootstrap, outputs,
                                lambda rs: any(r.value["type"] == "sla.breach" for r in rs), timeout_s=30)
        # let a full P2 target pass: nothing may fire for the answered case
        records = await collect(broker.bootstrap, outputs, lambda rs: False, timeout_s=max(0.0, 9.5 - (now_utc() - start).total_seconds()))

    by_case: dict[str, list] = {}
    for record in records:
        validate_output(names, record)
        by_case.setdefault(record.value["case_id"], []).append(record.value)

    late_events = sorted(by_case["C-late"], key=lambda e: e["at"])
    assert [(e["type"], e["threshold"]) for e in late_events] == [("sla.near_breach", 0.5), ("sla.breach", 1.0)]
    assert seconds_between(late["occurred_at"], late_events[0]["at"]) == 2.0
    assert seconds_between(late["occurred_at"], late_events[1]["at"]) == 4.0
    assert late_events[1]["due_at"] == late_events[1]["at"]

    answered_events = by_case["C-answered"]
    assert [(e["type"], e["metric"], e["breached"]) for e in answered_events] == [("sla.met", "first_response", False)]
    assert answered_events[0]["at"] == response["occurred_at"]
