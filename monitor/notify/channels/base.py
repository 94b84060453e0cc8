"""What every channel sender provides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from monitor.notify import render
from monitor.notify.delivery import AttemptResult
from monitor.notify.plan import Delivery


@dataclass(frozen=True)
class CaseLinks:
    """Where a message links for a case: the escalation board (or a worker's /cases) at `board_url`."""

    board_url: str | None = None

    def for_case(self, case_id: str) -> str | None:
        """`<board_url>/cases/<case_id>`, or None when no board URL is configured."""
        return render.case_url(self.board_url, case_id)


class Channel(Protocol):
    """Sends one event, or one digest of events, to one target; never raises for delivery failures."""

    async def send(self, delivery: Delivery, now: datetime, resolves: Sequence[str] = ()) -> AttemptResult:
        """One attempt to deliver one event (`resolves`: PagerDuty dedup keys a met event closes)."""
        ...

    async def send_digest(self, deliveries: Sequence[Delivery], now: datetime, digest_id: str, window_seconds: float) -> AttemptResult:
        """One attempt to deliver many events as a single digest message."""
        ...


NO_LINKS = CaseLinks()
