"""HTTP for the notifier: /metrics (Prometheus), /healthz (process up), /readyz (state loaded, consuming)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.notify.metrics import NotifyMetrics


def build_app(metrics: NotifyMetrics, ready: asyncio.Event) -> web.Application:
    """The aiohttp application serving metrics and health."""

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health_view(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready_view(_: web.Request) -> web.Response:
        if ready.is_set():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "starting"}, status=503)

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", health_view)
    app.router.add_get("/readyz", ready_view)
    return app


async def start_web(metrics: NotifyMetrics, ready: asyncio.Event, host: str, port: int) -> web.AppRunner:
    """Serve the app on host:port; the caller cleans up the returned runner."""
    runner = web.AppRunner(build_app(metrics, ready), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
