from hypothesis import given
from hypothesis import strategies as st

from monitor.notify.offsets import CommitTracker


def test_commits_only_up_to_the_first_unfinished_offset() -> None:
    tracker = CommitTracker()
    for offset in (10, 11, 12):
        tracker.started("p0", offset)
    tracker.finished("p0", 11)
    assert tracker.committable("p0") is None
    tracker.finished("p0", 10)
    assert tracker.committable("p0") == 12
    assert tracker.committable("p0") is None
    tracker.finished("p0", 12)
    assert tracker.committable("p0") == 13
    assert tracker.in_flight() == 0


def test_forget_drops_a_revoked_partition() -> None:
    tracker = CommitTracker()
    tracker.started("p1", 0)
    tracker.forget("p1")
    tracker.finished("p1", 0)
    assert tracker.committable("p1") is None and tracker.partitions() == []


@given(st.integers(min_value=1, max_value=40).flatmap(lambda n: st.permutations(range(n))))
def test_any_completion_order_ends_committing_everything_and_never_skips(order: list[int]) -> None:
    tracker = CommitTracker()
    for offset in range(len(order)):
        tracker.started(0, offset)
    finished: set[int] = set()
    committed = 0
    for offset in order:
        tracker.finished(0, offset)
        finished.add(offset)
        position = tracker.committable(0)
        if position is not None:
            assert position > committed
            committed = position
        assert all(o in finished for o in range(committed))
    assert committed == len(order)
