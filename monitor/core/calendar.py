"""Coverage calendars: which instants count towards an SLA target.

Instants inside the engine are integers: microseconds since the Unix epoch (UTC). That keeps
the arithmetic exact (no float drift, seconds and microseconds are kept) and cheap. Helpers at
the bottom convert from and to aware datetimes.

A calendar is a set of half-open windows [open, close). `covered_us(start, end)` measures the
covered time between two instants and `add_us(start, amount)` finds the instant at which
`amount` covered microseconds have elapsed since `start`. Both jump window to window (one
window per local day at most), never step minutes. A target that runs out exactly at a
window's close is due at that close instant.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Container
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

US_PER_S = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)
#: A calendar with no window in this many consecutive local days is treated as empty.
MAX_EMPTY_DAYS = 800


class CoverageError(ValueError):
    """The calendar has no covered time where some was needed."""


def to_us(at: datetime) -> int:
    """Aware datetime -> integer microseconds since the epoch."""
    if at.tzinfo is None:
        raise ValueError("naive datetime: an explicit UTC offset is required")
    return (at - EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
    """Integer microseconds since the epoch -> aware UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


class Coverage(ABC):
    """A coverage calendar; instants are epoch microseconds."""

    name: str

    @abstractmethod
    def covered_us(self, start: int, end: int) -> int:
        """Covered microseconds in [start, end) (0 when end <= start)."""

    @abstractmethod
    def add_us(self, start: int, amount: int) -> int:
        """Instant at which `amount` covered microseconds have elapsed since `start`."""

    @abstractmethod
    def is_covered(self, at: int) -> bool:
        """Whether the instant lies inside a window."""

    def covered_seconds(self, start: datetime, end: datetime) -> float:
        """Covered seconds between two aware datetimes."""
        return self.covered_us(to_us(start), to_us(end)) / US_PER_S

    def add_covered(self, start: datetime, seconds: float) -> datetime:
        """Aware UTC datetime at which `seconds` covered seconds have elapsed since `start`."""
        return from_us(self.add_us(to_us(start), round(seconds * US_PER_S)))


class AlwaysCovered(Coverage):
    """24x7: every instant is covered."""

    def __init__(self) -> None:
        self.name = "24x7"

    def covered_us(self, start: int, end: int) -> int:
        """Covered microseconds in [start, end)."""
        return end - start if end > start else 0

    def add_us(self, start: int, amount: int) -> int:
        """start + amount."""
        return start + max(amount, 0)

    def is_covered(self, at: int) -> bool:
        """Always true."""
        return True


class DailyWindows(Coverage):
    """At most one window per local day, on chosen weekdays, minus holidays.

    `open_at`/`close_at` are local wall-clock times; `close_at=None` means the end of the
    local day (the next local midnight), so 24x5 is weekdays 0-4 from 00:00 to None.
    Local days are real local days: a daylight-saving day lasts 23 or 25 hours.
    """

    def __init__(
        self,
        name: str,
        zone: ZoneInfo,
        weekdays: frozenset[int],
        open_at: time,
        close_at: time | None,
        holidays: Container[date] | None = None,
    ) -> None:
        if close_at is not None and close_at <= open_at:
            raise ValueError(f"{name}: close {close_at} must be after open {open_at}")
        if not weekdays:
            raise ValueError(f"{name}: no weekday is covered")
        self.name = name
        self.zone = zone
        self.weekdays = weekdays
        self.open_at = open_at
        self.close_at = close_at
        self.holidays = holidays
        self._windows: dict[int, tuple[int, int] | None] = {}

    def window(self, ordinal: int) -> tuple[int, int] | None:
        """The [open, close) window of a local day (by date ordinal), or None."""
        try:
            return self._windows[ordinal]
        except KeyError:
            pass
        day = date.fromordinal(ordinal)
        found: tuple[int, int] | None = None
        if day.weekday() in self.weekdays and not (self.holidays is not None and day in self.holidays):
            opens = datetime.combine(day, self.open_at, tzinfo=self.zone)
            if self.close_at is None:
                closes = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
            else:
                closes = datetime.combine(day, self.close_at, tzinfo=self.zone)
            found = (to_us(opens), to_us(closes))
        if len(self._windows) > 100_000:
            self._windows.clear()
        self._windows[ordinal] = found
        return found

    def local_ordinal(self, at: int) -> int:
        """Date ordinal of the local day containing the instant."""
        return datetime.fromtimestamp(at // US_PER_S, self.zone).toordinal()

    def covered_us(self, start: int, end: int) -> int:
        """Covered microseconds in [start, end), summed window by window."""
        if end <= start:
            return 0
        total = 0
        last = self.local_ordinal(end)
        for ordinal in range(self.local_ordinal(start), last + 1):
            found = self.window(ordinal)
            if found is None:
                continue
            lo = found[0] if found[0] > start else start
            hi = found[1] if found[1] < end else end
            if hi > lo:
                total += hi - lo
        return total

    def add_us(self, start: int, amount: int) -> int:
        """Walk windows from `start` until `amount` covered microseconds are used up."""
        if amount <= 0:
            return start
        remaining = amount
        ordinal = self.local_ordinal(start)
        empty_days = 0
        while empty_days < MAX_EMPTY_DAYS:
            found = self.window(ordinal)
            ordinal += 1
            if found is None or found[1] <= start:
                empty_days += 1
                continue
            empty_days = 0
            begin = found[0] if found[0] > start else start
            available = found[1] - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise CoverageError(f"{self.name}: no covered time in {MAX_EMPTY_DAYS} days")

    def is_covered(self, at: int) -> bool:
        """Whether the instant lies inside its local day's window."""
        found = self.window(self.local_ordinal(at))
        return found is not None and found[0] <= at < found[1]


WEEKDAYS = frozenset(range(5))


def twenty_four_five(zone: ZoneInfo, holidays: Container[date] | None = None) -> DailyWindows:
    """24x5: Monday 00:00 to Saturday 00:00 local, holidays removed."""
    return DailyWindows("24x5", zone, WEEKDAYS, time(0), None, holidays)


def business_hours(
    zone: ZoneInfo, open_at: time, close_at: time, holidays: Container[date] | None = None
) -> DailyWindows:
    """Monday-Friday [open_at, close_at) local, holidays removed."""
    return DailyWindows("business_hours", zone, WEEKDAYS, open_at, close_at, holidays)


def naive_add_minutes(is_covered: Callable[[int], bool], start: int, amount: int) -> int:
    """Reference by minute stepping (bench baseline and tests only): slow, approximate to 1 min."""
    step = 60 * US_PER_S
    at, remaining = start, amount
    while remaining > 0:
        if is_covered(at):
            remaining -= step
        at += step
    return at
