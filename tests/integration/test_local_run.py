"""`monitor run --duration`: embedded broker, topics, worker, demo feed and the event lines, then exit 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

import pytest

from tests.integration.worker_harness import REPO

pytestmark = pytest.mark.timeout(120)

LINE = re.compile(r"^(\d{2}:\d{2})  (NEAR-BREACH \d+%|BREACH|MET \(late\)|MET)\s+C\d{6} ")
DAY = re.compile(r"^-- \w{3} \d{4}-\d{2}-\d{2} -+$")


def test_monitor_run_with_no_broker_configured_shows_breaches_and_stops_by_itself() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BROKER" and not k.startswith("MONITOR_")}
    result = subprocess.run([sys.executable, "-m", "monitor", "run", "--duration", "20", "--rate", "5"],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=100)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "embedded broker (tansu, memory storage)" in result.stderr
    header, _, body = result.stdout.partition("\n\n")
    assert "VIRTUAL clock, 600x real time (1 real second = 10 minutes)" in header
    lines = body.splitlines()[1:]   # after the column names
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert lines and DAY.match(lines[0]) and all(LINE.match(line) or DAY.match(line) for line in lines), lines[:5]
    events = [LINE.match(line) for line in lines if LINE.match(line)]
    kinds = Counter(match.group(2).split()[0] for match in events)
    assert {"NEAR-BREACH", "BREACH", "MET"} <= set(kinds)
    days: list[list[str]] = []
    for line in lines:   # within each virtual day, event-time order
        if DAY.match(line):
            days.append([])
        else:
            days[-1].append(line[:5])
    assert all(times == sorted(times) for times in days), "events out of event-time order"
    summary = re.search(r"demo: (\d+) cases; near-breaches (\d+), breaches (\d+), met (\d+)", result.stderr)
    assert summary and int(summary.group(1)) >= 50
    assert [int(n) for n in summary.groups()[1:]] == [kinds["NEAR-BREACH"], kinds["BREACH"], kinds["MET"]]


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


def test_demo_without_its_input_topics_says_so_and_exits_2(broker) -> None:
    # Before: UnknownTopicOrPartitionError escaped from the feed's first send as a traceback.
    tag = f"t{os.getpid()}demo"
    result = subprocess.run([sys.executable, "-m", "monitor", "demo", "--broker", broker.bootstrap, "--duration", "3",
                             "--topic-case-created", f"{tag}.created", "--topic-case-updated", f"{tag}.updated"],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 2, result.stderr
    assert f"monitor demo: topics missing: {tag}.created, {tag}.updated; run `monitor topics apply` first" in result.stderr
    assert "Traceback" not in result.stderr
