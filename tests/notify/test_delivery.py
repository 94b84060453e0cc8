from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.notify.delivery import (
    AttemptResult,
    Delivered,
    GiveUp,
    RetryLater,
    backoff_seconds,
    classify_http,
    classify_smtp_code,
    next_step,
    parse_retry_after,
)
from monitor.notify.routing import RetrySettings

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
POLICY = RetrySettings(max_attempts=4, base_seconds=1.0, max_seconds=8.0, max_retry_after_seconds=30.0)


@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [(200, True, False), (202, True, False), (204, True, False), (400, False, False), (401, False, False),
     (404, False, False), (408, False, True), (429, False, True), (500, False, True), (503, False, True)],
)
def test_classify_http(status: int, ok: bool, retryable: bool) -> None:
    result = classify_http(status, None, NOW)
    assert (result.ok, result.retryable) == (ok, retryable)
    if not ok:
        assert result.error == f"HTTP {status}"


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7", NOW) == 7.0
    later = (NOW + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, NOW) == 90.0
    past = (NOW - timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(past, NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None
    assert classify_http(429, "12", NOW).retry_after == 12.0


def test_smtp_codes() -> None:
    assert classify_smtp_code(451, "try later").retryable
    assert not classify_smtp_code(550, "no such user").retryable


def test_success_is_delivered() -> None:
    assert next_step(POLICY, 2, AttemptResult(ok=True), 0.5) == Delivered(attempts=2)


def test_permanent_error_gives_up_at_once() -> None:
    step = next_step(POLICY, 1, classify_http(404, None, NOW), 0.5)
    assert step == GiveUp(attempts=1, reason="permanent", last_error="HTTP 404")


def test_retryable_errors_are_bounded_by_max_attempts() -> None:
    failure = classify_http(503, None, NOW)
    steps = [next_step(POLICY, n, failure, 0.0) for n in range(1, POLICY.max_attempts + 1)]
    assert all(isinstance(s, RetryLater) for s in steps[:-1])
    assert steps[-1] == GiveUp(attempts=4, reason="exhausted", last_error="HTTP 503")
    assert [s.delay for s in steps[:-1]] == [0.5, 1.0, 2.0]  # type: ignore[union-attr]


def test_retry_after_is_honoured_but_capped() -> None:
    step = next_step(POLICY, 1, classify_http(429, "20", NOW), 0.0)
    assert isinstance(step, RetryLater) and step.delay == 20.0
    step = next_step(POLICY, 1, classify_http(429, "3600", NOW), 0.0)
    assert isinstance(step, RetryLater) and step.delay == 30.0
    step = next_step(POLICY, 3, classify_http(503, "0", NOW), 1.0)
    assert isinstance(step, RetryLater) and step.delay == 4.0


@given(attempt=st.integers(min_value=1, max_value=200), jitter=st.floats(min_value=0, max_value=1),
       base=st.floats(min_value=0.001, max_value=10), extra=st.floats(min_value=0, max_value=100))
def test_backoff_is_within_half_cap_and_cap_and_never_above_max(attempt: int, jitter: float, base: float, extra: float) -> None:
    policy = RetrySettings(base_seconds=base, max_seconds=base + extra)
    cap = min(policy.max_seconds, base * 2 ** min(attempt - 1, 62))
    delay = backoff_seconds(policy, attempt, jitter)
    assert cap / 2 - 1e-9 <= delay <= cap + 1e-9
    assert delay <= policy.max_seconds + 1e-9


@given(attempt=st.integers(min_value=1, max_value=50))
def test_backoff_cap_grows_monotonically(attempt: int) -> None:
    assert backoff_seconds(POLICY, attempt + 1, 1.0) >= backoff_seconds(POLICY, attempt, 1.0)
