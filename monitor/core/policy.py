"""The policy catalog: plans, priorities, regions, calendars and targets, loaded from TOML.

`load_catalog(path)` validates the whole file and raises `PolicyError` naming the file, the key
and the problem. `Catalog.rule(plan, priority, region, metric)` answers which calendar, target
and warning fractions apply to one case metric; `Catalog.coverage(...)` builds (and caches)
the calendar itself.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from datetime import time
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monitor.core.calendar import AlwaysCovered, Coverage, business_hours, twenty_four_five

METRICS: tuple[str, ...] = ("first_response", "resolution", "update")
CALENDARS: tuple[str, ...] = ("24x7", "24x5", "business_hours")
BUNDLED = "catalog.toml"

_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_BUSINESS_DAYS = re.compile(r"^\s*(\d+)\s+business[_ ]days?\s*$")


class PolicyError(ValueError):
    """The policy file is unreadable or invalid; the message names file, key and problem."""


def parse_duration(text: str) -> int:
    """'1h30m' / '30m' / '90s' / '14d' -> seconds (> 0)."""
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration like '30m', '4h', '1h30m' or '14d'")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return total


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
        return Target(business_days=days)
    return Target(seconds=parse_duration(text))


# --------------------------------------------------------------------------- file schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Fraction = Annotated[float, Field(gt=0, lt=1)]


class HolidaySpec(_Strict):
    country: str
    subdiv: str | None = None


class RegionSpec(_Strict):
    timezone: str
    open: str
    close: str
    holidays: HolidaySpec | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        _zone_or_error(value)
        return value

    @field_validator("open", "close")
    @classmethod
    def _clock(cls, value: str) -> str:
        _clock_time(value)
        return value

    @model_validator(mode="after")
    def _order(self) -> RegionSpec:
        if _clock_time(self.close) <= _clock_time(self.open):
            raise ValueError(f"close {self.close} must be after open {self.open}")
        return self


class CellSpec(_Strict):
    calendar: Literal["24x7", "24x5", "business_hours"]
    target: str
    warnings: list[Fraction] | None = None

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        parse_target(value)
        return value


class PlanSpec(_Strict):
    title: str = ""
    aliases: list[str] = []
    priorities: list[str] = Field(min_length=1)
    reopen_window: str | None = None
    warnings: list[Fraction] | None = None
    first_response: dict[str, CellSpec] = {}
    resolution: dict[str, CellSpec] = {}
    update: dict[str, CellSpec] = {}

    @field_validator("reopen_window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

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
    calendar: Literal["24x7", "24x5", "business_hours"]


class CatalogSpec(_Strict):
    version: str | None = None
    warnings: list[Fraction] = [0.75, 0.9]
    regions: dict[str, RegionSpec] = Field(min_length=1)
    plans: dict[str, PlanSpec] = Field(min_length=1)
    overrides: list[OverrideSpec] = []

    @model_validator(mode="after")
    def _references(self) -> CatalogSpec:
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


@dataclass(frozen=True, slots=True)
class Region:
    """A support region: its zone and business hours."""

    name: str
    timezone: str
    open_at: time
    close_at: time
    holidays: HolidaySpec | None

    @property
    def business_day_seconds(self) -> int:
        """Length of one business day (close - open), the unit of 'N business days'."""
        return (self.close_at.hour * 3600 + self.close_at.minute * 60 + self.close_at.second) - (
            self.open_at.hour * 3600 + self.open_at.minute * 60 + self.open_at.second
        )


@dataclass(frozen=True, slots=True)
class Rule:
    """What applies to one case metric: calendar, target (None = untimed), warning fractions."""

    metric: str
    calendar: str
    target: Target
    target_seconds: int | None
    warnings: tuple[float, ...]

    @property
    def thresholds(self) -> tuple[float, ...]:
        """Warning fractions then 1.0 (the breach), ascending; empty when untimed."""
        if self.target_seconds is None:
            return ()
        return (*self.warnings, 1.0)


@dataclass(frozen=True, slots=True)
class Plan:
    """One plan: priorities, per-metric cells, reopen window."""

    plan_id: str
    title: str
    aliases: tuple[str, ...]
    priorities: tuple[str, ...]
    reopen_window_seconds: int | None
    warnings: tuple[float, ...]
    cells: dict[str, dict[str, CellSpec]]


class Catalog:
    """A validated policy catalog; immutable after load."""

    def __init__(self, spec: CatalogSpec, version: str, source: str) -> None:
        self.version = version
        self.source = source
        self.regions: dict[str, Region] = {
            name: Region(name, r.timezone, _clock_time(r.open), _clock_time(r.close), r.holidays)
            for name, r in spec.regions.items()
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
                warnings=tuple(sorted(p.warnings if p.warnings is not None else spec.warnings)),
                cells={m: dict(getattr(p, m)) for m in METRICS if getattr(p, m)},
            )
            for name in (plan_id, *p.aliases):
                self._alias[name] = plan_id
        self._overrides = [
            (frozenset(o.plans), frozenset(o.priorities), frozenset(o.regions), o.calendar) for o in spec.overrides
        ]
        self._coverages: dict[tuple[str, str, str | None], Coverage] = {}
        self._rules: dict[tuple[str, str, str, str], Rule | None] = {}

    def canonical_plan(self, plan: str) -> str | None:
        """Plan id for an id or alias, None when unknown."""
        return self._alias.get(plan)

    def metrics(self, plan_id: str) -> tuple[str, ...]:
        """Metrics the plan defines, in METRICS order."""
        return tuple(m for m in METRICS if m in self.plans[plan_id].cells)

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
                seconds: int | None = target.business_days * self.regions[region].business_day_seconds
            else:
                seconds = target.seconds
            warnings = tuple(sorted(cell.warnings)) if cell.warnings is not None else plan.warnings
            found = Rule(metric, calendar, target, seconds, warnings)
        self._rules[key] = found
        return found

    def coverage(self, calendar: str, region: str, timezone: str | None = None) -> Coverage:
        """The calendar for a region, in the case's own zone when it has one (cached)."""
        key = (calendar, region, timezone if calendar != "24x7" else None)
        try:
            return self._coverages[key]
        except KeyError:
            pass
        spec = self.regions[region]
        zone = ZoneInfo(timezone or spec.timezone)
        holidays = _holiday_calendar(spec.holidays.country, spec.holidays.subdiv) if spec.holidays else None
        built: Coverage
        if calendar == "24x7":
            built = AlwaysCovered()
        elif calendar == "24x5":
            built = twenty_four_five(zone, holidays)
        else:
            built = business_hours(zone, spec.open_at, spec.close_at, holidays)
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


