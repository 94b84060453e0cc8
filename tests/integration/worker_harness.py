"""Run workers for the integration tests: in this event loop, or as `monitor worker` subprocesses."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from monitor.stream.clock import Clock
from monitor.stream.config import WorkerConfig
from monitor.stream.worker import Worker, load_engine

REPO = Path(__file__).resolve().parents[2]


async def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    """Poll `predicate()` until true; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)


@asynccontextmanager
async def running_worker(config: WorkerConfig, clock: Clock | None = None,
                         ready_timeout_s: float = 30.0) -> AsyncIterator[Worker]:
    """A Worker running in this loop until the block ends (then a graceful stop, bounded)."""
    worker = Worker(config, load_engine(config), clock=clock)
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: worker.recovered or task.done(), ready_timeout_s, "partition assignment")
        if task.done():
            task.result()
        yield worker
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 30)


def spawn_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m monitor worker` as a subprocess with `env` added to this process's environment."""
    out = open(log_path, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "worker"],
        env={**os.environ, "MONITOR_LOG_FORMAT": "json", **env}, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
    )


def stop_worker(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
    """Signal a worker subprocess and wait for it to exit; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError(f"worker did not exit within {timeout_s}s of signal {sig}") from None


def assigned_partitions(log_path: Path) -> list[int] | None:
    """The partitions in the last 'partitions assigned' log line of a worker subprocess."""
    import json

    found = None
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "partitions assigned":
            found = entry["partitions"]
    return found
