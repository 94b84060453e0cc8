"""What every channel sender provides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from monitor.notify.delivery import AttemptResult
from monitor.notify.plan import Delivery


class Channel(Protocol):
    """Sends one event, or one digest of events, to one target; never raises for delivery failures."""

    async def send(self, delivery: Delivery, now: datetime, resolves: Sequence[str] = ()) -> AttemptResult:
        """One attempt to deliver one event (`resolves`: PagerDuty dedup keys a met event closes)."""
        ...

    async def send_digest(self, deliveries: Sequence[Delivery], now: datetime, digest_id: str, window_seconds: float) -> AttemptResult:
        """One attempt to deliver many events as a single digest message."""
        ...
