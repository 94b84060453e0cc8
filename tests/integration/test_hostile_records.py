"""Records that used to crash the worker or bend its clock, against a real worker on tansu.

Each record becomes a dead letter with its reason and original bytes; the worker keeps running;
valid cases around them are tracked; a record dated years ahead never moves stream time.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.integration.kafka_helpers import (
    as_record,
    collect,
    create_topics,
    created,
    iso,
    now_utc,
    produce,
    shift,
    unique_topics,
    updated,
    validate_output,
    worker_config,
)
from tests.integration.test_backlog_replay import history
from tests.integration.worker_harness import running_worker, wait_for

pytestmark = pytest.mark.timeout(120)


def _raw(body: dict) -> bytes:
    return json.dumps(body).encode()


async def test_records_that_used_to_raise_are_dead_lettered_and_the_worker_goes_on(broker) -> None:
    names, partitions = unique_topics(partitions=1)
    await create_topics(broker.bootstrap, names, partitions)
    config = worker_config(broker.bootstrap, names)
    start = now_utc()
    hostile = {
        "H-deep": b"[" * 100_000 + b"]" * 100_000,
        "H-digits": b'{"event_id": ' + b"7" * 5000 + b', "case_id": "H-digits"}',
        "H-surrogate-case": _raw(created("H-sur\ud800", start)),
        "H-surrogate-customer": _raw(created("H-surrogate-customer", start, customer_id="acme\udfff")),
        "H-zone-dir": _raw(created("H-zone-dir", start, timezone="Europe")),
        "H-zone-long": _raw(created("H-zone-long", start, timezone="Z" * 300)),
        "H-year-9999": _raw(created("H-year-9999", start.replace(year=9999))),
    }
    records = [as_record(names.case_created, created("G-1", start))]
    records += [(names.case_created, key.encode(), value) for key, value in hostile.items()]
    records += [as_record(names.case_created, created("G-2", start))]
    async with running_worker(config) as worker:
        await produce(broker.bootstrap, records)

        def done(rs) -> bool:
            dead = {r.key for r in rs if r.topic == names.dead_letter}
            breached = {r.value["case_id"] for r in rs if r.value.get("type") == "sla.breach"}
            return len(dead) == len(hostile) and {"G-1", "G-2"} <= breached

        out = await collect(broker.bootstrap, [names.dead_letter, names.breaches], done, timeout_s=40)
        await wait_for(lambda: worker.partitions[0].committed.get(names.case_created) == len(records), 20,
                       "the commit of every record")
    for record in out:
        validate_output(names, record)
    dead = {r.key.decode(): r.value for r in out if r.topic == names.dead_letter}
    assert {key: letter["reason"] for key, letter in dead.items()} == {
        "H-deep": "invalid_json", "H-digits": "invalid_json", "H-surrogate-case": "bad_value",
        "H-surrogate-customer": "bad_value", "H-zone-dir": "unknown_timezone", "H-zone-long": "unknown_timezone",
        "H-year-9999": "bad_timestamp",
    }
    for key, letter in dead.items():
        if letter["value_b64"] is not None:
            assert base64.b64decode(letter["value_b64"]) == hostile[key]
        else:   # the deep one is over the size limit for a copy
            assert letter["value_size"] == len(hostile[key])
    # the committed offset covers every record, and each has its outcome on a topic
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=config.group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        assert await consumer.committed(TopicPartition(names.case_created, 0)) == len(records)
    finally:
        await consumer.stop()


async def test_one_update_from_the_future_does_not_turn_off_replay_safety(broker) -> None:
    """A +10-year update at the head of a backlog: dead-lettered, and no answered case breaches."""
    names, partitions = unique_topics(partitions=1)
    await create_topics(broker.bootstrap, names, partitions)
    start = now_utc() - timedelta(hours=1)
    items = history(start, 160)
    future = updated("quick-0", shift(now_utc(), 10 * 365 * 86400), "from-the-future", agent_response=True)
    assert future["occurred_at"] > iso(now_utc())
    records = [as_record(names.case_updated, future)]
    records += [as_record(getattr(names, role), body) for role, body in items]
    await produce(broker.bootstrap, records)
    late = {body["case_id"] for role, body in items if role == "case_created" and body["case_id"].split("-")[0] in ("late", "silent")}
    config = worker_config(broker.bootstrap, names, MONITOR_MAX_BATCH_RECORDS="7", MONITOR_TICK_SECONDS="0.01")
    async with running_worker(config):
        out = await collect(
            broker.bootstrap, [names.breaches, names.dead_letter],
            lambda rs: late <= {r.value["case_id"] for r in rs if r.topic == names.breaches}
            and any(r.topic == names.dead_letter for r in rs), timeout_s=60)
    false = {r.value["case_id"] for r in out if r.topic == names.breaches} - late
    assert not false, f"false breaches: {sorted(false)}"
    [letter] = [r.value for r in out if r.topic == names.dead_letter]
    assert letter["reason"] == "future_timestamp" and letter["event_id"] == "from-the-future"
