"""Pure delivery ledger: which (event_id, target) pairs are done, and which PagerDuty incidents are open.

Rebuilt at start from the compacted `sla-notify-state` topic (one record per delivery key), then
kept current as deliveries finish. Order of records does not matter for the result.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from monitor.notify.events import MET, TRIGGER_TYPES, SlaNotice

DELIVERED = "delivered"
DIGESTED = "digested"
DEAD_LETTERED = "dead_lettered"
OUTCOMES: tuple[str, ...] = (DELIVERED, DIGESTED, DEAD_LETTERED)
RESOLVED_BY_MET: frozenset[str] = frozenset({"pagerduty", "alertmanager"})  # channel kinds whose incidents a met event closes

IncidentKey = tuple[str, str, str, int]  # (target, case_id, metric, cycle)


@dataclass(frozen=True)
class DeliveryRecord:
    """The final outcome of delivering one event to one target; the value of a state-topic record."""

    event_id: str
    target: str
    channel: str
    kind: str
    outcome: str
    event_type: str
    case_id: str
    metric: str
    cycle: int
    attempts: int
    recorded_at: str
    resolves: tuple[str, ...] = ()
    digest_id: str | None = None

    @property
    def key(self) -> bytes:
        """The compaction key: one record per (event_id, target)."""
        return record_key(self.event_id, self.target)

    def to_json(self) -> bytes:
        """Encode as the state-topic record value."""
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> DeliveryRecord:
        """Decode a state-topic record value (raises ValueError/KeyError/TypeError when malformed)."""
        data: dict[str, Any] = json.loads(raw)
        data["resolves"] = tuple(data.get("resolves") or ())
        return cls(**data)


def record_key(event_id: str, target: str) -> bytes:
    """Compaction key of a delivery record."""
    return f"{event_id}|{target}".encode()


def incident_key(target: str, notice: SlaNotice) -> IncidentKey:
    """The PagerDuty incident family an event belongs to: same target, case, metric and cycle."""
    return (target, notice.case_id, notice.metric, notice.cycle)


@dataclass
class Ledger:
    """In-memory view of the state topic plus triggers planned but not yet finished."""

    done: set[tuple[str, str]] = field(default_factory=set)
    triggered: dict[IncidentKey, set[str]] = field(default_factory=dict)
    resolved: set[tuple[str, str]] = field(default_factory=set)
    pending: dict[IncidentKey, set[str]] = field(default_factory=dict)

    def apply(self, record: DeliveryRecord) -> None:
        """Fold one finished delivery into the view."""
        self.done.add((record.event_id, record.target))
        family = (record.target, record.case_id, record.metric, record.cycle)
        waiting = self.pending.get(family)
        if waiting is not None:
            waiting.discard(record.event_id)
            if not waiting:
                del self.pending[family]
        if record.kind not in RESOLVED_BY_MET or record.outcome != DELIVERED:
            return
        if record.event_type in TRIGGER_TYPES:
            self.triggered.setdefault(family, set()).add(record.event_id)
        for dedup_key in record.resolves:
            self.resolved.add((record.target, dedup_key))

    def seen(self, event_id: str, target: str) -> bool:
        """True when this event already reached a final outcome for this target."""
        return (event_id, target) in self.done

    def note_pending_trigger(self, target: str, notice: SlaNotice) -> None:
        """Remember a trigger (PagerDuty, Alertmanager) that is queued, so a met event behind it resolves it."""
        self.pending.setdefault(incident_key(target, notice), set()).add(notice.event_id)

    def open_incidents(self, target: str, notice: SlaNotice) -> tuple[str, ...]:
        """Dedup keys of delivered, unresolved triggers in the met event's family, sorted."""
        family = incident_key(target, notice)
        return tuple(sorted(k for k in self.triggered.get(family, ()) if (target, k) not in self.resolved))

    def may_need_resolve(self, target: str, notice: SlaNotice) -> bool:
        """True when a met event has something to resolve on this target, now or once queued triggers finish."""
        return notice.type == MET and (
            bool(self.open_incidents(target, notice)) or bool(self.pending.get(incident_key(target, notice)))
        )
