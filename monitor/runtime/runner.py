"""The one runner of every stream app: signals, a stop request, and a bounded graceful stop.

`run_until_stopped` runs an app's main coroutine until it returns, or until SIGTERM/SIGINT (or
an optional `stop` event): then it asks the app to stop (`request_stop`) and waits at most
`grace_s` for the main coroutine to finish its own orderly stop (flush, commit, leave the
group). Past the bound the coroutine is cancelled and the exit code is 1, so an orchestrator's
grace period (Kubernetes' terminationGracePeriodSeconds) is never the thing that ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

log = structlog.get_logger("monitor.runtime.runner")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: After the grace period: how long a cancelled app may take to unwind before the process exits.
CANCEL_GRACE_S = 2.0


#: Cyclic-GC thresholds of a streaming process (CPython's default: 700, 10, 10). A record's work
#: allocates and frees thousands of objects, and a young collection runs every 700 net new
#: container objects: ~700 collections and 6 full ones per 60,000 records in bench/throughput.py,
#: ~4 µs of GC per record. With 50,000 / 20 / 10: 4 young collections, no full one, ~1.3 µs
#: (docs/profile.md). Garbage without cycles is freed by reference counting as before; only
#: cyclic garbage waits longer (at most ~50,000 young objects).
GC_THRESHOLDS = (50_000, 20, 10)


def configure_gc() -> None:
    """Set a long-running stream process's cyclic GC: start-up heap frozen, GC_THRESHOLDS.

    `gc.freeze()` exempts the objects built while starting (modules, classes, the policy catalog)
    from collection: a full collection walked them again every time (~60 ms a time). They are
    still freed by reference counting; only cycles among them would outlive the freeze. Call it
    once, in a process's entry point, after imports and configuration (never from library code:
    tests run many apps in one process).
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def run_until_stopped(main: Coroutine[Any, Any, None], *, request_stop: Callable[[], None], grace_s: float,
                            stop: asyncio.Event | None = None, install_signals: bool = True, name: str = "app") -> int:
    """Run `main`; on a signal or `stop`, call `request_stop` and wait up to `grace_s`; 0 on a clean stop, 1 past the bound."""
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()
    if install_signals:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, signalled.set)
    task = asyncio.create_task(main, name=name)
    waiters = [asyncio.create_task(signalled.wait(), name=f"{name}-signals")]
    if stop is not None:
        waiters.append(asyncio.create_task(stop.wait(), name=f"{name}-stop"))
    try:
        await asyncio.wait({task, *waiters}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()   # the app ended on its own: its exception, if any, is the caller's to report
            return 0
        log.info("stopping", app=name, reason="signal" if signalled.is_set() else "stop requested", grace_s=grace_s)
        request_stop()
        # asyncio.wait, not wait_for: wait_for also waits for the cancelled task to finish, which
        # an app stuck in a client call that swallows cancellation may never do.
        await asyncio.wait({task}, timeout=grace_s)
        if not task.done():
            log.error("graceful stop exceeded its bound", app=name, seconds=grace_s)
            return 1
        task.result()
        return 0
    finally:
        for waiter in waiters:
            waiter.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=CANCEL_GRACE_S)
            if not task.done() and install_signals:   # a process of its own: end it, whatever it waits on
                log.error("app ignored cancellation; exiting now", app=name)
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(1)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                if task.done():
                    task.result()
        if install_signals:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
