"""Answer /cases/{case_id} for a case another replica owns, by asking the peers.

Each replica holds only the cases of its assigned partitions. A replica that does not own a case
asks every peer's `/cases/{case_id}?local=1` concurrently (bounded by a timeout) and returns the
first answer found, marked with `served_by`. Peers are the replicas' base URLs, stable in a
StatefulSet behind a headless Service (`http://sla-monitor-0.sla-monitor:6066`, ...). This needs
no broker feature (tansu's DescribeGroups reports no member assignments) and no shared store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp


class PeerCaseLookup:
    """Look a case up on the peer replicas; None when no peer has it."""

    def __init__(self, peers: Sequence[str], timeout_s: float = 2.0) -> None:
        self.peers = [peer.rstrip("/") for peer in peers if peer.strip()]
        self.timeout_s = timeout_s

    async def _ask(self, session: aiohttp.ClientSession, peer: str, case_id: str) -> Mapping[str, Any] | None:
        url = f"{peer}/cases/{quote(case_id, safe='')}"
        try:
            async with session.get(url, params={"local": "1"}) as response:
                if response.status != 200:
                    return None
                body = await response.json()
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return None
        if not isinstance(body, dict):
            return None
        return {**body, "served_by": peer}

    async def __call__(self, case_id: str) -> Mapping[str, Any] | None:
        """The first peer's answer for the case, or None."""
        if not self.peers:
            return None
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            pending = {asyncio.ensure_future(self._ask(session, peer, case_id)) for peer in self.peers}
            try:
                while pending:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        found = task.result()
                        if found is not None:
                            return found
            finally:
                for task in pending:
                    task.cancel()
        return None
