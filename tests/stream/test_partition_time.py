"""Replay safety: when a partition's timers may fire."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.stream.deadlines import timer_key
from monitor.stream.partition import PartitionState

WALL = 1_000_000_000


def test_caught_up_partition_fires_on_the_wall_clock() -> None:
    part = PartitionState(0)
    part.observe("created", 10)
    assert part.fire_time(WALL) == WALL
    assert part.apply_time(WALL) == WALL


def test_lagging_partition_fires_only_up_to_the_slowest_lagging_topic() -> None:
    part = PartitionState(0, lagging={"created", "updated"})
    part.observe("created", 500)
    assert part.fire_time(WALL) is None           # nothing read from `updated` yet
    part.observe("updated", 300)
    part.observe("updated", 200)                  # stream time never goes back
    assert part.fire_time(WALL) == 300
    part.lagging = {"created"}                    # updated read to its end
    assert part.fire_time(WALL) == 500
    assert part.apply_time(WALL) == 500


def test_stream_time_never_runs_ahead_of_the_wall_clock() -> None:
    part = PartitionState(0, lagging={"created"})
    part.observe("created", WALL + 5_000_000)
    assert part.fire_time(WALL) == WALL
    assert part.apply_time(WALL) == WALL


def test_timer_wait_is_the_time_to_the_earliest_due_instant() -> None:
    part = PartitionState(0)
    assert part.timer_wait_us(WALL) is None                 # no timers
    part.index.add(timer_key("C-1", WALL + 700))
    part.index.add(timer_key("C-2", WALL + 300))
    assert part.timer_wait_us(WALL) == 300
    assert part.timer_wait_us(WALL + 300) == 0
    assert part.timer_wait_us(WALL + 900) == 0
    part.index.discard(timer_key("C-2", WALL + 300))
    assert part.timer_wait_us(WALL) == 700


def test_lagging_partition_waits_for_input_not_for_time() -> None:
    part = PartitionState(0, lagging={"created"})
    part.index.add(timer_key("C-1", 400))
    assert part.timer_wait_us(WALL) is None                 # nothing read yet: no stream time
    part.observe("created", 300)
    assert part.timer_wait_us(WALL) is None                 # only input moves stream time to 400
    part.observe("created", 500)
    assert part.timer_wait_us(WALL) == 0
    part.index.discard(timer_key("C-1", 400))
    part.index.add(timer_key("C-1", WALL + 50))
    part.observe("created", WALL + 10)                      # stream time ahead: the wall clock limits
    assert part.timer_wait_us(WALL) == 50


@given(st.lists(st.tuples(st.sampled_from(["created", "updated"]), st.integers(-(2**62), 2**62)), max_size=30))
def test_stream_time_is_the_newest_occurred_at_of_any_input(observed: list[tuple[str, int]]) -> None:
    part = PartitionState(0)
    for topic, at in observed:
        part.observe(topic, at)
    assert part.stream_time() == max(part.newest_seen.values(), default=None)
