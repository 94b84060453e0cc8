"""Replay safety: when a partition's timers may fire."""

from __future__ import annotations

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
