"""Pure message rendering for every channel kind; `now` is passed in for 'due in' / 'overdue by'."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from monitor.notify.events import BREACH, MET, NEAR_BREACH, SlaNotice

METRIC_PHRASES = {"first_response": "first response", "resolution": "resolution", "update": "update"}
DIGEST_LISTED = 25
PAGERDUTY_SUMMARY_LIMIT = 1024


def human_duration(seconds: float) -> str:
    """Short human duration: 45s, 12m, 1h 30m, 2d 4h."""
    total = int(round(abs(seconds)))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def format_instant(when: datetime | None) -> str:
    """'2026-11-26 10:00 UTC' or 'no due time'."""
    if when is None:
        return "no due time"
    return when.strftime("%Y-%m-%d %H:%M UTC")


def metric_phrase(metric: str) -> str:
    """first_response -> 'first response'."""
    return METRIC_PHRASES.get(metric, metric.replace("_", " "))


def headline(notice: SlaNotice) -> str:
    """What happened, in a few words."""
    if notice.type == BREACH:
        return "SLA breached"
    if notice.type == NEAR_BREACH:
        share = f"{round((notice.threshold or 0) * 100)}%"
        return f"SLA {share} used"
    return "SLA met late" if notice.breached else "SLA met"


def promise(notice: SlaNotice) -> str:
    """What was promised: 'first response within 1h (24x7)'."""
    what = metric_phrase(notice.metric)
    if notice.target_seconds is None:
        return f"{what}: no timed target"
    calendar = f" ({notice.calendar.replace('_', ' ')})" if notice.calendar else ""
    return f"{what} within {human_duration(notice.target_seconds)}{calendar}"


def timing(notice: SlaNotice, now: datetime) -> str:
    """How late or how close: 'overdue by 12m', 'due in 15m', 'met 10m late'."""
    if notice.type == MET:
        if notice.elapsed_seconds is None or notice.target_seconds is None:
            return "met"
        margin = notice.elapsed_seconds - notice.target_seconds
        if notice.breached or margin > 0:
            return f"met {human_duration(max(margin, 0))} late"
        return f"met with {human_duration(-margin)} to spare"
    if notice.due_at is None:
        return "no due time"
    delta = (now - notice.due_at).total_seconds()
    if notice.type == BREACH:
        delta = max(delta, 0.0)  # a breach is never 'due in' (clock skew between worker and notifier)
    if delta >= 60:
        return f"overdue by {human_duration(delta)}"
    if delta >= 0:
        return "due now"
    return f"due in {human_duration(-delta)}"


def summary_line(notice: SlaNotice, now: datetime) -> str:
    """One line per event, used in digests and email subjects."""
    return (f"{headline(notice)}: case {notice.case_id} {metric_phrase(notice.metric)} "
            f"({notice.plan} {notice.priority}, {notice.region}) - {timing(notice, now)}")


def detail_lines(notice: SlaNotice, now: datetime) -> list[tuple[str, str]]:
    """(label, value) pairs shown to people."""
    customer = f" ({notice.customer_id})" if notice.customer_id else ""
    return [
        ("Case", f"{notice.case_id}{customer}"),
        ("Plan", notice.plan),
        ("Priority", notice.priority),
        ("Region", notice.region),
        ("Promised", promise(notice)),
        ("Due", format_instant(notice.due_at)),
        ("Status", timing(notice, now)),
    ]


# --- webhook --------------------------------------------------------------------------------

def webhook_body(notice: SlaNotice) -> bytes:
    """The SLA event exactly as the worker emitted it (topics/schemas/sla-event.json), compact JSON."""
    return json.dumps(notice.raw, separators=(",", ":")).encode()


def webhook_digest_body(digest_id: str, notices: Sequence[SlaNotice]) -> bytes:
    """A digest: {"type": "sla.digest", "digest_id", "count", "events": [...]}."""
    body = {"type": "sla.digest", "digest_id": digest_id, "count": len(notices), "events": [n.raw for n in notices]}
    return json.dumps(body, separators=(",", ":")).encode()


def sign(body: bytes, secret: bytes) -> str:
    """Signature header value: 'sha256=' + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: bytes, header: str) -> bool:
    """Constant-time check of a signature header (what a receiver does)."""
    return hmac.compare_digest(sign(body, secret), header)


