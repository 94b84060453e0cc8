"""Escalation levels through the real worker: sla.overdue on sla-breaches, after the breach, once per level."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from monitor.core.events import event_id_for
from tests.integration.kafka_helpers import (
    as_record,
    collect,
    create_topics,
    created,
    load_schema,
    load_specs,
    now_utc,
    produce,
    seconds_between,
    shift,
    unique_topics,
    updated,
    worker_config,
)
from tests.integration.worker_harness import running_worker

pytestmark = pytest.mark.timeout(90)

POLICY = """
version = "test-overdue.1"

[regions.emea]
timezone = "Europe/London"
open = "09:00"
close = "17:00"

[plans.fast]
priorities = ["P1", "P2"]

[plans.fast.first_response]
P1 = { calendar = "24x7", target = "2s", warnings = ["-1s"], escalations = ["+2s", "+4s"] }
P2 = { calendar = "24x7", target = "2s", warnings = [], escalations = ["+2s", "+6s"] }
"""


async def test_overdue_levels_fire_on_the_breach_topic_until_the_response(broker, tmp_path: Path) -> None:
    policy = tmp_path / "overdue.toml"
    policy.write_text(POLICY)
    names, partitions = unique_topics()
    await create_topics(broker.bootstrap, names, partitions)
    config = worker_config(broker.bootstrap, names, MONITOR_POLICIES=str(policy))
    async with running_worker(config):
        start = now_utc()
        # C-open is never answered: -1s warning at 1 s, breach at 2 s, +2s at 4 s, +4s at 6 s.
        # C-answered is answered at 5 s: breach at 2 s, +2s at 4 s, and +6s (8 s) never fires.
        opened_case = created("C-open", start, priority="P1")
        await produce(broker.bootstrap, [
            as_record(names.case_created, opened_case),
            as_record(names.case_created, created("C-answered", start, priority="P2")),
            as_record(names.case_updated, updated("C-answered", shift(start, 5), "C-answered-r", agent_response=True)),
        ])
        outputs = [names.near_breaches, names.breaches, names.status]
        records = await collect(broker.bootstrap, outputs, lambda rs: sum(r.value["type"] == "sla.overdue" for r in rs) >= 3,
                                timeout_s=30)
        # let the unfired +6s level pass (8 s after the start): nothing more may come
        records = await collect(broker.bootstrap, outputs, lambda rs: False,
                                timeout_s=max(0.0, 9.0 - (now_utc() - start).total_seconds()))

    schemas = {spec.name: load_schema(spec) for spec in load_specs(names.by_role()) if spec.name in outputs}
    by_case: dict[str, list[tuple[str, dict]]] = {}
    for record in records:
        jsonschema.Draft202012Validator(schemas[record.topic]).validate(record.value)
        assert record.headers["event_id"] == record.value["event_id"].encode()
        by_case.setdefault(record.value["case_id"], []).append((record.topic, record.value))

    opened = sorted(by_case["C-open"], key=lambda item: item[1]["at"])
    assert [(topic, e["type"], e.get("offset"), e.get("overdue_seconds")) for topic, e in opened] == [
        (names.near_breaches, "sla.near_breach", "-1s", None),
        (names.breaches, "sla.breach", None, None),
        (names.breaches, "sla.overdue", "+2s", 2),
        (names.breaches, "sla.overdue", "+4s", 4),
    ]
    assert [seconds_between(opened_case["occurred_at"], e["at"]) for _, e in opened] == [1.0, 2.0, 4.0, 6.0]
    assert opened[2][1]["event_id"] == event_id_for("C-open", "first_response", 1, 2.0)

    answered = [(e["type"], e.get("overdue_seconds")) for _, e in sorted(by_case["C-answered"], key=lambda item: item[1]["at"])]
    assert answered == [("sla.breach", None), ("sla.overdue", 2), ("sla.met", None)]
