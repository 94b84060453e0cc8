"""Injectable clocks."""

from __future__ import annotations

import time

from monitor.stream.clock import ScaledClock, WallClock


def test_scaled_clock_runs_faster_from_its_start() -> None:
    clock = ScaledClock(start_us=1_000_000_000_000, scale=1000.0)
    first = clock.now_us()
    time.sleep(0.02)
    second = clock.now_us()
    assert first >= 1_000_000_000_000
    assert second - first >= 0.02 * 1000 * 1_000_000 * 0.9   # >= ~18 s of clock time in 20 ms
    assert clock.to_real_seconds(60.0) == 0.06


def test_wall_clock_is_epoch_microseconds() -> None:
    assert abs(WallClock().now_us() / 1_000_000 - time.time()) < 1.0
