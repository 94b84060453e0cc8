"""The board's ordered due index: per-stage order, moving, removal, cursor seek, bulk load; model checks."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.policy import METRICS
from monitor.stream.due_index import (
    AT_RISK,
    BREACHED,
    OK,
    STAGES,
    BoardClock,
    DueIndex,
    Entry,
    decode_entry,
    entry_key,
    pack_clocks,
    stage_of,
    unpack_clocks,
)

FR, RES, UPD = "first_response", "resolution", "update"


def move(index: DueIndex, case_id: str, old: list[BoardClock], new: list[BoardClock]) -> None:
    index.move(case_id, pack_clocks(old), pack_clocks(new))


def test_stage_follows_the_highest_emitted_threshold() -> None:
    assert stage_of([]) == OK
    assert stage_of([0.75]) == AT_RISK
    assert stage_of([0.75, 0.9]) == AT_RISK
    assert stage_of([0.75, 1.0]) == BREACHED
    assert stage_of([0.75, 1.0, 1.5]) == BREACHED


def test_iterates_the_requested_stages_merged_in_due_order() -> None:
    index = DueIndex()
    move(index, "a", [], [(30, FR, OK)])
    move(index, "b", [], [(10, FR, BREACHED)])
    move(index, "c", [], [(20, FR, AT_RISK), (5, RES, BREACHED)])
    assert [e[:2] for e in index.iter_from((AT_RISK, BREACHED))] == [(5, "c"), (10, "b"), (20, "c")]
    assert [e[1] for e in index.iter_from((OK, AT_RISK, BREACHED))] == ["c", "b", "c", "a"]
    assert list(index.iter_from((OK,))) == [(30, "a", FR, OK)]
    assert len(index) == 4 and index.count(BREACHED) == 2


def test_move_replaces_a_case_entries_and_empty_removes_them() -> None:
    index = DueIndex()
    move(index, "a", [], [(30, FR, OK)])
    move(index, "a", [(30, FR, OK)], [(30, FR, AT_RISK)])
    assert list(index.iter_from((OK,))) == []
    assert list(index.iter_from((AT_RISK,))) == [(30, "a", FR, AT_RISK)]
    move(index, "a", [(30, FR, AT_RISK)], [])
    move(index, "never-there", [], [])
    assert len(index) == 0


def test_cursor_resumes_strictly_after_a_key_across_stages_and_ties() -> None:
    index = DueIndex()
    move(index, "a", [], [(10, UPD, OK)])
    move(index, "b", [], [(10, FR, BREACHED)])
    move(index, "c", [], [(10, RES, AT_RISK)])
    move(index, "d", [], [(11, FR, OK)])
    stages = (OK, AT_RISK, BREACHED)
    assert [e[1] for e in index.iter_from(stages, (10, "a", UPD))] == ["b", "c", "d"]
    assert [e[1] for e in index.iter_from(stages, (10, "b", FR))] == ["c", "d"]
    assert [e[1] for e in index.iter_from(stages, (10, "c", "zzz"))] == ["d"]      # a metric this version lacks
    assert [e[1] for e in index.iter_from(stages, (10, "c", "a"))] == ["c", "d"]


def test_case_ids_sort_as_strings_prefixes_nul_and_non_ascii_included() -> None:
    ids = ["A", "A\x00", "A\x00B", "A\x01", "AB", "Ä", "", "Z\x00\x00", "Z\x00"]
    index = DueIndex()
    for case_id in ids:
        move(index, case_id, [], [(7, FR, OK), (7, UPD, OK)])
    assert [e[1:3] for e in index.iter_from((OK,))] == sorted((case_id, metric) for case_id in ids for metric in (FR, UPD))
    for case_id in ids:
        assert decode_entry(entry_key(7, case_id, RES), OK) == (7, case_id, RES, OK)


_case_ids = st.text(alphabet=st.sampled_from(["A", "B", "\x00", "\xff", "é", "\U0001f600"]), max_size=4)
_metrics = st.sampled_from(sorted(METRICS))
_clocks = st.lists(st.tuples(st.integers(-50, 50), _metrics, st.sampled_from(STAGES)), max_size=3)


@given(_clocks)
def test_packed_clocks_unpack_to_themselves(clocks: list[BoardClock]) -> None:
    assert unpack_clocks(pack_clocks(clocks)) == clocks


@settings(max_examples=300, deadline=None)
@given(moves=st.lists(st.tuples(_case_ids, _clocks), max_size=40),
       after=st.none() | st.tuples(st.integers(-50, 50), _case_ids, _metrics | st.text(max_size=3)),
       stages=st.lists(st.sampled_from(STAGES), min_size=1, max_size=3))
def test_agrees_with_a_sorted_model(moves: list[tuple[str, list[BoardClock]]], after: tuple[int, str, str] | None,
                                    stages: list[str]) -> None:
    """Whatever the moves, iteration from any cursor is the model's entries sorted, strictly after it."""
    index, model = DueIndex(), {}
    for case_id, clocks in moves:
        move(index, case_id, model.get(case_id, []), clocks)
        model[case_id] = clocks
    entries = sorted((due, case_id, metric, stage) for case_id, clocks in model.items() for due, metric, stage in clocks)
    expected = [e for e in entries if e[3] in stages and (after is None or e[:3] > after)]
    assert list(index.iter_from(stages, after)) == expected
    loaded = DueIndex()
    loaded.bulk_load({stage: [entry_key(e[0], e[1], e[2]) for e in entries if e[3] == stage] for stage in STAGES})
    assert list(loaded.iter_from(stages, after)) == expected


def test_many_moves_then_removal_of_everything_leaves_it_empty() -> None:
    rng = random.Random(11)
    index, model = DueIndex(), {}
    for _ in range(5000):
        case = f"c{rng.randrange(300)}"
        clocks: list[BoardClock] = [(rng.randrange(1000), metric, rng.choice(STAGES))
                                    for metric in rng.sample(sorted(METRICS), rng.randrange(3))]
        move(index, case, model.get(case, []), clocks)
        model[case] = clocks
    everything: list[Entry] = sorted((d, c, m, s) for c, clocks in model.items() for d, m, s in clocks)
    assert list(index.iter_from(STAGES)) == everything
    for case, clocks in model.items():
        move(index, case, clocks, [])
    assert len(index) == 0
