"""POST JSON with a timeout; failures become safe AttemptResults (no URLs: Slack URLs are secrets)."""

from __future__ import annotations

from datetime import datetime

import aiohttp

from monitor.notify.delivery import AttemptResult, classify_http

USER_AGENT = "sla-monitor-notify/1"


async def post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str],
               timeout_seconds: float, now: datetime) -> AttemptResult:
    """One HTTP POST attempt, classified: 2xx ok; timeouts, connection errors, 408/429/5xx retryable."""
    all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        async with session.post(url, data=body, headers=all_headers,
                                timeout=aiohttp.ClientTimeout(total=timeout_seconds), allow_redirects=False) as response:
            await response.read()
            return classify_http(response.status, response.headers.get("Retry-After"), now)
    except TimeoutError:
        return AttemptResult(ok=False, retryable=True, error=f"timeout after {timeout_seconds:g}s")
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error.strerror if exc.os_error and exc.os_error.strerror else type(exc.os_error).__name__
        return AttemptResult(ok=False, retryable=True, error=f"connection failed: {reason}")
    except aiohttp.ClientError as exc:
        return AttemptResult(ok=False, retryable=True, error=f"HTTP client error: {type(exc).__name__}")
    except OSError as exc:
        return AttemptResult(ok=False, retryable=True, error=f"network error: {exc.strerror or type(exc).__name__}")
