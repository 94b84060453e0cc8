"""The decoded states the worker keeps between records (`Worker._hot`): used only while exact, bounded, forgotten with their partitions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.core.case import Engine, Step
from monitor.stream import worker as worker_module
from monitor.stream.partition import PartitionState
from monitor.stream.table import decode_stored
from monitor.stream.worker import load_engine
from tests.stream.test_worker_pipeline import make_worker
from tests.stream.test_worker_records import CONFIG, CREATED, UPDATED, created, iso, make, record


def answered(case_id: str = "C1", at: datetime | None = None) -> bytes:
    when = at or datetime.now(UTC)
    return json.dumps({"event_id": f"{case_id}-r", "case_id": case_id, "occurred_at": iso(when),
                       "agent_response": True}).encode()


def counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record every stored value the worker decodes."""
    decoded: list[bytes] = []
    real = worker_module.decode_stored

    def decode(stored: bytes) -> Any:
        decoded.append(stored)
        return real(stored)

    monkeypatch.setattr(worker_module, "decode_stored", decode)
    return decoded


def test_an_update_in_a_later_fetch_than_its_case_creation_does_not_decode_the_state(monkeypatch: pytest.MonkeyPatch) -> None:
    worker, _, part = make()
    part.lagging.clear()
    decoded = counting_decodes(monkeypatch)
    worker._process_batch({CREATED: [record(0, created())]})
    worker._process_batch({UPDATED: [record(0, answered(), topic=UPDATED.topic)]})
    assert decoded == []
    assert decode_stored(part.cases["C1"]).seen == ["C1-c", "C1-r"]
    assert [json.loads(value)["type"] for _, _, value, _ in worker._outbox] == ["sla.met"]


def test_a_timer_fired_between_two_fetches_is_in_the_state_the_next_update_applies_to(monkeypatch: pytest.MonkeyPatch) -> None:
    worker, _, part = make()
    long_ago = datetime.now(UTC) - timedelta(days=30)
    worker._process_batch({CREATED: [record(0, created(at=long_ago))]})   # lagging: applied at its stream time
    assert worker._outbox == []
    part.lagging.clear()                                                  # caught up: its timers fire now
    decoded = counting_decodes(monkeypatch)
    worker._tick()
    assert [json.loads(value)["type"] for _, _, value, _ in worker._outbox][-1] == "sla.breach"
    fired = decode_stored(part.cases["C1"]).clocks["first_response"].fired
    assert 1.0 in fired
    worker._process_batch({UPDATED: [record(0, answered(), topic=UPDATED.topic)]})
    assert decoded == [], "the timer used the state kept from the creation and kept the one it stored"
    met = json.loads(worker._outbox[-1][2])
    assert met["type"] == "sla.met" and met["breached"] is True
    assert decode_stored(part.cases["C1"]).clocks["first_response"].fired == fired


class RaisingOnTimers(Engine):
    """An engine with a bug: a timer changes the case state in place (its thresholds fire), then raises."""

    def tick(self, state: Any, now: Any, emitted_at: Any = None) -> Step:
        super().tick(state, now, emitted_at=emitted_at)
        raise RuntimeError("bug after changing the state")


def test_a_state_a_timer_changed_before_the_engine_raised_is_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    worker, _, part = make(RaisingOnTimers(load_engine(CONFIG).catalog))
    long_ago = datetime.now(UTC) - timedelta(days=30)
    worker._process_batch({CREATED: [record(0, created(at=long_ago))]})
    part.lagging.clear()
    worker._tick()                                                        # logged; the case is left without a timer
    assert worker._outbox == [] and part.index.next_due() is None
    assert "C1" not in worker._hot, "the state the engine changed before raising is let go"
    decoded = counting_decodes(monkeypatch)
    worker._process_batch({UPDATED: [record(0, answered(), topic=UPDATED.topic)]})
    assert len(decoded) == 1
    kinds = [json.loads(value)["type"] for _, _, value, _ in worker._outbox]
    assert kinds[-2:] == ["sla.breach", "sla.met"]   # the thresholds the failed timer never emitted come out now


def test_the_kept_states_are_bounded_and_the_oldest_stored_goes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "HOT_CASES_MAX", 2)
    worker, _, part = make()
    part.lagging.clear()
    for offset, case_id in enumerate(["C1", "C2", "C3"]):
        worker._process_batch({CREATED: [record(offset, created(case_id), key=case_id.encode())]})
    assert list(worker._hot) == ["C2", "C3"]
    decoded = counting_decodes(monkeypatch)
    worker._process_batch({UPDATED: [record(0, answered("C1"), key=b"C1", topic=UPDATED.topic)]})
    assert len(decoded) == 1   # C1's state was let go: decoded from the table
    assert list(worker._hot) == ["C3", "C1"]


def test_a_case_stored_again_becomes_the_newest_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "HOT_CASES_MAX", 2)
    worker, _, part = make()
    part.lagging.clear()
    for offset, case_id in enumerate(["C1", "C2"]):
        worker._process_batch({CREATED: [record(offset, created(case_id), key=case_id.encode())]})
    worker._process_batch({UPDATED: [record(0, answered("C1"), key=b"C1", topic=UPDATED.topic)]})
    worker._process_batch({CREATED: [record(2, created("C3"), key=b"C3")]})
    assert list(worker._hot) == ["C1", "C3"], "C2, stored longest ago, goes first"


async def test_revocation_and_fencing_forget_the_kept_states() -> None:
    worker, producer, _ = make_worker()
    producer.auto_ack_topics.update(worker.config.topics.by_role().values())
    for forget in (lambda: worker._on_revoked({0}), lambda: worker._drop_partitions("lost the group")):
        worker.partitions[0] = PartitionState(0)
        worker._process_batch({CREATED: [record(0, created())]})
        assert list(worker._hot) == ["C1"]
        await forget()
        assert not worker.partitions and not worker._hot
