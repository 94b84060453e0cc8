"""Calendar arithmetic: worked examples, DST, and hypothesis properties."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.calendar import (
    US_PER_S,
    AlwaysCovered,
    CoverageError,
    DailyWindows,
    business_hours,
    from_us,
    naive_add_minutes,
    to_us,
    twenty_four_five,
)

UTC = timezone.utc
LA = ZoneInfo("America/Los_Angeles")
LONDON = ZoneInfo("Europe/London")
TOKYO = ZoneInfo("Asia/Tokyo")
SINGAPORE = ZoneInfo("Asia/Singapore")
JERUSALEM = ZoneInfo("Asia/Jerusalem")
H = 3600 * US_PER_S


def utc(*args: int) -> int:
    return to_us(datetime(*args, tzinfo=UTC))


def london_bh() -> DailyWindows:
    return business_hours(LONDON, time(9), time(17))


def test_24x7_adds_and_measures_plain_time() -> None:
    cov = AlwaysCovered()
    assert cov.add_us(utc(2026, 11, 25, 10), H) == utc(2026, 11, 25, 11)
    assert cov.covered_us(utc(2026, 11, 25, 10), utc(2026, 11, 26, 10)) == 24 * H
    assert cov.covered_us(utc(2026, 11, 26), utc(2026, 11, 25)) == 0


def test_business_hours_rolls_over_the_weekend() -> None:
    # Friday 2026-11-27 16:00 London (GMT): one hour left on Friday, three on Monday.
    assert london_bh().add_us(utc(2026, 11, 27, 16), 4 * H) == utc(2026, 11, 30, 12)


def test_start_outside_hours_counts_from_next_opening() -> None:
    # Saturday start: Monday 09:00 + 2 h.
    assert london_bh().add_us(utc(2026, 11, 28, 12), 2 * H) == utc(2026, 11, 30, 11)
    # Before opening on a weekday.
    assert london_bh().add_us(utc(2026, 11, 25, 6, 30), H) == utc(2026, 11, 25, 10)


def test_target_ending_at_close_is_due_at_close_not_next_opening() -> None:
    assert london_bh().add_us(utc(2026, 11, 25, 9), 8 * H) == utc(2026, 11, 25, 17)
    assert london_bh().add_us(utc(2026, 11, 25, 13), 4 * H) == utc(2026, 11, 25, 17)


def test_window_is_half_open() -> None:
    cov = london_bh()
    assert cov.is_covered(utc(2026, 11, 25, 9))
    assert not cov.is_covered(utc(2026, 11, 25, 17))
    assert cov.is_covered(utc(2026, 11, 25, 16, 59, 59))


def test_seconds_and_microseconds_are_kept() -> None:
    start = utc(2026, 11, 25, 10, 0, 7) + 123
    assert london_bh().add_us(start, 90 * US_PER_S) == utc(2026, 11, 25, 10, 1, 37) + 123


def test_24x5_runs_monday_midnight_to_saturday_midnight_local() -> None:
    cov = twenty_four_five(LONDON)
    # Friday 23:30 GMT + 1 h -> 30 min on Friday, Monday 00:30.
    assert cov.add_us(utc(2026, 11, 27, 23, 30), H) == utc(2026, 11, 30, 0, 30)
    assert cov.covered_us(utc(2026, 11, 23), utc(2026, 11, 30)) == 5 * 24 * H


def test_24x5_across_los_angeles_fall_back() -> None:
    # Fri 2026-10-30 23:30 PDT (Sat 06:30Z); DST ends Sun Nov 1; Monday 00:00 PST is 08:00Z.
    cov = twenty_four_five(LA)
    start = to_us(datetime(2026, 10, 30, 23, 30, tzinfo=LA))
    assert start == utc(2026, 10, 31, 6, 30)
    assert cov.add_us(start, H) == utc(2026, 11, 2, 8, 30)


def test_business_hours_across_los_angeles_fall_back() -> None:
    # Fri Oct 30 17:00 PDT: 30 min left; Mon Nov 2 06:00 PST = 14:00Z, + 3.5 h.
    cov = business_hours(LA, time(6), time(17, 30))
    assert cov.add_us(utc(2026, 10, 31, 0), 4 * H) == utc(2026, 11, 2, 17, 30)


def test_business_hours_across_los_angeles_spring_forward() -> None:
    # Fri Mar 6 2026 17:00 PST (Sat 01:00Z); Mon Mar 9 06:00 PDT = 13:00Z, + 3.5 h.
    cov = business_hours(LA, time(6), time(17, 30))
    assert cov.add_us(utc(2026, 3, 7, 1), 4 * H) == utc(2026, 3, 9, 16, 30)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # BST ends Sun 2026-10-25: Fri 16:00 BST (15:00Z) -> Mon 09:00 GMT + 1 h.
        (utc(2026, 10, 23, 15), utc(2026, 10, 26, 10)),
        # BST starts Sun 2026-03-29: Fri 16:00 GMT -> Mon 09:00 BST (08:00Z) + 1 h.
        (utc(2026, 3, 27, 16), utc(2026, 3, 30, 9)),
    ],
)
def test_london_business_hours_across_dst(start: int, expected: int) -> None:
    assert london_bh().add_us(start, 2 * H) == expected


def test_local_day_of_23_hours_is_honoured() -> None:
    # Israel starts DST on Friday 2026-03-27 at 02:00: that Friday lasts 23 hours.
    cov = twenty_four_five(JERUSALEM)
    friday = to_us(datetime(2026, 3, 27, tzinfo=JERUSALEM))
    saturday = to_us(datetime(2026, 3, 28, tzinfo=JERUSALEM))
    assert cov.covered_us(friday, saturday) == 23 * H
    assert cov.add_us(friday, 23 * H) == saturday


def test_local_day_of_25_hours_is_honoured() -> None:
    # A 24x7-on-weekdays calendar on a day with fall-back: Mon-Sun all days, London Sun Oct 25.
    cov = DailyWindows("all-days", LONDON, frozenset(range(7)), time(0), None)
    sunday = to_us(datetime(2026, 10, 25, tzinfo=LONDON))
    monday = to_us(datetime(2026, 10, 26, tzinfo=LONDON))
    assert cov.covered_us(sunday, monday) == 25 * H


def test_holidays_remove_whole_days() -> None:
    holidays = {date(2026, 12, 25)}
    cov = business_hours(LONDON, time(9), time(17), holidays)
    # Thu 24 Dec 16:00 + 2 h: 1 h Thursday, Friday 25 is a holiday, Monday 28 09:00 + 1 h.
    assert cov.add_us(utc(2026, 12, 24, 16), 2 * H) == utc(2026, 12, 28, 10)
    tf = twenty_four_five(LONDON, holidays)
    assert tf.covered_us(utc(2026, 12, 21), utc(2026, 12, 28)) == 4 * 24 * H


def test_empty_calendar_raises_instead_of_looping() -> None:
    every_day = {date(2026, 1, 1) + timedelta(days=n) for n in range(2000)}
    cov = business_hours(LONDON, time(9), time(17), every_day)
    with pytest.raises(CoverageError):
        cov.add_us(utc(2026, 1, 1), H)


def test_close_must_follow_open() -> None:
    with pytest.raises(ValueError):
        business_hours(LONDON, time(17), time(9))


def test_datetime_wrappers_round_trip() -> None:
    cov = london_bh()
    start = datetime(2026, 11, 27, 16, tzinfo=UTC)
    due = cov.add_covered(start, 4 * 3600)
    assert due == datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert cov.covered_seconds(start, due) == 4 * 3600
    assert from_us(to_us(start)) == start
    with pytest.raises(ValueError):
        to_us(datetime(2026, 1, 1))


# ----------------------------------------------------------------------------- properties

CALENDARS = [
    AlwaysCovered(),
    twenty_four_five(LA),
    twenty_four_five(LONDON),
    twenty_four_five(JERUSALEM),
    business_hours(LA, time(6), time(17, 30)),
    business_hours(LONDON, time(9), time(17)),
    business_hours(SINGAPORE, time(9), time(17)),
    business_hours(TOKYO, time(9), time(17, 30)),
    business_hours(LONDON, time(9), time(17), {date(2026, 12, 25), date(2026, 12, 28), date(2027, 1, 1)}),
]
calendars = st.sampled_from(CALENDARS)
instants = st.integers(min_value=utc(2020, 1, 1), max_value=utc(2030, 12, 31))
amounts = st.integers(min_value=1, max_value=5 * 24 * H)


@settings(max_examples=400, deadline=None)
@given(calendars, instants, amounts)
def test_covered_time_from_start_to_due_equals_target(cov: DailyWindows, start: int, amount: int) -> None:
    due = cov.add_us(start, amount)
    assert due >= start
    assert cov.covered_us(start, due) == amount


@settings(max_examples=300, deadline=None)
@given(calendars, instants, instants, amounts)
def test_due_is_non_decreasing_in_start(cov: DailyWindows, a: int, b: int, amount: int) -> None:
    first, second = sorted((a, b))
    assert cov.add_us(first, amount) <= cov.add_us(second, amount)


@settings(max_examples=300, deadline=None)
@given(calendars, instants, st.integers(0, 10 * 24 * H), st.integers(0, 10 * 24 * H))
def test_covered_time_is_additive(cov: DailyWindows, start: int, x: int, y: int) -> None:
    middle, end = start + x, start + x + y
    assert cov.covered_us(start, end) == cov.covered_us(start, middle) + cov.covered_us(middle, end)


@settings(max_examples=300, deadline=None)
@given(calendars, instants, amounts)
def test_due_is_the_first_such_instant(cov: DailyWindows, start: int, amount: int) -> None:
    due = cov.add_us(start, amount)
    # One microsecond earlier the target was not yet reached, and due lies in or at a window's edge.
    assert cov.covered_us(start, due - 1) < amount
    assert cov.is_covered(due - 1)


@settings(max_examples=60, deadline=None)
@given(calendars, st.integers(utc(2020, 1, 1) // (60 * US_PER_S), utc(2030, 1, 1) // (60 * US_PER_S)),
       st.integers(1, 3 * 24 * 60))
def test_agrees_with_naive_minute_stepping_on_minute_grid(cov: DailyWindows, start_min: int, minutes: int) -> None:
    start, amount = start_min * 60 * US_PER_S, minutes * 60 * US_PER_S
    assert cov.add_us(start, amount) == naive_add_minutes(cov.is_covered, start, amount)
