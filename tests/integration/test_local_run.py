"""`monitor run --duration`: embedded broker, topics, worker, demo feed and the event lines, then exit 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.integration.worker_harness import REPO

pytestmark = pytest.mark.timeout(120)

LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T\S+Z  (NEAR-BREACH \d+%|BREACH|MET|MET \(late\))\s+DEMO-\d{6} ")


def test_monitor_run_with_no_broker_configured_shows_breaches_and_stops_by_itself() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BROKER" and not k.startswith("MONITOR_")}
    result = subprocess.run([sys.executable, "-m", "monitor", "run", "--duration", "20", "--rate", "5"],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=100)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "embedded broker (tansu, memory storage)" in result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(LINE.match(line) for line in lines), lines[:5]
    kinds = {LINE.match(line).group(1).split()[0] for line in lines}
    assert {"NEAR-BREACH", "BREACH", "MET"} <= kinds
    summary = re.search(r"demo: (\d+) cases; near-breaches (\d+), breaches (\d+), met (\d+)", result.stderr)
    assert summary and int(summary.group(1)) >= 50
