"""Bad input goes to the dead-letter topic with the right reason; good events around it are unaffected."""

from __future__ import annotations

import base64
import json

import pytest

from tests.integration.kafka_helpers import (
    as_record,
    collect,
    create_topics,
    created,
    now_utc,
    produce,
    shift,
    unique_topics,
    updated,
    validate_output,
    worker_config,
)
from tests.integration.worker_harness import running_worker

pytestmark = pytest.mark.timeout(90)


async def test_rejected_inputs_are_dead_lettered_and_good_ones_flow(broker) -> None:
    names, partitions = unique_topics()
    await create_topics(broker.bootstrap, names, partitions)
    config = worker_config(broker.bootstrap, names, MONITOR_HOLD_SECONDS="2")
    start = now_utc()
    oversized = json.dumps(created("C-big", start, padding="x" * (1024 * 1024 + 10))).encode()
    wrong_type = dict(created("C-wrong", start), priority=2)
    unknown_plan = created("C-noplan", start, plan="no-such-plan")
    orphan = updated("C-orphan", start, "C-orphan-u1", agent_response=True)
    early = updated("C-early", start, "C-early-u1", agent_response=True)      # its case-created comes later
    records = [
        as_record(names.case_created, created("G-1", start)),
        (names.case_created, b"G-bad", b"{not json"),
        (names.case_created, b"C-big", oversized),
        as_record(names.case_created, wrong_type),
        as_record(names.case_created, unknown_plan),
        as_record(names.case_updated, orphan),
        as_record(names.case_updated, early),
        as_record(names.case_created, created("C-early", shift(start, -1), priority="P2")),
        as_record(names.case_created, created("G-2", start)),
    ]
    async with running_worker(config):
        await produce(broker.bootstrap, records)
        wanted = {"invalid_json", "oversized", "wrong_type", "unknown_plan", "unknown_case"}

        def done(rs) -> bool:
            reasons = {r.value.get("reason") for r in rs}
            breached = {r.value["case_id"] for r in rs if r.value.get("type") == "sla.breach"}
            return wanted <= reasons and {"G-1", "G-2"} <= breached

        out = await collect(broker.bootstrap, [names.dead_letter, names.near_breaches, names.breaches, names.status],
                            done, timeout_s=40)

    for record in out:
        validate_output(names, record)
    dead = {r.value["case_id"] or r.key.decode(): r.value for r in out if r.topic == names.dead_letter}
    assert {k: v["reason"] for k, v in dead.items()} == {
        "G-bad": "invalid_json", "C-big": "oversized", "C-wrong": "wrong_type", "C-noplan": "unknown_plan",
        "C-orphan": "unknown_case",
    }
    assert base64.b64decode(dead["G-bad"]["value_b64"]) == b"{not json"
    assert dead["G-bad"]["source_topic"] == names.case_created and dead["G-bad"]["key_b64"] == base64.b64encode(b"G-bad").decode()
    assert dead["C-big"]["value_b64"] is None and dead["C-big"]["value_size"] == len(oversized)
    assert json.loads(base64.b64decode(dead["C-noplan"]["value_b64"])) == unknown_plan
    assert json.loads(base64.b64decode(dead["C-orphan"]["value_b64"])) == orphan
    assert dead["C-orphan"]["source_topic"] == names.case_updated and dead["C-orphan"]["event_id"] == "C-orphan-u1"
    # offsets point at the original records
    created_positions = {(v["partition"], v["offset"]) for v in dead.values() if v["source_topic"] == names.case_created}
    assert len(created_positions) == 4
    assert all(0 <= partition < partitions for partition, _ in created_positions)

    sla = [r.value for r in out if r.topic != names.dead_letter]
    for case in ("G-1", "G-2"):
        assert [(e["type"], e["threshold"]) for e in sorted(sla, key=lambda e: e["at"]) if e["case_id"] == case] == [
            ("sla.near_breach", 0.5), ("sla.breach", 1.0)]
    # the update read before its case-created was held and applied: answered in time, no breach
    assert [(e["type"], e["breached"]) for e in sla if e["case_id"] == "C-early"] == [("sla.met", False)]
    assert not [r for r in out if r.topic == names.dead_letter and r.value["case_id"] == "C-early"]
