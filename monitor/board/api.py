"""The board's HTTP routes: GET /api/cases, GET /board (+ its static assets), GET /openapi.json.

`/api/cases` answers from this replica's due indexes and, unless `?local=1`, from every peer's
`/api/cases?local=1` with the same parameters, concurrently and each bounded by a timeout; the
pages are merged and re-sorted, and a peer that does not answer in time is named in `replicas`
(the rest is still served, `partial` is true).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from monitor.board.auth import TokenAuth, warn_if_exposed
from monitor.board.query import BoardQuery, Page, QueryError, decode_cursor, local_page, merge_pages, parse_query
from monitor.core import events as ev
from monitor.core.case import Engine
from monitor.observe.peers import resolve_peers
from monitor.stream.config import WorkerConfig
from monitor.stream.partition import PartitionState
from monitor.stream.worker import Worker

#: Static files of the page: name -> content type (nothing else under /board/ is served).
ASSETS = {"board.js": "text/javascript", "board.css": "text/css"}


def _asset(name: str) -> bytes:
    return resources.files("monitor.board").joinpath(name).read_bytes()


def replica_name() -> str:
    """This replica's name in answers: the host name (a StatefulSet pod's name)."""
    return socket.gethostname()


class BoardApi:
    """Routes over one worker's partitions; `add_routes` registers them on an aiohttp router."""

    def __init__(
        self,
        engine: Engine,
        partitions: Callable[[], Iterable[PartitionState]],
        now_us: Callable[[], int],
        *,
        clock_rate: float = 1.0,
        replica: str | None = None,
        peers: Sequence[str] = (),
        auth: TokenAuth | None = None,
        peer_timeout_s: float = 2.0,
    ) -> None:
        self.engine = engine
        self.partitions = partitions
        self.now_us = now_us
        self.clock_rate = clock_rate
        self.replica = replica or replica_name()
        self.peers = [peer.rstrip("/") for peer in peers if peer.strip()]
        self.auth = auth or TokenAuth(None)
        self.peer_timeout_s = peer_timeout_s

    def routes(self) -> dict[str, Callable[[web.Request], Any]]:
        """GET path -> handler."""
        return {"/api/cases": self.handle_cases, "/board": self.handle_page,
                "/board/static/{name}": self.handle_asset, "/openapi.json": self.handle_openapi}

    async def handle_cases(self, request: web.Request) -> web.Response:
        """Running clocks by due instant (see docs/board.md); 400 with the reason on a bad parameter."""
        params = {name: request.query.getall(name) for name in request.query}
        try:
            query = parse_query(params)
        except QueryError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        now = self.now_us()
        pages: list[Page] = [local_page(self.engine, self.partitions(), query, now, self.replica)]
        replicas: list[dict[str, Any]] = [{"replica": self.replica, "status": "ok"}]
        peers = await resolve_peers(self.peers) if self.peers and request.query.get("local") != "1" else []
        if peers:
            answers = await asyncio.gather(*(self._ask_peer(peer, request.query) for peer in peers))
            for status, page in answers:
                if status["replica"] == self.replica:   # MONITOR_PEERS lists every replica, this one too
                    continue
                replicas.append(status)
                if page is not None:
                    pages.append(page)
        items, cursor = merge_pages(pages, query.limit)
        body = {"now": ev.format_time(now), "clock_rate": self.clock_rate, "items": items, "next_cursor": cursor,
                "partial": any(r["status"] != "ok" for r in replicas), "replicas": replicas}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def _ask_peer(self, peer: str, query: Mapping[str, str]) -> tuple[dict[str, Any], Page | None]:
        """(status entry, page or None) of one peer."""
        params = [(k, v) for k, v in query.items() if k != "local"] + [("local", "1")]
        try:
            timeout = aiohttp.ClientTimeout(total=self.peer_timeout_s)
            async with aiohttp.ClientSession(timeout=timeout, headers=self.auth.peer_headers()) as session, \
                    session.get(f"{peer}/api/cases", params=params) as response:
                if response.status != 200:
                    return {"replica": peer, "status": "unreachable", "error": f"HTTP {response.status}"}, None
                body = await response.json()
        except TimeoutError:
            return {"replica": peer, "status": "unreachable", "error": f"no answer within {self.peer_timeout_s:g}s"}, None
        except (aiohttp.ClientError, ValueError) as exc:
            return {"replica": peer, "status": "unreachable", "error": type(exc).__name__}, None
        name = next((r.get("replica") for r in body.get("replicas", ()) if r.get("status") == "ok"), peer)
        cursor = body.get("next_cursor")
        try:
            answered_to = decode_cursor(cursor) if cursor is not None else None
        except QueryError:
            return {"replica": peer, "status": "unreachable", "error": "answer with an invalid cursor"}, None
        return {"replica": name, "url": peer, "status": "ok"}, (list(body.get("items", [])), answered_to)

    async def handle_page(self, _request: web.Request) -> web.Response:
        """The board page (static HTML; it polls /api/cases)."""
        return web.Response(body=_asset("static/board.html"), content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    async def handle_asset(self, request: web.Request) -> web.Response:
        """One of the page's static files; 404 for any other name."""
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        return web.Response(body=_asset(f"static/{name}"), content_type=ASSETS[name], charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    async def handle_openapi(self, _request: web.Request) -> web.Response:
        """The OpenAPI document of the worker's HTTP surface."""
        return web.Response(body=_asset("openapi.json"), content_type="application/json")


def board_for_worker(worker: Worker, config: WorkerConfig) -> tuple[BoardApi, TokenAuth]:
    """The board routes and the access control of a worker's HTTP server (warns when exposed without a token)."""
    auth = TokenAuth(config.http_auth_token)
    warn_if_exposed(config.web_host, config.http_auth_token)
    rate = getattr(worker.clock, "scale", 1.0)
    board = BoardApi(worker.engine, lambda: list(worker.partitions.values()), worker.clock.now_us,
                     clock_rate=float(rate), replica=config.replica_name, peers=config.peers, auth=auth)
    return board, auth


__all__ = ["BoardApi", "BoardQuery", "board_for_worker", "replica_name"]
