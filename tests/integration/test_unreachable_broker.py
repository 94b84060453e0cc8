"""Every command with a broker it cannot reach: one line, the stated exit code, no traceback.

One-shot commands (`topics apply`, `demo`, `run` against a given broker) exit 2 at once.
Long-running ones (`worker`, `notify`) retry, log one line per attempt, and exit 1 after
MONITOR_CONNECT_TIMEOUT_SECONDS; a worker started before its broker becomes ready once it appears.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from monitor.embedded_broker import free_port
from tests.integration.kafka_helpers import create_topics, unique_topics, worker_env
from tests.integration.worker_harness import REPO, stop_worker

pytestmark = pytest.mark.timeout(120)

ONE_SHOT = [["topics", "apply"], ["demo", "--duration", "5"], ["run", "--duration", "5"]]


def monitor(args: list[str], env: dict[str, str], timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m monitor ...` with `env` over a clean environment (no KAFKA_*/MONITOR_* of the caller)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "MONITOR_"))}
    return subprocess.run([sys.executable, "-m", "monitor", *args], env={**base, **env}, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout_s)


@pytest.mark.parametrize("args", ONE_SHOT, ids=lambda a: a[0])
def test_one_shot_command_exits_2_with_one_line(args: list[str]) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    result = monitor(args, {"KAFKA_BROKER": bootstrap})
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"monitor {args[0]}: cannot reach Kafka at {bootstrap}: connection refused"]


def test_unknown_host_name_is_named_as_such() -> None:
    result = monitor(["topics", "apply"], {"KAFKA_BROKER": "kafka.invalid:9092"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["monitor topics: cannot reach Kafka at kafka.invalid:9092: host name not found"]


def _routing(tmp_path: Path) -> Path:
    path = tmp_path / "routing.toml"
    path.write_text('version = 1\n[channels.hook]\nkind = "webhook"\nurl = "http://127.0.0.1:9/h"\nsecret_env = "HOOK_SECRET"\n'
                    '[[rules]]\nname = "all"\nnotify = ["hook"]\n')
    return path


@pytest.mark.parametrize("command", ["worker", "notify"])
def test_long_running_command_retries_then_exits_1_after_the_bound(command: str, tmp_path: Path) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    args = [command] + (["--routing", str(_routing(tmp_path)), "--web-port", "0"] if command == "notify" else [])
    result = monitor(args, {"KAFKA_BROKER": bootstrap, "MONITOR_WEB_PORT": "0", "MONITOR_CONNECT_TIMEOUT_SECONDS": "3",
                                   "HOOK_SECRET": "s"})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    *attempts, last = result.stderr.splitlines()
    assert last == (f"monitor {command}: cannot reach Kafka at {bootstrap}: connection refused "
                    "(gave up after 3s, MONITOR_CONNECT_TIMEOUT_SECONDS)")
    logged = [json.loads(line) for line in attempts]
    assert len(logged) >= 2 and all(entry["event"] == "kafka unreachable" for entry in logged)
    assert {(entry["broker"], entry["cause"]) for entry in logged} == {(bootstrap, "connection refused")}
    assert [entry["attempt"] for entry in logged] == list(range(1, len(logged) + 1))


@contextmanager
def forwarder(listen_port: int, target_port: int) -> Iterator[None]:
    """A TCP forwarder 127.0.0.1:listen_port -> 127.0.0.1:target_port: the broker 'appears' at listen_port."""
    server = socket.create_server(("127.0.0.1", listen_port))
    server.settimeout(0.2)
    done = threading.Event()

    def pump(src: socket.socket, dst: socket.socket) -> None:
        with src, dst:
            while data := src.recv(65536):
                dst.sendall(data)

    def accept() -> None:
        while not done.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(("127.0.0.1", target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=lambda a=a, b=b: _quietly(pump, a, b), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(5)
        server.close()


def _quietly(pump, a: socket.socket, b: socket.socket) -> None:  # type: ignore[no-untyped-def]
    try:
        pump(a, b)
    except OSError:
        pass


def _readyz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


async def test_worker_started_before_its_broker_becomes_ready_once_it_appears(broker, tmp_path: Path) -> None:
    names, partitions = unique_topics()
    await create_topics(broker.bootstrap, names, partitions)
    bootstrap_port, web_port = free_port(), free_port()
    env = {**os.environ, **worker_env(f"127.0.0.1:{bootstrap_port}", names), "MONITOR_WEB_PORT": str(web_port)}
    env.pop("MONITOR_CONNECT_TIMEOUT_SECONDS", None)
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "worker"], env=env, cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while log_path.read_text().count('"kafka unreachable"') < 2:   # retrying, still alive, not ready
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        assert _readyz(web_port) == 503
        with forwarder(bootstrap_port, broker.port):
            deadline = time.monotonic() + 90
            while _readyz(web_port) != 200:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            assert stop_worker(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in log_path.read_text()


def test_sigterm_while_waiting_for_the_broker_stops_the_worker_cleanly(tmp_path: Path) -> None:
    import signal

    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "MONITOR_"))}
    env.update({"KAFKA_BROKER": f"127.0.0.1:{free_port()}", "MONITOR_WEB_PORT": "0"})
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "worker"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        while '"kafka unreachable"' not in proc.stderr.readline():   # it is retrying
            assert time.monotonic() < deadline and proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
