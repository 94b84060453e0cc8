"""`monitor simulate` and `monitor policies` as a user runs them."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

from monitor import policies_cli, simulate

FEED = [
    {"topic": "case-created", "value": {"event_id": "e1", "case_id": "C1", "occurred_at": "2026-11-25T10:00:00Z",
                                        "plan": "adobe-enterprise", "priority": "P1", "region": "emea"}},
    {"topic": "case-updated", "value": {"event_id": "e2", "case_id": "C1", "occurred_at": "2026-11-25T10:20:00Z",
                                        "agent_response": True}},
    {"topic": "case-created", "value": {"event_id": "e3", "case_id": "C2", "occurred_at": "2026-11-25T10:05:00Z",
                                        "plan": "adobe-online", "priority": "P1", "region": "emea"}},
    {"topic": "case-updated", "value": {"event_id": "e4", "case_id": "C9", "occurred_at": "2026-11-25T10:06:00Z",
                                        "status": "open"}},
]


def write_feed(tmp_path: Path, extra: tuple[str, ...] = ()) -> Path:
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join([json.dumps(r) for r in FEED] + list(extra)) + "\n")
    return path


def test_simulate_prints_events_in_emission_order(tmp_path: Path) -> None:
    out = io.StringIO()
    assert simulate.main([str(write_feed(tmp_path, ("{oops",))), "--until", "2026-11-25T10:50:00Z"], stdout=out) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    summary = [(l["type"], l.get("case_id"), l.get("reason") or l.get("threshold"), l.get("at")) for l in lines]
    assert summary == [
        ("rejected", "C9", "unknown_case", None),  # held at 10:06, expired at 10:16
        ("sla.met", "C1", None, "2026-11-25T10:20:00Z"),
        ("rejected", None, "invalid_json", None),  # line 5: placed at the latest instant read before it
        ("sla.near_breach", "C2", 0.75, "2026-11-25T10:50:00Z"),  # --until stops before 10:59 and 11:05
    ]


def test_simulate_cli_runs_as_a_module(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "monitor", "simulate", str(write_feed(tmp_path))],
                            capture_output=True, text=True, timeout=60, check=True)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    c2 = [l for l in lines if l.get("case_id") == "C2"]
    assert [l["type"] for l in c2] == ["sla.near_breach", "sla.near_breach", "sla.breach"]
    assert c2[-1]["at"] == "2026-11-25T11:05:00Z"
    # C9 is updated but never created: held, then rejected when the hold (600 s) expires.
    rejected = [l for l in lines if l["type"] == "rejected"]
    assert [(r["case_id"], r["reason"]) for r in rejected] == [("C9", "unknown_case")]


def test_simulate_reports_bad_arguments(tmp_path: Path) -> None:
    err = subprocess.run([sys.executable, "-m", "monitor", "simulate", str(tmp_path / "none.jsonl")],
                         capture_output=True, text=True, timeout=60)
    assert err.returncode == 2 and "cannot read" in err.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[regions]\n")
    err = subprocess.run([sys.executable, "-m", "monitor", "simulate", str(write_feed(tmp_path)), "--policies", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert err.returncode == 2 and str(bad) in err.stderr


def test_policies_table_lists_every_cell(capsys: object) -> None:
    assert policies_cli.main([]) == 0
    text = capsys.readouterr().out  # type: ignore[attr-defined]
    assert re.search(r"adobe-enterprise +first_response +P2 +24x5 +1h +0.75/0.9 +- +none +japan: business_hours", text)
    assert "japan: business_hours" in text
    assert text.count("untimed") == 9
