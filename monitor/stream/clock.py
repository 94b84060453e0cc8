"""Clocks the shell reads `now` from; injected, never patched.

`WallClock` is real time. `ScaledClock` runs `scale` times faster than real time from a chosen
start instant: the demo uses it so that a day of business hours passes in about a minute.
"""

from __future__ import annotations

import time
from typing import Protocol

US_PER_S = 1_000_000


class Clock(Protocol):
    """Source of the current instant in epoch microseconds (UTC)."""

    def now_us(self) -> int:
        """The current instant."""
        ...


class WallClock:
    """The system clock."""

    def now_us(self) -> int:
        """time.time() in microseconds."""
        return time.time_ns() // 1000


class ScaledClock:
    """A clock starting at `start_us` and advancing `scale` times faster than real time."""

    def __init__(self, start_us: int, scale: float) -> None:
        if scale <= 0:
            raise ValueError("scale must be > 0")
        self.start_us = start_us
        self.scale = scale
        self._origin = time.monotonic_ns() // 1000

    def now_us(self) -> int:
        """start + scale x real time elapsed since construction."""
        return self.start_us + int((time.monotonic_ns() // 1000 - self._origin) * self.scale)

    def to_real_seconds(self, clock_seconds: float) -> float:
        """How many real seconds `clock_seconds` of this clock take."""
        return clock_seconds / self.scale
