"""Pure message rendering for every channel kind; `now` is passed in for 'due in' / 'overdue by'."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from monitor.contract import format_timestamp_ms
from monitor.notify.events import BREACH, MET, NEAR_BREACH, OVERDUE, SlaNotice

METRIC_PHRASES = {"first_response": "first response", "resolution": "resolution", "update": "update"}
DIGEST_LISTED = 25
PAGERDUTY_SUMMARY_LIMIT = 1024
WEBHOOK_TOLERANCE_SECONDS = 300
WEBHOOK_SECRET_PREFIX = "whsec_"
INCIDENT_NAMESPACE = uuid.UUID("0b7e3f8e-2f4d-4c1e-9a57-3d1f5c0e6a21")


def case_url(board_url: str | None, case_id: str) -> str | None:
    """Link to one case: `<board_url>/cases/<case_id>` (case id percent-encoded), or None without a board URL."""
    if not board_url:
        return None
    return f"{board_url.rstrip('/')}/cases/{quote(case_id, safe='')}"


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
    if notice.type == OVERDUE:
        overdue = notice.raw.get("overdue_seconds")
        return f"SLA breached, still open {human_duration(overdue)} past due" if isinstance(overdue, int) else "SLA still breached"
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
    if notice.type in (BREACH, OVERDUE):
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


def webhook_secret_keys(value: str) -> tuple[bytes, ...]:
    """HMAC keys from a secret setting: whitespace-separated secrets (several during a rotation).

    `whsec_<base64>` (the Standard Webhooks form) is base64-decoded; any other secret is used as its UTF-8 bytes.
    """
    keys: list[bytes] = []
    for item in value.split():
        if item.startswith(WEBHOOK_SECRET_PREFIX):
            try:
                encoded = item[len(WEBHOOK_SECRET_PREFIX):]
                keys.append(base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True))
            except (binascii.Error, ValueError):
                raise ValueError("a whsec_ webhook secret is not valid base64") from None
        else:
            keys.append(item.encode())
    if not keys or not all(keys):
        raise ValueError("a webhook secret is empty")
    return tuple(keys)


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    return base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()


def webhook_headers(msg_id: str, timestamp: int, body: bytes, keys: Sequence[bytes]) -> dict[str, str]:
    """Standard Webhooks headers: webhook-id, webhook-timestamp, webhook-signature (`v1,<sig>` per key, space-separated)."""
    signatures = " ".join(f"v1,{_signature(key, msg_id, timestamp, body)}" for key in keys)
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures}


def verify_webhook(body: bytes, headers: Mapping[str, str], keys: Sequence[bytes], now: float,
                   tolerance_seconds: float = WEBHOOK_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: True only for a fresh (within tolerance) request signed by one of `keys`; never raises."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = (lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (isinstance(msg_id, str) and isinstance(stamp, str) and isinstance(signatures, str)):
        return False
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        return False
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = [_signature(key, msg_id, timestamp, body).encode() for key in keys]
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version != "v1" or not value.isascii():
            continue
        if any(hmac.compare_digest(value.encode(), e) for e in expected):
            return True
    return False


# --- slack ----------------------------------------------------------------------------------

_SLACK_ICONS = {BREACH: ":rotating_light:", OVERDUE: ":rotating_light:", NEAR_BREACH: ":warning:", MET: ":white_check_mark:"}


def slack_escape(text: str) -> str:
    """Escape `&`, `<`, `>` so interpolated text cannot ping (`<!channel>`, `<@U123>`) or inject links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(url: str, label: str) -> str:
    """A Slack link `<url|label>`; the URL's `|` and `>` are percent-encoded, the label escaped."""
    safe_url = slack_escape(url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C"))
    return f"<{safe_url}|{slack_escape(label).replace('|', '-')}>"


def slack_payload(notice: SlaNotice, now: datetime, link: str | None = None) -> dict[str, Any]:
    """Incoming-webhook payload with a readable mrkdwn message; every interpolated field is escaped."""
    icon = _SLACK_ICONS.get(notice.type, "")
    fields = "\n".join(f"*{label}:* {slack_escape(value)}" for label, value in detail_lines(notice, now))
    case = slack_escape(notice.case_id).replace("`", "'")
    text = f"{icon} *{headline(notice)}* - case `{case}` {metric_phrase(notice.metric)}\n{fields}"
    if link:
        text += "\n" + slack_link(link, f"Open case {notice.case_id}")
    return {"text": text}


def slack_digest_payload(notices: Sequence[SlaNotice], now: datetime, window_seconds: float) -> dict[str, Any]:
    """One message standing for many events that arrived in a burst; every line is escaped."""
    lines = [f"- {slack_escape(summary_line(n, now))}" for n in notices[:DIGEST_LISTED]]
    if len(notices) > DIGEST_LISTED:
        lines.append(f"- ... and {len(notices) - DIGEST_LISTED} more")
    head = f":package: *SLA digest* - {len(notices)} events in the last {human_duration(window_seconds)}"
    return {"text": head + "\n" + "\n".join(lines)}


# --- pagerduty ------------------------------------------------------------------------------

def incident_dedup_key(notice: SlaNotice) -> str:
    """One PagerDuty incident per (case, metric, cycle): warnings open it, the breach escalates it, met resolves it."""
    return str(uuid.uuid5(INCIDENT_NAMESPACE, f"{notice.case_id}\x1f{notice.metric}\x1f{notice.cycle}"))


def pagerduty_trigger(notice: SlaNotice, routing_key: str, now: datetime, link: str | None = None) -> dict[str, Any]:
    """Events API v2 trigger on the incident's dedup key: `warning` before the breach, `critical` at it."""
    summary = summary_line(notice, now)[:PAGERDUTY_SUMMARY_LIMIT]
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": incident_dedup_key(notice),
        "client": "sla-monitor",
        "payload": {
            "summary": summary,
            "source": "sla-monitor",
            "severity": "critical" if notice.type in (BREACH, OVERDUE) else "warning",
            "timestamp": notice.raw.get("at"),
            "component": notice.metric,
            "group": notice.plan,
            "class": notice.type,
            "custom_details": notice.raw,
        },
    }
    if link:
        body["client_url"] = link
        body["links"] = [{"href": link, "text": f"Case {notice.case_id}"}]
    return body


