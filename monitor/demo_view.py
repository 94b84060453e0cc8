"""What `monitor run` shows: SLA events in event-time order, 80 columns, on a clock it says is virtual.

Pure presentation, no Kafka: `EventView` takes decoded SLA events (topics/schemas/sla-event.json)
as they arrive, holds each a moment so that events from different topics and partitions come out
in the order they happened, and counts an event when it shows it, so the closing summary and the
last frame always agree. On a terminal it redraws a frame (totals, per plan, latest events);
otherwise it prints a header, then one line per event with a line per new day.
"""

from __future__ import annotations

import heapq
import itertools
import shutil
from collections import Counter, deque
from datetime import UTC, datetime
from typing import IO, Any

from monitor.contract import BREACH, MET, NEAR_BREACH

WIDTH = 80
#: Column layout of an event line; every line is at most WIDTH characters.
COLUMNS = f"{'time':<5}  {'event':<15} {'case':<7} {'plan':<27} {'pr':<2} {'region':<8} due"
_ORDER = {NEAR_BREACH: 0, BREACH: 1, MET: 2}
_PLURAL = {NEAR_BREACH: "near-breaches", BREACH: "breaches", MET: "met"}


def parse_at(text: str) -> int:
    """An RFC 3339 UTC time (any number of fraction digits) as microseconds since the epoch."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1_000_000)


def _moment(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)


def day_text(us: int) -> str:
    """'Mon 2026-11-23' (UTC)."""
    return _moment(us).strftime("%a %Y-%m-%d")


def clock_text(us: int) -> str:
    """'Mon 2026-11-23 08:10' (UTC, to the minute)."""
    return _moment(us).strftime("%a %Y-%m-%d %H:%M")


def label(event: dict[str, Any]) -> str:
    """What happened, at most 15 characters: NEAR-BREACH 75%, BREACH, MET, MET (late), ..."""
    kind = str(event["type"])
    if kind == NEAR_BREACH:
        return f"NEAR-BREACH {round(float(event['threshold']) * 100)}%"
    if kind == MET:
        return "MET (late)" if event.get("breached") else "MET"
    return kind.removeprefix("sla.").replace("_", "-").upper()[:15]


def event_line(event: dict[str, Any]) -> str:
    """One event in the COLUMNS layout: time and due are UTC, HH:MM and ddd HH:MM."""
    at = _moment(parse_at(event["at"])).strftime("%H:%M")
    due = _moment(parse_at(event["due_at"])).strftime("%a %H:%M") if event.get("due_at") else "-"
    line = (f"{at:<5}  {label(event):<15} {event['case_id']:<7} {event['plan']:<27} {event['priority']:<2} "
            f"{event['region']:<8} {due:<9}")
    return line.rstrip()


def header(scale: float, start_us: int) -> list[str]:
    """The lines that say what the clock is: virtual and how fast, or real time."""
    if scale == 1:
        return ["sla-monitor demo on the real clock; all times are UTC"]
    unit, size = next(((u, s) for u, s in (("days", 86400), ("hours", 3600), ("minutes", 60)) if scale >= s), ("seconds", 1))
    amount = f"{scale / size:.3g}"
    pace = f"{amount} {unit if amount != '1' else unit[:-1]}"
    return [f"sla-monitor demo: VIRTUAL clock, {scale:.6g}x real time (1 real second = {pace})",
            f"virtual time starts {clock_text(start_us)} UTC; all times are UTC on that clock"]


class EventView:
    """Orders, counts and shows SLA events: a redrawn frame on a terminal, lines otherwise."""

    def __init__(self, out: IO[str], scale: float, start_us: int, hold_us: int, tty: bool | None = None) -> None:
        self.out = out
        self.scale = scale
        self.start_us = start_us
        self.hold_us = hold_us
        self.tty = out.isatty() if tty is None else tty
        self.counts: Counter[str] = Counter()
        self.by_plan: Counter[tuple[str, str]] = Counter()
        self.recent: deque[str] = deque(maxlen=12)
        self._held: list[tuple[int, int, int, dict[str, Any]]] = []
        self._seq = itertools.count()
        self._day: str | None = None
        if not self.tty:
            self._print(*header(scale, start_us), "", COLUMNS)

    def add(self, event: dict[str, Any]) -> None:
        """Hold an event until `release` shows it in order."""
        at = parse_at(event["at"])
        heapq.heappush(self._held, (at, _ORDER.get(event["type"], 3), next(self._seq), event))

    def release(self, now_us: int | None = None) -> None:
        """Show held events that happened before `now_us` minus the hold (all of them when None)."""
        while self._held and (now_us is None or self._held[0][0] <= now_us - self.hold_us):
            at, _, _, event = heapq.heappop(self._held)
            self._show(at, event)

    def _show(self, at: int, event: dict[str, Any]) -> None:
        self.counts[event["type"]] += 1
        self.by_plan[(event["plan"], event["type"])] += 1
        line = event_line(event)
        self.recent.appendleft(line)
        if not self.tty:
            day = day_text(at)
            if day != self._day:
                self._day = day
                self._print(f"-- {day} " + "-" * (WIDTH - 4 - len(day)))
            self._print(line)

    def totals(self) -> str:
        """'near-breaches N, breaches N, met N' plus any other event type shown."""
        kinds = list(_PLURAL) + sorted(k for k in self.counts if k not in _PLURAL)
        return ", ".join(f"{_PLURAL.get(k, k.removeprefix('sla.'))} {self.counts[k]}" for k in kinds)

    def frame(self, now_us: int, cases: int, height: int = 0) -> list[str]:
        """The terminal view: clock, totals, events per plan, latest events; each line fits WIDTH (and `height` rows if given)."""
        kind = "virtual" if self.scale != 1 else "real"
        lines = [f"sla-monitor demo   {clock_text(now_us)} UTC ({kind} clock, {self.scale:g}x)   cases {cases}",
                 self.totals(), "",
                 f"{'plan':<30}{'near-breach':>12}{'breach':>8}{'met':>8}"]
        for plan in sorted({plan for plan, _ in self.by_plan}):
            lines.append(f"{plan:<30}{self.by_plan[(plan, 'sla.near_breach')]:>12}"
                         f"{self.by_plan[(plan, 'sla.breach')]:>8}{self.by_plan[(plan, 'sla.met')]:>8}")
        lines += ["", "latest events, newest first:", COLUMNS]
        room = max(3, height - len(lines) - 1) if height else len(self.recent)
        lines += list(self.recent)[:room]
        return [line[:WIDTH] for line in lines]

    def redraw(self, now_us: int, cases: int) -> None:
        """Redraw the terminal view (no-op when not on a terminal)."""
        if self.tty:
            rows = shutil.get_terminal_size((WIDTH, 24)).lines
            self.out.write("\x1b[H\x1b[2J" + "\n".join(self.frame(now_us, cases, rows)) + "\n")
            self.out.flush()

    def _print(self, *lines: str) -> None:
        for line in lines:
            print(line, file=self.out, flush=True)
