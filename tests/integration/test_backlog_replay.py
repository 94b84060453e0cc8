"""A backlog replayed after an outage yields the breaches of a live run, and no false ones.

An hour of history (cases created in the past, some answered in time, some late, some never)
is written while no worker runs. The worker then reads it in small batches, ticking between
them with the wall clock an hour ahead of the records: only the stream-time rule keeps it
from breaching cases whose in-time response it has not read yet.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.core.case import Engine
from monitor.core.events import parse_event
from monitor.core.policy import load_catalog
from tests.integration.kafka_helpers import (
    FAST_POLICIES,
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

pytestmark = pytest.mark.timeout(120)

#: response delay (seconds after creation; None = never) by case kind; P1 target 4 s, warning at 2 s
RESPONSES = {"quick": 1.0, "warned": 3.0, "late": 5.0, "silent": None}


def history(start, count: int) -> list[tuple[str, dict]]:
    """(topic role, body) of `count` cases created 4 s apart from `start`, in occurred_at order."""
    items = []
    kinds = list(RESPONSES)
    for i in range(count):
        kind = kinds[i % len(kinds)]
        case = f"{kind}-{i}"
        at = shift(start, 4 * i)
        items.append(("case_created", created(case, at)))
        if RESPONSES[kind] is not None:
            items.append(("case_updated", updated(case, shift(at, RESPONSES[kind]), f"{case}-r", agent_response=True)))
    items.sort(key=lambda item: item[1]["occurred_at"])
    return items


def live_run(items: list[tuple[str, dict]], end) -> set[tuple[str, str]]:
    """What a live worker emits: the engine fed in time order, ticked up to each event and to `end`."""
    engine = Engine(load_catalog(FAST_POLICIES))
    topic = {"case_created": "case-created", "case_updated": "case-updated"}
    states: dict = {}
    out: set[tuple[str, str]] = set()

    def tick(until_us: int) -> None:
        for case_id, state in list(states.items()):
            step = engine.tick(state, until_us)
            states[case_id] = step.state
            out.update((e.type, e.event_id) for e in step.emitted)

    import json
    for role, body in items:
        event = parse_event(topic[role], json.dumps(body).encode())
        tick(event.occurred_at - 1)   # everything due strictly before the event, as a live tick would
        step = engine.apply(states.get(event.case_id), event, event.occurred_at)
        states[event.case_id] = step.state
        out.update((e.type, e.event_id) for e in step.emitted)
    tick(int(end.timestamp() * 1_000_000))
    return out


STORES = ["memory"]
try:
    import rocksdict  # noqa: F401
    STORES.append("rocksdb")
except ImportError:  # optional extra
    pass


@pytest.mark.parametrize("store", STORES)
async def test_backlog_replay_matches_live_run(broker, store: str, tmp_path) -> None:
    names, partitions = unique_topics(partitions=3)
    await create_topics(broker.bootstrap, names, partitions)
    start = now_utc() - timedelta(hours=1)
    items = history(start, 400)
    await produce(broker.bootstrap, [as_record(getattr(names, role), body) for role, body in items])
    expected = live_run(items, now_utc())
    expected_breaches = {event_id for kind, event_id in expected if kind == "sla.breach"}
    assert len(expected_breaches) == 200   # the late and silent halves

    config = worker_config(broker.bootstrap, names, MONITOR_MAX_BATCH_RECORDS="7", MONITOR_TICK_SECONDS="0.01",
                           MONITOR_TABLE_STORE=store, MONITOR_STATE_DIR=str(tmp_path / "state"))
    async with running_worker(config):
        records = await collect(
            broker.bootstrap, [names.near_breaches, names.breaches, names.status],
            lambda rs: len({r.value["event_id"] for r in rs}) >= len(expected), timeout_s=60)

    for record in records:
        validate_output(names, record)
    got = {(r.value["type"], r.value["event_id"]) for r in records}
    false = {r.value["case_id"] for r in records if r.value["type"] == "sla.breach"
             and r.value["case_id"].split("-")[0] in ("quick", "warned")}
    assert not false, f"false breaches during replay: {sorted(false)[:10]}"
    assert got == expected
