"""The worker's /cases/{case_id} route: a case's SLA state from this replica or a peer that owns it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

#: Looks a case up by id: its SLA state as a JSON-able dict, or None when unknown.
CaseLookup = Callable[[str], Awaitable["Mapping[str, Any] | None"]]

MAX_CASE_ID_LENGTH = 256
CASE_ROUTE = "/cases/{case_id}"


class CaseRoute:
    """GET /cases/{case_id}: answered locally, else (unless `?local=1`) by the peer lookup."""

    def __init__(self, case_lookup: CaseLookup | None, peer_lookup: CaseLookup | None = None,
                 lookup_timeout_s: float = 5.0) -> None:
        self.case_lookup = case_lookup
        self.peer_lookup = peer_lookup
        self.lookup_timeout_s = lookup_timeout_s

    async def handle(self, request: web.Request) -> web.Response:
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
