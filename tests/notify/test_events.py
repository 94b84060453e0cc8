import json

import pytest

from monitor.notify.events import NoticeError, parse_notice
from tests.notify.factories import event_dict


def test_parses_a_contract_event_and_keeps_the_raw_object() -> None:
    raw = event_dict(type="sla.breach")
    notice = parse_notice(json.dumps(raw).encode())
    assert notice.type == "sla.breach"
    assert notice.threshold == 1.0
    assert notice.due_at is not None and notice.due_at.hour == 10
    assert notice.raw == raw
    assert notice.is_trigger


def test_met_event_has_no_threshold_and_carries_elapsed() -> None:
    notice = parse_notice(json.dumps(event_dict(type="sla.met", breached=True, elapsed_seconds=4000.0)).encode())
    assert notice.threshold is None and notice.breached is True and notice.elapsed_seconds == 4000.0
    assert not notice.is_trigger


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (json.dumps({k: v for k, v in event_dict().items() if k != "case_id"}).encode(), "missing_field"),
        (json.dumps(event_dict(cycle="1")).encode(), "wrong_type"),
        (json.dumps(event_dict(cycle=True)).encode(), "wrong_type"),
        (json.dumps(event_dict(due_at="tomorrow")).encode(), "bad_timestamp"),
        (json.dumps(event_dict(type="sla.paused")).encode(), "unknown_type"),
    ],
)
def test_rejects_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(NoticeError) as info:
        parse_notice(raw)
    assert info.value.reason == reason
