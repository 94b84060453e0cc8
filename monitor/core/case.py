"""One case's SLA state machine: events in, SLA events out, time passed in.

`Engine.apply(state, event, now)` and `Engine.tick(state, now)` return a `Step`: the state after
the call (None when the case is to be forgotten), the SLA events to emit, the rejections, and
`next_due`, the next instant at which `tick` has work. They update the `CaseState` they are
given **in place** (and return that object, or a fresh one for a new case): a caller that needs
the state as it was must keep a copy (the worker decodes a fresh state from its stored bytes for
every call, so nothing it keeps is shared). Nothing here reads a clock or does I/O, so the same
inputs always give the same outputs (replayable, testable exhaustively).

Rules (README "SLA engine" has the full list):
- every metric the plan defines starts at `case-created.occurred_at` (cycle 1);
- `first_response` stops at the first agent response and is never paused; `update` stops and
  restarts (next cycle) at every agent response; `resolution` stops at resolved/closed;
  `update` and `resolution` pause while the status is `pending_customer`;
- thresholds (warnings, then 1.0, then escalations) fire once per (case, metric, cycle,
  threshold) at the instant covered elapsed time reaches them: `sla.near_breach` before the
  due instant, `sla.breach` at it, `sla.overdue` at each escalation level after it while the
  clock still runs; an event first fires every crossing strictly before its own instant, so a
  response at exactly the due instant (or a level's instant) is in time for it;
- a plan or priority change re-targets running metrics from their start; crossings that the
  new target puts at or before the change are emitted then, with `at` = their crossing instant;
- `resolved`/`closed` stop every metric (`sla.met`); `reopened` within the plan's reopen window
  starts a new cycle of `first_response` and `update` from the reopen instant, and continues
  `resolution` (the resolved period counts as paused);
- an update for an unknown case is held up to `hold_seconds` (then rejected `unknown_case`),
  at most `max_held` updates and `max_held_bytes` of them per case (else `hold_overflow`);
- an event whose `event_id` was already applied changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from monitor.core import events as ev
from monitor.core.calendar import US_PER_S, Coverage, from_us, to_us
from monitor.core.events import CaseCreated, CaseUpdated, InputEvent, Rejection, SlaEvent
from monitor.core.policy import Catalog, Rule, describe_duration

SEEN_LIMIT = 128
#: Threshold instants kept per (calendar, clock start, paused time, levels): a case's instants are
#: asked again by the next call (next_due, the board's due_at, the stop that follows a create), and
#: often by the case's next record (a first response minutes later). ~320 bytes an entry: <= 10 MiB.
CROSSINGS_MEMO_MAX = 32768
#: A closed case is kept this long past its reopen window, so a late reopen is rejected as
#: `reopen_window_expired` (not `unknown_case`) before the case is forgotten.
PURGE_GRACE_US = 86_400 * US_PER_S
STOPPED = ("resolved", "closed")
PAUSABLE = ("resolution", "update")


@dataclass(slots=True)
class Clock:
    """One metric's clock within one cycle."""

    metric: str
    cycle: int
    started_at: int
    stopped_at: int | None = None
    pauses: list[list[int | None]] = field(default_factory=list)
    fired: list[float] = field(default_factory=list)

    @property
    def running(self) -> bool:
        """Not stopped (it may be paused)."""
        return self.stopped_at is None

    @property
    def paused(self) -> bool:
        """Inside an open pause."""
        return bool(self.pauses) and self.pauses[-1][1] is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "metric": self.metric, "cycle": self.cycle, "started_at": self.started_at,
            "stopped_at": self.stopped_at, "pauses": [list(p) for p in self.pauses], "fired": list(self.fired),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Clock:
        """Inverse of to_dict."""
        return cls(
            data["metric"], data["cycle"], data["started_at"], data.get("stopped_at"),
            [list(p) for p in data.get("pauses", [])], list(data.get("fired", [])),
        )


