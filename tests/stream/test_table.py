"""The case table's values (state + index keys) and PartitionState keeping both indexes in step with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.case import CaseState
from monitor.core.policy import METRICS
from monitor.stream.codec import decode_state, encode_state
from monitor.stream.due_index import MAX_CLOCKS, STAGES, BoardClock, pack_clocks
from monitor.stream.partition import PartitionState
from monitor.stream.store import open_store
from monitor.stream.table import decode_stored, holds_state, index_keys, split, stored_value
from monitor.stream.worker import load_engine
from tests.stream.test_codec import _states
from tests.stream.test_store import KINDS
from tests.stream.test_worker_records import CONFIG, CREATED, UPDATED, created, iso, make, record

_clocks = st.lists(st.tuples(st.integers(-(2**62), 2**62), st.sampled_from(sorted(METRICS)), st.sampled_from(STAGES)),
                   max_size=4)


@given(encoded=st.binary(min_size=1, max_size=300), due=st.none() | st.integers(-(2**62), 2**62), clocks=_clocks)
def test_a_stored_value_gives_back_its_state_and_keys(encoded: bytes, due: int | None, clocks: list[BoardClock]) -> None:
    stored = stored_value(encoded, b"" if due is None else (due + 2**63).to_bytes(8, "big"), pack_clocks(clocks))
    assert index_keys(stored) == (due, clocks)
    assert stored[:split(stored)[0]] == encoded
    assert holds_state(stored, encoded)
    assert not holds_state(stored, encoded + b"x") and not holds_state(stored, encoded[:-1])


@given(state=_states, due=st.none() | st.integers(-(2**62), 2**62), clocks=_clocks)
def test_a_stored_value_decodes_in_place_to_its_state(state: CaseState, due: int | None, clocks: list[BoardClock]) -> None:
    encoded = encode_state(state)
    stored = stored_value(encoded, b"" if due is None else (due + 2**63).to_bytes(8, "big"), pack_clocks(clocks))
    assert decode_stored(stored) == decode_state(encoded)
    assert decode_stored(stored).to_dict() == state.to_dict()


def test_stored_values_decode_with_decode_stored_and_the_changelog_reader_refuses_them() -> None:
    engine = load_engine(CONFIG)
    worker, _, part = make(engine)
    worker._process(CREATED, [record(0, created("C1"))])
    stored = part.cases.get("C1")
    assert stored is not None and decode_stored(stored).case_id == "C1"
    assert part.dirty["C1"] == stored[:split(stored)[0]]            # the changelog gets the state alone
    with pytest.raises(ValueError):
        decode_state(stored)


def test_more_clocks_than_the_trailer_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        stored_value(b"\x01", b"", pack_clocks([(1, "first_response", "ok")] * (MAX_CLOCKS + 1)))


# ---------------------------------------------------------------------- PartitionState.store against a model

_case_ids = st.sampled_from(["a", "b", "A", "a\x00", "é"])
_states = st.sampled_from([b"\x01s1", b"\x01s2", b"\x01s3"])
_steps = st.lists(st.one_of(
    st.tuples(st.just("store"), _case_ids, _states, st.none() | st.integers(0, 100), _clocks),
    st.tuples(st.just("same"), _case_ids, st.none() | st.integers(0, 100)),
    st.tuples(st.just("drop"), _case_ids),
    st.tuples(st.just("tick"), st.integers(0, 100), st.sampled_from(["fails", "later", "same instant"])),
), max_size=40)


@settings(max_examples=300, deadline=None)
@given(steps=_steps)
def test_store_keeps_both_indexes_equal_to_a_model(steps: list[tuple]) -> None:
    """Whatever is stored, dropped or fired, the indexes hold exactly the model's timers and clocks."""
    part = PartitionState(0)
    model: dict[str, tuple[bytes, int | None, list[BoardClock]]] = {}   # case -> state, next due, clocks
    timers: list[tuple[bytes, str]] = []
    for step in steps:
        kind, rest = step[0], step[1:]
        if kind == "store":
            case_id, state, due, clocks = rest
            part.store(case_id, part.cases.get(case_id), state, due, clocks)
            model[case_id] = (state, due, clocks)
        elif kind == "same" and rest[0] in model:        # the state did not change; the timer may move
            case_id, due = rest
            state, _, clocks = model[case_id]
            part.store(case_id, part.cases.get(case_id), state, due, None)
            model[case_id] = (state, due, clocks)
        elif kind == "drop":
            part.store(rest[0], part.cases.get(rest[0]), None, None, None)
            model.pop(rest[0], None)
        elif kind == "tick":                             # what the worker's _tick does with each popped case
            now, outcome = rest
            for case_id in part.index.pop_due(now):
                state, due, clocks = model[case_id]
                raw = part.cases.get(case_id)
                assert raw is not None
                if outcome == "fails":                   # the engine raised: the case keeps no timer
                    part.disarm(case_id, raw)
                    model[case_id] = (state, None, clocks)
                else:                                    # re-armed (the worker never re-arms at the same instant)
                    again = now + 1 if outcome == "later" else due
                    part.store(case_id, raw, state, again, None, popped=True)
                    model[case_id] = (state, again, clocks)
        for case_id, (state, due, clocks) in model.items():
            raw = part.cases.get(case_id)
            assert raw is not None and holds_state(raw, state) and index_keys(raw) == (due, clocks)
        assert len(part.cases) == len(model)
        entries = sorted((d, c, m, s) for c, (_, _, clocks) in model.items() for d, m, s in clocks)
        assert list(part.board.iter_from(STAGES)) == entries
        timers = sorted(((due + 2**63).to_bytes(8, "big") + c.encode(), c) for c, (_, due, _) in model.items()
                        if due is not None)
        assert len(part.index) == len(timers)
        assert part.index.next_due() == min((due for _, due, _ in model.values() if due is not None), default=None)
    assert part.index.pop_due(10**6) == [case_id for _, case_id in timers]


