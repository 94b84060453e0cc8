"""Coverage calendars: which instants count towards an SLA target.

Instants inside the engine are integers: microseconds since the Unix epoch (UTC). That keeps
the arithmetic exact (no float drift, seconds and microseconds are kept) and cheap. Helpers at
the bottom convert from and to aware datetimes.

A calendar is a set of half-open windows [open, close). `covered_us(start, end)` measures the
covered time between two instants and `add_us(start, amount)` finds the instant at which
`amount` covered microseconds have elapsed since `start`. Both jump window to window (each
local day's windows are computed once from the weekly schedule and cached), never step
minutes. A target that runs out exactly at a window's close is due at that close instant.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
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

    def add_us_each(self, start: int, amounts: Sequence[int]) -> list[int]:
        """`add_us(start, amount)` of each of `amounts` (ascending); it stops short where the
        calendar runs out of covered time (add_us raises CoverageError for the rest)."""
        found: list[int] = []
        for amount in amounts:
            try:
                found.append(self.add_us(start, amount))
            except CoverageError:
                break
        return found

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

    def add_us_each(self, start: int, amounts: Sequence[int]) -> list[int]:
        """start + each amount."""
        return [start + amount if amount > 0 else start for amount in amounts]

    def is_covered(self, at: int) -> bool:
        """Always true."""
        return True


#: Local seconds since midnight [start, end) of one opening on a weekday; end may be 86_400 (24:00).
Span = tuple[int, int]
DAY_SECONDS = 86_400
DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW_CACHE_MAX = 100_000
_HOUR_US = 3600 * US_PER_S
_HOUR_CACHE_MAX = 4096


class WeeklyWindows(Coverage):
    """Openings per weekday (any number, split shifts included), minus holiday dates.

    `week` maps a weekday (0 = Monday) to its spans in local seconds since midnight, ascending
    and not overlapping; a span may end at 86_400 (24:00), which is the next local midnight, so
    a span ending at 24:00 and the next day's span starting at 00:00 meet at one instant: one
    continuous stretch, across daylight-saving changes too. Local days are real local days (23
    or 25 hours on a change). The windows of each local day are computed once and cached, so
    arithmetic jumps from window to window and never steps minutes.
    """

    def __init__(
        self,
        name: str,
        zone: ZoneInfo,
        week: Mapping[int, Sequence[Span]],
        holidays: Container[date] | None = None,
    ) -> None:
        spans: list[tuple[Span, ...]] = []
        for weekday in range(7):
            day = tuple(week.get(weekday, ()))
            previous_end = 0
            for begin, end in day:
                if not 0 <= begin < end <= DAY_SECONDS or begin < previous_end:
                    raise ValueError(f"{name}: {DAY_NAMES[weekday]}: openings must be ascending, non-empty and not overlap")
                previous_end = end
            spans.append(day)
        if not any(spans):
            raise ValueError(f"{name}: no weekday is covered")
        self.name = name
        self.zone = zone
        self.week: tuple[tuple[Span, ...], ...] = tuple(spans)
        self.holidays = holidays
        self._windows: dict[int, tuple[tuple[int, int], ...]] = {}
        #: UTC hour (epoch µs // 1 h) -> the one local date ordinal of all its instants.
        self._ordinal_by_hour: dict[int, int] = {}

    def windows(self, ordinal: int) -> tuple[tuple[int, int], ...]:
        """The [open, close) windows (epoch µs, ascending) of a local day, by date ordinal."""
        found = self._windows.get(ordinal)
        if found is not None:
            return found
        day = date.fromordinal(ordinal)
        spans = self.week[day.weekday()]
        built: list[tuple[int, int]] = []
        if spans and not (self.holidays is not None and day in self.holidays):
            last = -(2**62)
            for begin, end in spans:
                opens = max(self._local_instant(day, begin), last)
                closes = self._local_instant(day, end)
                if closes > opens:  # a span inside a skipped (spring-forward) hour has no instant
                    built.append((opens, closes))
                    last = closes
        found = tuple(built)
        if len(self._windows) > _WINDOW_CACHE_MAX:
            self._windows.clear()
        self._windows[ordinal] = found
        return found

    def _local_instant(self, day: date, seconds: int) -> int:
        """Epoch µs of a local wall-clock time of a day; 86_400 is the next local midnight.

        A repeated (fall-back) time is its first occurrence; a time the clock skips (spring
        forward) is reached at the change itself, the first instant the clock shows a later time.
        """
        if seconds >= DAY_SECONDS:
            day, seconds = day + timedelta(days=1), 0
        hour, rest = divmod(seconds, 3600)
        local = datetime.combine(day, time(hour, rest // 60, rest % 60), tzinfo=self.zone)
        skipped = local.replace(fold=1)
        before, after = local.utcoffset(), skipped.utcoffset()
        if before is None or after is None or after <= before:
            return to_us(local)
        # In the gap: fold=1 reads it with the later offset (an instant before the change), fold=0
        # with the earlier one (after it); the change is the first second with the later offset.
        low, high = to_us(skipped) // US_PER_S, to_us(local) // US_PER_S
        while high - low > 1:
            middle = (low + high) // 2
            if datetime.fromtimestamp(middle, self.zone).utcoffset() == after:
                high = middle
            else:
                low = middle
        return high * US_PER_S

    def local_ordinal(self, at: int) -> int:
        """Date ordinal of the local day containing the instant.

        Kept per UTC hour when the whole hour lies in one local day at one UTC offset (all but
        the hours holding a local midnight or an offset change), since instants of a stream cluster.
        """
        hour = at // _HOUR_US
        found = self._ordinal_by_hour.get(hour)
        if found is not None:
            return found
        local = datetime.fromtimestamp(at // US_PER_S, self.zone)
        first = datetime.fromtimestamp(hour * 3600, self.zone)
        last = datetime.fromtimestamp(hour * 3600 + 3599, self.zone)
        if first.toordinal() == last.toordinal() and first.utcoffset() == last.utcoffset():
            if len(self._ordinal_by_hour) >= _HOUR_CACHE_MAX:
                self._ordinal_by_hour.clear()
            self._ordinal_by_hour[hour] = first.toordinal()
        return local.toordinal()

    def covered_us(self, start: int, end: int) -> int:
        """Covered microseconds in [start, end), summed window by window."""
        if end <= start:
            return 0
        total = 0
        # One day past the end's local day: where midnight repeats (a fall-back at 00:00), the
        # next day's first window can begin while the local date is still the previous one.
        for ordinal in range(self.local_ordinal(start), self.local_ordinal(end) + 2):
            for opens, closes in self.windows(ordinal):
                lo = opens if opens > start else start
                hi = closes if closes < end else end
                if hi > lo:
                    total += hi - lo
        return total

    def add_us(self, start: int, amount: int) -> int:
        """Walk windows from `start` until `amount` covered microseconds are used up."""
        found = self.add_us_each(start, (amount,))
        if not found:
            raise CoverageError(f"{self.name}: no covered time in {MAX_EMPTY_DAYS} days")
        return found[0]

    def add_us_each(self, start: int, amounts: Sequence[int]) -> list[int]:
        """`add_us` of each of `amounts` (ascending) in one walk over the windows: the instants of
        a clock's thresholds share their start, so one walk answers them all."""
        found: list[int] = []
        count = len(amounts)
        while len(found) < count and amounts[len(found)] <= 0:
            found.append(start)
        if len(found) == count:
            return found
        amount = amounts[len(found)]
        used = 0   # covered µs walked so far
        ordinal = self.local_ordinal(start)
        empty_days = 0
        windows = self.windows
        while empty_days < MAX_EMPTY_DAYS:
            day = windows(ordinal)
            ordinal += 1
            some = False
            for opens, closes in day:
                if closes <= start:
                    continue
                some = True
                begin = opens if opens > start else start
                available = closes - begin
                while amount - used <= available:
                    found.append(begin + amount - used)
                    if len(found) == count:
                        return found
                    amount = amounts[len(found)]
                used += available
            empty_days = 0 if some else empty_days + 1
        return found

    def is_covered(self, at: int) -> bool:
        """Whether the instant lies inside a window of its local day (or of the next one)."""
        ordinal = self.local_ordinal(at)
        return any(opens <= at < closes for day in (ordinal, ordinal + 1) for opens, closes in self.windows(day))


def seconds_of_day(at: time) -> int:
    """Local seconds since midnight of a wall-clock time."""
    return at.hour * 3600 + at.minute * 60 + at.second


class DailyWindows(WeeklyWindows):
    """One window per local day, the same on chosen weekdays, minus holidays.

    `open_at`/`close_at` are local wall-clock times; `close_at=None` means the end of the
    local day (the next local midnight), so 24x5 is weekdays 0-4 from 00:00 to None.
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
        span = (seconds_of_day(open_at), DAY_SECONDS if close_at is None else seconds_of_day(close_at))
        super().__init__(name, zone, {weekday: (span,) for weekday in weekdays}, holidays)
        self.weekdays = weekdays
        self.open_at = open_at
        self.close_at = close_at


class HolidayDates:
    """Closed local days: a `holidays` package calendar (optional) plus explicit dates."""

    def __init__(self, country: Container[date] | None = None, dates: Iterable[date] = ()) -> None:
        self.country = country
        self.dates = frozenset(dates)

    def __contains__(self, day: object) -> bool:
        return day in self.dates or (self.country is not None and day in self.country)


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
