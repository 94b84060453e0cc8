"""Weekly schedules (split shifts, per-day hours, 24:00), holiday dates: worked examples and properties.

Every expected instant below is computed by hand in the comment next to it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.calendar import (
    DAY_SECONDS,
    US_PER_S,
    AlwaysCovered,
    CoverageError,
    HolidayDates,
    Span,
    WeeklyWindows,
    naive_add_minutes,
    to_us,
)

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
LA = ZoneInfo("America/Los_Angeles")
H = 3600 * US_PER_S
M = 60 * US_PER_S


def utc(*args: int) -> int:
    return to_us(datetime(*args, tzinfo=UTC))


def hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def spans(*texts: str) -> tuple[Span, ...]:
    return tuple((hm(t.split("-")[0]), hm(t.split("-")[1])) for t in texts)


SPLIT = spans("08:00-12:00", "13:00-18:00")
#: The issue's support desk: Monday 10:30-18:00, Tuesday-Friday split shifts, Saturday morning.
SUPPORT_WEEK = {0: spans("10:30-18:00"), 1: SPLIT, 2: SPLIT, 3: SPLIT, 4: SPLIT, 5: spans("09:00-13:00")}


def desk(zone: ZoneInfo = BERLIN, holidays: HolidayDates | None = None) -> WeeklyWindows:
    return WeeklyWindows("support-desk", zone, SUPPORT_WEEK, holidays)


# ----------------------------------------------------------------------------- worked examples


def test_split_shift_target_crosses_the_lunch_gap_and_the_night() -> None:
    # Tue 2026-11-24 11:00 CET (10:00Z), 8 h: 11-12 (1 h) + 13-18 (5 h) + Wed 08:00-10:00 (2 h).
    assert desk().add_us(utc(2026, 11, 24, 10), 8 * H) == utc(2026, 11, 25, 9)
    # Lunch is not covered: 11:30 to 13:30 local holds one hour.
    assert desk().covered_us(utc(2026, 11, 24, 10, 30), utc(2026, 11, 24, 12, 30)) == H
    assert not desk().is_covered(utc(2026, 11, 24, 11, 30))


def test_target_ending_at_the_lunch_close_is_due_at_noon() -> None:
    # Tue 09:00 CET + 3 h = 12:00 CET (11:00Z), not 13:00.
    assert desk().add_us(utc(2026, 11, 24, 8), 3 * H) == utc(2026, 11, 24, 11)


def test_monday_opens_late() -> None:
    # Mon 2026-11-30 08:00 CET is before the 10:30 opening: 10:30 + 1 h = 11:30 CET (10:30Z).
    assert desk().add_us(utc(2026, 11, 30, 7), H) == utc(2026, 11, 30, 10, 30)
    # Monday has no lunch gap: 10:30-18:00 is 7.5 h in one stretch.
    assert desk().covered_us(utc(2026, 11, 30, 0), utc(2026, 12, 1, 0)) == 7 * H + 30 * M


def test_saturday_half_day() -> None:
    # Fri 2026-11-27 17:00 CET (16:00Z), 4 h: Fri 17-18 (1 h) + Sat 09:00-12:00 (3 h) -> Sat 11:00Z.
    assert desk().add_us(utc(2026, 11, 27, 16), 4 * H) == utc(2026, 11, 28, 11)
    # Sat 12:00 CET, 3 h: Sat 12-13 (1 h), Sunday closed, Mon 10:30 + 2 h = 12:30 CET (11:30Z).
    assert desk().add_us(utc(2026, 11, 28, 11), 3 * H) == utc(2026, 11, 30, 11, 30)


def test_a_holiday_date_closes_the_whole_local_day() -> None:
    # Wed 2026-11-25 closed: Tue 17:00 CET + 3 h = Tue 17-18 (1 h), Thu 08:00-10:00 (2 h) -> Thu 09:00Z.
    closed = desk(holidays=HolidayDates(dates=[date(2026, 11, 25)]))
    assert closed.add_us(utc(2026, 11, 24, 16), 3 * H) == utc(2026, 11, 26, 9)
    assert closed.covered_us(utc(2026, 11, 25, 0), utc(2026, 11, 26, 0)) == 0


def test_whole_day_schedule_with_a_holiday() -> None:
    # Round the clock in Berlin but 25 December: Thu 24 Dec 20:00 CET (19:00Z) + 8 h =
    # 4 h to midnight, Fri 25 closed, Sat 26 00:00 + 4 h = 04:00 CET (03:00Z).
    whole = WeeklyWindows("always-but-christmas", BERLIN, dict.fromkeys(range(7), ((0, DAY_SECONDS),)),
                          HolidayDates(dates=[date(2026, 12, 25)]))
    assert whole.add_us(utc(2026, 12, 24, 19), 8 * H) == utc(2026, 12, 26, 3)
    assert whole.covered_us(utc(2026, 12, 21), utc(2026, 12, 28)) == 6 * 24 * H


def test_window_to_2400_and_window_from_0000_are_one_stretch() -> None:
    night = WeeklyWindows("night", BERLIN, {5: spans("22:00-24:00"), 6: spans("00:00-06:00")})
    midnight = utc(2026, 11, 28, 23)  # Sat 24:00 = Sun 00:00 CET
    assert night.is_covered(midnight) and night.is_covered(midnight - 1)
    # 2 h exactly runs out at midnight: due at that instant (the close of Saturday's window).
    assert night.add_us(utc(2026, 11, 28, 21), 2 * H) == midnight
    assert night.add_us(utc(2026, 11, 28, 21), 3 * H) == utc(2026, 11, 29, 0)


def test_midnight_stretch_across_berlin_spring_forward() -> None:
    # Sat 2026-03-28 22:00 CET (21:00Z) to Sun 06:00 CEST (04:00Z): the clock skips 02:00-03:00,
    # so Sunday's 00:00-06:00 holds 5 h; 7 h from Saturday 22:00 end exactly at Sunday 06:00.
    night = WeeklyWindows("night", BERLIN, {5: spans("22:00-24:00"), 6: spans("00:00-06:00")})
    assert night.covered_us(utc(2026, 3, 28), utc(2026, 3, 30)) == 7 * H
    assert night.add_us(utc(2026, 3, 28, 21), 7 * H) == utc(2026, 3, 29, 4)
    assert all(night.is_covered(utc(2026, 3, 28, 21) + n * 15 * M) for n in range(7 * 4))


def test_midnight_stretch_across_berlin_fall_back() -> None:
    # Sat 2026-10-24 22:00 CEST (20:00Z) to Sun 06:00 CET (05:00Z): 02:00-03:00 happens twice: 9 h.
    night = WeeklyWindows("night", BERLIN, {5: spans("22:00-24:00"), 6: spans("00:00-06:00")})
    assert night.covered_us(utc(2026, 10, 24), utc(2026, 10, 26)) == 9 * H
    assert night.add_us(utc(2026, 10, 24, 20), 9 * H) == utc(2026, 10, 25, 5)


def test_openings_that_begin_or_end_in_the_skipped_hour_are_cut_at_the_change() -> None:
    # Berlin Sun 2026-03-29: at 02:00 CET (01:00Z) clocks jump to 03:00 CEST; 02:00-03:00 never happens.
    # "00:00-02:30": open from 00:00 CET (Sat 23:00Z) until the jump (01:00Z), 2 h; 03:15 CEST is closed.
    early = WeeklyWindows("early", BERLIN, {6: spans("00:00-02:30")})
    assert early.covered_us(utc(2026, 3, 28), utc(2026, 3, 30)) == 2 * H
    assert not early.is_covered(utc(2026, 3, 29, 1, 15))
    assert early.add_us(utc(2026, 3, 28, 23), 2 * H) == utc(2026, 3, 29, 1)
    # "02:30-04:00": the desk is open when the clock first shows a time after 02:30, i.e. 03:00 CEST
    # (01:00Z), until 04:00 CEST (02:00Z): 1 h.
    late = WeeklyWindows("late", BERLIN, {6: spans("02:30-04:00")})
    assert late.covered_us(utc(2026, 3, 28), utc(2026, 3, 30)) == H
    assert late.is_covered(utc(2026, 3, 29, 1, 15))
    assert late.add_us(utc(2026, 3, 28), 30 * M) == utc(2026, 3, 29, 1, 30)
    # Los Angeles Sun 2026-03-08: 02:00 PST (10:00Z) jumps to 03:00 PDT; "01:00-02:30" holds 1 h.
    night = WeeklyWindows("night", LA, {6: spans("01:00-02:30")})
    assert night.covered_us(utc(2026, 3, 7), utc(2026, 3, 9)) == H
    # Inside the skipped hour entirely: no instant, no coverage that day (the next Sunday has 30 min).
    ghost = WeeklyWindows("ghost", BERLIN, {6: spans("02:15-02:45")})
    assert ghost.covered_us(utc(2026, 3, 28), utc(2026, 3, 30)) == 0
    assert ghost.add_us(utc(2026, 3, 28), 30 * M) == utc(2026, 4, 5, 0, 45)


@pytest.mark.parametrize(
    ("zone", "start", "due"),
    [
        # Berlin, spring forward Sun 2026-03-29. Fri 27 Mar 11:00 CET (10:00Z), 12 h: Fri 11-12, 13-18
        # (6 h), Sat 09-13 (4 h), Mon 30 Mar 10:30 CEST + 2 h = 12:30 CEST (10:30Z).
        (BERLIN, utc(2026, 3, 27, 10), utc(2026, 3, 30, 10, 30)),
        # Berlin, fall back Sun 2026-10-25. Fri 23 Oct 11:00 CEST (09:00Z) -> Mon 26 Oct 12:30 CET (11:30Z).
        (BERLIN, utc(2026, 10, 23, 9), utc(2026, 10, 26, 11, 30)),
        # Los Angeles, spring forward Sun 2026-03-08. Fri 6 Mar 11:00 PST (19:00Z) -> Mon 9 Mar 12:30 PDT (19:30Z).
        (LA, utc(2026, 3, 6, 19), utc(2026, 3, 9, 19, 30)),
        # Los Angeles, fall back Sun 2026-11-01. Fri 30 Oct 11:00 PDT (18:00Z) -> Mon 2 Nov 12:30 PST (20:30Z).
        (LA, utc(2026, 10, 30, 18), utc(2026, 11, 2, 20, 30)),
    ],
)
def test_split_shifts_across_dst_change_weeks(zone: ZoneInfo, start: int, due: int) -> None:
    assert desk(zone).add_us(start, 12 * H) == due
    assert desk(zone).covered_us(start, due) == 12 * H


def test_invalid_weeks_are_refused() -> None:
    with pytest.raises(ValueError, match="no weekday"):
        WeeklyWindows("empty", BERLIN, {})
    with pytest.raises(ValueError, match="overlap"):
        WeeklyWindows("bad", BERLIN, {0: spans("08:00-12:00", "11:00-13:00")})


def test_holiday_dates_combine_a_country_calendar_and_explicit_days() -> None:
    country = {date(2026, 1, 1)}
    closed = HolidayDates(country, [date(2026, 12, 24)])
    assert date(2026, 1, 1) in closed and date(2026, 12, 24) in closed and date(2026, 12, 23) not in closed
    assert date(2026, 12, 24) in HolidayDates(dates=[date(2026, 12, 24)])


# ----------------------------------------------------------------------------- properties

ZONES = [ZoneInfo(name) for name in (
    "UTC", "Europe/Berlin", "America/Los_Angeles", "Europe/London", "Asia/Jerusalem", "Australia/Sydney",
    "Asia/Kolkata", "America/Santiago", "America/Havana",
)]
BOUNDS = [0, 30, 360, 480, 600, 630, 720, 780, 1080, 1320, 1410, 1439, 1440]


@st.composite
def day_spans(draw: st.DrawFn) -> tuple[Span, ...]:
    """0-3 ascending openings of one day, on minutes (00:00 and 24:00 are likely)."""
    points = sorted(draw(st.lists(st.sampled_from(BOUNDS) | st.integers(0, 1440), unique=True, max_size=6)))
    return tuple((points[i] * 60, points[i + 1] * 60) for i in range(0, len(points) - 1, 2))


@st.composite
def weekly_calendars(draw: st.DrawFn) -> tuple[WeeklyWindows, int]:
    """An arbitrary weekly schedule in an arbitrary zone with holidays near a start instant (minute-aligned)."""
    week = {day: draw(day_spans()) for day in range(7)}
    if not any(week.values()):
        week[draw(st.integers(0, 6))] = ((draw(st.integers(0, 1439)) * 60, DAY_SECONDS),)
    start_min = draw(st.integers(utc(2020, 1, 1) // M, utc(2030, 12, 31) // M))
    first = datetime.fromtimestamp(start_min * 60, UTC).date()
    holidays = {first + timedelta(days=n) for n in draw(st.lists(st.integers(-1, 40), max_size=6))}
    calendar = WeeklyWindows("arbitrary", draw(st.sampled_from(ZONES)), week, HolidayDates(dates=holidays))
    return calendar, start_min * M


def weekly_minutes(calendar: WeeklyWindows) -> int:
    return sum(end - begin for day in calendar.week for begin, end in day) // 60


@settings(max_examples=300, deadline=None)
@given(weekly_calendars(), st.integers(1, 5 * 24 * H), st.integers(0, 59 * US_PER_S))
def test_covered_time_from_start_to_due_equals_the_target(drawn: tuple[WeeklyWindows, int], amount: int, jitter: int) -> None:
    calendar, start = drawn
    start += jitter
    due = calendar.add_us(start, amount)
    assert calendar.covered_us(start, due) == amount


@settings(max_examples=300, deadline=None)
@given(weekly_calendars(), st.integers(1, 5 * 24 * H))
def test_due_is_the_first_instant_reaching_the_target(drawn: tuple[WeeklyWindows, int], amount: int) -> None:
    calendar, start = drawn
    due = calendar.add_us(start, amount)
    assert calendar.covered_us(start, due - 1) == amount - 1
    assert calendar.is_covered(due - 1)


@settings(max_examples=300, deadline=None)
@given(weekly_calendars(), st.integers(0, 10 * 24 * H), st.integers(0, 10 * 24 * H))
def test_covered_time_is_additive(drawn: tuple[WeeklyWindows, int], x: int, y: int) -> None:
    calendar, start = drawn
    middle, end = start + x, start + x + y
    assert calendar.covered_us(start, end) == calendar.covered_us(start, middle) + calendar.covered_us(middle, end)


@settings(max_examples=150, deadline=None)
@given(weekly_calendars(), st.integers(1, 10**6))
def test_agrees_with_naive_minute_stepping(drawn: tuple[WeeklyWindows, int], seed: int) -> None:
    calendar, start = drawn
    # Up to two weeks' worth of covered minutes, so the naive walk stays short.
    minutes = 1 + seed % min(2 * weekly_minutes(calendar), 3 * 1440)
    assert calendar.add_us(start, minutes * M) == naive_add_minutes(calendar.is_covered, start, minutes * M)


@settings(max_examples=300, deadline=None)
@given(weekly_calendars(), st.lists(st.integers(-H, 10 * 24 * H), max_size=6), st.integers(0, 59 * US_PER_S))
def test_add_us_each_is_add_us_of_each_amount(drawn: tuple[WeeklyWindows, int], amounts: list[int], jitter: int) -> None:
    # the engine finds all threshold instants of a clock in one walk: the same instants, one by one
    calendar, start = drawn
    start += jitter
    amounts.sort()
    assert calendar.add_us_each(start, amounts) == [calendar.add_us(start, amount) for amount in amounts]
    assert AlwaysCovered().add_us_each(start, amounts) == [AlwaysCovered().add_us(start, amount) for amount in amounts]


def test_add_us_each_stops_where_the_calendar_runs_out() -> None:
    # a desk closed for the 900 days after the first target: the second is never reached, as add_us says
    calendar = desk(holidays=HolidayDates(dates=[date(2026, 12, 1) + timedelta(days=n) for n in range(900)]))
    start = utc(2026, 11, 30, 9)
    first = calendar.add_us(start, H)
    with pytest.raises(CoverageError):
        calendar.add_us(start, 20 * H)
    assert calendar.add_us_each(start, [H, 20 * H, 30 * H]) == [first]


_ODD_ZONES = [ZoneInfo(name) for name in (
    "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe", "America/Havana", "Pacific/Chatham", "America/Santiago",
    "Europe/Berlin", "America/Los_Angeles", "Pacific/Apia", "Africa/Casablanca", "America/St_Johns", "Asia/Tehran",
)]


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(_ODD_ZONES), st.integers(utc(1900, 1, 2) // M, utc(2040, 1, 1) // M), st.integers(0, M - 1),
       st.lists(st.integers(-48 * 60, 48 * 60), max_size=4))
def test_local_ordinal_kept_per_hour_is_the_zone_reading(zone: ZoneInfo, minute: int, jitter: int, near: list[int]) -> None:
    # midnight offset changes (Havana, Santiago), half-hour offsets and DST (Lord Howe), a skipped day (Apia)
    calendar = desk(zone)
    for at in [minute * M + jitter] + [minute * M + jitter + n * M for n in near]:
        expected = datetime.fromtimestamp(at // US_PER_S, zone).toordinal()
        assert calendar.local_ordinal(at) == expected   # found or computed
        assert calendar.local_ordinal(at) == expected   # kept