def test_only_changed_states_go_to_the_changelog() -> None:
    part = PartitionState(0)
    part.store("a", None, b"\x01one", 10, [(20, "first_response", "ok")])
    assert part.dirty == {"a": b"\x01one"}
    part.dirty.clear()
    part.store("a", part.cases.get("a"), b"\x01one", 15, None)      # the timer moved, the state did not
    assert part.dirty == {} and index_keys(part.cases.get("a") or b"") == (15, [(20, "first_response", "ok")])
    part.store("a", part.cases.get("a"), None, None, None)
    assert part.dirty == {"a": None} and "a" not in part.cases and len(part.index) == len(part.board) == 0


# ---------------------------------------------------------------------- restore: rebuild gives what processing gave


@pytest.mark.parametrize("kind", KINDS)
def test_rebuild_from_the_changelog_gives_the_same_table_and_indexes(kind: str, tmp_path: Path) -> None:
    engine = load_engine(CONFIG)
    worker, _, part = make(engine)
    part.lagging.clear()
    now = datetime.now(UTC)
    worker._process(CREATED, [record(i, created(f"C{i}", now - timedelta(minutes=7 * i), priority=f"P{1 + i % 4}"),
                                     key=f"C{i}".encode()) for i in range(12)])
    respond = [record(i, f'{{"event_id": "u{i}", "case_id": "C{i}", "occurred_at": "{iso(now)}", "status": "open", '
                         f'"agent_response": true}}'.encode(), key=f"C{i}".encode(), topic=UPDATED.topic) for i in (1, 5)]
    worker._process(UPDATED, respond)
    worker._tick()                                    # warnings and breaches of the older cases fire
    changelog = {case_id: raw[:split(raw)[0]] for case_id, raw in part.cases.items()}

    restored = PartitionState(0, cases=open_store(kind, tmp_path, "g", 0))
    for case_id, value in changelog.items():
        restored.cases[case_id] = value
    restored.rebuild(engine)

    assert dict(restored.cases.items()) == dict(part.cases.items())
    assert list(restored.board.iter_from(STAGES)) == list(part.board.iter_from(STAGES))
    assert {restored.board.count(stage) for stage in STAGES} != {0}
    assert restored.index.next_due() == part.index.next_due() is not None
    assert restored.index.pop_due(2**62) == part.index.pop_due(2**62)
    restored.cases.close()
