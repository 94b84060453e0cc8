"""The policy catalog: plans, priorities, regions, calendars and targets, loaded from TOML.

`load_catalog(path)` validates the whole file and raises `PolicyError` naming the file, the key
and the problem. `Catalog.rule(plan, priority, region, metric)` answers which calendar, target,
warnings and escalation levels apply to one case metric; `Catalog.coverage(...)` builds (and
caches) the calendar itself: a built-in one (`24x7`, `24x5`, the region's `business_hours`) or a
named `[calendars.NAME]` with its own week schedule and holidays. docs/policy.md is the
reference of the file format.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, time
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monitor.core.calendar import (
    DAY_NAMES,
    DAY_SECONDS,
    US_PER_S,
    AlwaysCovered,
    Coverage,
    HolidayDates,
    Span,
    WeeklyWindows,
    business_hours,
    seconds_of_day,
    twenty_four_five,
)

METRICS: tuple[str, ...] = ("first_response", "resolution", "update")
CALENDARS: tuple[str, ...] = ("24x7", "24x5", "business_hours")
BUNDLED = "catalog.toml"

_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_BUSINESS_DAYS = re.compile(r"^\s*(\d+)\s+business[_ ]days?\s*$")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*-\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")


class PolicyError(ValueError):
    """The policy file is unreadable or invalid; the message names file, key and problem."""


#: The longest duration a file may give (targets, offsets, windows): ten years, so that every
#: instant the engine computes stays a representable date.
MAX_DURATION_DAYS = 3650


def _duration_seconds(text: str) -> int | None:
    """'1h30m' -> 5400; None when the text is not a duration."""
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _bounded(text: str, seconds: int) -> int:
    """The seconds of a duration written as `text`, when longer than zero and at most MAX_DURATION_DAYS."""
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    if seconds > MAX_DURATION_DAYS * 86_400:
        raise ValueError(f"{text!r} is longer than {MAX_DURATION_DAYS} days")
    return seconds


def parse_duration(text: str) -> int:
    """'1h30m' / '30m' / '90s' / '14d' -> seconds (> 0, at most MAX_DURATION_DAYS)."""
    seconds = _duration_seconds(text)
    if seconds is None:
        raise ValueError(f"{text!r} is not a duration like '30m', '4h', '1h30m' or '14d'")
    return _bounded(text, seconds)


def describe_duration(seconds: int) -> str:
    """Seconds as the file writes them: 1209600 -> '14d', 129600 -> '1d12h', 5400 -> '1h30m'."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = zip((days, hours, minutes, secs), "dhms", strict=True)
    return "".join(f"{value}{unit}" for value, unit in parts if value) or "0s"


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed target: fixed seconds, N business days, or untimed."""

    seconds: int | None = None
    business_days: int | None = None

    @property
    def untimed(self) -> bool:
        """True when the documents state no duration: tracked, never warns or breaches."""
        return self.seconds is None and self.business_days is None

    def describe(self) -> str:
        """Human text: '4h', '3 business days', 'untimed'."""
        if self.business_days is not None:
            return f"{self.business_days} business day{'s' if self.business_days != 1 else ''}"
        if self.seconds is None:
            return "untimed"
        hours, rest = divmod(self.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{seconds}s" if seconds else ""]
        return "".join(parts)


def parse_target(text: str) -> Target:
    """'untimed' | 'N business_days' | a duration -> Target."""
    if text.strip() == "untimed":
        return Target()
    match = _BUSINESS_DAYS.match(text)
    if match:
        days = int(match.group(1))
        if days <= 0:
            raise ValueError(f"{text!r} must be at least 1 business day")
        if days > MAX_DURATION_DAYS:
            raise ValueError(f"{text!r} is longer than {MAX_DURATION_DAYS} business days")
        return Target(business_days=days)
    return Target(seconds=parse_duration(text))


def parse_offset(text: str, sign: str) -> int:
    """'-30m' (sign '-') or '+1h' (sign '+') -> seconds (> 0)."""
    written = text.strip()
    if not written.startswith(sign):
        raise ValueError(f"{text!r} must start with {sign!r}, like {sign}30m")
    seconds = _duration_seconds(written[1:])
    if seconds is None:
        raise ValueError(f"{text!r} is not an offset like {sign}30m, {sign}1h or {sign}1h30m")
    return _bounded(text, seconds)


def _clock_seconds(hours: str, minutes: str, seconds: str | None) -> int | None:
    h, m, s = int(hours), int(minutes), int(seconds or 0)
    if m > 59 or s > 59 or h > 24 or (h == 24 and (m or s)):
        return None
    return h * 3600 + m * 60 + s


def parse_span(text: str) -> Span:
    """'08:00-12:00' -> local seconds (28800, 43200); '24:00' is the end of the day."""
    match = _SPAN.match(text)
    begin = _clock_seconds(*match.group(1, 2, 3)) if match else None
    end = _clock_seconds(*match.group(4, 5, 6)) if match else None
    if begin is None or end is None:
        raise ValueError(f"{text!r} is not an opening like '08:00-12:00' (00:00 to 24:00)")
    if end <= begin or begin >= DAY_SECONDS:
        raise ValueError(f"{text!r} must end after it starts (use '00:00-24:00' for a whole day)")
    return begin, end


# --------------------------------------------------------------------------- file schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HolidaySpec(_Strict):
    """Closed local days: a country (and subdivision) of the `holidays` package, and/or dates."""

    country: str | None = None
    subdivision: str | None = Field(default=None, validation_alias=AliasChoices("subdivision", "subdiv"))
    dates: list[date] = []

    @model_validator(mode="before")
    @classmethod
    def _one_subdivision_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "subdiv" in data and "subdivision" in data:
            raise ValueError("give 'subdivision' or its alias 'subdiv', not both")
        return data

    @model_validator(mode="after")
    def _complete(self) -> HolidaySpec:
        if self.subdivision is not None and self.country is None:
            raise ValueError(f"subdivision {self.subdivision!r} needs a country")
        if self.country is None and not self.dates:
            raise ValueError("holidays need a country, dates, or both")
        return self

    def describe(self) -> str:
        """'DE-BY holidays + 2 dates'."""
        parts = []
        if self.country:
            parts.append(f"{self.country}{'-' + self.subdivision if self.subdivision else ''} holidays")
        if self.dates:
            parts.append(f"{len(self.dates)} date{'s' if len(self.dates) != 1 else ''} ({', '.join(d.isoformat() for d in self.dates)})")
        return " + ".join(parts)


_PARENT_KEYS = frozenset({"timezone", "holidays", "open", "close"})


class WeekSpec(_Strict):
    """Openings per weekday, e.g. tue = ["08:00-12:00", "13:00-18:00"]; days left out are closed."""

    mon: list[str] = []
    tue: list[str] = []
    wed: list[str] = []
    thu: list[str] = []
    fri: list[str] = []
    sat: list[str] = []
    sun: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _no_parent_keys(cls, data: Any) -> Any:
        # A key written below a `[calendars.NAME.week]` header lands in the week table (TOML).
        for key in _PARENT_KEYS.intersection(data) if isinstance(data, dict) else ():
            raise ValueError(
                f"{key!r} is not a weekday ({', '.join(DAY_NAMES)}); keys written below a [... .week] header "
                "belong to the week: put them above it"
            )
        return data

    @field_validator("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    @classmethod
    def _spans(cls, value: list[str]) -> list[str]:
        spans = [parse_span(text) for text in value]
        for (text_a, a), (text_b, b) in zip(zip(value, spans, strict=True), zip(value[1:], spans[1:], strict=True), strict=False):
            if b[0] < a[1]:
                raise ValueError(f"{text_b!r} must start at or after the end of {text_a!r} (ascending, not overlapping)")
        return value

    @model_validator(mode="after")
    def _some_day(self) -> WeekSpec:
        if not any(getattr(self, day) for day in DAY_NAMES):
            raise ValueError("no day has an opening")
        return self

    def spans(self) -> dict[int, tuple[Span, ...]]:
        """Weekday (0 = Monday) -> its spans in local seconds."""
        return {index: tuple(parse_span(t) for t in getattr(self, day)) for index, day in enumerate(DAY_NAMES)}


class CalendarSpec(_Strict):
    """A named calendar: week schedule, optional fixed zone, optional holidays."""

    timezone: str | None = None
    week: WeekSpec
    holidays: HolidaySpec | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            _zone_or_error(value)
        return value


class RegionSpec(_Strict):
    timezone: str
    open: str | None = None
    close: str | None = None
    week: WeekSpec | None = None
    holidays: HolidaySpec | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        _zone_or_error(value)
        return value

    @field_validator("open", "close")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None:
            _clock_time(value)
        return value

    @model_validator(mode="after")
    def _order(self) -> RegionSpec:
        if self.week is not None:
            if self.open is not None or self.close is not None:
                raise ValueError("give either open/close or week, not both")
            return self
        if self.open is None or self.close is None:
            raise ValueError("business hours need open and close (or a week schedule)")
        if _clock_time(self.close) <= _clock_time(self.open):
            raise ValueError(f"close {self.close} must be after open {self.open}")
        return self


def _check_warnings(value: list[float | str] | None) -> list[float | str] | None:
    for item in value or ():
        if isinstance(item, str):
            parse_offset(item, "-")
        elif not 0 < item < 1:
            raise ValueError(f"warning {item!r} must be a fraction between 0 and 1 (exclusive) or an offset like '-30m'")
    return value


def _check_escalations(value: list[str] | None) -> list[str] | None:
    for item in value or ():
        parse_offset(item, "+")
    return value


class CellSpec(_Strict):
    calendar: str
    target: str
    warnings: list[float | str] | None = None
    escalations: list[str] | None = None

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        parse_target(value)
        return value

    _warnings = field_validator("warnings")(_check_warnings)
    _escalations = field_validator("escalations")(_check_escalations)

    @model_validator(mode="after")
    def _levels_need_a_target(self) -> CellSpec:
        if self.escalations and parse_target(self.target).untimed:
            raise ValueError("escalations need a timed target ('untimed' has no due instant)")
        return self


class PlanSpec(_Strict):
    title: str = ""
    aliases: list[str] = []
    priorities: list[str] = Field(min_length=1)
    reopen_window: str | None = None
    warnings: list[float | str] | None = None
    escalations: list[str] | None = None
    first_response: dict[str, CellSpec] = {}
    resolution: dict[str, CellSpec] = {}
    update: dict[str, CellSpec] = {}

    @field_validator("reopen_window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    _warnings = field_validator("warnings")(_check_warnings)
    _escalations = field_validator("escalations")(_check_escalations)

    @model_validator(mode="after")
    def _cells(self) -> PlanSpec:
        for metric in METRICS:
            for priority in getattr(self, metric):
                if priority not in self.priorities:
                    raise ValueError(f"{metric}.{priority}: priority not in priorities {self.priorities}")
        if not any(getattr(self, metric) for metric in METRICS):
            raise ValueError("plan defines no metric (first_response, resolution or update)")
        return self


class OverrideSpec(_Strict):
    plans: list[str]
    priorities: list[str]
    regions: list[str]
    calendar: str


class CatalogSpec(_Strict):
    version: str | None = None
    warnings: list[float | str] = [0.75, 0.9]
    escalations: list[str] = []
    calendars: dict[str, CalendarSpec] = {}
    regions: dict[str, RegionSpec] = Field(min_length=1)
    plans: dict[str, PlanSpec] = Field(min_length=1)
    overrides: list[OverrideSpec] = []

    _warnings = field_validator("warnings")(_check_warnings)
    _escalations = field_validator("escalations")(_check_escalations)

    @model_validator(mode="after")
    def _references(self) -> CatalogSpec:
        for name in self.calendars:
            if name in CALENDARS:
                raise ValueError(f"calendars.{name}: {name!r} is a built-in calendar; choose another name")
        known = (*CALENDARS, *self.calendars)
        for plan_id, plan in self.plans.items():
            for metric in METRICS:
                for priority, cell in getattr(plan, metric).items():
                    if cell.calendar not in known:
                        raise ValueError(
                            f"plans.{plan_id}.{metric}.{priority}.calendar: unknown calendar {cell.calendar!r}; "
                            f"expected one of {', '.join(known)}"
                        )
        seen: dict[str, str] = {}
        for plan_id, plan in self.plans.items():
            for name in [plan_id, *plan.aliases]:
                if name in seen:
                    raise ValueError(f"plan id or alias {name!r} is used by both {seen[name]!r} and {plan_id!r}")
                seen[name] = plan_id
        for index, override in enumerate(self.overrides):
            for plan_id in override.plans:
                if plan_id not in self.plans:
                    raise ValueError(f"overrides[{index}].plans: unknown plan {plan_id!r}")
            for region in override.regions:
                if region not in self.regions:
                    raise ValueError(f"overrides[{index}].regions: unknown region {region!r}")
            if override.calendar not in known:
                raise ValueError(f"overrides[{index}].calendar: unknown calendar {override.calendar!r}; expected one of {', '.join(known)}")
        return self


def _zone_or_error(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone") from exc


def _clock_time(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a local time HH:MM") from exc


# --------------------------------------------------------------------------- resolved catalog


def _equal_day_seconds(week: dict[int, tuple[Span, ...]]) -> int | None:
    """The common covered length of every open weekday, None when open days differ."""
    lengths = {sum(end - begin for begin, end in spans) for spans in week.values() if spans}
    return lengths.pop() if len(lengths) == 1 else None


@dataclass(frozen=True, slots=True)
class Region:
    """A support region: its zone, business hours (open/close or a week schedule), holidays."""

    name: str
    timezone: str
    open_at: time | None
    close_at: time | None
    holidays: HolidaySpec | None
    week: dict[int, tuple[Span, ...]] = field(default_factory=dict)

    @property
    def business_day_seconds(self) -> int | None:
        """Length of one business day, the unit of 'N business days'; None when the days differ."""
        return _equal_day_seconds(self.week)


@dataclass(frozen=True, slots=True)
class NamedCalendar:
    """A `[calendars.NAME]` entry: week schedule, fixed zone (or None), holidays."""

    name: str
    timezone: str | None
    week: dict[int, tuple[Span, ...]]
    holidays: HolidaySpec | None

    @property
    def business_day_seconds(self) -> int | None:
        """Length of one business day; None when the open days differ in length."""
        return _equal_day_seconds(self.week)


@dataclass(frozen=True, slots=True)
class Level:
    """One threshold of a rule: a warning (< 1), the breach (1.0) or an escalation (> 1).

    `threshold` is the fraction of the target it resolves to (the key of the emitted event and
    its `event_id`); `amount_us` the covered time from the clock's start at which it fires;
    `offset` the text as written ('-30m', '+1h') and `offset_seconds` its signed seconds.
    """

    threshold: float
    amount_us: int
    offset: str | None = None
    offset_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """What applies to one case metric: calendar, target (None = untimed), warnings, escalations."""

    metric: str
    calendar: str
    target: Target
    target_seconds: int | None
    warnings: tuple[float, ...]
    levels: tuple[Level, ...] = ()
    _by_threshold: dict[float, Level] = field(default_factory=dict, compare=False, repr=False)
    #: Warning fractions, 1.0 (the breach), then escalation fractions, ascending; empty when untimed.
    thresholds: tuple[float, ...] = field(init=False, compare=False, repr=False)
    #: Covered µs at which each threshold is reached, in `thresholds` order (ascending).
    amounts_us: tuple[int, ...] = field(init=False, compare=False, repr=False)
    #: threshold -> its index in `thresholds`.
    _index: dict[float, int] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_threshold.update({level.threshold: level for level in self.levels})
        object.__setattr__(self, "thresholds", tuple(level.threshold for level in self.levels))
        object.__setattr__(self, "amounts_us", tuple(level.amount_us for level in self.levels))
        self._index.update({level.threshold: index for index, level in enumerate(self.levels)})

    def index(self, threshold: float) -> int:
        """Position of a threshold of this rule in `thresholds` and `amounts_us`."""
        return self._index[threshold]

    @property
    def escalations(self) -> tuple[Level, ...]:
        """The levels after the breach (`sla.overdue`)."""
        return tuple(level for level in self.levels if level.threshold > 1.0)

    def level(self, threshold: float) -> Level:
        """The level of a threshold of this rule."""
        return self._by_threshold[threshold]


def resolve_levels(target_seconds: int, warnings: list[float | str], escalations: list[str]) -> tuple[Level, ...]:
    """Warnings (fractions or '-offsets'), the breach and '+offset' escalations as ascending levels.

    A fraction fires at round(fraction x target) covered µs, and fractions are kept as they always
    were (one level per distinct fraction). An offset fires at target -/+ offset exactly; an
    offset that falls on the instant of another warning (or escalation) is the same level and is
    dropped. Raises ValueError when a warning offset is not shorter than the target.
    """
    target_us = target_seconds * US_PER_S
    fractions = [float(item) for item in warnings if not isinstance(item, str)]
    levels: dict[float, Level] = {f: Level(f, round(f * target_seconds * US_PER_S)) for f in fractions}
    levels[1.0] = Level(1.0, target_us)
    offsets: list[Level] = []
    for item in warnings:
        if isinstance(item, str):
            seconds = parse_offset(item, "-")
            if seconds >= target_seconds:
                raise ValueError(f"warning {item!r} is not shorter than the target ({Target(seconds=target_seconds).describe()})")
            offsets.append(Level((target_seconds - seconds) / target_seconds, target_us - seconds * US_PER_S, item.strip(), -seconds))
    for item in escalations:
        seconds = parse_offset(item, "+")
        offsets.append(Level((target_seconds + seconds) / target_seconds, target_us + seconds * US_PER_S, item.strip(), seconds))
    for level in offsets:
        same_side = [kept for kept in levels.values() if (kept.threshold < 1.0) == (level.threshold < 1.0) and kept.threshold != 1.0]
        if level.threshold not in levels and all(kept.amount_us != level.amount_us for kept in same_side):
            levels[level.threshold] = level
    return tuple(sorted(levels.values(), key=lambda lv: (lv.amount_us, lv.threshold)))


@dataclass(frozen=True, slots=True)
class Plan:
    """One plan: priorities, per-metric cells, reopen window."""

    plan_id: str
    title: str
    aliases: tuple[str, ...]
    priorities: tuple[str, ...]
    reopen_window_seconds: int | None
    warnings: tuple[float | str, ...]
    cells: dict[str, dict[str, CellSpec]]
    escalations: tuple[str, ...] = ()


class Catalog:
    """A validated policy catalog; immutable after load."""

    def __init__(self, spec: CatalogSpec, version: str, source: str) -> None:
        self.version = version
        self.source = source
        self.regions: dict[str, Region] = {}
        for name, r in spec.regions.items():
            if r.week is not None:
                self.regions[name] = Region(name, r.timezone, None, None, r.holidays, r.week.spans())
            else:
                assert r.open is not None and r.close is not None
                open_at, close_at = _clock_time(r.open), _clock_time(r.close)
                span = (seconds_of_day(open_at), seconds_of_day(close_at))
                self.regions[name] = Region(name, r.timezone, open_at, close_at, r.holidays, {d: (span,) for d in range(5)})
        self.calendars: dict[str, NamedCalendar] = {
            name: NamedCalendar(name, c.timezone, c.week.spans(), c.holidays) for name, c in spec.calendars.items()
        }
        self.plans: dict[str, Plan] = {}
        self._alias: dict[str, str] = {}
        for plan_id, p in spec.plans.items():
            self.plans[plan_id] = Plan(
                plan_id=plan_id,
                title=p.title,
                aliases=tuple(p.aliases),
                priorities=tuple(p.priorities),
                reopen_window_seconds=parse_duration(p.reopen_window) if p.reopen_window else None,
                warnings=tuple(p.warnings if p.warnings is not None else spec.warnings),
                cells={m: dict(getattr(p, m)) for m in METRICS if getattr(p, m)},
                escalations=tuple(p.escalations if p.escalations is not None else spec.escalations),
            )
            for name in (plan_id, *p.aliases):
                self._alias[name] = plan_id
        self._overrides = [
            (frozenset(o.plans), frozenset(o.priorities), frozenset(o.regions), o.calendar) for o in spec.overrides
        ]
        self._coverages: dict[tuple[str, str, str | None], Coverage] = {}
        self._rules: dict[tuple[str, str, str, str], Rule | None] = {}
        self._metrics = {plan_id: tuple(m for m in METRICS if m in plan.cells) for plan_id, plan in self.plans.items()}

    def canonical_plan(self, plan: str) -> str | None:
        """Plan id for an id or alias, None when unknown."""
        return self._alias.get(plan)

    def metrics(self, plan_id: str) -> tuple[str, ...]:
        """Metrics the plan defines, in METRICS order."""
        return self._metrics[plan_id]

    def business_day_seconds(self, calendar: str, region: str) -> int | None:
        """The business-day length 'N business days' counts in: a named calendar's own, else the region's."""
        named = self.calendars.get(calendar)
        return named.business_day_seconds if named is not None else self.regions[region].business_day_seconds

    def rule(self, plan_id: str, priority: str, region: str, metric: str) -> Rule | None:
        """The rule for one metric of a (plan, priority, region), None when the plan lacks it."""
        key = (plan_id, priority, region, metric)
        try:
            return self._rules[key]
        except KeyError:
            pass
        plan = self.plans[plan_id]
        cell = plan.cells.get(metric, {}).get(priority)
        found: Rule | None = None
        if cell is not None:
            calendar = cell.calendar
            for plans, priorities, regions, forced in self._overrides:
                if plan_id in plans and priority in priorities and region in regions:
                    calendar = forced
            target = parse_target(cell.target)
            if target.business_days is not None:
                day = self.business_day_seconds(calendar, region)
                if day is None:
                    owner = f"calendar {calendar!r}" if calendar in self.calendars else f"region {region!r}"
                    raise ValueError(
                        f"target {cell.target!r}: the open days of {owner} differ in length, so a business day has no "
                        "single length; give the target as a duration (e.g. '16h')"
                    )
                seconds: int | None = target.business_days * day
            else:
                seconds = target.seconds
            warnings = list(cell.warnings if cell.warnings is not None else plan.warnings)
            escalations = list(cell.escalations if cell.escalations is not None else plan.escalations)
            levels = resolve_levels(seconds, warnings, escalations) if seconds is not None else ()
            fractions = tuple(level.threshold for level in levels if level.threshold < 1.0)
            found = Rule(metric, calendar, target, seconds, fractions, levels)
        self._rules[key] = found
        return found

    def coverage(self, calendar: str, region: str, timezone: str | None = None) -> Coverage:
        """The calendar for a region, in the case's own zone when it has one (cached).

        A named calendar with its own `timezone` uses that zone whatever the case says.
        """
        named = self.calendars.get(calendar)
        if calendar == "24x7" or (named is not None and named.timezone is not None):
            timezone = None
        key = (calendar, region, timezone)
        try:
            return self._coverages[key]
        except KeyError:
            pass
        spec = self.regions[region]
        built: Coverage
        if named is not None:
            zone = ZoneInfo(named.timezone or timezone or spec.timezone)
            built = WeeklyWindows(named.name, zone, named.week, holiday_dates(named.holidays))
        elif calendar == "24x7":
            built = AlwaysCovered()
        else:
            zone = ZoneInfo(timezone or spec.timezone)
            holidays = holiday_dates(spec.holidays)
            if calendar == "24x5":
                built = twenty_four_five(zone, holidays)
            elif spec.open_at is not None and spec.close_at is not None:
                built = business_hours(zone, spec.open_at, spec.close_at, holidays)
            else:
                built = WeeklyWindows("business_hours", zone, spec.week, holidays)
        self._coverages[key] = built
        return built

    def distinct_targets(self, metric: str = "first_response") -> list[int]:
        """Every timed target of a metric over all plans, priorities and regions, ascending."""
        found: set[int] = set()
        for plan in self.plans.values():
            for priority in plan.priorities:
                for region in self.regions:
                    rule = self.rule(plan.plan_id, priority, region, metric)
                    if rule is not None and rule.target_seconds is not None:
                        found.add(rule.target_seconds)
        return sorted(found)


def holiday_dates(spec: HolidaySpec | None) -> HolidayDates | None:
    """The closed days a holiday spec names (country calendar and explicit dates), None without one."""
    if spec is None:
        return None
    country = _holiday_calendar(spec.country, spec.subdivision) if spec.country else None
    return HolidayDates(country, spec.dates)


@lru_cache(maxsize=32)
def _holiday_calendar(country: str, subdiv: str | None) -> Any:
    import holidays as holidays_lib

    return holidays_lib.country_holidays(country, subdiv=subdiv)


def _format_errors(source: str, error: ValidationError) -> str:
    lines = [f"{source}: invalid policy file"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {key}: {message}" if key else f"  {message}")
    return "\n".join(lines)


def parse_catalog(text: str, source: str) -> Catalog:
    """Validate TOML text into a Catalog; PolicyError names source, key and problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}{_toml_hint(text, str(exc))}") from exc
    try:
        spec = CatalogSpec.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(_format_errors(source, exc)) from exc
    holders = [(f"regions.{n}", r.holidays) for n, r in spec.regions.items()]
    holders += [(f"calendars.{n}", c.holidays) for n, c in spec.calendars.items()]
    for where, holidays in holders:
        if holidays is not None and holidays.country is not None:
            try:
                _holiday_calendar(holidays.country, holidays.subdivision)
            except NotImplementedError as exc:
                raise PolicyError(f"{source}: invalid policy file\n  {where}.holidays: {exc}") from exc
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    catalog = Catalog(spec, spec.version or f"sha256:{digest}", source)
    _check_rules(catalog, source)
    return catalog


