"""The bundled catalog matches the seeds cell by cell; bad policy files fail with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core.policy import PolicyError, bundled_catalog, load_catalog, parse_catalog, parse_duration, parse_target

# The seeds' initial-response tables, transcribed by hand: plan -> priority -> (calendar, target).
ADOBE = {
    "adobe-online": {"P1": ("24x7", "1h"), "P2": ("business_hours", "4h"), "P3": ("business_hours", "6h"),
                     "P4": ("business_hours", "3 business days")},
    "adobe-business": {"P1": ("24x7", "1h"), "P2": ("business_hours", "2h"), "P3": ("business_hours", "4h"),
                       "P4": ("business_hours", "1 business day")},
    "adobe-enterprise": {"P1": ("24x7", "30m"), "P2": ("24x5", "1h"), "P3": ("business_hours", "2h"),
                         "P4": ("business_hours", "1 business day")},
}
O365_ENTERPRISE = {"A": ("24x7", "1h"), "B": ("24x7", "8h"), "C": ("24x7", "untimed")}
O365 = {
    "o365-small-business": {"A": ("24x7", "1h"), "B": ("business_hours", "untimed"), "C": ("business_hours", "untimed")},
    "o365-small-business-premium": {"A": ("24x7", "1h"), "B": ("business_hours", "untimed"),
                                    "C": ("business_hours", "untimed")},
    "o365-midsize": {"A": ("24x7", "1h"), "B": ("business_hours", "1 business day"), "C": ("business_hours", "untimed")},
    "o365-enterprise-e1": O365_ENTERPRISE,
    "o365-enterprise-e3": O365_ENTERPRISE,
    "o365-enterprise-e4": O365_ENTERPRISE,
    "o365-enterprise-k1": O365_ENTERPRISE,
    "o365-advanced": {"A": ("24x7", "1h"), "B": ("24x7", "2h"), "C": ("24x7", "4h")},
}
SEED_TABLE = {**ADOBE, **O365}
BUSINESS_DAY_HOURS = {"americas": 11.5, "emea": 8, "apac": 8, "japan": 8.5}


def test_catalog_has_exactly_the_seed_plans() -> None:
    assert set(bundled_catalog().plans) == set(SEED_TABLE)


@pytest.mark.parametrize(("plan", "priority"), [(p, q) for p, cells in SEED_TABLE.items() for q in cells])
def test_every_cell_matches_the_seeds(plan: str, priority: str) -> None:
    catalog = bundled_catalog()
    calendar, target = SEED_TABLE[plan][priority]
    rule = catalog.rule(plan, priority, "emea", "first_response")
    assert rule is not None
    assert (rule.calendar, rule.target.describe()) == (calendar, target)
    assert catalog.plans[plan].priorities == tuple(SEED_TABLE[plan])


def test_only_first_response_is_bundled() -> None:
    catalog = bundled_catalog()
    assert all(catalog.metrics(plan) == ("first_response",) for plan in catalog.plans)


@pytest.mark.parametrize("region", list(BUSINESS_DAY_HOURS))
def test_business_days_are_region_business_day_lengths(region: str) -> None:
    rule = bundled_catalog().rule("adobe-online", "P4", region, "first_response")
    assert rule is not None and rule.target_seconds == 3 * BUSINESS_DAY_HOURS[region] * 3600


def test_regions_match_the_seed_hours() -> None:
    regions = bundled_catalog().regions
    assert [(r.name, f"{r.open_at:%H:%M}", f"{r.close_at:%H:%M}", r.timezone) for r in regions.values()] == [
        ("americas", "06:00", "17:30", "America/Los_Angeles"),
        ("emea", "09:00", "17:00", "Europe/London"),
        ("apac", "09:00", "17:00", "Asia/Singapore"),
        ("japan", "09:00", "17:30", "Asia/Tokyo"),
    ]


@pytest.mark.parametrize("plan", list(ADOBE))
@pytest.mark.parametrize("priority", ["P2", "P3", "P4"])
def test_japan_rule_puts_adobe_p2_to_p4_on_business_hours(plan: str, priority: str) -> None:
    rule = bundled_catalog().rule(plan, priority, "japan", "first_response")
    assert rule is not None and rule.calendar == "business_hours"


def test_japan_rule_leaves_p1_and_office365_alone() -> None:
    catalog = bundled_catalog()
    assert catalog.rule("adobe-enterprise", "P1", "japan", "first_response").calendar == "24x7"  # type: ignore[union-attr]
    assert catalog.rule("o365-advanced", "B", "japan", "first_response").calendar == "24x7"  # type: ignore[union-attr]


def test_reopen_windows() -> None:
    plans = bundled_catalog().plans
    assert all(plans[p].reopen_window_seconds is None for p in ADOBE)
    assert all(plans[p].reopen_window_seconds == 14 * 86400 for p in O365)


def test_aliases_resolve_to_the_shared_column() -> None:
    catalog = bundled_catalog()
    for alias, plan in [("o365-education-a2", "o365-enterprise-e1"), ("o365-government-g3", "o365-enterprise-e3"),
                        ("o365-education-a4", "o365-enterprise-e4"), ("o365-government-k1", "o365-enterprise-k1")]:
        assert catalog.canonical_plan(alias) == plan
    assert catalog.canonical_plan("nope") is None


def test_default_warnings_and_untimed_thresholds() -> None:
    catalog = bundled_catalog()
    assert catalog.rule("adobe-online", "P1", "emea", "first_response").thresholds == (0.75, 0.9, 1.0)  # type: ignore[union-attr]
    assert catalog.rule("o365-midsize", "C", "emea", "first_response").thresholds == ()  # type: ignore[union-attr]


def test_load_catalog_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(MINIMAL)
    catalog = load_catalog(path)
    assert catalog.source == str(path)
    assert catalog.version.startswith("sha256:")


MINIMAL = """
[regions.emea]
timezone = "Europe/London"
open = "09:00"
close = "17:00"

