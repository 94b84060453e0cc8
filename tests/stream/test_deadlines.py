"""The per-partition deadline index: ordering, rescheduling, removal, compaction."""

from __future__ import annotations

import random

from monitor.stream.deadlines import DeadlineIndex


def test_pops_due_cases_in_due_order_and_keeps_the_rest() -> None:
    index = DeadlineIndex()
    index.set("c", 30)
    index.set("a", 10)
    index.set("b", 20)
    assert index.next_due() == 10
    assert index.pop_due(20) == ["a", "b"]
    assert len(index) == 1 and index.next_due() == 30
    assert index.pop_due(29) == []


def test_rescheduling_replaces_the_old_instant() -> None:
    index = DeadlineIndex()
    index.set("a", 10)
    index.set("a", 50)
    assert index.pop_due(20) == []
    assert index.due_of("a") == 50
    assert index.pop_due(50) == ["a"]
    assert index.pop_due(100) == []


def test_none_removes_a_case() -> None:
    index = DeadlineIndex()
    index.set("a", 10)
    index.set("a", None)
    index.set("never-there", None)
    assert len(index) == 0 and "a" not in index
    assert index.next_due() is None and index.pop_due(10**18) == []


def test_limit_bounds_one_pop() -> None:
    index = DeadlineIndex()
    for i in range(10):
        index.set(f"c{i}", i)
    assert index.pop_due(100, limit=4) == ["c0", "c1", "c2", "c3"]
    assert len(index) == 6


def test_bulk_load_and_many_reschedules_agree_with_a_dict_model() -> None:
    rng = random.Random(7)
    index, model = DeadlineIndex(), {}
    index.bulk_load([(f"c{i}", i * 3) for i in range(100)])
    model.update({f"c{i}": i * 3 for i in range(100)})
    for _ in range(20_000):   # many reschedules force compactions of stale heap entries
        case = f"c{rng.randrange(150)}"
        due = rng.choice([None, rng.randrange(10_000)])
        index.set(case, due)
        if due is None:
            model.pop(case, None)
        else:
            model[case] = due
    assert len(index._heap) <= 2 * len(model) + 1024
    now = 5_000
    expected = sorted((due, case) for case, due in model.items() if due <= now)
    assert index.pop_due(now) == [case for _, case in expected]
    assert len(index) == sum(1 for due in model.values() if due > now)
