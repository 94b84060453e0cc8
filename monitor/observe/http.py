"""The worker's HTTP endpoints: /metrics, /healthz, /readyz and /cases/{case_id}.

`ObservabilityHttp` takes providers (a registry, readiness checks, a case lookup) so the
worker wires it and tests run it standalone. Bodies are JSON except /metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from monitor.observe.health import LoopLagProbe, ReadinessCheck, run_checks
from monitor.observe.metrics import WorkerMetrics

#: Looks a case up by id: its SLA state as a JSON-able dict, or None when unknown.
CaseLookup = Callable[[str], Awaitable["Mapping[str, Any] | None"]]

MAX_CASE_ID_LENGTH = 256


class ObservabilityHttp:
    """aiohttp routes over the worker's providers; `start()` serves them on host:port."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        readiness: Mapping[str, ReadinessCheck],
        case_lookup: CaseLookup | None = None,
        peer_lookup: CaseLookup | None = None,
        metrics: WorkerMetrics | None = None,
        loop_probe: LoopLagProbe | None = None,
        check_timeout_s: float = 2.0,
        lookup_timeout_s: float = 5.0,
    ) -> None:
        self.registry = registry
        self.readiness = dict(readiness)
        self.case_lookup = case_lookup
        self.peer_lookup = peer_lookup
        self.metrics = metrics
        self.loop_probe = loop_probe or LoopLagProbe()
        self.check_timeout_s = check_timeout_s
        self.lookup_timeout_s = lookup_timeout_s
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        """A fresh aiohttp application with the four routes; starts the loop probe with it."""
        app = web.Application()
        app.router.add_get("/metrics", self.handle_metrics)
        app.router.add_get("/healthz", self.handle_healthz)
        app.router.add_get("/readyz", self.handle_readyz)
        app.router.add_get("/cases/{case_id}", self.handle_case)
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
        """{"ready": bool, "checks": {name: {"ok", "detail"}}}; mirrored into sla_worker_ready."""
        results = await run_checks(self.readiness, self.check_timeout_s)
        ready = bool(results) and all(r.ok for r in results.values())
        if self.metrics is not None:
            self.metrics.set_ready(ready)
        return {"ready": ready, "checks": {name: r.to_dict() for name, r in results.items()}}

    async def handle_metrics(self, request: web.Request) -> web.Response:
        """Prometheus exposition of the registry (OpenMetrics when the scraper asks for it)."""
        if self.metrics is not None:
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

    async def handle_case(self, request: web.Request) -> web.Response:
        """The case's SLA state, from this replica or (unless `?local=1`) a peer that owns it;
        404 when unknown, 503 when it cannot answer."""
        case_id = request.match_info["case_id"]
        if not case_id or len(case_id) > MAX_CASE_ID_LENGTH:
            return web.json_response({"error": "invalid case id"}, status=400)
        if self.case_lookup is None:
            return web.json_response({"error": "case lookup not available"}, status=503)
        try:
            state = await asyncio.wait_for(self.case_lookup(case_id), self.lookup_timeout_s)
            if state is None and self.peer_lookup is not None and request.query.get("local") != "1":
                state = await asyncio.wait_for(self.peer_lookup(case_id), self.lookup_timeout_s)
        except TimeoutError:
            return web.json_response({"error": "case lookup timed out"}, status=503)
        except Exception as exc:  # report, never crash the server
            return web.json_response(
                {"error": f"case lookup failed: {type(exc).__name__}"}, status=503
            )
        if state is None:
            return web.json_response({"error": "unknown case", "case_id": case_id}, status=404)
        return web.json_response(dict(state))
