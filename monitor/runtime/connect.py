"""Reaching the brokers: one line saying why not, and capped jittered retries for long-running commands.

A broker that cannot be reached is an expected failure, never a traceback:
- one-shot commands (`topics apply`, `demo`, `run` against a given broker) try once and exit 2
  with `cannot reach Kafka at HOST:PORT: <cause>`;
- long-running commands (`worker`, `notify`) call `wait_for_kafka` before starting their
  clients: it retries with capped, jittered exponential backoff, logs one line per failed attempt
  (broker and cause), and gives up after MONITOR_CONNECT_TIMEOUT_SECONDS (unset: never), after
  which the command exits 1 with the same one line. Readiness stays false meanwhile, because the
  app's clients have not started.

The cause comes from a TCP probe of each bootstrap server, since aiokafka only says
"Unable to bootstrap": `connection refused`, `host name not found`, `no answer within 3s`, or,
when the port answers but Kafka does not, a hint at the TLS/SASL settings.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.errors import KafkaConnectionError, KafkaError, NodeNotReadyError, RequestTimedOutError
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from monitor.runtime.settings import SharedSettings

log = structlog.get_logger("monitor.runtime.connect")

CONNECT_TIMEOUT_ENV = "MONITOR_CONNECT_TIMEOUT_SECONDS"
#: Exit code of a one-shot command that could not reach the brokers (a usage-level failure).
EXIT_UNREACHABLE_ONE_SHOT = 2
#: Exit code of a long-running command that gave up after MONITOR_CONNECT_TIMEOUT_SECONDS.
EXIT_UNREACHABLE_LONG_RUNNING = 1
PROBE_TIMEOUT_S = 3.0

#: Errors that mean "the brokers did not answer", as opposed to a refusal by a broker that did.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    KafkaConnectionError, NodeNotReadyError, RequestTimedOutError, OSError, TimeoutError,
)


class BrokerUnreachable(RuntimeError):
    """The brokers could not be reached; str() is the one line to show the user."""


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with jitter: attempt n waits a random time in [d/2, d], d = min(cap, first * 2**(n-1))."""

    first_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.cap_s, self.first_s * 2 ** min(attempt - 1, 30))
        return rng.uniform(ceiling / 2, ceiling)


class ConnectSettings(SharedSettings):
    """How long a long-running command waits for unreachable brokers: MONITOR_CONNECT_TIMEOUT_SECONDS."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_")

    connect_timeout_seconds: float | None = Field(
        None, gt=0, allow_inf_nan=False, json_schema_extra={"flag": "--connect-timeout"},
        description="give up (exit 1) when the brokers cannot be reached for this many seconds (default: keep trying)")


def _servers(bootstrap: str) -> list[tuple[str, int]]:
    servers = []
    for item in bootstrap.split(","):
        host, _, port = item.strip().removeprefix("kafka://").rpartition(":")
        if host and port.isdigit():
            servers.append((host.strip("[]"), int(port)))
    return servers


def _probe(host: str, port: int, timeout_s: float) -> str | None:
    """Why a TCP connection to host:port fails, or None when it opens."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except socket.gaierror:
        return "host name not found"
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return f"no answer within {timeout_s:g}s"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()


def diagnose(bootstrap: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """Why the brokers at `bootstrap` cannot be reached, in a few words (probes TCP; blocking)."""
    causes = {f"{host}:{port}": _probe(host, port, timeout_s) for host, port in _servers(bootstrap)}
    failing = {where: cause for where, cause in causes.items() if cause is not None}
    if not failing:
        return ("the port answers but Kafka does not (check KAFKA_SECURITY_PROTOCOL and the TLS/SASL "
                "settings, and that this is the broker's Kafka listener)")
    if len(set(failing.values())) == 1:
        return next(iter(failing.values()))
    return "; ".join(f"{where} {why}" for where, why in failing.items())


def unreachable_line(bootstrap: str, cause: str) -> str:
    """The one line shown for unreachable brokers: `cannot reach Kafka at HOST:PORT: <cause>`."""
    return f"cannot reach Kafka at {bootstrap}: {cause}"


def unreachable(bootstrap: str) -> str:
    """The one line for brokers that just failed to answer, with the cause probed now (blocking)."""
    return unreachable_line(bootstrap, diagnose(bootstrap))


class _DropBootstrapErrors(logging.Filter):
    """aiokafka logs each failed bootstrap host at ERROR; the caller reports the failure in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Unable connect to", "Unable to request metadata from"))


@contextmanager
def quiet_bootstrap_errors() -> Iterator[None]:
    """Within the block, aiokafka's own per-host bootstrap error lines are not logged."""
    logger = logging.getLogger("aiokafka")
    quiet = _DropBootstrapErrors()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


async def probe_kafka(client_kwargs: Mapping[str, Any]) -> None:
    """One bootstrap (metadata request) against the brokers; raises what aiokafka raises."""
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(**client_kwargs)
    try:
        with quiet_bootstrap_errors():
            await client.bootstrap()
    finally:
        await client.close()


async def require_kafka(client_kwargs: Mapping[str, Any]) -> None:
    """One attempt for one-shot commands: BrokerUnreachable with the one line when the brokers do not answer."""
    bootstrap = str(client_kwargs["bootstrap_servers"])
    try:
        await probe_kafka(client_kwargs)
    except CONNECTION_ERRORS:
        cause = await asyncio.get_running_loop().run_in_executor(None, diagnose, bootstrap)
        raise BrokerUnreachable(unreachable_line(bootstrap, cause)) from None
    except KafkaError as exc:
        raise BrokerUnreachable(unreachable_line(bootstrap, f"{type(exc).__name__}: {exc}")) from None


async def wait_for_kafka(client_kwargs: Mapping[str, Any], *, timeout_s: float | None,
                         backoff: Backoff = Backoff(), stop: asyncio.Event | None = None,
                         rng: random.Random | None = None) -> bool:
    """Retry a bootstrap until the brokers answer (True), `stop` is set (False), or `timeout_s` passes (BrokerUnreachable)."""
    bootstrap = str(client_kwargs["bootstrap_servers"])
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    rng = rng or random.Random()
    attempt = 0
    while stop is None or not stop.is_set():
        attempt += 1
        try:
            await probe_kafka(client_kwargs)
        except CONNECTION_ERRORS:
            cause = await loop.run_in_executor(None, diagnose, bootstrap)
        except KafkaError as exc:   # a broker answered with an error (e.g. authentication): retrying will not help
            raise BrokerUnreachable(unreachable_line(bootstrap, f"{type(exc).__name__}: {exc}")) from None
        else:
            if attempt > 1:
                log.info("kafka reachable", broker=bootstrap, attempts=attempt)
            return True
        wait_s = backoff.delay(attempt, rng)
        if deadline is not None:
            left = deadline - loop.time()
            if left <= 0:
                raise BrokerUnreachable(f"{unreachable_line(bootstrap, cause)} (gave up after {timeout_s:g}s, "
                                        f"{CONNECT_TIMEOUT_ENV})")
            wait_s = min(wait_s, left)
        log.warning("kafka unreachable", broker=bootstrap, cause=cause, attempt=attempt,
                    retry_in_s=round(wait_s, 2))
        if stop is None:
            await asyncio.sleep(wait_s)
        else:
            try:
                await asyncio.wait_for(stop.wait(), wait_s)
            except TimeoutError:
                pass
    return False
