"""The board's ordered due index: per-stage order, replacement, removal, cursor seek, bulk load."""

from __future__ import annotations

import random

from monitor.stream.due_index import AT_RISK, BREACHED, OK, DueIndex, Entry, stage_of


def test_stage_follows_the_highest_emitted_threshold() -> None:
    assert stage_of([]) == OK
    assert stage_of([0.75]) == AT_RISK
    assert stage_of([0.75, 0.9]) == AT_RISK
    assert stage_of([0.75, 1.0]) == BREACHED
    assert stage_of([0.75, 1.0, 1.5]) == BREACHED


def test_iterates_the_requested_stages_merged_in_due_order() -> None:
    index = DueIndex()
    index.set("a", [(30, "a", "first_response", OK)])
    index.set("b", [(10, "b", "first_response", BREACHED)])
    index.set("c", [(20, "c", "first_response", AT_RISK), (5, "c", "resolution", BREACHED)])
    assert [e[:2] for e in index.iter_from((AT_RISK, BREACHED))] == [(5, "c"), (10, "b"), (20, "c")]
    assert [e[1] for e in index.iter_from((OK, AT_RISK, BREACHED))] == ["c", "b", "c", "a"]
    assert [e[1] for e in index.iter_from((OK,))] == ["a"]
    assert len(index) == 4 and index.count(BREACHED) == 2


def test_set_replaces_a_case_entries_and_empty_removes_them() -> None:
    index = DueIndex()
    index.set("a", [(30, "a", "first_response", OK)])
    index.set("a", [(30, "a", "first_response", AT_RISK)])
    assert list(index.iter_from((OK,))) == []
    assert list(index.iter_from((AT_RISK,))) == [(30, "a", "first_response", AT_RISK)]
    index.set("a", [])
    index.set("never-there", [])
    assert len(index) == 0 and index.entries_of("a") == ()


def test_cursor_resumes_strictly_after_a_key_across_stages_and_ties() -> None:
    index = DueIndex()
    index.set("a", [(10, "a", "m", OK)])
    index.set("b", [(10, "b", "m", BREACHED)])
    index.set("c", [(10, "c", "m", AT_RISK)])
    index.set("d", [(11, "d", "m", OK)])
    stages = (OK, AT_RISK, BREACHED)
    assert [e[1] for e in index.iter_from(stages, (10, "a", "m"))] == ["b", "c", "d"]
    assert [e[1] for e in index.iter_from(stages, (10, "b", "m"))] == ["c", "d"]
    assert [e[1] for e in index.iter_from(stages, (10, "c", "zzz"))] == ["d"]


def test_many_updates_agree_with_a_sorted_model_and_bulk_load() -> None:
    rng = random.Random(11)
    index, model = DueIndex(), {}
    for _ in range(5000):
        case = f"c{rng.randrange(300)}"
        entries: list[Entry] = [(rng.randrange(1000), case, metric, rng.choice((OK, AT_RISK, BREACHED)))
                                for metric in rng.sample(["first_response", "update", "resolution"], rng.randrange(3))]
        index.set(case, entries)
        model[case] = entries
    everything = sorted(e for entries in model.values() for e in entries)
    assert list(index.iter_from((OK, AT_RISK, BREACHED))) == everything
    assert list(index.iter_from((AT_RISK,))) == [e for e in everything if e[3] == AT_RISK]
    loaded = DueIndex()
    loaded.bulk_load(e for entries in model.values() for e in entries)
    assert list(loaded.iter_from((OK, AT_RISK, BREACHED))) == everything
    for case, entries in model.items():
        assert set(loaded.entries_of(case)) == set(entries)
        loaded.set(case, [])
    assert len(loaded) == 0
