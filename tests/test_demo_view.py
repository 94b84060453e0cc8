"""The demo's view: says the clock is virtual, fixed-width UTC times, event-time order, 80 columns, summary = shown."""

from __future__ import annotations

import io
from typing import Any

from monitor.core.events import format_time
from monitor.demo_view import COLUMNS, WIDTH, EventView, event_line, header, parse_at

START = parse_at("2026-11-23T06:00:00Z")
MINUTE = 60_000_000
LONGEST_PLAN = "o365-small-business-premium"


def sla_event(kind: str, case: str, at_min: float, *, threshold: float | None = None, breached: bool = False,
              plan: str = LONGEST_PLAN, due_min: float | None = 60, digits: int = 6) -> dict[str, Any]:
    at = START + int(at_min * MINUTE)
    text = format_time(at)
    if digits == 0:
        text = text.split(".")[0].removesuffix("Z") + "Z"
    return {"type": kind, "case_id": case, "at": text, "plan": plan, "priority": "P1", "region": "americas",
            "metric": "first_response", "threshold": threshold, "breached": breached,
            "due_at": format_time(START + int(due_min * MINUTE)) if due_min is not None else None}


def test_header_says_the_clock_is_virtual_and_how_fast() -> None:
    lines = header(600, START)
    assert "VIRTUAL clock, 600x real time (1 real second = 10 minutes)" in lines[0]
    assert "starts Mon 2026-11-23 06:00 UTC" in lines[1]
    assert "real clock" in header(1, START)[0]
    assert all(len(line) <= WIDTH for scale in (0.5, 1, 30, 600, 86400, 1e7) for line in header(scale, START))


def test_lines_have_fixed_width_utc_times_and_fit_80_columns() -> None:
    events = [sla_event("sla.near_breach", "C000001", 45, threshold=0.75, digits=0),
              sla_event("sla.breach", "C000002", 60.5),
              sla_event("sla.met", "C000003", 61, breached=True, due_min=None),
              sla_event("sla.overdue", "C000004", 3000)]
    lines = [event_line(e) for e in events]
    assert [line[:5] for line in lines] == ["06:45", "07:00", "07:01", "08:00"]
    assert lines[0].startswith("06:45  NEAR-BREACH 75% C000001 o365-small-business-premium P1 americas Mon 07:00")
    assert lines[2].split()[2:3] == ["(late)"] and lines[2].endswith(" -")
    assert all(len(line) <= WIDTH for line in [*lines, COLUMNS])


def test_events_show_in_event_time_order_and_the_summary_counts_what_was_shown() -> None:
    out = io.StringIO()
    view = EventView(out, 600, START, hold_us=2 * 600 * 1_000_000, tty=False)
    # arrival order differs from event-time order (different topics and partitions)
    view.add(sla_event("sla.met", "C000001", 50))
    view.add(sla_event("sla.near_breach", "C000001", 45, threshold=0.75))
    view.add(sla_event("sla.breach", "C000002", 60 * 24 + 1))   # next day
    view.release(START + 40 * MINUTE)                              # nothing old enough yet
    assert out.getvalue().count("C0000") == 0
    view.release(START + 70 * MINUTE)                              # the first two are now 20 min old
    view.release()                                                 # the end: everything left
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("sla-monitor demo: VIRTUAL clock") and lines[3] == COLUMNS
    body = lines[4:]
    assert body[0].startswith("-- Mon 2026-11-23 ") and "NEAR-BREACH 75%" in body[1] and " MET " in body[2]
    assert body[3].startswith("-- Tue 2026-11-24 ") and "BREACH" in body[4]
    assert all(len(line) <= WIDTH for line in lines)
    assert view.totals() == "near-breaches 1, breaches 1, met 1"


def test_the_terminal_frame_fits_80_columns_and_agrees_with_the_summary() -> None:
    view = EventView(io.StringIO(), 600, START, hold_us=0, tty=True)
    for i in range(30):
        view.add(sla_event("sla.near_breach", f"C{i:06d}", i, threshold=0.9))
    view.release()
    frame = view.frame(START + 90 * MINUTE, cases=30)
    assert all(len(line) <= WIDTH for line in frame)
    assert "virtual clock, 600x" in frame[0]
    assert frame[1] == view.totals() == "near-breaches 30, breaches 0, met 0"
    assert len(view.frame(START, cases=30, height=24)) <= 23   # fits a 24-row terminal
