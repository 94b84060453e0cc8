"""The extended policy format: what validates, what resolves to what, and the precise errors."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from monitor import policies_cli
from monitor.core.calendar import to_us
from monitor.core.policy import PolicyError, parse_catalog, parse_offset, parse_span

BASE = """
[regions.emea]
timezone = "Europe/London"
open = "09:00"
close = "17:00"

[calendars.desk]
timezone = "Europe/Berlin"
week = { mon = ["10:30-18:00"], tue = ["08:00-12:00", "13:00-18:00"], sat = ["09:00-13:00"] }

[plans.gold]
priorities = ["P1"]
[plans.gold.first_response]
P1 = { calendar = "desk", target = "4h" }
"""


def test_spans_and_offsets_parse() -> None:
    assert parse_span("08:00-12:00") == (8 * 3600, 12 * 3600)
    assert parse_span("00:00-24:00") == (0, 86_400)
    assert parse_span("9:15:30-10:00") == (9 * 3600 + 15 * 60 + 30, 36_000)
    assert parse_offset("-30m", "-") == 1800 and parse_offset("+1h30m", "+") == 5400
    for bad in ["12:00-08:00", "08:00-08:00", "24:00-24:00", "08:00-24:30", "8-12", "25:00-26:00", "08:60-09:00"]:
        with pytest.raises(ValueError):
            parse_span(bad)
    for bad in ["30m", "+30m", "-", "-0m", "-soon"]:
        with pytest.raises(ValueError):
            parse_offset(bad, "-")


def test_named_calendar_levels_resolve() -> None:
    text = BASE.replace('target = "4h" }', 'target = "4h", warnings = [0.5, "-30m", 0.875], escalations = ["+4h", "+1h"] }')
    rule = parse_catalog(text, "p.toml").rule("gold", "P1", "emea", "first_response")
    assert rule is not None and rule.calendar == "desk"
    # 0.875 and -30m are the same instant of a 4 h target: one level (the fraction, listed first).
    assert rule.thresholds == (0.5, 0.875, 1.0, 1.25, 2.0)
    assert rule.warnings == (0.5, 0.875)
    assert [(lv.offset, lv.offset_seconds) for lv in rule.escalations] == [("+1h", 3600), ("+4h", 14400)]
    assert rule.level(1.25).amount_us == 5 * 3600 * 10**6


def test_plan_and_catalog_level_defaults_apply_to_cells() -> None:
    text = 'warnings = ["-10m"]\nescalations = ["+2h"]\n' + BASE
    rule = parse_catalog(text, "p.toml").rule("gold", "P1", "emea", "first_response")
    assert rule is not None and rule.thresholds == (230 / 240, 1.0, 1.5)


def test_region_week_and_business_days() -> None:
    text = BASE.replace('open = "09:00"\nclose = "17:00"', 'week = { mon = ["09:00-13:00", "14:00-18:00"], fri = ["10:00-18:00"] }')
    text = text.replace('calendar = "desk", target = "4h"', 'calendar = "business_hours", target = "2 business_days"')
    catalog = parse_catalog(text, "p.toml")
    assert catalog.regions["emea"].business_day_seconds == 8 * 3600
    assert catalog.rule("gold", "P1", "emea", "first_response").target_seconds == 16 * 3600  # type: ignore[union-attr]


def test_holidays_accept_subdivision_its_alias_and_toml_dates() -> None:
    for table in ('{ country = "DE", subdivision = "BY" }', '{ country = "DE", subdiv = "BY" }',
                     '{ dates = [2026-12-24, "2026-12-31"] }'):
        catalog = parse_catalog(holidays(table), "p.toml")
        spec = catalog.calendars["desk"].holidays
        assert spec is not None
        assert spec.subdivision == "BY" or spec.dates == [date(2026, 12, 24), date(2026, 12, 31)]
    # Bavaria's 6 January (Epiphany) is a holiday there, not in Berlin state.
    text = holidays('{ country = "DE", subdiv = "BY" }').replace('sat = ["09', 'wed = ["08:00-12:00"], sat = ["09')
    coverage = parse_catalog(text, "p.toml").coverage("desk", "emea")
    jan6 = to_us(datetime(2027, 1, 6, 10, tzinfo=timezone.utc))
    assert not coverage.is_covered(jan6)


def holidays(table: str) -> str:
    """BASE with a holidays table on the named calendar."""
    return BASE.replace('sat = ["09:00-13:00"] }', f'sat = ["09:00-13:00"] }}\nholidays = {table}')


OVERRIDE = '\n[[overrides]]\nplans=["gold"]\npriorities=["P1"]\nregions=["emea"]\ncalendar="nope"\n'

INVALID = [
    (BASE.replace('"desk", target', '"nope", target'), "plans.gold.first_response.P1.calendar: unknown calendar 'nope'"),
    (BASE.replace("[calendars.desk]", "[calendars.24x5]").replace('"desk", target', '"24x5", target'),
     "calendars.24x5: '24x5' is a built-in calendar"),
    (BASE.replace('"10:30-18:00"', '"18:00-10:30"'), "calendars.desk.week.mon: '18:00-10:30' must end after it starts"),
    (BASE.replace('["08:00-12:00", "13:00-18:00"]', '["08:00-12:00", "11:00-18:00"]'),
     "calendars.desk.week.tue: '11:00-18:00' must start at or after the end of '08:00-12:00'"),
    (BASE.replace('sat = ["09:00-13:00"]', 'sun = ["9-13"]'), "calendars.desk.week.sun: '9-13' is not an opening"),
    (BASE.replace('sat = ["09:00-13:00"]', 'sunday = ["09:00-13:00"]'), "calendars.desk.week.sunday: Extra inputs"),
    (BASE.replace('week = { mon = ["10:30-18:00"], tue = ["08:00-12:00", "13:00-18:00"], sat = ["09:00-13:00"] }', "week = {}"),
     "calendars.desk.week: no day has an opening"),
    (BASE.replace('target = "4h" }', 'target = "2 business_days" }'),
     "plans.gold.first_response.P1 (region emea): target '2 business_days': the open days of calendar 'desk' differ in length"),
    (BASE.replace('target = "4h" }', 'target = "4h", warnings = ["-4h"] }'), "warning '-4h' is not shorter than the target"),
    (BASE.replace('target = "4h" }', 'target = "4h", warnings = ["30m"] }'), "'30m' must start with '-'"),
    (BASE.replace('target = "4h" }', 'target = "4h", warnings = [1.2] }'), "warning 1.2 must be a fraction between 0 and 1"),
    (BASE.replace('target = "4h" }', 'target = "4h", escalations = ["1h"] }'), "escalations: '1h' must start with '+'"),
    (BASE.replace('open = "09:00"', 'open = "09:00"\nweek = { mon = ["09:00-17:00"] }'), "regions.emea: give either open/close or week"),
    (BASE.replace('open = "09:00"\n', ""), "regions.emea: business hours need open and close"),
    (holidays('{ subdivision = "BY" }'), "subdivision 'BY' needs a country"),
    (holidays('{ country = "DE", subdiv = "BY", subdivision = "BY" }'),
     "not both"),
    (holidays('{ country = "XX" }'), "calendars.desk.holidays: Country XX"),
    (holidays('{ dates = ["2026-13-01"] }'), "calendars.desk.holidays.dates.0"),
    (holidays('{}'), "holidays need a country, dates, or both"),
    (BASE.replace('timezone = "Europe/Berlin"', 'timezone = "Mars/Olympus"'), "calendars.desk.timezone: 'Mars/Olympus' is not an IANA"),
    (BASE + OVERRIDE, "overrides[0].calendar: unknown calendar 'nope'"),
    # review12: levels that can never fire, zero offsets, absurd durations, keys below a [..week] header.
    (BASE.replace('target = "4h" }', 'target = "untimed", escalations = ["+1h"] }'),
     "plans.gold.first_response.P1: escalations need a timed target ('untimed' has no due instant)"),
    (BASE.replace('target = "4h" }', 'target = "4h", warnings = ["-0m"] }'), "warnings: '-0m' must be longer than zero"),
    (BASE.replace('target = "4h" }', 'target = "4h", escalations = ["+0h"] }'), "escalations: '+0h' must be longer than zero"),
    (BASE.replace('target = "4h" }', 'target = "99999999999999999999d" }'), "target: '99999999999999999999d' is longer than 3650 days"),
    (BASE.replace('target = "4h" }', 'target = "4h", escalations = ["+9999999d"] }'), "escalations: '+9999999d' is longer than 3650 days"),
    (BASE.replace('target = "4h" }', 'target = "9999 business_days" }'), "target: '9999 business_days' is longer than 3650 business days"),
    (BASE.replace('sat = ["09:00-13:00"] }', 'sat = ["09:00-13:00"] }').replace(
        'week = { mon = ["10:30-18:00"], tue = ["08:00-12:00", "13:00-18:00"], sat = ["09:00-13:00"] }',
        '[calendars.desk.week]\nmon = ["10:30-18:00"]\nholidays = { dates = ["2026-12-24"] }'),
     "calendars.desk.week: 'holidays' is not a weekday (mon, tue, wed, thu, fri, sat, sun); keys written below a "
     "[... .week] header belong to the week: put them above it"),
]


@pytest.mark.parametrize(("text", "expected"), INVALID)
def test_invalid_files_name_the_key_and_the_problem(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_catalog(text, "custom.toml")
    assert str(caught.value).startswith("custom.toml")
    assert expected in str(caught.value)


def test_the_issue_multi_line_inline_week_gets_a_hint() -> None:
    # The issue's own example splits `week = { ... }` over two lines: not TOML 1.0. Say why and what to write.
    text = BASE.replace('tue = ["08:00-12:00", "13:00-18:00"], sat', 'tue = ["08:00-12:00", "13:00-18:00"],\n         sat')
    with pytest.raises(PolicyError) as caught:
        parse_catalog(text, "custom.toml")
    message = str(caught.value)
    assert message.startswith("custom.toml: not valid TOML: ") and "(at line 9, column" in message
    assert "an inline table { ... } must close on the line it opens (TOML 1.0)" in message
    assert "[calendars.NAME.week] table" in message


def test_policies_check_refuses_a_file_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(BASE.replace("Gold", "Or").encode() + b"# d\xe9j\xe0 vu\n")
    assert policies_cli.main(["--check", str(path)]) == 2
    assert f"{path}: cannot read policy file: not UTF-8 text (byte 0xe9 at offset" in capsys.readouterr().err


def test_policies_check_exits_0_or_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(BASE)
    bad.write_text(INVALID[0][0])
    assert policies_cli.main(["--check", str(good)]) == 0
    assert "valid policy file" in capsys.readouterr().out
    assert policies_cli.main(["--check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown calendar 'nope'" in err and "Traceback" not in err
    assert policies_cli.main(["--check", str(tmp_path / "missing.toml")]) == 2


def test_policies_shows_named_calendars_weeks_and_holiday_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE.replace('target = "4h" }', 'target = "4h", warnings = [0.5, "-30m"], escalations = ["+1h", "+4h"] }')
    text = text.replace('sat = ["09:00-13:00"] }', 'wed = ["08:00-12:00", "13:00-18:00"], sat = ["09:00-13:00"] }\n'
                        'holidays = { country = "DE", subdivision = "BY", dates = ["2026-12-24", "2026-12-31"] }')
    path = tmp_path / "p.toml"
    path.write_text(text)
    assert policies_cli.main(["--policies", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"gold +first_response +P1 +desk +4h +0.5/-30m +\+1h/\+4h +none", out)
    assert ("desk  Europe/Berlin  mon 10:30-18:00; tue-wed 08:00-12:00, 13:00-18:00; sat 09:00-13:00  "
            "(days differ in length; holidays: DE-BY holidays + 2 dates (2026-12-24, 2026-12-31))") in out
    assert "emea  Europe/London  mon-fri 09:00-17:00  (business day 8 h; no holidays)" in out


def test_fractions_keep_their_old_levels_and_offsets_never_shadow_the_breach() -> None:
    from monitor.core.policy import resolve_levels

    # A fraction that rounds to the target's instant still gives a warning and the breach (as before).
    near_one = resolve_levels(1, [0.9999999], [])
    assert [(lv.threshold, lv.amount_us) for lv in near_one] == [(0.9999999, 1_000_000), (1.0, 1_000_000)]
    # An offset on the instant of a fraction is that fraction's level; equal escalations collapse.
    assert [lv.offset for lv in resolve_levels(3600, ["-6m", 0.9], ["+1h", "+60m"])] == [None, None, "+1h"]


def test_policies_shows_a_reopen_window_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text(BASE.replace('priorities = ["P1"]', 'priorities = ["P1"]\nreopen_window = "36h"'))
    assert policies_cli.main(["--policies", str(path)]) == 0
    assert re.search(r"gold +first_response +P1 +desk +4h +0.75/0.9 +- +1d12h", capsys.readouterr().out)
