"""Email over SMTP (stdlib smtplib in a worker thread): STARTTLS, implicit TLS or plain; optional auth."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage

from monitor.notify import render
from monitor.notify.channels.base import NO_LINKS, CaseLinks
from monitor.notify.delivery import AttemptResult, classify_smtp_code
from monitor.notify.plan import Delivery
from monitor.notify.routing import ChannelSpec
from monitor.notify.secrets import Secret


class EmailChannel:
    """Submits one message per event (or per digest) to the configured SMTP server."""

    def __init__(self, spec: ChannelSpec, secrets: dict[str, Secret], tls_context: ssl.SSLContext | None = None,
                 links: CaseLinks = NO_LINKS) -> None:
        assert spec.smtp is not None
        self.spec = spec
        self.smtp = spec.smtp
        self._links = links
        self._domain = spec.smtp.message_id_domain or spec.smtp.sender.rpartition("@")[2]
        self._username = secrets.get("username_env")
        self._password = secrets.get("password_env")
        self._tls = tls_context or ssl.create_default_context()

    def _submit(self, message: EmailMessage) -> AttemptResult:
        timeout = self.spec.retry.timeout_seconds
        try:
            client: smtplib.SMTP
            if self.smtp.security == "tls":
                client = smtplib.SMTP_SSL(self.smtp.host, self.smtp.port, timeout=timeout, context=self._tls)
            else:
                client = smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=timeout)
            with client:
                if self.smtp.security == "starttls":
                    client.starttls(context=self._tls)
                if self._username and self._password:
                    client.login(self._username.reveal(), self._password.reveal())
                client.send_message(message)
            return AttemptResult(ok=True)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            transient = any(400 <= code < 500 for code in codes)
            return AttemptResult(ok=False, retryable=transient, error=f"SMTP recipients refused: {sorted(set(codes))}")
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            return classify_smtp_code(exc.smtp_code, text)
        except smtplib.SMTPNotSupportedError:
            return AttemptResult(ok=False, retryable=False, error="SMTP server does not support a required extension (STARTTLS or AUTH)")
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            detail = getattr(exc, "strerror", None) or type(exc).__name__
            return AttemptResult(ok=False, retryable=True, error=f"SMTP connection failed: {detail}")

    async def _send(self, message: EmailMessage) -> AttemptResult:
        return await asyncio.to_thread(self._submit, message)

    async def send(self, delivery: Delivery, now: datetime, resolves: Sequence[str] = ()) -> AttemptResult:
        """Send one email to the delivery's resolved addresses."""
        notice = delivery.notice
        mid = render.message_id(notice.event_id, delivery.target, self._domain)
        link = self._links.for_case(notice.case_id)
        return await self._send(render.email_message(notice, now, self.smtp.sender, delivery.addresses, mid, link))

    async def send_digest(self, deliveries: Sequence[Delivery], now: datetime, digest_id: str, window_seconds: float) -> AttemptResult:
        """Send one digest email to the (shared) addresses of the folded deliveries."""
        addresses = tuple(dict.fromkeys(a for d in deliveries for a in d.addresses))
        mid = render.message_id(digest_id, deliveries[0].target, self._domain)
        message = render.email_digest([d.notice for d in deliveries], now, self.smtp.sender, addresses, mid, window_seconds)
        return await self._send(message)