[plans.gold]
priorities = ["P1"]
[plans.gold.first_response]
P1 = { calendar = "24x7", target = "15m" }
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not toml [", "not valid TOML"),
        (MINIMAL.replace('"15m"', '"soon"'), "plans.gold.first_response.P1.target: 'soon' is not a duration"),
        (MINIMAL.replace('"24x7"', '"24x6"'), "plans.gold.first_response.P1.calendar"),
        (MINIMAL.replace("Europe/London", "Europe/Atlantis"), "regions.emea.timezone: 'Europe/Atlantis' is not an IANA time zone"),
        (MINIMAL.replace('close = "17:00"', 'close = "08:00"'), "regions.emea: close 08:00 must be after open 09:00"),
        (MINIMAL.replace('P1 = {', 'P9 = {'), "plans.gold: first_response.P9: priority not in priorities"),
        (MINIMAL + "\nwarnings = [1.5]\n", "warnings"),
        (MINIMAL.replace('priorities = ["P1"]', 'priorities = ["P1"]\ncolour = "red"'), "plans.gold.colour: Extra inputs"),
        (MINIMAL + '\n[[overrides]]\nplans=["gold"]\npriorities=["P1"]\nregions=["mars"]\ncalendar="24x7"\n',
         "overrides[0].regions: unknown region 'mars'"),
    ],
)
def test_invalid_files_name_file_key_and_problem(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_catalog(text, "custom.toml")
    assert str(caught.value).startswith("custom.toml")
    assert expected in str(caught.value)


def test_unreadable_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_catalog(tmp_path / "missing.toml")


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("14d") == 14 * 86400
    assert parse_duration("90s") == 90
    assert parse_target("3 business_days").business_days == 3
    assert parse_target("untimed").untimed
    for bad in ["", "0m", "h", "1 business_days_x", "-1h"]:
        with pytest.raises(ValueError):
            parse_target(bad)


def test_holidays_opt_in_removes_days() -> None:
    text = MINIMAL.replace('close = "17:00"', 'close = "17:00"\nholidays = { country = "GB", subdiv = "ENG" }')
    text = text.replace('P1 = { calendar = "24x7", target = "15m" }', 'P1 = { calendar = "business_hours", target = "1h" }')
    catalog = parse_catalog(text, "h.toml")
    from datetime import datetime, timezone
    cov = catalog.coverage("business_hours", "emea")
    # Christmas Day and Boxing Day (observed Mon 28 Dec 2026) are English bank holidays.
    christmas_eve_close = datetime(2026, 12, 24, 16, 30, tzinfo=timezone.utc)
    assert cov.add_covered(christmas_eve_close, 3600) == datetime(2026, 12, 29, 9, 30, tzinfo=timezone.utc)
