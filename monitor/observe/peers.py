"""Answer /cases/{case_id} for a case another replica owns, by asking the peers.

Each replica holds only the cases of its assigned partitions. A replica that does not own a case
asks every peer's `/cases/{case_id}?local=1` concurrently (bounded by a timeout) and returns the
first answer found, marked with `served_by`. Peers are the replicas' base URLs
(`http://sla-monitor-0.sla-monitor:6066`, ...) or, better, one `dns+http://<headless service>:<port>`
entry: its name is resolved on every lookup and every address it returns is a peer, so the list
follows `replicas` without being edited (a headless Service has one A record per pod). This needs
no broker feature (tansu's DescribeGroups reports no member assignments) and no shared store.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

DNS_PREFIX = "dns+"


async def resolve_peers(peers: Sequence[str]) -> list[str]:
    """Expand `dns+http(s)://name:port` entries into one base URL per address the name resolves to."""
    loop = asyncio.get_running_loop()
    resolved: list[str] = []
    for peer in peers:
        if not peer.startswith(DNS_PREFIX):
            resolved.append(peer)
            continue
        parts = urlsplit(peer[len(DNS_PREFIX):])
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = await loop.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
        except OSError:
            continue  # the name does not resolve (yet): no peers from it this time
        for address in dict.fromkeys(str(info[4][0]) for info in infos):
            host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
            resolved.append(f"{parts.scheme}://{host}:{port}{parts.path.rstrip('/')}")
    return list(dict.fromkeys(resolved))


class PeerCaseLookup:
    """Look a case up on the peer replicas; None when no peer has it."""

    def __init__(self, peers: Sequence[str], timeout_s: float = 2.0, headers: Mapping[str, str] | None = None) -> None:
        self.peers = [peer.rstrip("/") for peer in peers if peer.strip()]
        self.timeout_s = timeout_s
        #: Sent with every request (the shared HTTP token, when one is set).
        self.headers = dict(headers or {})

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
        peers = await resolve_peers(self.peers)
        if not peers:
            return None
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, headers=self.headers) as session:
            pending = {asyncio.ensure_future(self._ask(session, peer, case_id)) for peer in peers}
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