@lru_cache(maxsize=32)
def _holiday_calendar(country: str, subdiv: str | None) -> Any:
    import holidays as holidays_lib

    return holidays_lib.country_holidays(country, subdiv=subdiv)


def _format_errors(source: str, error: ValidationError) -> str:
    lines = [f"{source}: invalid policy file"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def parse_catalog(text: str, source: str) -> Catalog:
    """Validate TOML text into a Catalog; PolicyError names source, key and problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from exc
    try:
        spec = CatalogSpec.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(_format_errors(source, exc)) from exc
    for region in spec.regions.values():
        if region.holidays is not None:
            try:
                _holiday_calendar(region.holidays.country, region.holidays.subdiv)
            except NotImplementedError as exc:
                raise PolicyError(f"{source}: regions: holidays {region.holidays}: {exc}") from exc
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Catalog(spec, spec.version or f"sha256:{digest}", source)


def load_catalog(path: str | Path) -> Catalog:
    """Load and validate a policy file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{source}: cannot read policy file: {exc.strerror}") from exc
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
    "CALENDARS", "METRICS", "Catalog", "Plan", "PolicyError", "Region", "Rule", "Target",
    "bundled_catalog", "catalog_from", "load_catalog", "parse_catalog", "parse_duration", "parse_target",
]

