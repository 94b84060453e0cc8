"""Drive the engine on a virtual clock from JSONL: deterministic replay of a case feed.

Input lines: {"topic": "case-created" | "case-updated", "value": {...}}. Events are applied in
`occurred_at` order (file order among equals); every due threshold fires at its exact instant,
before any event at or after that instant; then the clock runs to `--until` (or until nothing
is due). Output: one JSON line per emitted event, rejections as {"type": "rejected", ...}.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from monitor.core.case import CaseState, Engine, Step
from monitor.core.events import INVALID_JSON, InputEvent, Rejection, parse_event, parse_time
from monitor.core.policy import Catalog, PolicyError, catalog_from


@dataclass
class Simulator:
    """Engine + case states + a due-instant heap, advanced by explicit instants."""

    engine: Engine
    states: dict[str, CaseState] = field(default_factory=dict)
    clock_us: int | None = None
    _heap: list[tuple[int, str]] = field(default_factory=list)

    def _record(self, case_id: str, step: Step) -> list[dict[str, Any]]:
        if step.state is None:
            self.states.pop(case_id, None)
        else:
            self.states[case_id] = step.state
            if step.next_due_us is not None:
                heapq.heappush(self._heap, (step.next_due_us, case_id))
        out: list[dict[str, Any]] = [e.to_dict() for e in step.emitted]
        out += [rejection_line(r) for r in step.rejections]
        return out

    def advance(self, until_us: int, inclusive: bool = True) -> Iterator[dict[str, Any]]:
        """Fire, in due order, everything due before `until_us` (at it too when inclusive)."""
        while self._heap:
            due, case_id = self._heap[0]
            if due > until_us or (due == until_us and not inclusive):
                break
            heapq.heappop(self._heap)
            state = self.states.get(case_id)
            if state is None or self.engine.next_due(state) != due:
                continue  # stale heap entry: the case moved on
            self.clock_us = due
            yield from self._record(case_id, self.engine.tick(state, due))

    def feed(self, event: InputEvent) -> Iterator[dict[str, Any]]:
        """Fire what is due strictly before the event, then apply it at its own instant."""
        yield from self.advance(event.occurred_at, inclusive=False)
        self.clock_us = max(self.clock_us or event.occurred_at, event.occurred_at)
        step = self.engine.apply(self.states.get(event.case_id), event, self.clock_us)
        yield from self._record(event.case_id, step)

    def drain(self) -> Iterator[dict[str, Any]]:
        """Fire everything still due, however far in the future."""
        while self._heap:
            yield from self.advance(self._heap[0][0])


def rejection_line(rejection: Rejection) -> dict[str, Any]:
    """A rejection as an output line."""
    return {
        "type": "rejected", "reason": rejection.reason, "message": rejection.message,
        "event_id": rejection.event_id, "case_id": rejection.case_id, "source": rejection.source,
    }


def read_feed(lines: Iterable[str]) -> list[tuple[int, int, InputEvent | Rejection]]:
    """Parse JSONL lines into (instant, line number, event or rejection), in replay order."""
    parsed: list[tuple[int, int, InputEvent | Rejection]] = []
    last_instant = -(2**62)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        source = {"line": number}
        try:
            record = json.loads(line)
            topic, value = record["topic"], record["value"]
            item = parse_event(str(topic), json.dumps(value).encode(), source)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            item = Rejection(INVALID_JSON, f"line {number}: expected {{\"topic\": ..., \"value\": {{...}}}}: {exc}", source=source)
        instant = item.occurred_at if not isinstance(item, Rejection) else last_instant
        last_instant = max(last_instant, instant)
        parsed.append((instant, number, item))
    parsed.sort(key=lambda entry: (entry[0], entry[1]))
    return parsed


def simulate(catalog: Catalog, lines: Iterable[str], until_us: int | None = None, hold_seconds: float = 600) -> Iterator[dict[str, Any]]:
    """Replay a feed; yield every output line in emission order."""
    sim = Simulator(Engine(catalog, hold_seconds=hold_seconds))
    for _, _, item in read_feed(lines):
        if isinstance(item, Rejection):
            yield rejection_line(item)
        else:
            yield from sim.feed(item)
    if until_us is not None:
        yield from sim.advance(until_us)
    else:
        yield from sim.drain()


def main(argv: list[str] | None = None, stdout: TextIO | None = None) -> int:
    """`monitor simulate EVENTS.jsonl [--until RFC3339] [--policies FILE]`."""
    parser = argparse.ArgumentParser(prog="monitor simulate", description=__doc__.splitlines()[0])
    parser.add_argument("events", help="JSONL file of {topic, value} records ('-' for stdin)")
    parser.add_argument("--until", help="run the virtual clock to this RFC 3339 instant")
    parser.add_argument("--policies", help="policy file (default: the bundled catalog)")
    parser.add_argument("--hold-seconds", type=float, default=600, help="hold updates for unknown cases (default 600)")
    args = parser.parse_args(argv)
    out = stdout or sys.stdout
    try:
        catalog = catalog_from(args.policies)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 2
    until_us = None
    if args.until:
        try:
            until_us = parse_time(args.until)
        except ValueError as exc:
            print(f"monitor simulate: --until: {exc}", file=sys.stderr)
            return 2
    try:
        handle = sys.stdin if args.events == "-" else open(args.events, encoding="utf-8")
    except OSError as exc:
        print(f"monitor simulate: cannot read {args.events}: {exc.strerror}", file=sys.stderr)
        return 2
    with handle:
        for line in simulate(catalog, handle, until_us, args.hold_seconds):
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
    return 0


__all__ = ["Simulator", "main", "read_feed", "rejection_line", "simulate"]
