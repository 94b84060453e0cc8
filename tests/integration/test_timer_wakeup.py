"""Timers fire at their due instant: the loop sleeps until the earliest one, not until the next tick."""

from __future__ import annotations

from datetime import datetime

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
    worker_config,
)
from tests.integration.worker_harness import running_worker

pytestmark = pytest.mark.timeout(90)

CASES = 10


async def test_breaches_go_out_at_their_instant_with_a_long_lag_check_period(broker) -> None:
    names, partitions = unique_topics()
    await create_topics(broker.bootstrap, names, partitions)
    # A 3 s lag-check period: with timers fired on that period, breaches due 0.3 s apart would
    # leave 0 to 3 s late (the last of a period ~2.7 s); fired at their instant they all leave
    # within the produce + fetch latency.
    config = worker_config(broker.bootstrap, names, MONITOR_TICK_SECONDS="3")
    async with running_worker(config):
        start = now_utc()
        # P2: 8 s target, so the breaches are due start + 5 s, + 5.3 s, ... + 7.7 s
        cases = [created(f"C-{i}", shift(start, -3 + 0.3 * i), priority="P2") for i in range(CASES)]
        await produce(broker.bootstrap, [as_record(names.case_created, body) for body in cases])
        records = await collect(broker.bootstrap, [names.breaches],
                                lambda rs: len({r.value["case_id"] for r in rs}) >= CASES, timeout_s=40)
    late_s = {r.value["case_id"]: r.received - datetime.fromisoformat(r.value["at"]).timestamp() for r in records}
    assert len(late_s) == CASES
    assert max(late_s.values()) < 1.5, late_s
