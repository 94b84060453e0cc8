"""The runner: a signal asks the app to stop, the stop is bounded, an app's own end is reported."""

from __future__ import annotations

import asyncio
import gc
import os
import signal

import pytest

from monitor.runtime.runner import GC_THRESHOLDS, configure_gc, run_until_stopped


class App:
    """Stops promptly on request, or ignores the request when `stubborn`."""

    def __init__(self, stubborn: bool = False) -> None:
        self.stop = asyncio.Event()
        self.stubborn = stubborn
        self.cleaned_up = False

    async def run(self) -> None:
        try:
            await self.stop.wait()
            if self.stubborn:
                await asyncio.sleep(3600)
        finally:
            self.cleaned_up = True


async def test_sigterm_stops_the_app_cleanly() -> None:
    app = App()
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
    code = await run_until_stopped(app.run(), request_stop=app.stop.set, grace_s=5)
    assert code == 0 and app.stop.is_set() and app.cleaned_up


async def test_a_stop_past_the_bound_is_cut_and_exits_1() -> None:
    app = App(stubborn=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    code = await run_until_stopped(app.run(), request_stop=app.stop.set, grace_s=0.2, stop=stop, install_signals=False)
    assert code == 1 and app.cleaned_up


async def test_an_app_failure_reaches_the_caller() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await run_until_stopped(broken(), request_stop=lambda: None, grace_s=1, install_signals=False)


def test_configure_gc_freezes_the_start_up_heap_and_raises_the_thresholds() -> None:
    gc.unfreeze()
    thresholds = gc.get_threshold()
    try:
        assert gc.get_freeze_count() == 0
        configure_gc()
        assert gc.get_freeze_count() > 1000   # modules, classes, functions of this process
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()   # the test process goes on collecting as before
        gc.set_threshold(*thresholds)
