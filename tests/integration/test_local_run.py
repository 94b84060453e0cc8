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


def test_ctrl_c_stops_the_worker_before_the_broker_and_exits_cleanly() -> None:
    """Ctrl-C sends SIGINT to the whole foreground process group; the broker must not die first."""
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BROKER" and not k.startswith("MONITOR_")}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--rate", "5"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        seen = ""
        while "topics: created" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.readline()
        time.sleep(5)  # the worker has joined and is consuming
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the monitor and its children
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-3000:]
    assert "Unclosed" not in err and "Connect call failed" not in err and "Traceback" not in err, err[-3000:]
    assert "demo:" in err
