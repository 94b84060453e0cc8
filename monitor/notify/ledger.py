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
ALERTMANAGER = "alertmanager"
#: Rank of a trigger among the alerts of one (case, metric, cycle): the later stage is the one to keep firing.
_STAGE_RANK = {"sla.near_breach": 0, "sla.breach": 1, "sla.overdue": 2}

IncidentKey = tuple[str, str, str, int]  # (target, case_id, metric, cycle)
AlertKey = tuple[str, str, str, int]  # (channel, case_id, metric, cycle)


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
    #: The SLA event itself, kept for triggers delivered to Alertmanager: a restarted notifier re-posts it.
    event: dict[str, Any] | None = None

    @property
    def key(self) -> bytes:
        """The compaction key: one record per (event_id, target)."""
        return record_key(self.event_id, self.target)

    def to_json(self) -> bytes:
        """Encode as the state-topic record value (`event` only when there is one)."""
        data = asdict(self)
        if data["event"] is None:
            del data["event"]
        return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()

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
    #: Alertmanager alerts posted firing: the event of the latest stage per (channel, case, metric, cycle)...
    alert_events: dict[AlertKey, dict[str, Any]] = field(default_factory=dict)
    #: ...and those a delivered met ended (kept so that the order records are read in does not matter).
    alerts_ended: set[AlertKey] = field(default_factory=set)

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
        if record.kind == ALERTMANAGER:
            self._fold_alert(record)
        if record.event_type in TRIGGER_TYPES:
            self.triggered.setdefault(family, set()).add(record.event_id)
        for dedup_key in record.resolves:
            self.resolved.add((record.target, dedup_key))

    def _fold_alert(self, record: DeliveryRecord) -> None:
        key = (record.channel, record.case_id, record.metric, record.cycle)
        if record.event_type == MET:
            self.alerts_ended.add(key)
            self.alert_events.pop(key, None)
        elif record.event is not None and key not in self.alerts_ended:
            current = self.alert_events.get(key)
            if current is None or _alert_rank(record.event) >= _alert_rank(current):
                self.alert_events[key] = record.event

    def firing_alerts(self, channel: str) -> dict[tuple[str, str, int], dict[str, Any]]:
        """The events of the alerts an Alertmanager channel posted firing and no met ended, by (case, metric, cycle)."""
        return {key[1:]: event for key, event in self.alert_events.items() if key[0] == channel}

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


def _alert_rank(event: dict[str, Any]) -> tuple[int, str]:
    """Later stage first, then the later crossing instant (RFC 3339 text in one format sorts by time)."""
    return _STAGE_RANK.get(str(event.get("type")), -1), str(event.get("at") or "")
