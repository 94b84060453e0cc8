"""Existing policy files keep their behaviour: a corpus of timelines through `simulate`.

`fixtures/corpus-feed.jsonl` is a fixed feed of several hundred case timelines (every plan,
priority and region, case time zones, responses, pauses, plan and priority changes, resolve
and reopen, duplicates, updates for unknown cases, DST weeks, seconds and milliseconds). The
expected outputs were captured *before* the calendar/escalation rework, once with the bundled
catalog and once with a policy file in today's format that uses holidays, business days,
overrides and the `resolution`/`update` metrics. Any change to an existing file's events fails
here, byte for byte.

Regenerate (only when a behaviour change is intended and reviewed):
    python -m tests.core.test_corpus regen
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from monitor.core.policy import Catalog, bundled_catalog, load_catalog
from monitor.simulate import simulate

FIXTURES = Path(__file__).parent / "fixtures"
FEED = FIXTURES / "corpus-feed.jsonl"
LEGACY_POLICY = FIXTURES / "legacy-policy.toml"
EXPECTED_BUNDLED = FIXTURES / "corpus-bundled.jsonl"
EXPECTED_LEGACY = FIXTURES / "corpus-legacy.jsonl"

#: Week starts (UTC) the corpus draws from: ordinary weeks, US and EU DST changes, year end.
WEEKS = [
    "2026-01-05T00:00:00Z", "2026-03-02T00:00:00Z", "2026-03-06T00:00:00Z", "2026-03-27T00:00:00Z",
    "2026-06-15T00:00:00Z", "2026-10-23T00:00:00Z", "2026-10-30T00:00:00Z", "2026-11-23T00:00:00Z",
    "2026-12-21T00:00:00Z", "2026-12-28T00:00:00Z", "2027-03-12T00:00:00Z",
]
ZONES = [None, None, None, "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney"]


def _stamp(us: int, rng: random.Random) -> str:
    from monitor.core.events import format_time

    return format_time(us if rng.random() < 0.7 else us + rng.randrange(1, 1000) * 1000)


def make_feed(seed: int = 12, cases: int = 400) -> list[str]:
    """A deterministic feed of case timelines (JSONL lines)."""
    from monitor.core.events import parse_time

    rng = random.Random(seed)
    catalog = bundled_catalog()
    plans = [(p.plan_id, p.priorities) for p in catalog.plans.values()]
    aliases = {p.plan_id: list(p.aliases) for p in catalog.plans.values()}
    regions = list(catalog.regions)
    records: list[tuple[int, dict[str, object]]] = []
    ids = iter(range(10**9))
    for n in range(cases):
        case_id = f"K{n:04d}"
        plan, priorities = rng.choice(plans)
        start = parse_time(rng.choice(WEEKS)) + rng.randrange(0, 7 * 1440) * 60_000_000 + rng.choice([0, 0, 0, 17_000_000])
        body: dict[str, object] = {
            "event_id": f"x{next(ids)}", "case_id": case_id, "occurred_at": _stamp(start, rng),
            "plan": rng.choice([plan, *aliases[plan]]), "priority": rng.choice(priorities), "region": rng.choice(regions),
        }
        zone = rng.choice(ZONES)
        if zone:
            body["timezone"] = zone
        records.append((start, {"topic": "case-created", "value": body}))
        at = start
        for _ in range(rng.randrange(0, 7)):
            at += rng.randrange(1, 40 * 3600) * 1_000_000
            update: dict[str, object] = {"event_id": f"x{next(ids)}", "case_id": case_id, "occurred_at": _stamp(at, rng)}
            roll = rng.random()
            if roll < 0.3:
                update["agent_response"] = True
            elif roll < 0.45:
                update["status"] = "pending_customer"
            elif roll < 0.55:
                update["status"] = "open"
            elif roll < 0.68:
                update["status"] = rng.choice(["resolved", "closed"])
            elif roll < 0.76:
                update["status"] = "reopened"
            elif roll < 0.84:
                update["priority"] = rng.choice(priorities)
            elif roll < 0.88:
                other, _ = rng.choice(plans)
                update["plan"] = other
            elif roll < 0.94 and records:
                records.append((at, records[-1][1]))  # a duplicate of the previous record
                continue
            else:
                update["status"] = rng.choice(["open", "bogus"])
            records.append((at, {"topic": "case-updated", "value": update}))
        if rng.random() < 0.05:
            ghost = {"event_id": f"x{next(ids)}", "case_id": f"G{n:04d}", "occurred_at": _stamp(start, rng), "status": "open"}
            records.append((start, {"topic": "case-updated", "value": ghost}))
    rng.shuffle(records)
    return [json.dumps(record, separators=(",", ":")) for _, record in records]


def outputs(catalog: Catalog) -> list[str]:
    """Every output line of the corpus through `simulate` with this catalog."""
    lines = FEED.read_text(encoding="utf-8").splitlines()
    return [json.dumps(line, separators=(",", ":"), sort_keys=True) for line in simulate(catalog, lines)]


def _expected(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_bundled_catalog_gives_the_same_events_as_before() -> None:
    got, expected = outputs(bundled_catalog()), _expected(EXPECTED_BUNDLED)
    assert len(expected) > 1000
    assert got == expected


def test_a_policy_file_in_the_old_format_gives_the_same_events_as_before() -> None:
    got, expected = outputs(load_catalog(LEGACY_POLICY)), _expected(EXPECTED_LEGACY)
    assert len(expected) > 1000
    assert got == expected


def test_corpus_exercises_every_event_kind() -> None:
    kinds = {json.loads(line)["type"] for line in _expected(EXPECTED_LEGACY) + _expected(EXPECTED_BUNDLED)}
    assert {"sla.near_breach", "sla.breach", "sla.met", "rejected"} <= kinds


def _regen() -> None:
    FIXTURES.mkdir(exist_ok=True)
    FEED.write_text("\n".join(make_feed()) + "\n", encoding="utf-8")
    EXPECTED_BUNDLED.write_text("\n".join(outputs(bundled_catalog())) + "\n", encoding="utf-8")
    EXPECTED_LEGACY.write_text("\n".join(outputs(load_catalog(LEGACY_POLICY))) + "\n", encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["regen"]:
    _regen()
