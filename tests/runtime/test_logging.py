"""structlog setup: JSON line shape, record fields, contents never logged, format choice."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from monitor.runtime.logging import choose_format, configure_logging, record_logger


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_record_line_is_one_json_object_with_the_locating_fields() -> None:
    out = io.StringIO()
    assert configure_logging("INFO", "json", out) == "json"
    log = record_logger(
        structlog.get_logger("monitor.stream"),
        case_id="C-1", event_id="e-1", topic="case-created", partition=2, offset=41,
    )
    log.info("event_applied", emitted=2)
    [line] = lines(out)
    assert line["event"] == "event_applied"
    assert line["level"] == "info"
    assert line["logger"] == "monitor.stream"
    assert str(line["timestamp"]).endswith("Z")
    assert {k: line[k] for k in ("case_id", "event_id", "topic", "partition", "offset")} == {
        "case_id": "C-1", "event_id": "e-1", "topic": "case-created", "partition": 2, "offset": 41,
    }
    assert line["emitted"] == 2


def test_case_contents_never_reach_a_line() -> None:
    out = io.StringIO()
    configure_logging("DEBUG", "json", out)
    secret = "Customer says their password is hunter2"
    log = structlog.get_logger("monitor.stream").bind(case_id="C-2")
    log.warning(
        "rejected", value=json.dumps({"description": secret}).encode(), payload={"subject": secret},
        description=secret, state={"notes": secret}, raw_bytes=secret.encode(), reason="invalid_json",
    )
    text = out.getvalue()
    assert "hunter2" not in text
    [line] = lines(out)
    assert line["reason"] == "invalid_json"
    assert line["dropped_keys"] == ["description", "payload", "raw_bytes", "state", "value"]


def test_stdlib_loggers_render_as_json_too_and_level_filters() -> None:
    out = io.StringIO()
    configure_logging("WARNING", "json", out)
    logging.getLogger("aiokafka.consumer").info("not shown")
    logging.getLogger("aiokafka.consumer").warning("rebalance %s", "started")
    structlog.get_logger("monitor").info("not shown either")
    [line] = lines(out)
    assert line == {**line, "event": "rebalance started", "logger": "aiokafka.consumer", "level": "warning"}


def test_console_format_in_a_terminal_and_json_otherwise() -> None:
    assert choose_format(FakeTty(), env={}) == "console"
    assert choose_format(io.StringIO(), env={}) == "json"
    assert choose_format(FakeTty(), env={"MONITOR_LOG_FORMAT": "json"}) == "json"
    with pytest.raises(ValueError):
        choose_format(io.StringIO(), env={"MONITOR_LOG_FORMAT": "xml"})
    out = FakeTty()
    assert configure_logging("INFO", stream=out) == "console"
    structlog.get_logger("monitor").info("worker_started", partitions=3)
    text = out.getvalue()
    assert "worker_started" in text and "partitions" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError):
        configure_logging("LOUD", "json", io.StringIO())


def test_email_addresses_are_masked_and_customer_ids_dropped() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    structlog.get_logger("t").warning("contact_unresolved", case_id="C-1", target="ops.lead@example.com",
                                      customer_id="ACME-42", error="550 <jane.doe@acme.example> unknown")
    logging.getLogger("aiokafka.t").warning("failed for bob@corp.example")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    text = stream.getvalue()
    assert "example.com" not in text and "acme.example" not in text and "corp.example" not in text
    assert "ACME-42" not in text and lines[0]["case_id"] == "C-1" and lines[0]["target"] == "<email>"
