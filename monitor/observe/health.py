"""Liveness and readiness checks: an event-loop lag probe, a broker probe, and a check runner.

A readiness check is a callable returning a `CheckResult` (or an awaitable of one); the worker
supplies checks for partitions assigned and table recovery, this module the broker probe.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict and why."""

    ok: bool
    detail: str

    def to_dict(self) -> dict[str, object]:
        """JSON-able form used in /healthz and /readyz bodies."""
        return {"ok": self.ok, "detail": self.detail}


ReadinessCheck = Callable[[], "CheckResult | Awaitable[CheckResult]"]


async def run_check(check: ReadinessCheck, timeout_s: float) -> CheckResult:
    """Run one check with a deadline; a timeout or an exception is a failed check."""
    try:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await asyncio.wait_for(outcome, timeout_s)
    except TimeoutError:
        return CheckResult(False, f"check timed out after {timeout_s:g}s")
    except Exception as exc:  # a broken check must not break the probe endpoint
        return CheckResult(False, f"check raised {type(exc).__name__}: {exc}")
    if not isinstance(outcome, CheckResult):
        return CheckResult(False, f"check returned {type(outcome).__name__}, not CheckResult")
    return outcome


async def run_checks(
    checks: Mapping[str, ReadinessCheck], timeout_s: float
) -> dict[str, CheckResult]:
    """Run all checks concurrently, each bounded by `timeout_s`."""
    names = list(checks)
    results = await asyncio.gather(*(run_check(checks[name], timeout_s) for name in names))
    return dict(zip(names, results, strict=True))


def parse_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    """"h1:9092,h2:9092" (optionally with a kafka:// scheme) -> [(host, port), ...]."""
    servers: list[tuple[str, int]] = []
    for item in bootstrap.split(","):
        item = item.strip().removeprefix("kafka://")
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"bootstrap server {item!r} is not host:port")
        servers.append((host.strip("[]"), int(port)))
    if not servers:
        raise ValueError("empty bootstrap server list")
    return servers


def broker_reachable(bootstrap: str, timeout_s: float = 1.0) -> ReadinessCheck:
    """A check that passes when a TCP connection to any bootstrap server opens in time."""
    servers = parse_bootstrap(bootstrap)

    async def check() -> CheckResult:
        failures: list[str] = []
        for host, port in servers:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
            except (TimeoutError, OSError) as exc:
                failures.append(f"{host}:{port} {type(exc).__name__}")
                continue
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
            return CheckResult(True, f"connected to {host}:{port}")
        return CheckResult(False, "no bootstrap server reachable: " + ", ".join(failures))

    return check


class LoopLagProbe:
    """Sleeps `interval_s` in a loop and records how late each wake-up was.

    Healthy while no wake-up in the last `window_s` was more than `max_lag_s` late and the probe
    has beaten within `interval_s + max_lag_s` (a blocked loop stops the beats altogether).
    """

    def __init__(self, interval_s: float = 0.5, max_lag_s: float = 5.0, window_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self.max_lag_s = max_lag_s
        self.window_s = window_s
        self.worst_lag_s = 0.0
        self._worst_at = 0.0
        self._last_beat: float | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start beating on the running event loop."""
        if self._task is None or self._task.done():
            self._last_beat = time.monotonic()
            self._task = asyncio.get_running_loop().create_task(self._beat(), name="loop-lag-probe")

    async def stop(self) -> None:
        """Stop beating and wait for the task to end."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _beat(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.interval_s)
            now = time.monotonic()
            lag = max(0.0, now - before - self.interval_s)
            if lag >= self.worst_lag_s or now - self._worst_at > self.window_s:
                self.worst_lag_s, self._worst_at = lag, now
            self._last_beat = now

    def status(self) -> CheckResult:
        """The liveness verdict: no recent beat, or a recent beat too late, is unhealthy."""
        if self._task is None or self._last_beat is None:
            return CheckResult(False, "loop lag probe not running")
        if self._task.done():
            return CheckResult(False, "loop lag probe stopped")
        now = time.monotonic()
        silent_s = now - self._last_beat
        if silent_s > self.interval_s + self.max_lag_s:
            return CheckResult(False, f"no loop beat for {silent_s:.3f}s")
        recent_worst = self.worst_lag_s if now - self._worst_at <= self.window_s else 0.0
        if recent_worst > self.max_lag_s:
            return CheckResult(
                False, f"event loop lag {recent_worst:.3f}s > {self.max_lag_s:g}s within {self.window_s:g}s"
            )
        return CheckResult(True, f"event loop lag at most {recent_worst:.3f}s within {self.window_s:g}s")