# --- slack ----------------------------------------------------------------------------------

_SLACK_ICONS = {BREACH: ":rotating_light:", NEAR_BREACH: ":warning:", MET: ":white_check_mark:"}


def slack_payload(notice: SlaNotice, now: datetime) -> dict[str, Any]:
    """Incoming-webhook payload with a readable mrkdwn message."""
    icon = _SLACK_ICONS.get(notice.type, "")
    fields = "\n".join(f"*{label}:* {value}" for label, value in detail_lines(notice, now))
    return {"text": f"{icon} *{headline(notice)}* - case `{notice.case_id}` {metric_phrase(notice.metric)}\n{fields}"}


def slack_digest_payload(notices: Sequence[SlaNotice], now: datetime, window_seconds: float) -> dict[str, Any]:
    """One message standing for many events that arrived in a burst."""
    lines = [f"- {summary_line(n, now)}" for n in notices[:DIGEST_LISTED]]
    if len(notices) > DIGEST_LISTED:
        lines.append(f"- ... and {len(notices) - DIGEST_LISTED} more")
    head = f":package: *SLA digest* - {len(notices)} events in the last {human_duration(window_seconds)}"
    return {"text": head + "\n" + "\n".join(lines)}


# --- pagerduty ------------------------------------------------------------------------------

def pagerduty_trigger(notice: SlaNotice, routing_key: str, now: datetime) -> dict[str, Any]:
    """Events API v2 trigger; dedup_key is the event_id so a met event can resolve it."""
    summary = summary_line(notice, now)[:PAGERDUTY_SUMMARY_LIMIT]
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": notice.event_id,
        "payload": {
            "summary": summary,
            "source": "sla-monitor",
            "severity": "critical" if notice.type == BREACH else "warning",
            "timestamp": notice.raw.get("at"),
            "component": notice.metric,
            "group": notice.plan,
            "class": notice.type,
            "custom_details": notice.raw,
        },
    }


def pagerduty_resolve(dedup_key: str, routing_key: str) -> dict[str, Any]:
    """Events API v2 resolve for an incident this notifier triggered."""
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key}


# --- email ----------------------------------------------------------------------------------

def email_message(notice: SlaNotice, now: datetime, sender: str, to: Sequence[str], message_id: str) -> EmailMessage:
    """A plain-text email with a deterministic Message-ID."""
    message = EmailMessage()
    message["Subject"] = f"[{headline(notice)}] case {notice.case_id} {metric_phrase(notice.metric)} ({notice.plan} {notice.priority})"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    body = "\n".join(f"{label}: {value}" for label, value in detail_lines(notice, now))
    message.set_content(f"{headline(notice)}\n\n{body}\n\nEvent: {notice.event_id}\n")
    return message


def email_digest(notices: Sequence[SlaNotice], now: datetime, sender: str, to: Sequence[str], message_id: str,
                 window_seconds: float) -> EmailMessage:
    """One email standing for many events that arrived in a burst."""
    message = EmailMessage()
    message["Subject"] = f"[SLA digest] {len(notices)} events in the last {human_duration(window_seconds)}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    lines = [summary_line(n, now) for n in notices[:DIGEST_LISTED]]
    if len(notices) > DIGEST_LISTED:
        lines.append(f"... and {len(notices) - DIGEST_LISTED} more")
    message.set_content("\n".join(lines) + "\n")
    return message


def message_id(event_id: str, target: str) -> str:
    """Deterministic Message-ID, so a resend after a crash threads as the same mail."""
    digest = hashlib.sha256(f"{event_id}|{target}".encode()).hexdigest()[:24]
    return f"<{digest}@sla-monitor>"