@dataclass(slots=True)
class CaseState:
    """Everything the engine keeps about one case. `plan is None` marks a placeholder that only
    holds updates which arrived before their case-created."""

    case_id: str
    plan: str | None = None
    priority: str = ""
    region: str = ""
    timezone: str | None = None
    customer_id: str | None = None
    status: str = "open"
    created_at: int = 0
    stopped_at: int | None = None
    clocks: dict[str, Clock] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    hold_until: int | None = None

    @property
    def is_open(self) -> bool:
        """A real case that is not resolved or closed."""
        return self.plan is not None and self.status not in STOPPED

    def at_risk(self) -> list[str]:
        """Running metrics past their first warning and not yet breached."""
        # an emitted threshold tested first: most clocks have none (the worker asks twice a record)
        return [c.metric for c in self.clocks.values() if c.fired and 1.0 not in c.fired and c.running]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the table value)."""
        return {
            "case_id": self.case_id, "plan": self.plan, "priority": self.priority, "region": self.region,
            "timezone": self.timezone, "customer_id": self.customer_id, "status": self.status,
            "created_at": self.created_at, "stopped_at": self.stopped_at,
            "clocks": {name: clock.to_dict() for name, clock in self.clocks.items()},
            "seen": list(self.seen), "held": list(self.held), "hold_until": self.hold_until,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseState:
        """Inverse of to_dict."""
        return cls(
            case_id=data["case_id"], plan=data.get("plan"), priority=data.get("priority", ""),
            region=data.get("region", ""), timezone=data.get("timezone"), customer_id=data.get("customer_id"),
            status=data.get("status", "open"), created_at=data.get("created_at", 0),
            stopped_at=data.get("stopped_at"),
            clocks={name: Clock.from_dict(c) for name, c in data.get("clocks", {}).items()},
            seen=list(data.get("seen", [])), held=list(data.get("held", [])), hold_until=data.get("hold_until"),
        )


@dataclass(slots=True)
class Step:
    """The outcome of apply/tick."""

    state: CaseState | None
    emitted: list[SlaEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    next_due_us: int | None = None

    @property
    def next_due(self) -> datetime | None:
        """next_due_us as an aware UTC datetime."""
        return from_us(self.next_due_us) if self.next_due_us is not None else None


#: json.dumps(value, separators=(",", ":"), default=str) without building an encoder per call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), default=str)


def _json_size(value: Any) -> int:
    """Length of the value as compact JSON (non-JSON leaves counted by their text)."""
    return len(_COMPACT_JSON.encode(value))


#: Leaf types whose compact JSON (ASCII, escaped) is at most 6 characters per byte of orjson's
#: (UTF-8) text: a \uXXXX escape is 6 characters for a 1-byte DEL, at most 12 for 4 UTF-8 bytes.
_PLAIN = (str, int, bool, type(None))
_JSON_PER_ORJSON_BYTE = 6


def _size_bound(entry: dict[str, Any]) -> int:
    """An upper bound of `_json_size(entry)` for a held update, cheap when its values are plain
    (a held update's fields, and a source of plain values as the worker gives), else the size."""
    for key, value in entry.items():
        if type(value) not in _PLAIN and not (key == "source" and type(value) is dict
                                              and all(type(leaf) in _PLAIN for leaf in value.values())):
            return _json_size(entry)
    try:
        return _JSON_PER_ORJSON_BYTE * len(orjson.dumps(entry))
    except TypeError:   # an integer beyond 64 bits, a lone surrogate, a key that is not text
        return _json_size(entry)


def _held_bytes_over(held: list[dict[str, Any]], entry: dict[str, Any], limit: int) -> int | None:
    """The compact JSON size of the held updates plus `entry` when it exceeds `limit`, else None
    (measured exactly only when a cheap upper bound does not already fit)."""
    if sum(_size_bound(item) for item in held) + _size_bound(entry) <= limit:
        return None
    size = sum(_json_size(item) for item in held) + _json_size(entry)
    return size if size > limit else None


def _instant(now: datetime | int) -> int:
    return now if isinstance(now, int) else to_us(now)


class Engine:
    """The SLA engine for one catalog. Keeps no case state between calls: each call is given a case's
    state, updates it in place and returns it in the Step (see the module docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        hold_seconds: float = 600,
        max_held: int = 100,
        closed_retention_seconds: float | None = None,
        max_held_bytes: int = 512 * 1024,
    ) -> None:
        self.catalog = catalog
        self.max_held_bytes = max_held_bytes
        self.hold_us = int(hold_seconds * US_PER_S)
        self.max_held = max_held
        self.closed_retention_us = int(closed_retention_seconds * US_PER_S) if closed_retention_seconds else None
        #: (plan, priority, region, timezone, metric) -> (rule, its calendar for that case); both cached by the catalog.
        self._terms: dict[tuple[str, str, str, str | None, str], tuple[Rule | None, Coverage | None]] = {}
        self._crossings_memo: dict[tuple[Coverage, int, int, tuple[int, ...]], list[int]] = {}

    # ------------------------------------------------------------------ public API

    def apply(
        self, state: CaseState | None, event: InputEvent, now: datetime | int, emitted_at: datetime | int | None = None
    ) -> Step:
        """Apply one parsed input event at processing instant `now` (`emitted_at` stamps outputs, default now).

        `state` is updated in place; `Step.state` is it (or a new state, or None to forget the case).
        """
        now_us = _instant(now)
        stamp = now_us if emitted_at is None else _instant(emitted_at)
        if state is not None and event.event_id in state.seen:
            return Step(state, next_due_us=self.next_due(state))
        if isinstance(event, CaseCreated):
            return self._created(state, event, stamp)
        if state is None or state.plan is None:
            return self._hold(state, event, now_us)
        step = Step(state)
        self._update(state, event, stamp, step)
        step.next_due_us = self.next_due(state)
        return step

    def tick(self, state: CaseState, now: datetime | int, emitted_at: datetime | int | None = None) -> Step:
        """Fire everything due at or before `now`; expire held updates; forget old cases.

        `state` is updated in place, as by `apply`.

        During a replay the shell passes stream time as `now` and the wall clock as `emitted_at`.
        """
        now_us = _instant(now)
        stamp = now_us if emitted_at is None else _instant(emitted_at)
        if state.plan is None:
            if state.hold_until is not None and state.hold_until <= now_us:
                rejections = [self._expired(held) for held in state.held]
                return Step(None, rejections=rejections)
            return Step(state, next_due_us=state.hold_until)
        step = Step(state)
        self._fire(state, now_us, inclusive=True, now=stamp, step=step)
        purge_at = self._purge_at(state)
        if purge_at is not None and purge_at <= now_us:
            step.state = None
            return step
        step.next_due_us = self.next_due(state)
        return step

    def next_due(self, state: CaseState) -> int | None:
        """The next instant (epoch µs) at which tick() has work for this case, or None."""
        if state.plan is None:
            return state.hold_until
        due: int | None = None
        for clock in state.clocks.values():
            if clock.stopped_at is not None or (clock.pauses and clock.pauses[-1][1] is None):
                continue
            rule, coverage = self._rule_coverage(state, clock.metric)
            if rule is None or coverage is None:
                continue
            fired = clock.fired
            for index, threshold in enumerate(rule.thresholds):
                if threshold not in fired:
                    crossing = self._crossing_at(clock, rule, coverage, index)
                    if due is None or crossing < due:
                        due = crossing
                    break
        purge_at = self._purge_at(state)
        if purge_at is not None and (due is None or purge_at < due):
            due = purge_at
        return due

    def rule(self, state: CaseState, metric: str) -> Rule | None:
        """The rule currently applying to one metric of the case."""
        assert state.plan is not None
        return self.catalog.rule(state.plan, state.priority, state.region, metric)

    def coverage(self, state: CaseState, rule: Rule) -> Coverage:
        """The calendar of a rule for this case's region and zone."""
        return self.catalog.coverage(rule.calendar, state.region, state.timezone)

    def _rule_coverage(self, state: CaseState, metric: str) -> tuple[Rule | None, Coverage | None]:
        """`rule` and `coverage` of one metric of the case in one look-up (None, None without a rule)."""
        assert state.plan is not None
        key = (state.plan, state.priority, state.region, state.timezone, metric)
        found = self._terms.get(key)
        if found is None:
            rule = self.catalog.rule(state.plan, state.priority, state.region, metric)
            found = (rule, self.coverage(state, rule) if rule is not None else None)
            self._terms[key] = found
        return found

    def due_at(self, state: CaseState, metric: str) -> int | None:
        """When the metric's current cycle breaches (epoch µs); None if untimed or paused."""
        clock = state.clocks.get(metric)
        if clock is None or clock.paused:
            return None
        rule, coverage = self._rule_coverage(state, metric)
        if rule is None or coverage is None or rule.target_seconds is None:
            return None
        return self._crossing_at(clock, rule, coverage, rule.index(1.0))

    def elapsed_us(self, state: CaseState, clock: Clock, until: int) -> int:
        """Covered elapsed microseconds of a clock up to `until`, pauses excluded."""
        rule, coverage = self._rule_coverage(state, clock.metric)
        if rule is None or coverage is None:
            return 0
        return _covered_elapsed(clock, coverage, until)

    def describe(self, state: CaseState, now: datetime | int) -> dict[str, Any]:
        """A JSON-able view of the case's SLA state at `now`: per metric its clock, due instant,
        covered time elapsed and remaining, and each threshold with whether it was emitted."""
        now_us = _instant(now)
        view: dict[str, Any] = {"case_id": state.case_id, "known": state.plan is not None}
        if state.plan is None:
            view["held_updates"] = len(state.held)
            view["hold_until"] = ev.format_time(state.hold_until) if state.hold_until is not None else None
            return view
        view.update(
            plan=state.plan, priority=state.priority, region=state.region, timezone=state.timezone,
            status=state.status, created_at=ev.format_time(state.created_at),
            policy_version=self.catalog.version, metrics=[],
        )
        for clock in state.clocks.values():
            rule = self.rule(state, clock.metric)
            elapsed = self.elapsed_us(state, clock, max(now_us, clock.started_at))
            timed = rule is not None and rule.target_seconds is not None
            due = self.due_at(state, clock.metric) if timed else None
            thresholds = []
            for threshold in rule.thresholds if rule is not None else ():
                crossing = None if clock.paused else self._crossing(state, clock, rule, threshold)  # type: ignore[arg-type]
                entry: dict[str, Any] = {
                    "threshold": threshold,
                    "at": ev.format_time(crossing) if crossing is not None else None,
                    "emitted": threshold in clock.fired,
                    "event_id": ev.event_id_for(state.case_id, clock.metric, clock.cycle, threshold),
                }
                offset = rule.level(threshold).offset  # type: ignore[union-attr]
                if offset is not None:
                    entry["offset"] = offset
                thresholds.append(entry)
            view["metrics"].append({
                "metric": clock.metric, "cycle": clock.cycle,
                "clock": "stopped" if not clock.running else "paused" if clock.paused else "running",
                "calendar": rule.calendar if rule is not None else None,
                "target_seconds": rule.target_seconds if rule is not None else None,
                "started_at": ev.format_time(clock.started_at),
                "stopped_at": ev.format_time(clock.stopped_at) if clock.stopped_at is not None else None,
                "due_at": ev.format_time(due) if due is not None else None,
                "elapsed_seconds": elapsed / US_PER_S,
                "remaining_seconds": (
                    max(0.0, rule.target_seconds - elapsed / US_PER_S) if rule is not None and rule.target_seconds is not None else None
                ),
                "thresholds": thresholds,
            })
        next_due = self.next_due(state)
        view["next_due"] = ev.format_time(next_due) if next_due is not None else None
        return view

    # ------------------------------------------------------------------ created / held

    def _created(self, state: CaseState | None, event: CaseCreated, now: int) -> Step:
        if state is not None and state.plan is not None:
            return self._reject(state, event, ev.DUPLICATE_CASE, f"case {event.case_id!r} already exists")
        plan_id = self.catalog.canonical_plan(event.plan)
        problem = self._check_cell(plan_id, event.plan, event.priority)
        if problem is None and event.region not in self.catalog.regions:
            problem = (ev.UNKNOWN_REGION, f"region {event.region!r} is not one of {', '.join(self.catalog.regions)}")
        if problem is not None:
            return self._reject(state, event, *problem)
        assert plan_id is not None
        held = state.held if state is not None else []
        at = event.occurred_at
        # positional, in field order (half the cost of keywords, once per new case); remembers the event
        fresh = CaseState(event.case_id, plan_id, event.priority, event.region, event.timezone, event.customer_id,
                          "open", at, None, {metric: Clock(metric, 1, at) for metric in self.catalog.metrics(plan_id)},
                          [event.event_id])
        step = Step(fresh)
        if held:
            for data in sorted(held, key=lambda item: item["occurred_at"]):
                self._update(fresh, CaseUpdated.from_dict(data), now, step)
        step.next_due_us = self.next_due(fresh)
        return step

    def _hold(self, state: CaseState | None, event: CaseUpdated, now: int) -> Step:
        if self.hold_us <= 0:
            return self._reject(state, event, ev.UNKNOWN_CASE, f"no case {event.case_id!r}")
        placeholder = state if state is not None else CaseState(case_id=event.case_id)
        # A rejection keeps the state it was given: a new placeholder is stored only with something held
        # (an empty one would have no expiry timer and stay until a case-created came).
        if len(placeholder.held) >= self.max_held:
            return self._reject(
                state, event, ev.HOLD_OVERFLOW,
                f"already holding {self.max_held} updates for unknown case {event.case_id!r}",
            )
        entry = event.to_dict()
        # Held entries carry their source (the original record, for dead-lettering) inside the
        # case state; bound their size so the state stays a record any broker accepts.
        held_bytes = _held_bytes_over(placeholder.held, entry, self.max_held_bytes)
        if held_bytes is not None:
            return self._reject(
                state, event, ev.HOLD_OVERFLOW,
                f"holding this update for unknown case {event.case_id!r} would keep {held_bytes} bytes "
                f"(limit {self.max_held_bytes})",
            )
        placeholder.held.append(entry)
        self._remember(placeholder, event.event_id)
        if placeholder.hold_until is None:
            placeholder.hold_until = now + self.hold_us
        return Step(placeholder, next_due_us=placeholder.hold_until)

    def _expired(self, held: dict[str, Any]) -> Rejection:
        return Rejection(
            ev.UNKNOWN_CASE,
            f"no case-created for case {held['case_id']!r} arrived within {self.hold_us / US_PER_S:g}s",
            held["event_id"], held["case_id"], held.get("source"),
        )

    # ------------------------------------------------------------------ updates

    def _check_cell(self, plan_id: str | None, plan: str, priority: str) -> tuple[str, str] | None:
        if plan_id is None:
            return ev.UNKNOWN_PLAN, f"plan {plan!r} is not in the policy catalog"
        priorities = self.catalog.plans[plan_id].priorities
        if priority not in priorities:
            return ev.UNKNOWN_PRIORITY, f"priority {priority!r} is not one of {', '.join(priorities)} for plan {plan_id!r}"
        return None

    def _validate(self, state: CaseState, event: CaseUpdated) -> tuple[str, str] | None:
        assert state.plan is not None
        if event.plan is not None or event.priority is not None:
            plan_id = self.catalog.canonical_plan(event.plan) if event.plan is not None else state.plan
            problem = self._check_cell(plan_id, event.plan or state.plan, event.priority or state.priority)
            if problem is not None:
                return problem
        stopped = state.status in STOPPED
        if event.status == "reopened":
            if not stopped:
                return ev.INVALID_TRANSITION, f"case {state.case_id!r} is {state.status}, only a resolved or closed case can be reopened"
            window = self.catalog.plans[state.plan].reopen_window_seconds
            assert state.stopped_at is not None
            if window is not None and event.occurred_at > state.stopped_at + window * US_PER_S:
                return ev.REOPEN_WINDOW_EXPIRED, (
                    f"case {state.case_id!r} was {state.status} at {ev.format_time(state.stopped_at)}; "
                    f"plan {state.plan!r} allows a reopen within {describe_duration(window)}"
                )
        elif event.status in ("open", "pending_customer") and stopped:
            return ev.INVALID_TRANSITION, f"case {state.case_id!r} is {state.status}; send status 'reopened' first"
        return None

    def _update(self, state: CaseState, event: CaseUpdated, now: int, step: Step) -> None:
        if event.event_id in state.seen:
            return
        problem = self._validate(state, event)
        if problem is not None:
            step.rejections.append(Rejection(problem[0], problem[1], event.event_id, event.case_id, event.source))
            return
        at = event.occurred_at
        self._remember(state, event.event_id)
        self._fire(state, at, inclusive=False, now=now, step=step)
        if event.plan is not None or event.priority is not None:
            if event.plan is not None:
                state.plan = self.catalog.canonical_plan(event.plan)
            if event.priority is not None:
                state.priority = event.priority
            self._fire(state, at, inclusive=True, now=now, step=step)
        if event.agent_response and state.status not in STOPPED:
            self._stop(state, "first_response", at, now, step)
            if self._stop(state, "update", at, now, step):
                previous = state.clocks["update"]
                state.clocks["update"] = Clock("update", previous.cycle + 1, at)
        status = event.status
        if status == "pending_customer" and state.status != "pending_customer":
            for clock in state.clocks.values():
                if clock.metric in PAUSABLE and clock.running and not clock.paused:
                    clock.pauses.append([at, None])
            state.status = status
        elif status == "open":
            self._resume(state, at)
            state.status = status
        elif status in STOPPED:
            if state.status not in STOPPED:
                self._resume(state, at)
                for metric in list(state.clocks):
                    self._stop(state, metric, at, now, step)
            state.status = status
            state.stopped_at = at
        elif status == "reopened":
            self._reopen(state, at)

    def _resume(self, state: CaseState, at: int) -> None:
        for clock in state.clocks.values():
            if clock.paused:
                clock.pauses[-1][1] = at

    def _reopen(self, state: CaseState, at: int) -> None:
        assert state.stopped_at is not None
        for metric, clock in list(state.clocks.items()):
            if metric == "resolution":
                pauses = [list(p) for p in clock.pauses] + [[state.stopped_at, at]]
                state.clocks[metric] = Clock(metric, clock.cycle + 1, clock.started_at, None, pauses, list(clock.fired))
            else:
                state.clocks[metric] = Clock(metric, clock.cycle + 1, at)
        state.status = "open"
        state.stopped_at = None

    def _stop(self, state: CaseState, metric: str, at: int, now: int, step: Step) -> bool:
        clock = state.clocks.get(metric)
        if clock is None or not clock.running:
            return False
        clock.stopped_at = at
        rule, coverage = self._rule_coverage(state, metric)
        elapsed = _covered_elapsed(clock, coverage, at) if rule is not None and coverage is not None else 0
        target = rule.target_seconds if rule is not None else None
        due = (self._crossing_at(clock, rule, coverage, rule.index(1.0))
               if rule is not None and coverage is not None and target is not None else None)
        step.emitted.append(self._event(
            state, clock, rule, ev.MET, None, at, now, due,
            breached=target is not None and _late(elapsed, target * US_PER_S, 1.0 in clock.fired),
            elapsed_seconds=elapsed / US_PER_S,
        ))
        return True

    # ------------------------------------------------------------------ thresholds

    def _crossing(self, state: CaseState, clock: Clock, rule: Rule, threshold: float) -> int:
        """Instant at which the clock's covered elapsed time reaches threshold x target."""
        assert rule.target_seconds is not None
        return self._crossing_at(clock, rule, self.coverage(state, rule), rule.index(threshold))

    def _crossing_at(self, clock: Clock, rule: Rule, coverage: Coverage, index: int) -> int:
        """`_crossing` of the rule's `index`-th threshold: the clock's threshold instants are found
        in one walk over the calendar and kept for the next call (CROSSINGS_MEMO_MAX)."""
        paused = 0
        for begin, stop in clock.pauses:
            if stop is not None:
                assert begin is not None
                paused += coverage.covered_us(begin, stop)
        key = (coverage, clock.started_at, paused, rule.amounts_us)
        memo = self._crossings_memo
        crossings = memo.get(key)
        if crossings is None:
            crossings = coverage.add_us_each(clock.started_at, [amount + paused for amount in rule.amounts_us])
            if len(memo) >= CROSSINGS_MEMO_MAX:
                memo.clear()
            memo[key] = crossings
        if index < len(crossings):
            return crossings[index]
        return coverage.add_us(clock.started_at, rule.amounts_us[index] + paused)   # raises CoverageError

    def _fire(self, state: CaseState, upto: int, inclusive: bool, now: int, step: Step) -> None:
        """Emit every unfired crossing before `upto` (at or before when inclusive)."""
        fired: list[SlaEvent] = []
        for clock in state.clocks.values():
            if clock.stopped_at is not None or (clock.pauses and clock.pauses[-1][1] is None):
                continue
            rule, coverage = self._rule_coverage(state, clock.metric)
            if rule is None or coverage is None or rule.target_seconds is None:
                continue
            due: int | None = None
            for index, threshold in enumerate(rule.thresholds):
                if threshold in clock.fired:
                    continue
                crossing = self._crossing_at(clock, rule, coverage, index)
                if crossing > upto or (crossing == upto and not inclusive):
                    break
                if due is None:
                    due = self._crossing_at(clock, rule, coverage, rule.index(1.0))
                clock.fired.append(threshold)
                kind = ev.BREACH if threshold == 1.0 else ev.NEAR_BREACH if threshold < 1.0 else ev.OVERDUE
                level = rule.level(threshold)
                overdue = level.offset_seconds if kind == ev.OVERDUE else None
                fired.append(self._event(state, clock, rule, kind, threshold, crossing, now, due,
                                         offset=level.offset, overdue_seconds=overdue))
        fired.sort(key=lambda e: (e.at, e.metric))
        step.emitted.extend(fired)

    def _event(
        self, state: CaseState, clock: Clock, rule: Rule | None, kind: str, threshold: float | None,
        at: int, now: int, due: int | None, breached: bool | None = None, elapsed_seconds: float | None = None,
        offset: str | None = None, overdue_seconds: int | None = None,
    ) -> SlaEvent:
        assert state.plan is not None
        return SlaEvent(
            type=kind, case_id=state.case_id, customer_id=state.customer_id, metric=clock.metric,
            cycle=clock.cycle, threshold=threshold, plan=state.plan, priority=state.priority,
            region=state.region, calendar=rule.calendar if rule is not None else "24x7",
            target_seconds=rule.target_seconds if rule is not None else None,
            started_at=clock.started_at, due_at=due, at=at, emitted_at=now,
            policy_version=self.catalog.version, breached=breached, elapsed_seconds=elapsed_seconds,
            offset=offset, overdue_seconds=overdue_seconds,
        )

    # ------------------------------------------------------------------ bookkeeping

    def _purge_at(self, state: CaseState) -> int | None:
        if state.plan is None or state.status not in STOPPED or state.stopped_at is None:
            return None
        window = self.catalog.plans[state.plan].reopen_window_seconds
        if window is not None:   # kept a day past the window, so a late reopen is refused as such
            return state.stopped_at + window * US_PER_S + PURGE_GRACE_US
        # no reopen window: forgotten the retention after closing, as the setting's name says
        return state.stopped_at + self.closed_retention_us if self.closed_retention_us is not None else None

    @staticmethod
    def _remember(state: CaseState, event_id: str) -> None:
        state.seen.append(event_id)
        if len(state.seen) > SEEN_LIMIT:
            del state.seen[: len(state.seen) - SEEN_LIMIT]

    def _reject(self, state: CaseState | None, event: InputEvent, reason: str, message: str) -> Step:
        rejection = Rejection(reason, message, event.event_id, event.case_id, event.source)
        return Step(state, rejections=[rejection], next_due_us=self.next_due(state) if state else None)


def _covered_elapsed(clock: Clock, coverage: Coverage, until: int) -> int:
    """Covered microseconds of a clock up to `until` (or its stop), pauses excluded."""
    end = clock.stopped_at if clock.stopped_at is not None else until
    paused = 0
    for begin, stop in clock.pauses:
        assert begin is not None
        paused += coverage.covered_us(begin, stop if stop is not None else end)
    return coverage.covered_us(clock.started_at, end) - paused


def _late(elapsed_us: int, target_us: int, breach_sent: bool) -> bool:
    """Whether a stop broke the promise: covered time past the target, or the target used up and the breach sent.

    A due instant at a window's close is followed by closed time in which no covered time passes:
    a response then has covered elapsed == target, yet comes after the breach went out at `due`.
    A clock paused at exactly its due instant (in time, like a response then) sent no breach.
    """
    return elapsed_us > target_us or (elapsed_us == target_us and breach_sent)
