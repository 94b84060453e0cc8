"""The one HTTP server of every app: /metrics, /healthz, /readyz, plus the routes an app adds.

`HttpServer` takes providers (a registry, readiness checks as callbacks) so each app wires its
own checks and tests run it standalone. /healthz answers from an event-loop lag probe (a blocked
or wedged loop is unhealthy); /readyz runs every readiness check concurrently, each bounded,
and answers 503 with each check's detail until all pass. Bodies are JSON except /metrics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from monitor.observe.health import LoopLagProbe, ReadinessCheck, run_checks

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HttpServer:
    """aiohttp routes over an app's providers; `add_get` more routes, then `start()` serves on host:port."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        readiness: Mapping[str, ReadinessCheck],
        on_readiness: Callable[[bool], None] | None = None,
        loop_probe: LoopLagProbe | None = None,
        check_timeout_s: float = 2.0,
    ) -> None:
        self.registry = registry
        self.readiness = dict(readiness)
        self.on_readiness = on_readiness
        self.loop_probe = loop_probe or LoopLagProbe()
        self.check_timeout_s = check_timeout_s
        self.routes: dict[str, Handler] = {}
        self.middlewares: list[Middleware] = []
        self._runner: web.AppRunner | None = None

    def add_get(self, path: str, handler: Handler) -> None:
        """Serve GET `path` (aiohttp route syntax, e.g. /cases/{case_id}) with `handler`."""
        if path in ("/metrics", "/healthz", "/readyz") or path in self.routes:
            raise ValueError(f"route {path} is already served")
        self.routes[path] = handler

    def add_middleware(self, middleware: Middleware) -> None:
        """Run `middleware` (an aiohttp middleware, e.g. access control) around every route."""
        self.middlewares.append(middleware)

    def app(self) -> web.Application:
        """A fresh aiohttp application with the built-in and added routes; starts the loop probe with it."""
        app = web.Application(middlewares=self.middlewares)
        app.router.add_get("/metrics", self.handle_metrics)
        app.router.add_get("/healthz", self.handle_healthz)
        app.router.add_get("/readyz", self.handle_readyz)
        for path, handler in self.routes.items():
            app.router.add_get(path, handler)
        app.on_startup.append(self._start_probe)
        app.on_cleanup.append(self._stop_probe)
        return app

    async def start(self, host: str = "0.0.0.0", port: int = 8080) -> int:
        """Serve on host:port (port 0 picks a free one); returns the bound port."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving and release the port."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _start_probe(self, _app: web.Application) -> None:
        self.loop_probe.start()

    async def _stop_probe(self, _app: web.Application) -> None:
        await self.loop_probe.stop()

    async def readiness_report(self) -> dict[str, Any]:
        """{"ready": bool, "checks": {name: {"ok", "detail"}}}; passed to on_readiness."""
        results = await run_checks(self.readiness, self.check_timeout_s)
        ready = bool(results) and all(r.ok for r in results.values())
        if self.on_readiness is not None:
            self.on_readiness(ready)
        return {"ready": ready, "checks": {name: r.to_dict() for name, r in results.items()}}

    async def handle_metrics(self, request: web.Request) -> web.Response:
        """Prometheus exposition of the registry (OpenMetrics when the scraper asks for it)."""
        if self.on_readiness is not None:   # keep the readiness gauge fresh for every scrape
            await self.readiness_report()
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = encoder(self.registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def handle_healthz(self, _request: web.Request) -> web.Response:
        """200 while the event loop is responsive, else 503; body says why."""
        result = self.loop_probe.status()
        body = {"status": "ok" if result.ok else "unhealthy", "loop": result.to_dict()}
        return web.json_response(body, status=200 if result.ok else 503)

    async def handle_readyz(self, _request: web.Request) -> web.Response:
        """200 when every readiness check passes, else 503 with each check's detail."""
        report = await self.readiness_report()
        return web.json_response(report, status=200 if report["ready"] else 503)
