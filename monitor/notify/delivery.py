"""Pure delivery decisions: classify an attempt, then deliver, retry after a delay, or give up.

Time and randomness are arguments; the shell sleeps and draws the jitter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from monitor.notify.routing import RetrySettings


@dataclass(frozen=True)
class AttemptResult:
    """What one delivery attempt produced. `error` is safe to log: never a URL or secret."""

    ok: bool
    retryable: bool = False
    error: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Delivered:
    """The target accepted the message."""

    attempts: int


@dataclass(frozen=True)
class RetryLater:
    """Try again after `delay` seconds."""

    delay: float
    attempt: int


@dataclass(frozen=True)
class GiveUp:
    """Stop: send to the dead-letter topic with the last error."""

    attempts: int
    reason: str  # "exhausted" | "permanent"
    last_error: str


Decision = Delivered | RetryLater | GiveUp

SUCCESS = AttemptResult(ok=True)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or garbage."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def classify_http(status: int, retry_after: str | None, now: datetime) -> AttemptResult:
    """2xx delivered; 408, 429 and 5xx retryable (honouring Retry-After); other statuses permanent."""
    if 200 <= status < 300:
        return SUCCESS
    error = f"HTTP {status}"
    if status in (408, 429) or 500 <= status < 600:
        return AttemptResult(ok=False, retryable=True, error=error, retry_after=parse_retry_after(retry_after, now))
    return AttemptResult(ok=False, retryable=False, error=error)


def classify_smtp_code(code: int, message: str) -> AttemptResult:
    """SMTP reply codes: 4xx transient (retry), 5xx permanent."""
    return AttemptResult(ok=False, retryable=400 <= code < 500, error=f"SMTP {code} {message}"[:300])


def backoff_seconds(policy: RetrySettings, attempt: int, jitter: float) -> float:
    """Delay after failed attempt number `attempt` (1-based): equal jitter over an exponential cap.

    The cap is base * 2**(attempt-1), at most max_seconds; the delay is uniform in [cap/2, cap]
    with `jitter` in [0, 1] choosing the point.
    """
    exponent = min(attempt - 1, 62)
    cap = min(policy.max_seconds, policy.base_seconds * math.pow(2.0, exponent))
    return cap / 2 + min(max(jitter, 0.0), 1.0) * cap / 2


def next_step(policy: RetrySettings, attempt: int, result: AttemptResult, jitter: float) -> Decision:
    """Decide what follows attempt number `attempt` (1-based) given its result."""
    if result.ok:
        return Delivered(attempts=attempt)
    error = result.error or "unknown error"
    if not result.retryable:
        return GiveUp(attempts=attempt, reason="permanent", last_error=error)
    if attempt >= policy.max_attempts:
        return GiveUp(attempts=attempt, reason="exhausted", last_error=error)
    delay = backoff_seconds(policy, attempt, jitter)
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, policy.max_retry_after_seconds))
    return RetryLater(delay=delay, attempt=attempt + 1)
