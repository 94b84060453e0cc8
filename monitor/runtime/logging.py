"""structlog setup: JSON lines in production, a readable console in a terminal.

The one logging setup of every app (worker, notifier, topics, local run).

Every line about a case carries `case_id`, `event_id`, `topic`, `partition` and `offset`
(bind them with `record_logger`). Case contents and customer identifiers never reach a log
line: keys that hold payloads or customer data are removed by `drop_case_contents`, and so is
any bytes value; e-mail addresses inside any remaining string are masked.
Standard-library loggers (aiokafka) go through the same renderer.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import MutableMapping
from typing import IO, Any, Literal

import structlog

LogFormat = Literal["json", "console"]

#: Keys that would carry case contents (raw records, payloads, free text, case state).
CONTENT_KEYS: frozenset[str] = frozenset(
    {
        "body", "case", "comment", "contents", "customer", "customer_id", "description",
        "email", "key_raw", "message_body", "notes", "payload", "raw", "record", "recipient",
        "state", "subject", "text", "value",
    }
)

#: The fields that locate a record; `record_logger` binds these and nothing else.
RECORD_FIELDS: tuple[str, ...] = ("case_id", "event_id", "topic", "partition", "offset")


#: An e-mail address anywhere in a string (a notification target, an SMTP error message).
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
EMAIL_MASK = "<email>"


def drop_case_contents(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: remove content-bearing keys and bytes values, mask e-mail addresses."""
    dropped = sorted(
        key for key, value in event_dict.items()
        if key in CONTENT_KEYS or isinstance(value, (bytes, bytearray, memoryview))
    )
    for key in dropped:
        del event_dict[key]
    for key, value in event_dict.items():
        if isinstance(value, str) and "@" in value:
            event_dict[key] = EMAIL.sub(EMAIL_MASK, value)
    if dropped:
        event_dict["dropped_keys"] = dropped
    return event_dict


def choose_format(stream: IO[str], env: MutableMapping[str, str] | None = None) -> LogFormat:
    """MONITOR_LOG_FORMAT if set (json|console), else console on a TTY and JSON otherwise."""
    explicit = (env if env is not None else os.environ).get("MONITOR_LOG_FORMAT", "").lower()
    if explicit in ("json", "console"):
        return explicit  # type: ignore[return-value]
    if explicit:
        raise ValueError(f"MONITOR_LOG_FORMAT must be json or console, not {explicit!r}")
    return "console" if stream.isatty() else "json"


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_case_contents,
    ]


def configure_logging(
    level: str | int = "INFO",
    fmt: LogFormat | None = None,
    stream: IO[str] | None = None,
) -> LogFormat:
    """Route structlog and stdlib logging to `stream` (stderr) in `fmt`; returns the format used."""
    out = stream if stream is not None else sys.stderr
    chosen = fmt or choose_format(out)
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if chosen == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if chosen == "json" else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.getLogger("aiokafka").setLevel(max(numeric, logging.WARNING))  # its INFO lines are per-connection chatter
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return chosen


def _identity(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    return event_dict


def record_logger(
    logger: Any,
    *,
    case_id: str | None,
    event_id: str | None,
    topic: str,
    partition: int,
    offset: int,
) -> Any:
    """`logger` bound to the fields that locate one record (never its contents)."""
    return logger.bind(
        case_id=case_id, event_id=event_id, topic=topic, partition=partition, offset=offset
    )
