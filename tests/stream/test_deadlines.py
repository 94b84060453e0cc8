"""The per-partition deadline index: ordering, filing, removal, popping; a model check."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.stream.deadlines import DeadlineIndex, due_bytes, due_from_bytes, timer_key


def filed(*pairs: tuple[str, int]) -> DeadlineIndex:
    index = DeadlineIndex()
    for case_id, due in pairs:
        index.add(timer_key(case_id, due))
    return index


def test_pops_due_cases_in_due_order_and_keeps_the_rest() -> None:
    index = filed(("c", 30), ("a", 10), ("b", 20))
    assert index.next_due() == 10
    assert index.pop_due(20) == ["a", "b"]
    assert len(index) == 1 and index.next_due() == 30
    assert index.pop_due(29) == []


def test_a_discarded_key_is_gone_and_discarding_a_missing_one_does_nothing() -> None:
    index = filed(("a", 10), ("b", 10))
    index.discard(timer_key("a", 10))
    index.add(timer_key("a", 50))
    assert index.pop_due(10) == ["b"]
    index.discard(timer_key("b", 10))        # popped already
    index.discard(timer_key("never-there", 5))
    assert len(index) == 1 and index.next_due() == 50
    assert index.pop_due(50) == ["a"] and index.next_due() is None


def test_limit_bounds_one_pop() -> None:
    index = filed(*((f"c{i}", i) for i in range(10)))
    assert index.pop_due(100, limit=4) == ["c0", "c1", "c2", "c3"]
    assert len(index) == 6


def test_bulk_load_replaces_the_contents() -> None:
    index = filed(("old", 1))
    index.bulk_load([timer_key("b", 7), timer_key("a", 7), timer_key("c", -3)])
    assert index.pop_due(10) == ["c", "a", "b"]


@given(st.lists(st.integers(-(2**62), 2**62), min_size=2, max_size=20))
def test_due_bytes_sort_like_the_instants(dues: list[int]) -> None:
    assert sorted(dues, key=due_bytes) == sorted(dues)
    assert all(due_from_bytes(due_bytes(due)) == due for due in dues)


_case_ids = st.text(min_size=1, max_size=6).filter(lambda text: not any(0xD800 <= ord(c) <= 0xDFFF for c in text))
_dues = st.none() | st.integers(-1000, 1000)
_operations = st.lists(st.one_of(st.tuples(st.just("move"), _case_ids, _dues),
                                 st.tuples(st.just("pop"), st.integers(-1000, 1000), st.none() | st.integers(1, 5))),
                       max_size=60)


@settings(max_examples=300, deadline=None)
@given(initial=st.dictionaries(_case_ids, st.integers(-1000, 1000), max_size=20), operations=_operations)
def test_agrees_with_a_dict_model(initial: dict[str, int], operations: list[tuple[str, object, object]]) -> None:
    """Whatever the moves and pops, the index pops what a dict of case -> due would, in the same order."""
    index = DeadlineIndex()
    index.bulk_load(timer_key(case_id, due) for case_id, due in initial.items())
    model = dict(initial)      # case -> the due instant it is filed under

    def due_now(now: int) -> list[str]:
        return [case for _, case in sorted((due_bytes(due) + case.encode(), case) for case, due in model.items()
                                           if due <= now)]

    for operation, first, second in operations:
        if operation == "move":
            assert isinstance(first, str) and (second is None or isinstance(second, int))
            if first in model:
                index.discard(timer_key(first, model.pop(first)))
            if second is not None:
                index.add(timer_key(first, second))
                model[first] = second
        else:
            assert isinstance(first, int) and (second is None or isinstance(second, int))
            expected = due_now(first)[:second]
            assert index.pop_due(first, limit=second) == expected
            for case in expected:
                del model[case]
        assert len(index) == len(model)
        assert index.next_due() == min(model.values(), default=None)
    assert index.pop_due(10**6) == due_now(10**6)
