"""The worker's timer loop: what it does when the engine breaks its `next_due` promise."""

from __future__ import annotations

from typing import Any

from monitor.core.case import Engine, Step
from monitor.stream.deadlines import timer_key
from monitor.stream.table import index_keys
from monitor.stream.worker import STUCK_TIMER_RETRY_US, load_engine
from tests.stream.test_worker_records import CONFIG, CREATED, created, make, record


class StuckEngine(Engine):
    """An engine with a bug: every tick re-arms the case's timer at the instant it fired."""

    def tick(self, state: Any, now: Any, emitted_at: Any = None) -> Step:
        step = super().tick(state, now, emitted_at=emitted_at)
        return Step(step.state, step.emitted, step.rejections, now)


def test_a_timer_re_armed_at_its_own_instant_waits_instead_of_spinning() -> None:
    base = load_engine(CONFIG)
    worker, _, part = make(StuckEngine(base.catalog))
    part.lagging.clear()  # caught up: timers fire on the wall clock
    worker._process(CREATED, [record(0, created())])
    raw = part.cases.get("C1")
    assert raw is not None
    filed = index_keys(raw)[0]
    assert filed is not None
    part.index.discard(timer_key("C1", filed))
    part.index.add(timer_key("C1", worker.clock.now_us() - 1))  # its timer is due now
    assert worker._timer_wait_s() == 0

    worker._tick()

    due = part.index.next_due()
    assert due is not None, "the case keeps a timer"
    assert worker._timer_wait_s() > 0, "the loop would pop the same timer again at once"
    assert due - worker.clock.now_us() <= STUCK_TIMER_RETRY_US
