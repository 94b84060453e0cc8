"""Real parts on 127.0.0.1 for the notifier integration tests: an HTTP endpoint recorder, an SMTP
server (aiosmtpd), Kafka helpers, and an in-process notifier runner."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from monitor.embedded_broker import free_port
from monitor.notify.channels import build_channels
from monitor.notify.contacts import EMPTY_CONTACTS, Contacts
from monitor.notify.metrics import NotifyMetrics
from monitor.notify.notifier import Notifier, NotifierConfig
from monitor.notify.routing import parse_routing
from monitor.notify.secrets import resolve_secrets
from monitor.runtime.settings import KafkaSettings, load_settings
from monitor.runtime.topics import apply_topics, load_specs


async def eventually(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until predicate() is true, or fail naming what we waited for."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


# --- HTTP -------------------------------------------------------------------------------------

@dataclass
class Received:
    """One request to the recorder; status None means it was held and never answered in time."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int | None = None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpRecorder:
    """Stands in for webhook, Slack and PagerDuty endpoints: records every POST, answers per a script.

    script[path] is a list of responses used in order, then `default[path]` (200 if unset). A
    response is a status int, (status, headers) or "hold" (do not answer until `release()`).
    """

    script: dict[str, list[Any]] = field(default_factory=dict)
    default: dict[str, Any] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def at(self, path: str, answered: int | None = 200) -> list[Received]:
        """Requests to `path` that were answered with `answered` (None: any)."""
        return [r for r in self.received if r.path == path and (answered is None or r.status == answered)]

    def release(self) -> None:
        self._release.set()

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        entry = Received(path=path, headers=dict(request.headers), body=await request.read(), at=time.monotonic())
        self.received.append(entry)
        queue = self.script.get(path)
        response = queue.pop(0) if queue else self.default.get(path, 200)
        if response == "hold":
            await self._release.wait()
            return web.Response(status=503)
        status, headers = response if isinstance(response, tuple) else (response, {})
        entry.status = status
        return web.Response(status=status, headers=headers, text="ok")

    async def start(self) -> HttpRecorder:
        app = web.Application()
        app.router.add_post("/{path}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()


# --- SMTP -------------------------------------------------------------------------------------

@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes
    authenticated_as: str | None


class _MailHandler:
    def __init__(self, box: list[Mail]) -> None:
        self.box = box

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.box.append(Mail(envelope.mail_from or "", list(envelope.rcpt_tos), bytes(envelope.content or b""), login))
        return "250 OK"


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for IP 127.0.0.1 (openssl CLI); returns (cert, key)."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


@contextlib.contextmanager
def smtp_server(tls_cert: tuple[Path, Path] | None = None, credentials: tuple[str, str] | None = None):  # type: ignore[no-untyped-def]
    """aiosmtpd on 127.0.0.1; with tls_cert it requires STARTTLS, with credentials it requires AUTH."""
    box: list[Mail] = []
    kwargs: dict[str, Any] = {}
    if tls_cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls_cert[0]), str(tls_cert[1]))
        kwargs.update(tls_context=context, require_starttls=True)
    if credentials is not None:
        def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == credentials
            return AuthResult(success=ok, auth_data=auth_data if ok else None)
        kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=tls_cert is not None)
    controller = Controller(_MailHandler(box), hostname="127.0.0.1", port=free_port(), ready_timeout=10, **kwargs)
    controller.start()
    try:
        yield controller.port, box
    finally:
        controller.stop()


# --- Kafka ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Topics:
    """Unique topic names and consumer group for one test."""

    prefix: str

    @property
    def near(self) -> str:
        return f"{self.prefix}-sla-near-breaches"

    @property
    def breach(self) -> str:
        return f"{self.prefix}-sla-breaches"

    @property
    def status(self) -> str:
        return f"{self.prefix}-sla-status"

    @property
    def inputs(self) -> tuple[str, str, str]:
        return (self.near, self.breach, self.status)

    @property
    def state(self) -> str:
        return f"{self.prefix}-sla-notify-state"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}-sla-notify-dead-letter"

    @property
    def group(self) -> str:
        return f"{self.prefix}-notify"

    def for_event(self, event: dict[str, Any]) -> str:
        return {"sla.near_breach": self.near, "sla.breach": self.breach, "sla.met": self.status}[event["type"]]


def kafka_settings(bootstrap: str) -> KafkaSettings:
    """Connection settings for the test broker, through the same loader as the apps."""
    return load_settings(KafkaSettings, None, {"KAFKA_BROKER": bootstrap})


async def fresh_topics(bootstrap: str, partitions: int = 2) -> Topics:
    """Create input topics with unique names (the notifier creates its own state/dead-letter topics)."""
    topics = Topics(f"t{uuid.uuid4().hex[:10]}")
    roles = {"near_breaches": topics.near, "breaches": topics.breach, "status": topics.status}
    await apply_topics(kafka_settings(bootstrap), load_specs(roles, partitions=partitions))
    return topics


async def produce_events(bootstrap: str, topics: Topics, events: list[dict[str, Any]]) -> None:
    """Produce SLA events as the worker does: key = case_id, header event_id, JSON value."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topics.for_event(event), json.dumps(event).encode(), key=event["case_id"].encode(),
                                         headers=[("event_id", event["event_id"].encode())])
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, timeout: float = 5.0) -> list[Any]:
    """Every record currently in a topic (all partitions), decoded as JSON values."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        async def behind() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in tps])

        while await behind() and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                out += [(r.key, json.loads(r.value)) for r in records if r.value is not None]
        return out
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def running_notifier(bootstrap: str, topics: Topics, routing: dict[str, Any], env: dict[str, str],
                           contacts: Contacts = EMPTY_CONTACTS) -> AsyncIterator[Notifier]:
    """Run a Notifier in this event loop against the broker; stop it gracefully on exit."""
    parsed = parse_routing(routing, "test-routing.toml")
    config = NotifierConfig(kafka=kafka_settings(bootstrap), group_id=topics.group, input_topics=topics.inputs,
                            state_topic=topics.state, dead_letter_topic=topics.dead_letter,
                            session_timeout_seconds=6, commit_interval_seconds=0.2, drain_seconds=2.0)
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        notifier = Notifier(config, parsed, contacts, build_channels(parsed, resolve_secrets(parsed, env), session), NotifyMetrics())
        task = asyncio.create_task(notifier.run(stop))
        ready = asyncio.create_task(notifier.ready.wait())
        await asyncio.wait([task, ready], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        assert notifier.ready.is_set(), "notifier did not become ready"
        try:
            yield notifier
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=20)


def metric(notifier: Notifier, name: str, **labels: str) -> float:
    """Current value of one sample from the notifier's registry (0 when absent)."""
    value = notifier.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