def pagerduty_resolve(dedup_key: str, routing_key: str) -> dict[str, Any]:
    """Events API v2 resolve for an incident this notifier triggered."""
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key}


# --- alertmanager --------------------------------------------------------------------------

ALERTMANAGER_ALERTNAME = "SlaCaseAtRisk"
_STAGES = {NEAR_BREACH: "near_breach", BREACH: "breach"}


def _alert(notice: SlaNotice, stage: str, starts_at: datetime, ends_at: datetime, now: datetime,
           link: str | None) -> dict[str, Any]:
    labels = {"alertname": ALERTMANAGER_ALERTNAME, "case_id": notice.case_id, "plan": notice.plan, "priority": notice.priority,
              "region": notice.region, "metric": notice.metric, "cycle": str(notice.cycle), "stage": stage,
              "severity": "critical" if stage == "breach" else "warning"}
    annotations = {"summary": summary_line(notice, now), "promise": promise(notice), "due_at": format_instant(notice.due_at),
                   "event_id": notice.event_id}
    if notice.threshold is not None:
        annotations["threshold"] = f"{round(notice.threshold * 100)}%"
    alert: dict[str, Any] = {"labels": labels, "annotations": annotations,
                             "startsAt": format_timestamp_ms(starts_at), "endsAt": format_timestamp_ms(ends_at)}
    if link:
        alert["generatorURL"] = link
    return alert


def alertmanager_alerts(notice: SlaNotice, now: datetime, hold_until: datetime, link: str | None = None) -> list[dict[str, Any]]:
    """Alerts for /api/v2/alerts: the event's stage firing until `hold_until` (re-posted while at risk); a breach
    resolves the near-breach stage; met resolves both stages of its (case, metric, cycle)."""
    crossed = notice.at or now
    if notice.type == MET:
        return [_alert(notice, stage, crossed, max(crossed, now if notice.at is None else crossed), now, link)
                for stage in _STAGES.values()]
    stage = _STAGES[BREACH if notice.type == OVERDUE else notice.type]  # overdue: the case is still in its breach stage
    alerts = [_alert(notice, stage, crossed, hold_until, now, link)]
    if notice.type in (BREACH, OVERDUE):
        alerts.append(_alert(notice, _STAGES[NEAR_BREACH], crossed, crossed, now, link))
    return alerts


# --- email ----------------------------------------------------------------------------------

def _email_headers(message: EmailMessage, subject: str, sender: str, to: Sequence[str], now: datetime, message_id: str) -> None:
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, no loops
    message["X-Auto-Response-Suppress"] = "All"  # the same for Exchange


def email_message(notice: SlaNotice, now: datetime, sender: str, to: Sequence[str], message_id: str,
                  link: str | None = None) -> EmailMessage:
    """A plain-text email with a deterministic Message-ID, marked auto-generated."""
    message = EmailMessage()
    subject = f"[{headline(notice)}] case {notice.case_id} {metric_phrase(notice.metric)} ({notice.plan} {notice.priority})"
    _email_headers(message, subject, sender, to, now, message_id)
    lines = detail_lines(notice, now) + ([("Link", link)] if link else [])
    body = "\n".join(f"{label}: {value}" for label, value in lines)
    message.set_content(f"{headline(notice)}\n\n{body}\n\nEvent: {notice.event_id}\n")
    return message


def email_digest(notices: Sequence[SlaNotice], now: datetime, sender: str, to: Sequence[str], message_id: str,
                 window_seconds: float) -> EmailMessage:
    """One email standing for many events that arrived in a burst."""
    message = EmailMessage()
    subject = f"[SLA digest] {len(notices)} events in the last {human_duration(window_seconds)}"
    _email_headers(message, subject, sender, to, now, message_id)
    lines = [summary_line(n, now) for n in notices[:DIGEST_LISTED]]
    if len(notices) > DIGEST_LISTED:
        lines.append(f"... and {len(notices) - DIGEST_LISTED} more")
    message.set_content("\n".join(lines) + "\n")
    return message


def message_id(event_id: str, target: str, domain: str = "sla-monitor") -> str:
    """Deterministic Message-ID at `domain`, so a resend after a crash threads as the same mail."""
    digest = hashlib.sha256(f"{event_id}|{target}".encode()).hexdigest()[:24]
    return f"<{digest}@{domain}>"
