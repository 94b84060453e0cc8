"""Access control for the worker's HTTP surface: one shared token, for programs and browsers.

With a token set (`MONITOR_HTTP_AUTH_TOKEN`, or `MONITOR_HTTP_AUTH_TOKEN_FILE` naming a file that
holds it), every path except /metrics, /healthz and /readyz needs either
`Authorization: Bearer <token>` (programs, peers) or HTTP Basic with the token as the password
(browsers: the 401 carries a Basic challenge, so the browser asks once and then sends it with
every request of the page, its polls included). Comparison is constant-time on bytes; the token
never appears in logs or answers. Without a token the surface is open; `warn_if_exposed` logs a
warning when it is also bound to a non-loopback address.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from aiohttp import web

log = structlog.get_logger("monitor.board.auth")

#: Paths served without credentials: scraping and probes carry no case data.
OPEN_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
REALM = "sla-monitor"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AuthConfigError(ValueError):
    """The token settings are unusable (message says which and why)."""


def load_token(token: str | None, token_file: str | Path | None) -> str | None:
    """The configured token (the file's content, stripped, when a file is named), or None for no auth."""
    if token and token_file:
        raise AuthConfigError("set MONITOR_HTTP_AUTH_TOKEN or MONITOR_HTTP_AUTH_TOKEN_FILE, not both")
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise AuthConfigError(f"MONITOR_HTTP_AUTH_TOKEN_FILE: cannot read {str(token_file)!r}: {exc.strerror}") from None
        if not token:
            raise AuthConfigError(f"MONITOR_HTTP_AUTH_TOKEN_FILE: {str(token_file)!r} is empty")
    if token is not None and len(token.strip()) < 16:
        raise AuthConfigError("MONITOR_HTTP_AUTH_TOKEN must be at least 16 characters")
    return token.strip() if token else None


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts local connections."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str, token: str | None) -> bool:
    """Log a warning (and return True) when serving case data on a non-loopback address without a token."""
    if token is None and not is_loopback(host):
        log.warning("http serves case data without authentication on a non-loopback address; "
                    "set MONITOR_HTTP_AUTH_TOKEN or MONITOR_HTTP_AUTH_TOKEN_FILE", host=host)
        return True
    return False


class TokenAuth:
    """Checks requests against the token; `middleware` guards an aiohttp application."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    @property
    def enabled(self) -> bool:
        """Whether a token is required."""
        return self._token is not None

    def peer_headers(self) -> dict[str, str]:
        """Headers that authenticate this replica's requests to its peers (they share the token)."""
        return {"Authorization": f"Bearer {self._token.decode()}"} if self._token else {}

    def allows(self, request: web.Request) -> bool:
        """Whether the request carries the token (Bearer, or Basic with it as the password)."""
        if self._token is None:
            return True
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        presented: bytes | None = None
        if scheme.lower() == "bearer":
            presented = value.strip().encode()
        elif scheme.lower() == "basic":
            try:
                presented = base64.b64decode(value.strip(), validate=True).partition(b":")[2]
            except (binascii.Error, ValueError):
                presented = None
        return presented is not None and hmac.compare_digest(presented, self._token)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """401 with Basic and Bearer challenges unless the path is open or the request is authenticated."""
        if self._token is None or request.path in OPEN_PATHS or self.allows(request):
            return await handler(request)
        response = web.json_response({"error": "authentication required: Authorization: Bearer <token>, "
                                               "or HTTP Basic with the token as password"}, status=401)
        response.headers.add("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"')
        response.headers.add("WWW-Authenticate", f'Bearer realm="{REALM}"')
        return response
