"""kill -9 of the notifier process and a restart: every event reaches the endpoint exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from monitor.embedded_broker import EmbeddedBroker, free_port
from tests.notify.factories import event_dict
from tests.notify.loopback import HttpRecorder, Topics, eventually, fresh_topics, produce_events, read_topic

# `broker` is the session-scoped embedded broker from tests/integration/conftest.py
pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROUTING = """
version = 1
[channels.hook]
kind = "webhook"
url = "{url}"
secret_env = "HOOK_SECRET"
retry = {{ max_attempts = 3, base_seconds = 0.05, max_seconds = 0.2, timeout_seconds = 30.0 }}

[[rules]]
name = "everything"
match = {{ type = ["sla.near_breach", "sla.breach"] }}
notify = ["hook"]
"""


def spawn(bootstrap: str, topics: Topics, routing: Path, log: Path, web_port: int,
          *extra: str) -> subprocess.Popen[bytes]:
    """`monitor notify` as its own process, with short group timeouts so a restart rejoins quickly."""
    args = [sys.executable, "-m", "monitor", "notify", "--routing", str(routing), "--broker", bootstrap,
            "--group-id", topics.group, "--topic-near-breaches", topics.near, "--topic-breaches", topics.breach,
            "--topic-status", topics.status, "--topic-notify-state", topics.state,
            "--topic-notify-dead-letter", topics.dead_letter, "--web-host", "127.0.0.1", "--web-port", str(web_port),
            "--session-timeout", "3", "--shutdown-timeout", "4", *extra]
    env = {**os.environ, "HOOK_SECRET": "restart-secret"}
    return subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env, cwd=Path(__file__).parents[2])


async def test_no_duplicate_after_kill_9_and_restart(broker: EmbeddedBroker, tmp_path: Path) -> None:
    http = await HttpRecorder().start()
    # five accepted, then the endpoint hangs: the notifier dies with a delivery in flight
    http.script["hook"] = [200] * 5 + ["hold"]
    routing = tmp_path / "routing.toml"
    routing.write_text(ROUTING.format(url=http.url("hook")))
    topics = await fresh_topics(broker.bootstrap)
    events = [event_dict(case_id=f"C-{i:02d}", type="sla.breach" if i % 3 == 0 else "sla.near_breach") for i in range(12)]
    await produce_events(broker.bootstrap, topics, events)
    log = tmp_path / "notify.log"
    first = spawn(broker.bootstrap, topics, routing, log, web_port=0)
    second: subprocess.Popen[bytes] | None = None
    try:
        await eventually(lambda: len(http.at("hook", answered=None)) == 6, 40, "five deliveries and a hanging sixth")
        state: list[object] = []

        async def five_recorded() -> None:
            while len(state) < 5:
                state[:] = await read_topic(broker.bootstrap, topics.state, timeout=2)
                await asyncio.sleep(0.1)

        await asyncio.wait_for(five_recorded(), 15)
        assert len(state) == 5
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
        http.release()

        port = free_port()
        second = spawn(broker.bootstrap, topics, routing, log, web_port=port)
        every_id = {e["event_id"] for e in events}
        await eventually(lambda: {r.json()["event_id"] for r in http.at("hook")} == every_id, 60, "all twelve after restart")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                metrics_text = await response.text()
            async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                assert response.status == 200
        assert 'sla_notifications_total{channel="hook",outcome="delivered"} 7.0' in metrics_text
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        await http.stop()

    accepted = [r.json()["event_id"] for r in http.at("hook")]
    assert sorted(accepted) == sorted(e["event_id"] for e in events), "each event accepted exactly once"
    recorded_before_kill = {r.json()["event_id"] for r in http.at("hook")[:5]}
    for event_id in recorded_before_kill:  # recorded deliveries were not even attempted again
        assert sum(1 for r in http.at("hook", answered=None) if r.json()["event_id"] == event_id) == 1
    final_state = await read_topic(broker.bootstrap, topics.state)
    assert len({key for key, _ in final_state}) == 12



def start_and_wait(bootstrap: str, topics: Topics, tmp_path: Path, *extra: str) -> tuple[int, str]:
    """Start `monitor notify` and wait for it to exit on its own: (exit code, its output)."""
    routing = tmp_path / "routing.toml"
    routing.write_text(ROUTING.format(url="http://127.0.0.1:9/hook"))
    log = tmp_path / "notify.log"
    proc = spawn(bootstrap, topics, routing, log, free_port(), *extra)
    try:
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, log.read_text(errors="replace")


async def test_missing_input_topic_stops_the_notifier_at_start(broker: EmbeddedBroker, tmp_path: Path) -> None:
    # Before: a notifier pointed at a topic that does not exist (a typo in MONITOR_TOPIC_BREACHES)
    # died with a traceback (UnknownTopicOrPartitionError from consumer.start, exit 1).
    topics = Topics(f"t{os.getpid()}missing{free_port()}")
    code, output = start_and_wait(broker.bootstrap, topics, tmp_path)
    assert code == 2, output
    assert f"topics missing: {topics.near}, {topics.breach}, {topics.status}; run `monitor topics apply` first" in output
    assert "Traceback" not in output


async def test_no_create_topics_without_the_state_topic_stops_at_start(broker: EmbeddedBroker, tmp_path: Path) -> None:
    # Before: RuntimeError("state topic ... has no partitions") escaped as a traceback (exit 1).
    topics = await fresh_topics(broker.bootstrap)
    code, output = start_and_wait(broker.bootstrap, topics, tmp_path, "--no-create-topics")
    assert code == 2, output
    assert f"topics missing: {topics.state}, {topics.dead_letter}; run `monitor topics apply` first" in output
    assert "Traceback" not in output
