"""A changelog written in the previous state format (JSON) restores into a worker of this version."""

from __future__ import annotations

import json

import pytest

from monitor.core.events import parse_event
from monitor.stream.codec import STATE_V1, encode_state_legacy
from monitor.stream.worker import load_engine
from tests.integration.kafka_helpers import (
    collect,
    create_topics,
    created,
    now_utc,
    produce,
    unique_topics,
    worker_config,
)
from tests.integration.worker_harness import running_worker, wait_for

pytestmark = pytest.mark.timeout(90)


async def test_changelog_in_the_previous_json_format_restores_and_fires(broker) -> None:
    names, partitions = unique_topics()
    await create_topics(broker.bootstrap, names, partitions)
    config = worker_config(broker.bootstrap, names)
    engine = load_engine(config)
    start = now_utc()
    # What a worker of the previous version left in the changelog: JSON states, keyed by case_id.
    states = []
    for case_id in ("C-old-1", "C-old-2"):
        event = parse_event("case-created", json.dumps(created(case_id, start, priority="P1")).encode())
        step = engine.apply(None, event, event.occurred_at)
        assert step.state is not None
        states.append((names.changelog, case_id.encode(), encode_state_legacy(step.state)))
    assert all(value.startswith(b"{") for _, _, value in states)
    await produce(broker.bootstrap, states)

    async with running_worker(config) as worker:
        assert worker.case("C-old-1") is not None and worker.case("C-old-2") is not None
        # the restored clocks run: both breach at created + 4 s, without any input record
        records = await collect(broker.bootstrap, [names.breaches],
                                lambda rs: {r.value["case_id"] for r in rs} >= {"C-old-1", "C-old-2"}, timeout_s=30)
        assert sorted(r.value["case_id"] for r in records) == ["C-old-1", "C-old-2"]
        # and from then on the worker keeps them in the current layout
        await wait_for(lambda: all(p.cases.get(c) is None or p.cases.get(c)[0] == STATE_V1  # type: ignore[index]
                                   for p in worker.partitions.values() for c in ("C-old-1", "C-old-2")),
                       10, "states rewritten in the current layout")
