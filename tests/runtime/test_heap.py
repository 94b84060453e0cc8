"""Returning freed C-heap memory to the system, and when the worker does it."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.runtime.heap import trim_heap
from monitor.stream import worker as worker_module
from tests.stream.test_worker_records import CREATED, created, make, record


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def test_trim_returns_freed_holes_between_live_blocks() -> None:
    """Blocks over 512 bytes come from malloc; freeing most of them leaves holes glibc keeps until trimmed."""
    if not Path("/proc/self/status").exists() or not trim_heap():
        pytest.skip("needs glibc's malloc_trim and /proc")
    blocks = [bytearray(4000) for _ in range(40_000)]      # ~160 MB on the C heap
    kept = blocks[::40]                                    # a live block every 160 KB pins the heap
    del blocks
    before = rss_bytes()
    assert trim_heap()
    after = rss_bytes()
    assert before - after > 50 * 2**20, (before, after)
    assert len(kept) == 1000


def test_the_worker_trims_on_the_first_idle_turn_after_a_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[int] = []
    monkeypatch.setattr(worker_module, "trim_heap", lambda: trims.append(1) or True)
    monkeypatch.setattr(worker_module, "TRIM_AFTER_RECORDS", 3)
    worker, _, _ = make()
    worker._on_idle(1.0)
    assert trims == []                                     # nothing handled yet
    worker._process(CREATED, [record(i, created(f"C{i}"), key=f"C{i}".encode()) for i in range(3)])
    worker._on_idle(0.0)
    assert trims == []                                     # a fetch that did not wait is not idleness
    worker._on_idle(worker_module.IDLE_TURN_S)
    worker._on_idle(worker_module.IDLE_TURN_S)
    assert trims == [1]                                    # once per burst