def _check_rules(catalog: Catalog, source: str) -> None:
    """Resolve every (plan, metric, priority, region): targets and offsets that cannot apply fail the load."""
    problems: list[str] = []
    for plan in catalog.plans.values():
        for metric, cells in plan.cells.items():
            for priority in cells:
                for region in catalog.regions:
                    try:
                        catalog.rule(plan.plan_id, priority, region, metric)
                    except ValueError as exc:
                        problems.append(f"  plans.{plan.plan_id}.{metric}.{priority} (region {region}): {exc}")
    if problems:
        raise PolicyError("\n".join([f"{source}: invalid policy file", *dict.fromkeys(problems)]))


def _toml_hint(text: str, message: str) -> str:
    """A hint for the error TOML 1.0 gives on an inline table continued on the next line."""
    found = re.search(r"\(at line (\d+), column \d+\)", message)
    lines = text.splitlines()
    if found is None or not 0 < int(found.group(1)) <= len(lines):
        return ""
    line = lines[int(found.group(1)) - 1]
    if line.count("{") <= line.count("}"):
        return ""
    return (
        "\n  hint: an inline table { ... } must close on the line it opens (TOML 1.0); write a long one as a "
        "table instead, e.g. a [calendars.NAME.week] table with one weekday per line (docs/policy.md)"
    )


def load_catalog(path: str | Path) -> Catalog:
    """Load and validate a policy file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{source}: cannot read policy file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise PolicyError(
            f"{source}: cannot read policy file: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from exc
    return parse_catalog(text, source)


@lru_cache(maxsize=1)
def bundled_catalog() -> Catalog:
    """The catalog shipped in the package (from the seeds)."""
    text = resources.files("monitor.policies").joinpath(BUNDLED).read_text(encoding="utf-8")
    return parse_catalog(text, f"<bundled>/{BUNDLED}")


def catalog_from(path: str | Path | None) -> Catalog:
    """A policy file when given, else the bundled catalog."""
    return load_catalog(path) if path else bundled_catalog()


__all__ = [
    "CALENDARS", "METRICS", "Catalog", "HolidaySpec", "Level", "NamedCalendar", "Plan", "PolicyError", "Region", "Rule", "Target",
    "bundled_catalog", "catalog_from", "holiday_dates", "load_catalog", "parse_catalog", "parse_duration",
    "describe_duration", "parse_offset", "parse_span", "parse_target", "resolve_levels",
]

