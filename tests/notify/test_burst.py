from hypothesis import given
from hypothesis import strategies as st

from monitor.notify.burst import BurstState, admit, flush, flush_due_at
from monitor.notify.routing import BurstSettings

LIMIT = BurstSettings(max_events=3, per_seconds=10.0)


def test_without_a_limit_everything_is_sent() -> None:
    state: BurstState[int] = BurstState()
    for i in range(100):
        state, send = admit(None, state, i, 0.0)
        assert send


def test_burst_folds_above_the_rate_and_flushes_one_digest_after_the_window() -> None:
    state: BurstState[int] = BurstState()
    sent = []
    for i in range(10):
        state, send = admit(LIMIT, state, i, float(i) * 0.1)
        if send:
            sent.append(i)
    assert sent == [0, 1, 2]
    assert flush_due_at(LIMIT, state) == 0.3 + 10.0
    assert flush(LIMIT, state, 5.0) == (state, ())
    state, digest = flush(LIMIT, state, 10.3)
    assert digest == tuple(range(3, 10))
    assert state.digest_opened_at is None and state.folded == ()


def test_once_a_digest_is_open_later_events_join_it_even_if_the_window_frees() -> None:
    state: BurstState[str] = BurstState()
    for item in "abcd":
        state, _ = admit(LIMIT, state, item, 0.0)
    state, send = admit(LIMIT, state, "e", 9.99)
    assert not send and state.folded == ("d", "e")


def test_the_digest_counts_as_one_message_in_the_window() -> None:
    state: BurstState[int] = BurstState()
    for i in range(5):
        state, _ = admit(LIMIT, state, i, 0.0)
    state, digest = flush(LIMIT, state, 10.0)
    assert digest == (3, 4)
    state, send5 = admit(LIMIT, state, 5, 10.5)
    state, send6 = admit(LIMIT, state, 6, 10.6)
    state, send7 = admit(LIMIT, state, 7, 10.7)
    assert send5 and send6 and not send7  # window: the digest + 5 + 6


@given(st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), max_size=60),
       st.integers(min_value=1, max_value=5), st.floats(min_value=0.1, max_value=3))
def test_every_item_is_sent_exactly_once_individually_or_in_a_digest(gaps: list[float], max_events: int, per: float) -> None:
    limit = BurstSettings(max_events=max_events, per_seconds=per)
    state: BurstState[int] = BurstState()
    now, out = 0.0, []
    individual_times: list[float] = []
    for i, gap in enumerate(gaps):
        now += gap
        state, digest = flush(limit, state, now)
        out += digest
        if digest:
            individual_times.append(now)
        state, send = admit(limit, state, i, now)
        if send:
            out.append(i)
            individual_times.append(now)
    state, digest = flush(limit, state, now + per)
    out += digest
    assert sorted(out) == list(range(len(gaps)))
    for t in individual_times:  # never more than max_events messages in any window
        assert sum(1 for u in individual_times if u <= t and t - u < per) <= max_events + 1  # + the digest
